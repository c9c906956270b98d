//! Reporters: each turns a finished [`SubmissionResult`] into one format. They
//! never start processes or touch sockets; grading happens once, rendering as
//! often as needed.

pub mod autolab;
mod feedback;
pub mod github;
pub mod gradescope;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;

use crate::lab::Visibility;
use crate::outcome::{SubmissionResult, TestResult};

/// What a reader of the report may see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    /// Hide the details (message, hint, transcript) of tests that are not
    /// `visible`. Their scores still count.
    pub visible_only: bool,
}

impl Audience {
    pub fn shows_details(self, test: &TestResult) -> bool {
        !self.visible_only || test.visibility == Visibility::Visible
    }
}

/// The formats `--format` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per test, explanations under failures (for terminals).
    Human,
    /// The native, versioned result (grader/schema/result-v1.schema.json).
    Json,
    /// Gradescope's results.json.
    Gradescope,
    /// The JSON GitHub Classroom's grading reporter reads; with
    /// $GITHUB_OUTPUT set, also the step output `result` (base64).
    Github,
    /// JUnit XML, one testsuite per part (GitLab, Jenkins, CI test reporters).
    Junit,
    /// Feedback lines, then Autolab's `{"scores": ...}` last line.
    Autolab,
    /// One self-contained HTML page: each test's verdict, message, hint
    /// and transcript, for a browser or for printing.
    Html,
}

pub fn render(
    result: &SubmissionResult,
    format: Format,
    audience: Audience,
    color: bool,
) -> String {
    match format {
        Format::Human => human::render(result, audience, color),
        Format::Json => json::render(result, audience),
        Format::Gradescope => gradescope::render(result, audience),
        Format::Github => github::render(result, audience),
        Format::Junit => junit::render(result, audience),
        Format::Autolab => autolab::render(result, audience),
        Format::Html => html::render(result, audience),
    }
}
