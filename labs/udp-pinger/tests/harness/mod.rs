//! What a lab crate's `cargo test` runs: each `#[test]` of `tests/lab.rs`
//! asks the socklab grader to grade that one test of the lab against the
//! programs Cargo built from the crate, as `grader grade` grades a hand-in,
//! and fails with the grader's feedback (what was sent, what was expected,
//! what came back, a hint worded for Rust) when it did not pass.
//!
//! The grader is a program, not a library this crate depends on, so a lab
//! crate copied out of the repository (a student's repository) still builds
//! with nothing but the standard library. It is found, in order, at
//! `$SOCKLAB_GRADER`, in the socklab repository that holds the crate (built
//! once, into `target/lab-grader/`), or as `grader` on the `PATH`.
//!
//! Every lab crate holds a copy of this file as `tests/harness/mod.rs`;
//! `labs/common/src/harness.rs` is the original, and the repository's tests
//! check that the copies match it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Set to the seed a failed test shows to grade with the same random
/// sentences again.
const SEED_VARIABLE: &str = "SOCKLAB_SEED";
/// A lab file to grade with instead of the grader's built-in lab (a course's
/// own, with `[lab] parts = ["server"]` say).
const LAB_VARIABLE: &str = "SOCKLAB_LAB";
/// The grader program, when it is not found by itself.
const GRADER_VARIABLE: &str = "SOCKLAB_GRADER";

/// Declares the tests of a lab crate: one `#[test]` per test of the lab file,
/// named `tNN_<id with _ for ->`, numbered in the handout's order so that
/// `cargo test` lists and runs them in that order, plus
/// `t00_every_test_of_the_lab_file_is_listed`.
#[macro_export]
macro_rules! lab_crate_tests {
    ($lab:ident, tests: [$($test:ident),+ $(,)?] $(,)?) => {
        $(
            #[test]
            fn $test() {
                $lab.check(::core::stringify!($test));
            }
        )+

        #[test]
        fn t00_every_test_of_the_lab_file_is_listed() {
            $lab.check_list(&[$(::core::stringify!($test)),+]);
        }
    };
}

/// A lab and the programs Cargo built for it.
pub struct LabCrate {
    pub lab: &'static str,
    /// `Some(env!("CARGO_BIN_EXE_<name>"))`, or `None` for a part the lab
    /// does not have.
    pub server: Option<&'static str>,
    pub client: Option<&'static str>,
    /// The crate's directory (`env!("CARGO_MANIFEST_DIR")`).
    pub directory: &'static str,
}

impl LabCrate {
    /// Passes when the grader passed the lab's test named by `test_fn`;
    /// otherwise fails with the grader's report of it.
    pub fn check(&self, test_fn: &str) {
        let id = test_id(test_fn);
        let grader = grader(Path::new(self.directory)).unwrap_or_else(|message| fail(message));
        let seed = seed();
        let mut command = Command::new(grader);
        command
            .arg("grade")
            .arg(lab_argument(self.lab))
            .arg(self.directory)
            .args(["--test", &id, "--hints", "rust", "--format", "human"])
            .args(["--color", "never", "--fail-under", "100%"])
            .args(["--seed", &seed.to_string()]);
        if let Some(server) = self.server {
            command
                .arg("--server")
                .arg(format!("{} --port {{port}}", quoted(server)));
        }
        if let Some(client) = self.client {
            command.arg("--client").arg(format!(
                "{} --host {{host}} --port {{port}}",
                quoted(client)
            ));
        }
        let output = command
            .output()
            .unwrap_or_else(|err| fail(&format!("The grader could not be started: {err}")));
        let report = String::from_utf8_lossy(&output.stdout);
        let errors = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {
                // A test of a part this assignment leaves out passes, saying so.
                if report.is_empty() {
                    print!("{errors}");
                }
            }
            Some(1) => fail(&format!(
                "\n{report}\n(to grade with the same random sentences again: \
                 {SEED_VARIABLE}={seed} cargo test {test_fn})"
            )),
            _ => fail(&format!("The grader could not grade `{id}`:\n{errors}")),
        }
    }

    /// Checks that `listed` names the lab file's tests exactly, numbered in
    /// its order, so that a test added to the lab file cannot go unnoticed.
    pub fn check_list(&self, listed: &[&str]) {
        let grader = grader(Path::new(self.directory)).unwrap_or_else(|message| fail(message));
        let output = Command::new(grader)
            .arg("list")
            .arg(lab_argument(self.lab))
            .output()
            .unwrap_or_else(|err| fail(&format!("The grader could not be started: {err}")));
        if !output.status.success() {
            fail(&String::from_utf8_lossy(&output.stderr));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let expected: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with("  "))
            .filter_map(|line| line.split_whitespace().nth(1))
            .enumerate()
            .map(|(at, id)| format!("t{:02}_{}", at + 1, id.replace('-', "_")))
            .collect();
        if expected != listed {
            fail(&format!(
                "The tests listed in tests/lab.rs differ from those of the lab file. List exactly \
                 these, in this order:\n    {},\n(listed now: {})",
                expected.join(",\n    "),
                listed.join(", ")
            ));
        }
    }
}

