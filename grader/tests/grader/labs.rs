//! The lab crates under `labs/` (issue 5): proof that no lab test is vacuous,
//! and that a student's `cargo test` and an instructor's `grader grade` agree.
//!
//! For every lab, the crate's binaries are built twice, as the untouched stub
//! and with `--features reference`, and graded through the grader library with
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
    /// `--features reference`: the reference solution in place of the stubs.
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
    // One target directory per variant: the same binaries built with other
    // features would overwrite each other's files.
    let target = repo().join("target/lab-proof").join(variant.name());
    let _alone = one_cargo_at_a_time();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(repo())
        // Jobserver variables name file descriptors this process does not
        // pass on; a cargo that trusted them would read and write strangers.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .args(["build", "--quiet", "--bins", "--target-dir"])
        .arg(&target);
    for lab in support::lab_names() {
        cargo.args(["-p", &package(lab)]);
    }
    if let Variant::Reference = variant {
        let features: Vec<String> = support::lab_names()
            .into_iter()
            .map(|lab| format!("{}/reference", package(lab)))
            .collect();
        cargo.args(["--features", &features.join(",")]);
    }
    let output = cargo.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "building the lab crates ({}) failed:\n{}",
        variant.name(),
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("debug")
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
        let expected: Vec<String> = support::lab(lab)
            .tests
            .iter()
            .map(|test| test.id.replace('-', "_"))
            .collect();
        assert_eq!(listed, expected, "{}", path.display());
    }
}

/// What every lab crate needs besides the student's code is one piece of code
/// each: the tests' harness is `grader::lab_crate`, and the programs' command
/// line is the `lab-common` crate in `labs/common`. No lab crate may grow its
/// own copy of either again.
#[test]
fn no_lab_crate_has_its_own_harness_or_command_line() {
    for lab in support::lab_names() {
        let directory = repo().join("labs").join(lab);
        for path in rust_files(&directory) {
            let text = std::fs::read_to_string(&path).expect("a lab crate's source");
            for copied in [
                "macro_rules! lab_tests",
                "fn server_args(",
                "fn client_args(",
            ] {
                assert!(
                    !text.contains(copied),
                    "{} has its own `{copied}`: use `grader::lab_tests!` and \
                     `lab_common::command_line` instead",
                    path.display()
                );
            }
        }
        let tests = std::fs::read_to_string(directory.join("tests/lab.rs")).expect("tests/lab.rs");
        assert!(
            tests.contains("grader::lab_tests! {"),
            "labs/{lab}/tests/lab.rs"
        );
        let manifest = std::fs::read_to_string(directory.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            manifest.contains(r#"lab-common = { path = "../common" }"#),
            "labs/{lab}/Cargo.toml"
        );
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
