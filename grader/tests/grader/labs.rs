//! The lab crates under `labs/` (issue 5): proof that no lab test is vacuous,
//! and that a student's `cargo test` and an instructor's `grader grade` agree.
//!
//! For every lab, the crate's binaries are built twice, as the untouched stub
//! and as a copy outside the repository completed with the reference solution
//! (which also shows that a lab crate builds on its own), and graded through the grader library with
//! `--server`/`--client` overrides pointing at them, as the crate's own
//! `tests/lab.rs` does: the stub must fail every test and the reference must
//! pass every one. Then `grader grade <lab> labs/<lab>`, which finds and builds
//! the crate by the lab's Cargo conventions, must report the same tests passing
//! and failing as grading the stub's binaries directly.
//!
//! The builds use their own target directory under `target/lab-proof/`, so they
//! never wait for the lock the `cargo test` running this test holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use grader::cell::IsolationRequest;
use grader::outcome::SubmissionResult;
use grader::runner::grade;
use grader::submission::{Overrides, Source};

use crate::support::{self, SEED, repo, summary};

// Every built-in lab has a crate under `labs/` (`every_lab_crate_is_proved`).

/// How a lab crate is built.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// As handed to students.
    Stub,
    /// A copy of the crate, outside the repository, whose `src/lib.rs` is the
    /// reference solution ([`complete_lab_crate`]).
    Reference,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Stub => "stub",
            Variant::Reference => "reference",
        }
    }
}

fn package(lab: &str) -> String {
    format!("{lab}-lab")
}

/// Builds every lab crate's binaries as `variant`, once per test run, and
/// returns the directory that holds them.
fn binaries(variant: Variant) -> &'static Path {
    static STUB: OnceLock<PathBuf> = OnceLock::new();
    static REFERENCE: OnceLock<PathBuf> = OnceLock::new();
    let built = match variant {
        Variant::Stub => &STUB,
        Variant::Reference => &REFERENCE,
    };
    built.get_or_init(|| build(variant))
}

fn build(variant: Variant) -> PathBuf {
    // One target directory per variant: the same binaries built from other
    // sources would overwrite each other's files.
    let target = repo().join("target/lab-proof").join(variant.name());
    let _alone = one_cargo_at_a_time();
    let cargo = || {
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            // Jobserver variables name file descriptors this process does not
            // pass on; a cargo that trusted them would read and write strangers.
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("CARGO_MAKEFLAGS")
            .args(["build", "--quiet", "--bins", "--target-dir"])
            .arg(&target);
        cargo
    };
    let mut builds = Vec::new();
    match variant {
        Variant::Stub => {
            let mut all = cargo();
            all.current_dir(repo());
            for lab in support::lab_names() {
                all.args(["-p", &package(lab)]);
            }
            builds.push(all);
        }
        Variant::Reference => {
            let copies = tempfile::Builder::new()
                .prefix("socklab-completed-labs")
                .tempdir()
                .expect("a temporary directory")
                .keep();
            for lab in support::lab_names() {
                let crate_dir = copies.join(lab);
                complete_lab_crate(lab, &crate_dir);
                let mut one = cargo();
                one.current_dir(&crate_dir)
                    .arg("--manifest-path")
                    .arg(crate_dir.join("Cargo.toml"));
                builds.push(one);
            }
        }
    }
    for mut build in builds {
        let output = build.output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building the lab crates ({}) failed:\n{}",
            variant.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    target.join("debug")
}

/// The modules of the reference (`src/`) a completed lab crate needs: each
/// lab's own and those they use.
const REFERENCE_MODULES: &[&str] = &[
    "client_setup",
    "transform",
    "udp_uppercase",
    "tcp_uppercase",
    "udp_count_s",
    "tcp_lines",
    "http",
    "web_server",
    "smtp",
    "smtp_client",
    "web_proxy",
    "udp_pinger",
];

/// Copies `labs/<lab>` to `destination` (build output aside) and completes
/// it as a student would, with the reference solution: its `src/lib.rs`
/// becomes the reference's module for the lab. The copy has no path back to
/// the repository, so it builds only if a lab crate builds on its own.
pub fn complete_lab_crate(lab: &str, destination: &Path) {
    copy_crate(&repo().join("labs").join(lab), destination);
    let reference = destination.join("src/reference");
    std::fs::create_dir_all(&reference).unwrap();
    let mut lib = String::from(
        "//! Completed with the socklab reference solution, for the repository's tests.\n\
         // The reference's other labs come along, unused.\n\
         #![allow(dead_code, unused_imports)]\n",
    );
    for module in REFERENCE_MODULES {
        std::fs::copy(
            repo().join("src").join(format!("{module}.rs")),
            reference.join(format!("{module}.rs")),
        )
        .unwrap();
        lib.push_str(&format!(
            "#[path = \"reference/{module}.rs\"]\nmod {module};\n"
        ));
    }
    lib.push_str(&format!("pub use {}::*;\n", lab.replace('-', "_")));
    std::fs::write(destination.join("src/lib.rs"), lib).unwrap();
}

/// Copies a crate's directory, leaving out `target/`.
fn copy_crate(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let destination = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_crate(&entry.path(), &destination);
            }
        } else {
            std::fs::copy(entry.path(), &destination).unwrap();
        }
    }
}

