//! What a lab crate's `cargo test` runs (the crates under `labs/`): the
//! programs Cargo built from the crate are graded with the lab's built-in
//! definition, as `grader grade <lab> labs/<lab>` grades them, and each
//! `#[test]` that [`lab_tests!`](crate::lab_tests) declares passes or fails
//! with its own test's outcome.
//!
//! The lab is graded once, by the first test that asks; every other test then
//! looks its outcome up. A failing test prints the grader's feedback for that
//! test: what was sent, what was expected, what came back, and a hint.

use std::fmt::Write;
use std::sync::OnceLock;

use crate::escape::{SHOWN_BYTES, escape_shortened};
use crate::outcome::{Outcome, SubmissionResult, TestResult, TranscriptEvent};
use crate::runner::{GradeOptions, grade};
use crate::submission::{Overrides, Source};

/// Setting this variable to the seed a failed test shows grades with the same
/// random sentences again.
const SEED_VARIABLE: &str = "SOCKLAB_SEED";

/// Declares the tests of a lab crate, in its `tests/lab.rs`: one `#[test]` per
/// test of the lab file, named like the test's id with `_` for `-`, plus
/// `every_test_of_the_lab_file_is_listed`, which checks that the list matches
/// the lab file exactly.
///
/// `server` and `client` are the programs Cargo built for the lab
/// (`Some(env!("CARGO_BIN_EXE_<name>"))`), or `None` for a part the lab does
/// not have. The lab crates' `tests/lab.rs` files show it in use.
#[macro_export]
macro_rules! lab_tests {
    (
        lab: $name:literal,
        server: $server:expr,
        client: $client:expr,
        tests: [$($test:ident),+ $(,)?] $(,)?
    ) => {
        // `env!` expands in the lab crate, so this is the lab crate's
        // directory, not the grader's.
        static LAB: $crate::lab_crate::LabCrate = $crate::lab_crate::LabCrate::new(
            $name,
            $server,
            $client,
            ::core::env!("CARGO_MANIFEST_DIR"),
        );

        $(
            #[test]
            fn $test() {
                LAB.check(::core::stringify!($test));
            }
        )+

        #[test]
        fn every_test_of_the_lab_file_is_listed() {
            LAB.check_list(&[$(::core::stringify!($test)),+]);
        }
    };
}

/// A lab, the programs Cargo built for it, and its grading once done.
pub struct LabCrate {
    name: &'static str,
    server: Option<&'static str>,
    client: Option<&'static str>,
    /// The lab crate's directory: the submission the grader is told about.
    directory: &'static str,
    graded: OnceLock<Result<SubmissionResult, String>>,
}

impl LabCrate {
    /// The lab `name` of the built-in labs, whose crate is in `directory` and
    /// whose programs Cargo built at `server` and `client`.
    pub const fn new(
        name: &'static str,
        server: Option<&'static str>,
        client: Option<&'static str>,
        directory: &'static str,
    ) -> Self {
        LabCrate {
            name,
            server,
            client,
            directory,
            graded: OnceLock::new(),
        }
    }

    /// Passes when the lab file's test `test_fn` (its id, with `_` for `-`)
    /// passed; otherwise fails with the grader's feedback for it.
    pub fn check(&self, test_fn: &str) {
        let graded = match self.graded.get_or_init(|| self.grade()) {
            Ok(graded) => graded,
            Err(message) => fail(message),
        };
        let id = test_fn.replace('_', "-");
        let Some(test) = graded.tests.iter().find(|test| test.id == id) else {
            fail(&format!(
                "The lab file has no test `{id}`: remove `{test_fn}` from the list in tests/lab.rs."
            ));
        };
        if !test.outcome.is_pass() {
            fail(&feedback(graded, test));
        }
    }

