//! Gradescope's `results.json`, as its autograder specification describes it
//! (gradescope-autograders.readthedocs.io, "Autograder Specifications").
//!
//! Top level: `score`, `execution_time` (seconds), `output` and its
//! `output_format`, `test_output_format`, `test_name_format`, `visibility`,
//! `stdout_visibility`, `extra_data`, `tests`. Per test: `name`, `number`,
//! `score`, `max_score`, `status` (`passed` or `failed`), `output`, `tags`,
//! `visibility`, `extra_data`.
//!
//! Gradescope hides tests natively, so each test carries its lab visibility
//! (`hidden`, `after_due_date`) and instructors still see its details; with
//! `--visible-only` the details are also left out of the file. Every text is
//! declared `text` so that nothing a submission printed is rendered as HTML
//! or Markdown, and the autograder's stdout stays with the instructors.

use serde::Serialize;

use super::{Audience, feedback};
use crate::lab::Part;
use crate::outcome::{Outcome, SubmissionResult, TestResult};

#[derive(Serialize)]
pub struct GradescopeResult<'a> {
    /// Overrides Gradescope's own sum of the tests; equal to it.
    pub score: u32,
    /// Whole seconds, rounded up.
    pub execution_time: u64,
    pub output: String,
    pub output_format: &'static str,
    pub test_output_format: &'static str,
    pub test_name_format: &'static str,
    pub visibility: &'static str,
    pub stdout_visibility: &'static str,
    pub extra_data: SubmissionData<'a>,
    pub tests: Vec<GradescopeTest<'a>>,
}

/// What Gradescope stores without showing: enough to trace a score back to a
/// grading run.
#[derive(Serialize)]
pub struct SubmissionData<'a> {
    pub lab: &'a str,
    pub max_score: u32,
    pub status: &'static str,
    pub seed: u64,
    pub isolation: Option<&'static str>,
}

#[derive(Serialize)]
pub struct GradescopeTest<'a> {
    pub name: String,
    pub number: String,
    pub score: u32,
    pub max_score: u32,
    pub status: &'static str,
    pub output: String,
    pub tags: Vec<&'static str>,
    pub visibility: &'static str,
    pub extra_data: TestData<'a>,
}

#[derive(Serialize)]
pub struct TestData<'a> {
    pub id: &'a str,
    /// The grader's own outcome (`pass`, `fail`, `timeout`, `error`,
    /// `skipped`), finer than Gradescope's passed/failed.
    pub outcome: &'static str,
}

pub fn model(result: &SubmissionResult, audience: Audience) -> GradescopeResult<'_> {
    let numbers = numbering(&result.tests);
    GradescopeResult {
        score: result.score(),
        execution_time: result.duration.as_secs_f64().ceil() as u64,
        output: feedback::visible_controls(&feedback::summary(result)),
        output_format: "text",
        test_output_format: "text",
        test_name_format: "text",
        visibility: "visible",
        stdout_visibility: "hidden",
        extra_data: SubmissionData {
            lab: &result.lab,
            max_score: result.max_score(),
            status: result.status.as_str(),
            seed: result.seed,
            isolation: result.isolation.tier.map(|tier| tier.as_str()),
        },
        tests: result
            .tests
            .iter()
            .zip(numbers)
            .map(|(test, number)| GradescopeTest {
                name: feedback::visible_controls(&feedback::display_name(test)),
                number,
                score: test.score(),
                max_score: test.max_score,
                status: status(&test.outcome),
                output: feedback::visible_controls(&feedback::test_output(test, audience)),
                tags: vec![test.part.as_str(), feedback::kind_name(test.kind)],
                visibility: feedback::visibility_name(test.visibility),
                extra_data: TestData {
                    id: &test.id,
                    outcome: test.outcome.status(),
                },
            })
            .collect(),
    }
}

/// Gradescope knows only passed and failed. A grader fault is `failed` with
/// zero points like any other, and its output says whose fault it was.
fn status(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "passed",
        Outcome::Fail { .. }
        | Outcome::Timeout { .. }
        | Outcome::Error { .. }
        | Outcome::Skipped { .. } => "failed",
    }
}

/// Numbers like `1.3`: the part (in the order the lab lists its parts), then
/// the test within it, so server and client tests read as two groups.
fn numbering(tests: &[TestResult]) -> Vec<String> {
    let mut parts: Vec<Part> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    tests
        .iter()
        .map(|test| {
            let index = match parts.iter().position(|part| *part == test.part) {
                Some(index) => index,
                None => {
                    parts.push(test.part);
                    counts.push(0);
                    parts.len() - 1
                }
            };
            counts[index] += 1;
            format!("{}.{}", index + 1, counts[index])
        })
        .collect()
}

pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    let mut text = serde_json::to_string_pretty(&model(result, audience))
        .expect("the Gradescope model always serialises");
    text.push('\n');
    text
}