/// Held while a cargo build runs: builds of these tests never overlap, which
/// keeps the machine free for the timing of other tests and avoids builds
/// started side by side disturbing each other.
fn one_cargo_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CARGO: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CARGO
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `program` quoted for the shell the grader runs commands with.
fn quoted(program: &Path) -> String {
    format!("'{}'", program.display().to_string().replace('\'', r"'\''"))
}

/// Grades `lab`'s binaries built as `variant`, named on the command line as
/// the lab crate's own tests name them.
fn grade_binaries(lab: &str, variant: Variant) -> SubmissionResult {
    let lab_file = support::lab(lab);
    let directory = binaries(variant);
    let command = |names: &[String], flags: &str| {
        names
            .first()
            .map(|name| format!("{} {flags}", quoted(&directory.join(name))))
    };
    let mut options = support::options(IsolationRequest::Auto);
    options.overrides = Overrides {
        server: command(&lab_file.conventions.server_bins, "--port {port}"),
        client: command(
            &lab_file.conventions.client_bins,
            "--host {host} --port {port}",
        ),
    };
    let source = Source::Directory(repo().join("labs").join(lab));
    grade(&lab_file, &source, &options).expect("grading runs")
}

/// Test id → passed, from the result model.
fn verdicts(result: &SubmissionResult) -> BTreeMap<String, bool> {
    result
        .tests
        .iter()
        .map(|test| (test.id.clone(), test.outcome.is_pass()))
        .collect()
}

fn stub_fails_every_test(lab: &str) {
    let result = grade_binaries(lab, Variant::Stub);
    assert_eq!(
        result.tests.len(),
        support::lab(lab).tests.len(),
        "{}",
        summary(&result)
    );
    for test in &result.tests {
        assert!(
            !test.outcome.is_pass(),
            "{lab}: the untouched stub passes `{}`, so that test cannot tell a finished lab from an untouched one\n{}",
            test.id,
            summary(&result)
        );
    }
}

fn reference_passes_every_test(lab: &str) {
    let result = grade_binaries(lab, Variant::Reference);
    assert_eq!(
        result.tests.len(),
        support::lab(lab).tests.len(),
        "{}",
        summary(&result)
    );
    assert!(
        result.tests.iter().all(|test| test.outcome.is_pass()),
        "{lab}: the reference solution fails tests\n{}",
        summary(&result)
    );
}

fn grader_grade_agrees_with_the_stub(lab: &str) {
    let output = {
        // `grader grade labs/<lab>` builds the crate with cargo too. The lock
        // covers this command only: building the stub below takes it again.
        let _alone = one_cargo_at_a_time();
        Command::new(support::grader_binary())
            .current_dir(repo())
            .args(["grade", lab, &format!("labs/{lab}"), "--format", "json"])
            .args(["--seed", &SEED.to_string()])
            .output()
            .expect("grader runs")
    };
    assert!(
        output.status.success(),
        "grader grade {lab} labs/{lab}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("grader grade {lab}: stdout is not JSON ({err})"));
    // A crate that did not build fails every test too: the agreement below
    // only means something when the conventions found and ran the binaries.
    assert_eq!(report["status"], "graded", "{report:#}");
    for (part, names) in [
        ("server", &support::lab(lab).conventions.server_bins),
        ("client", &support::lab(lab).conventions.client_bins),
    ] {
        if let Some(name) = names.first() {
            let command = report[part]["command"].as_str().unwrap_or_default();
            assert!(command.starts_with(name.as_str()), "{part}: {report:#}");
        }
    }
    let from_cli: BTreeMap<String, bool> = report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|test| {
            let id = test["id"].as_str().expect("id").to_string();
            (id, test["status"] == "pass")
        })
        .collect();
    let direct = grade_binaries(lab, Variant::Stub);
    assert_eq!(from_cli, verdicts(&direct), "{}", summary(&direct));
}