    /// Checks that `listed` names exactly the lab file's tests, in its order,
    /// so that a test added to the lab file cannot go unnoticed in the crate.
    pub fn check_list(&self, listed: &[&str]) {
        let lab_file = match crate::lab::builtin(self.name) {
            Some(Ok(lab_file)) => lab_file,
            Some(Err(error)) => fail(&error.to_string()),
            None => fail(&format!("The grader has no lab `{}`.", self.name)),
        };
        let expected: Vec<String> = lab_file
            .tests
            .iter()
            .map(|test| test.id.replace('-', "_"))
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

    fn grade(&self) -> Result<SubmissionResult, String> {
        let lab_file = crate::lab::builtin(self.name)
            .ok_or_else(|| format!("The grader has no lab `{}`.", self.name))?
            .map_err(|error| error.to_string())?;
        let seed = match std::env::var(SEED_VARIABLE) {
            Ok(seed) => seed
                .trim()
                .parse()
                .map_err(|_| format!("{SEED_VARIABLE}=`{seed}` is not a number."))?,
            Err(_) => crate::sentence::fresh_seed(),
        };
        let options = GradeOptions {
            seed,
            overrides: Overrides {
                server: self
                    .server
                    .map(|program| format!("{} --port {{port}}", quoted(program))),
                client: self
                    .client
                    .map(|program| format!("{} --host {{host}} --port {{port}}", quoted(program))),
            },
            // Without the grader binary every program runs as a plain child
            // process on a free port, so labs tested side by side never share one.
            grader_binary: None,
            ..GradeOptions::default()
        };
        let source = Source::Directory(self.directory.into());
        grade(&lab_file, &source, &options).map_err(|error| error.to_string())
    }
}

/// Fails the current test with `message` and nothing else. A plain `panic!`
/// would add the line of this file it panicked at and, when `RUST_BACKTRACE` is
/// set, a backtrace of the grader, neither of which says anything about the
/// lab. `cargo test` shows what a failed test printed, so the message is
/// printed and the test unwinds without the panic hook that adds the rest.
fn fail(message: &str) -> ! {
    println!("{message}");
    std::panic::resume_unwind(Box::new(message.to_string()))
}

/// What the grader saw in one failed test: the verdict and what went wrong,
/// the hint, the exchange step by step, and the seed that reproduces it.
fn feedback(graded: &SubmissionResult, test: &TestResult) -> String {
    let verdict = match &test.outcome {
        Outcome::Pass => "passed",
        Outcome::Fail { .. } => "failed",
        Outcome::Timeout { .. } => "timed out",
        Outcome::Error { .. } => "could not be run, through the grader's fault and not yours",
        Outcome::Skipped { .. } => "was not run",
    };
    let mut text = format!(
        "\n{} test `{}` {verdict}: {}\n",
        test.part.as_str(),
        test.id,
        test.name
    );
    for line in test.outcome.message().unwrap_or_default().lines() {
        let _ = writeln!(text, "    {line}");
    }
    if let Some(hint) = &test.hint {
        let _ = writeln!(text, "    hint: {hint}");
    }
    if !test.transcript.is_empty() {
        let _ = writeln!(text, "    what happened (ms since the test started):");
        for entry in &test.transcript {
            let data = match &entry.event {
                TranscriptEvent::Sent(bytes) | TranscriptEvent::Received(bytes) => {
                    format!("`{}`", escape_shortened(bytes, SHOWN_BYTES))
                }
                TranscriptEvent::Note(note) => note.clone(),
            };
            let _ = writeln!(
                text,
                "    {:>6}  {:<8} {:<8} {data}",
                entry.at.as_millis(),
                entry.channel,
                entry.event.kind()
            );
        }
    }
    let _ = writeln!(
        text,
        "    (to grade with the same random sentences again: {SEED_VARIABLE}={} cargo test)",
        graded.seed
    );
    text
}

/// `program` quoted for the shell the grader runs commands with.
fn quoted(program: &str) -> String {
    format!("'{}'", program.replace('\'', r"'\''"))
}