/// `t03_one_client` → `one-client`.
fn test_id(test_fn: &str) -> String {
    let name = match test_fn.split_once('_') {
        Some((number, rest))
            if number.len() > 1
                && number.starts_with('t')
                && number[1..].bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            rest
        }
        _ => test_fn,
    };
    name.replace('_', "-")
}

fn lab_argument(lab: &str) -> OsString {
    std::env::var_os(LAB_VARIABLE).unwrap_or_else(|| lab.into())
}

/// The seed of this run: `$SOCKLAB_SEED`, or a fresh one every run (below
/// 2^53, as the grader takes).
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var(SEED_VARIABLE) {
        Ok(seed) => seed
            .trim()
            .parse()
            .unwrap_or_else(|_| fail(&format!("{SEED_VARIABLE}=`{seed}` is not a number."))),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            (now % (1 << 53)) as u64
        }
    })
}

/// Where the grader is; built once per test run when this crate is inside
/// the socklab repository.
fn grader(directory: &Path) -> Result<PathBuf, &'static str> {
    static GRADER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match GRADER.get_or_init(|| find_grader(directory)) {
        Ok(path) => Ok(path.clone()),
        Err(message) => Err(message),
    }
}

fn find_grader(directory: &Path) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(GRADER_VARIABLE) {
        return Ok(path.into());
    }
    if let Some(repository) = directory
        .ancestors()
        .find(|dir| dir.join("grader/Cargo.toml").is_file() && dir.join("Cargo.toml").is_file())
    {
        // Its own target directory: the `cargo test` running this holds the
        // lock of the workspace's until the tests end.
        let target = repository.join("target/lab-grader");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            // Jobserver variables name file descriptors this process does not pass on.
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("CARGO_MAKEFLAGS")
            .args(["build", "--quiet", "-p", "grader", "--manifest-path"])
            .arg(repository.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .map_err(|err| format!("Building the grader failed: {err}"))?;
        if !built.success() {
            return Err(format!(
                "Building the grader in {} failed ({built}).",
                repository.display()
            ));
        }
        return Ok(target.join("debug/grader"));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("grader"))
            .find(|candidate| candidate.is_file())
    });
    on_path.ok_or_else(|| {
        format!(
            "The socklab grader was not found: install it (`cargo install --git <the socklab \
             repository> grader`) or set {GRADER_VARIABLE} to its path, then run `cargo test` again."
        )
    })
}

/// Fails the current test with `message` and nothing else: a plain `panic!`
/// would add a line of this file and, with `RUST_BACKTRACE`, a backtrace,
/// neither of which says anything about the lab.
fn fail(message: &str) -> ! {
    println!("{message}");
    std::panic::resume_unwind(Box::new(message.to_string()))
}

/// `program` quoted for the shell the grader runs commands with.
fn quoted(program: &str) -> String {
    format!("'{}'", program.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::test_id;

    #[test]
    fn test_functions_name_the_lab_files_tests() {
        assert_eq!(test_id("t03_one_client"), "one-client");
        assert_eq!(test_id("t12_invalid_utf8"), "invalid-utf8");
        assert_eq!(test_id("one_client"), "one-client");
        assert_eq!(test_id("two_clients"), "two-clients");
    }
}