macro_rules! lab_proofs {
    ($($module:ident => $lab:literal),+ $(,)?) => {
        $(
            mod $module {
                #[test]
                fn stub_fails_every_test() {
                    super::stub_fails_every_test($lab);
                }

                #[test]
                fn reference_passes_every_test() {
                    super::reference_passes_every_test($lab);
                }

                #[test]
                fn grader_grade_agrees_with_the_stub() {
                    super::grader_grade_agrees_with_the_stub($lab);
                }
            }
        )+

        #[test]
        fn every_lab_crate_is_proved() {
            assert_eq!(vec![$($lab),+], support::lab_names());
        }
    };
}

lab_proofs! {
    udp_uppercase => "udp-uppercase",
    tcp_uppercase => "tcp-uppercase",
    udp_count_s => "udp-count-s",
    tcp_lines => "tcp-lines",
    web_server => "web-server",
    smtp_client => "smtp-client",
    web_proxy => "web-proxy",
    udp_pinger => "udp-pinger",
}

/// Each lab crate's `tests/lab.rs` lists the lab file's tests, one `#[test]`
/// each (its own meta-test checks the same, but runs only inside the lab).
#[test]
fn every_lab_crate_lists_exactly_its_lab_files_tests() {
    for lab in support::lab_names() {
        let path = repo().join("labs").join(lab).join("tests/lab.rs");
        let text = std::fs::read_to_string(&path).expect("tests/lab.rs");
        let list = text
            .split_once("tests: [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list)
            .unwrap_or_else(|| panic!("{}: no `tests: [...]` list", path.display()));
        let listed: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect();
        // Numbered in the lab file's order, so `cargo test` lists and runs
        // them in the handout's order.
        let expected: Vec<String> = support::lab(lab)
            .tests
            .iter()
            .enumerate()
            .map(|(at, test)| format!("t{:02}_{}", at + 1, test.id.replace('-', "_")))
            .collect();
        assert_eq!(listed, expected, "{}", path.display());
    }
}

/// Every lab crate carries its own copy of the programs' command line
/// (`src/bin/common/`) and of its tests' harness (`tests/harness/mod.rs`), so
/// that it builds copied anywhere; `labs/common/src/` holds the originals and
/// the copies must match them byte for byte (`SOCKLAB_OVERWRITE=1` rewrites
/// the copies from the originals). Nothing in a lab crate may point outside
/// it: no path dependency, nothing inherited from a workspace.
#[test]
fn every_lab_crate_stands_alone_with_exact_copies_of_labs_common() {
    let common = repo().join("labs/common/src");
    let overwrite = std::env::var_os("SOCKLAB_OVERWRITE").is_some();
    for lab in support::lab_names() {
        let directory = repo().join("labs").join(lab);
        for (original, copy) in [
            ("command_line.rs", "src/bin/common/command_line.rs"),
            ("program.rs", "src/bin/common/program.rs"),
            ("harness.rs", "tests/harness/mod.rs"),
        ] {
            let original = std::fs::read_to_string(common.join(original)).unwrap();
            let copy = directory.join(copy);
            if overwrite {
                std::fs::write(&copy, &original).unwrap();
            }
            let copied = std::fs::read_to_string(&copy).unwrap_or_default();
            assert!(
                copied == original,
                "{} differs from its original in labs/common/src/ (SOCKLAB_OVERWRITE=1 copies it again)",
                copy.display()
            );
        }
        for path in rust_files(&directory) {
            let text = std::fs::read_to_string(&path).expect("a lab crate's source");
            for outside in ["lab_common::", "grader::", "socklab::"] {
                assert!(
                    !text.contains(outside),
                    "{} uses `{outside}`, which a copied crate does not have",
                    path.display()
                );
            }
        }
        let manifest: toml::Table = std::fs::read_to_string(directory.join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let text = manifest.to_string();
        assert!(!text.contains("workspace"), "labs/{lab}/Cargo.toml: {text}");
        assert!(!text.contains("path"), "labs/{lab}/Cargo.toml: {text}");
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            assert!(
                manifest
                    .get(section)
                    .and_then(toml::Value::as_table)
                    .is_none_or(toml::Table::is_empty),
                "labs/{lab}/Cargo.toml has {section}: a lab builds from the standard library alone"
            );
        }
    }
}

/// The `.rs` files under `directory`, build output aside.
fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(directory).unwrap_or_else(|err| panic!("{}: {err}", directory.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                found.extend(rust_files(&path));
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
    found
}
