//! The one way a test step fails, and how that becomes a test's outcome.

use crate::diagnose::Diagnosis;
use crate::ending::NeverRan;
use crate::hint::{Hint, HintKind};
use crate::outcome::Outcome;

/// How a test step went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Fail,
    Timeout,
    /// The grader's own fault (e.g. it could not create a socket), or the
    /// grading machine's: never charged to the student.
    Error,
}

/// The hint a failed test shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestHint {
    /// The lab author's hint for the test: the failure is the kind it is
    /// about (silence, a refused connection, a pattern not matched).
    Lab,
    /// A hint read off what was observed.
    Observed(Hint),
    /// None: the facts in the message are all that is known to be true, and
    /// a coding hint would name a cause nobody saw.
    Withheld,
}

impl TestHint {
    /// A diagnosis's hint when there is one, the lab's otherwise.
    pub fn observed_or_lab(hint: Option<Hint>) -> TestHint {
        hint.map_or(TestHint::Lab, TestHint::Observed)
    }
}

/// The first thing that went wrong in a test, server or client.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub hint: TestHint,
}

impl Failure {
    /// A failure the lab's hint for the test is about.
    pub fn fail(message: String) -> Failure {
        Failure {
            kind: FailureKind::Fail,
            message,
            hint: TestHint::Lab,
        }
    }

    /// A failure with the hint observed, or the lab's when none was.
    pub fn with_hint(message: String, hint: Option<Hint>) -> Failure {
        Failure {
            kind: FailureKind::Fail,
            message,
            hint: TestHint::observed_or_lab(hint),
        }
    }

    /// A failure explained by a diagnosis: its finding is the message.
    pub fn diagnosed(kind: FailureKind, message: String, diagnosis: Diagnosis) -> Failure {
        Failure {
            kind,
            message,
            hint: TestHint::Observed(diagnosis.into_hint()),
        }
    }

    /// The grader could not do its part.
    pub fn grader(context: &str, err: std::io::Error) -> Failure {
        Failure::grader_message(format!("grader error: {context}: {err}"))
    }

    pub fn grader_message(message: String) -> Failure {
        Failure {
            kind: FailureKind::Error,
            message,
            hint: TestHint::Lab,
        }
    }

    /// Whether the cause lies in the grading machine, not the submission.
    pub fn grader_environment(&self) -> bool {
        self.kind == FailureKind::Error
    }

    pub fn into_outcome(self) -> (Outcome, TestHint) {
        let outcome = match self.kind {
            FailureKind::Fail => Outcome::Fail {
                message: self.message,
            },
            FailureKind::Timeout => Outcome::Timeout {
                message: self.message,
            },
            FailureKind::Error => Outcome::Error {
                message: self.message,
            },
        };
        (outcome, self.hint)
    }
}

/// The failure of a program that never got to run its own code: one finding
/// for its part. A tool missing on the grading machine is the grader's
/// environment, never charged to the student.
pub fn never_ran(program: &str, command: &str, never: NeverRan, stderr: &[u8]) -> Failure {
    let tail = crate::escape::escape_lines(&stderr[stderr.len().saturating_sub(1024)..]);
    let stderr_part = if tail.trim().is_empty() {
        String::new()
    } else {
        format!(" The end of its stderr:\n{tail}")
    };
    let message = format!(
        "Your {program} `{command}` never ran. {}{stderr_part}",
        never.finding
    );
    match never.missing_tool {
        Some(_) => Failure {
            kind: FailureKind::Error,
            message: format!("{message}\n{}", never.hint),
            hint: TestHint::Withheld,
        },
        None => Failure {
            kind: FailureKind::Fail,
            message,
            hint: TestHint::Observed(Hint::new(HintKind::NeverRan, never.hint)),
        },
    }
}
