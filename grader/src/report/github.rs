//! What GitHub Classroom's grading reporter
//! (`classroom-resources/autograding-grading-reporter`) reads from a grading
//! step: the JSON its own graders (`autograding-command-grader`,
//! `autograding-io-grader`) produce, base64-encoded in the step output
//! `result`.
//!
//! Shape: `version` (1), `status` (`pass`, `fail` or `error`), `max_score`,
//! `tests` with `name`, `status`, `score`, `message`, `test_code`,
//! `filename`, `line_no`, `duration` (milliseconds). The reporter sums the
//! tests' `score`s against `max_score` for the grade it sends to Classroom,
//! and prints each test's name and, for a test that did not pass, its message
//! in the workflow log.
//!
//! That log is parsed by the Actions runner: a line that starts (after
//! blanks) with `::` is a workflow command, and `##[` starts an older one
//! anywhere on a line. A submission's output is quoted in messages line by
//! line, so such sequences are defused here before they reach the log.

use crate::escape::defuse_workflow_commands;
use base64::Engine;
use serde::Serialize;

use super::{Audience, feedback};
use crate::outcome::{Outcome, SubmissionResult, SubmissionStatus, TestResult};

pub const VERSION: u32 = 1;

/// The longest message kept whole, in characters. The reporter receives the
/// result through an environment variable, and Linux caps one at 128 KiB.
pub const MESSAGE_CHARS: usize = 2000;

#[derive(Serialize)]
pub struct ClassroomResult {
    pub version: u32,
    pub status: &'static str,
    pub max_score: u32,
    pub tests: Vec<ClassroomTest>,
}

#[derive(Serialize)]
pub struct ClassroomTest {
    pub name: String,
    pub status: &'static str,
    pub score: u32,
    pub message: String,
    pub test_code: String,
    pub filename: String,
    pub line_no: u32,
    pub duration: u64,
}

pub fn model(result: &SubmissionResult, audience: Audience) -> ClassroomResult {
    ClassroomResult {
        version: VERSION,
        status: overall_status(result),
        max_score: result.max_score(),
        tests: result
            .tests
            .iter()
            .map(|test| ClassroomTest {
                name: log_safe(&feedback::display_name(test)),
                status: status(&test.outcome),
                score: test.score(),
                message: log_safe(&shorten(&message(test, audience))),
                test_code: String::new(),
                filename: String::new(),
                line_no: 0,
                duration: test.duration.as_millis() as u64,
            })
            .collect(),
    }
}

/// `error` when the grader failed (the reporter then says "Some tests
/// errored" rather than blaming the student), `pass` when every test passed,
/// `fail` otherwise.
fn overall_status(result: &SubmissionResult) -> &'static str {
    let grader_failed = match result.status {
        SubmissionStatus::Error { .. } => true,
        SubmissionStatus::Graded | SubmissionStatus::NotRunnable { .. } => false,
    };
    if grader_failed || feedback::grader_faults(result) > 0 {
        "error"
    } else if result.tests.iter().all(|test| test.outcome.is_pass()) {
        "pass"
    } else {
        "fail"
    }
}

fn status(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail { .. } | Outcome::Timeout { .. } | Outcome::Skipped { .. } => "fail",
        Outcome::Error { .. } => "error",
    }
}

/// The reporter prints the message only for tests that did not pass; the
/// transcript has no field of its own, so the message is the explanation.
fn message(test: &TestResult, audience: Audience) -> String {
    if test.outcome.is_pass() {
        String::new()
    } else if audience.shows_details(test) {
        feedback::explanation(test)
    } else {
        feedback::HIDDEN_DETAILS.to_string()
    }
}

/// Text the reporter may print in the workflow log: no control character
/// (so no colour or cursor sequence, no carriage return that starts a line)
/// and no workflow command.
fn log_safe(text: &str) -> String {
    defuse_workflow_commands(&feedback::visible_controls(text))
}

/// Keeps the head and the tail of a long message around a marker.
fn shorten(text: &str) -> String {
    let length = text.chars().count();
    if length <= MESSAGE_CHARS {
        return text.to_string();
    }
    let keep = MESSAGE_CHARS / 2;
    let head: String = text.chars().take(keep).collect();
    let tail: String = text.chars().skip(length - keep).collect();
    format!("{head}…[{} characters cut]…{tail}", length - 2 * keep)
}

/// The JSON, pretty-printed: what `--format github` writes.
pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    let mut text = serde_json::to_string_pretty(&model(result, audience))
        .expect("the Classroom model always serialises");
    text.push('\n');
    text
}

/// The compact JSON in standard base64: the value of the step output
/// `result` the reporter decodes.
pub fn encoded(result: &SubmissionResult, audience: Audience) -> String {
    let json = serde_json::to_string(&model(result, audience))
        .expect("the Classroom model always serialises");
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// The line to append to the file named by `$GITHUB_OUTPUT`: `result=` and
/// the base64 text, which has no newline a submission could smuggle another
/// output through.
pub fn step_output(result: &SubmissionResult, audience: Audience) -> String {
    format!("result={}\n", encoded(result, audience))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_defused_wherever_a_line_starts() {
        assert_eq!(
            defuse_workflow_commands("ok\n::error::forged\n   ::notice file=a::x"),
            "ok\n\\u{3a}:error::forged\n   \\u{3a}:notice file=a::x"
        );
        assert_eq!(
            defuse_workflow_commands("text ##[error]old style"),
            "text #\\u{23}[error]old style"
        );
        assert_eq!(
            defuse_workflow_commands("a\r::warning::x\r\n"),
            "a\r\\u{3a}:warning::x\r\n"
        );
        assert_eq!(defuse_workflow_commands("a :: b"), "a :: b");
    }

    #[test]
    fn long_messages_keep_head_and_tail() {
        let text = format!("HEAD{}TAIL", "x".repeat(3 * MESSAGE_CHARS));
        let short = shorten(&text);
        assert!(
            short.starts_with("HEAD") && short.ends_with("TAIL"),
            "{short}"
        );
        assert!(short.contains("characters cut]"));
        assert!(short.chars().count() < MESSAGE_CHARS + 40);
    }
}
