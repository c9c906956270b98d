//! Reporters: each turns a finished [`SubmissionResult`] into one format. They
//! never start processes or touch sockets; grading happens once, rendering as
//! often as needed.

pub mod human;
pub mod json;

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
    Human,
    Json,
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
    }
}
