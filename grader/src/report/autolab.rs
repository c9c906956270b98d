//! Autolab's autograder output (Autolab docs, "Guide for Lab Authors"):
//! whatever the autograder prints is the student's feedback, and the last
//! line must be the JSON autoresult `{"scores": {...}}`, one score per
//! problem of the assessment.
//!
//! The feedback is a summary, then one line per test with the explanation
//! under each that did not pass. Each test is a problem named by its id
//! (`grader list` prints them), so the assessment's problems must carry
//! those names. The autoresult is always written last, by the grader, after
//! everything a submission could have put in the feedback, so no student
//! text can be taken for it.

use std::fmt::Write;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Audience, feedback};
use crate::escape::{escape_field, escape_lines};
use crate::lab::Part;
use crate::outcome::{Outcome, SubmissionResult, TestResult};

/// The autoresult: `{"scores": {"<test id>": <points>, ...}}`, in the lab's
/// order.
#[derive(serde::Serialize)]
pub struct AutoResult<'a> {
    pub scores: Scores<'a>,
}

pub struct Scores<'a>(pub &'a [TestResult]);

impl Serialize for Scores<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for test in self.0 {
            map.serialize_entry(&test.id, &test.score())?;
        }
        map.end()
    }
}

/// The autoresult line, without its newline.
pub fn autoresult(result: &SubmissionResult) -> String {
    serde_json::to_string(&AutoResult {
        scores: Scores(&result.tests),
    })
    .expect("the autoresult always serialises")
}

/// The feedback a student reads, without the autoresult.
pub fn feedback_text(result: &SubmissionResult, audience: Audience) -> String {
    let mut text = feedback::summary(result);
    text.push_str("\n\n");
    for test in &result.tests {
        let label = match test.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail { .. } => "FAIL",
            Outcome::Timeout { .. } => "TIMEOUT",
            Outcome::Error { .. } => "ERROR",
            Outcome::Skipped { .. } => "SKIPPED",
        };
        let _ = writeln!(
            text,
            "{label:<7}  {}/{}  {}",
            test.score(),
            test.max_score,
            feedback::display_name(test)
        );
        if test.outcome.is_pass() {
            continue;
        }
        let explanation = if audience.shows_details(test) {
            feedback::explanation(test)
        } else {
            feedback::HIDDEN_DETAILS.to_string()
        };
        for line in explanation.lines() {
            let _ = writeln!(text, "    {line}");
        }
    }
    if feedback::shows_program_output(result, audience) {
        for (part, run) in [
            (Part::Server, &result.server),
            (Part::Client, &result.client),
        ] {
            // A program's last words matter only when one of its tests failed.
            let failed = result
                .tests
                .iter()
                .any(|test| test.part == part && !test.outcome.is_pass());
            let Some(run) = run
                .as_ref()
                .filter(|run| failed && !run.stderr_tail.is_empty())
            else {
                continue;
            };
            let _ = writeln!(
                text,
                "\nThe end of what your {} (`{}`) wrote to stderr:",
                part.as_str(),
                escape_field(&run.command)
            );
            for line in escape_lines(&run.stderr_tail).lines() {
                let _ = writeln!(text, "    {line}");
            }
        }
    }
    feedback::visible_controls(&text)
}

pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    let mut text = feedback_text(result, audience);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&autoresult(result));
    text.push('\n');
    text
}
