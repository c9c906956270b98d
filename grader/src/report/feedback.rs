//! The plain text the LMS and CI formats share: a test's display name, what a
//! student reads about a test that did not pass, and its transcript.
//!
//! Everything here is built from the result model, where student bytes are
//! already escaped (see `escape`); each format then wraps this text in its
//! own syntax and guards against what its consumer would misread.

use std::fmt::Write;

use super::Audience;
use crate::escape::{TRANSCRIPT_BYTES, escape_shortened};
use crate::lab::{Kind, Visibility};
use crate::outcome::{Outcome, SubmissionResult, SubmissionStatus, TestResult, TranscriptEvent};

/// Shown instead of the details of a test the audience may not read.
pub const HIDDEN_DETAILS: &str =
    "The details of hidden tests are not shown. This test still counts in your score.";

/// Said of every test the grader could not run, so a student knows that the
/// zero is not theirs to fix.
pub const GRADER_FAULT: &str = "The grader itself failed on this test: this is not a fault \
     of your program. Ask your instructor to look at it and regrade.";

/// How a test is named wherever a reader sees one line per test: the stable
/// id first (what `grader list` and the lab's `cargo test` print), then its
/// description.
pub fn display_name(test: &TestResult) -> String {
    format!("{}: {}", test.id, test.name)
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Core => "core",
        Kind::Robustness => "robustness",
    }
}

pub fn visibility_name(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Visible => "visible",
        Visibility::Hidden => "hidden",
        Visibility::AfterDueDate => "after_due_date",
    }
}

/// What went wrong and what to try next, for a test that did not pass; empty
/// for a test that passed.
pub fn explanation(test: &TestResult) -> String {
    let mut text = match &test.outcome {
        Outcome::Pass => return String::new(),
        Outcome::Fail { message } | Outcome::Timeout { message } => message.clone(),
        Outcome::Error { message } => format!("{GRADER_FAULT}\n{message}"),
        Outcome::Skipped { reason } => reason.clone(),
    };
    if let Some(hint) = &test.hint {
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = write!(text, "Hint: {hint}");
    }
    text
}

/// The test's exchange, one event per line: when, on which socket or
/// program, and what was sent, received or noticed. Payloads are escaped and
/// quoted with backticks so an empty datagram is still visible.
pub fn transcript(test: &TestResult) -> String {
    let width = test
        .transcript
        .iter()
        .map(|entry| entry.channel.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for entry in &test.transcript {
        let data = match &entry.event {
            TranscriptEvent::Sent(bytes) | TranscriptEvent::Received(bytes) => {
                format!("`{}`", escape_shortened(bytes, TRANSCRIPT_BYTES))
            }
            TranscriptEvent::Note(note) => note.clone(),
        };
        let _ = writeln!(
            text,
            "{:>6} ms  {:<width$}  {:<8}  {data}",
            entry.at.as_millis(),
            entry.channel,
            entry.event.kind(),
        );
    }
    text
}

/// Everything a reader of one test sees: the explanation, then the
/// transcript; or, for a test whose details the audience may not read, only
/// a notice.
pub fn test_output(test: &TestResult, audience: Audience) -> String {
    if !audience.shows_details(test) {
        return HIDDEN_DETAILS.to_string();
    }
    let mut text = explanation(test);
    if text.is_empty() {
        text.push_str("Passed.");
    }
    if !test.transcript.is_empty() {
        text.push_str("\n\nWhat was sent and received:\n");
        text.push_str(&transcript(test));
    }
    text.trim_end().to_string()
}

/// Whether the programs' own output (stdout and stderr tails) may be shown.
/// A program may print what a hidden test sent it, so when details of hidden
/// tests are withheld, the tails are shown only if every test is visible.
pub fn shows_program_output(result: &SubmissionResult, audience: Audience) -> bool {
    result.tests.iter().all(|test| audience.shows_details(test))
}

/// How many tests the grader could not run because of its own fault.
pub fn grader_faults(result: &SubmissionResult) -> usize {
    result
        .tests
        .iter()
        .filter(|test| matches!(test.outcome, Outcome::Error { .. }))
        .count()
}

/// A few sentences about the whole submission: score, whether it could run,
/// notes, and a word when the grader (not the student) failed.
pub fn summary(result: &SubmissionResult) -> String {
    let passed = result
        .tests
        .iter()
        .filter(|test| test.outcome.is_pass())
        .count();
    let mut text = format!(
        "{}: {}/{} points; {passed} of {} tests passed.\n",
        result.lab,
        result.score(),
        result.max_score(),
        result.tests.len()
    );
    match &result.status {
        SubmissionStatus::Graded => {}
        SubmissionStatus::NotRunnable { reason } => {
            let _ = writeln!(text, "Your submission could not be run: {reason}");
        }
        SubmissionStatus::Error { message } => {
            let _ = writeln!(
                text,
                "The grader itself failed ({message}): this is not a fault of your program. \
                 Ask your instructor to look at it and regrade."
            );
        }
    }
    for note in &result.notes {
        let _ = writeln!(text, "Note: {note}");
    }
    let faults = grader_faults(result);
    if faults > 0 {
        let _ = writeln!(
            text,
            "The grader itself failed on {faults} test(s): this is not a fault of your \
             program. Ask your instructor to look at it and regrade."
        );
    }
    let tier = result.isolation.tier.map_or("no", |tier| tier.as_str());
    let _ = writeln!(text, "Seed {}; {tier} isolation.", result.seed);
    text.trim_end().to_string()
}

/// The last guard for every string a report holds: student bytes reach the
/// reporters escaped already (see `escape`), but reasons, notes and
/// messages may quote a manifest or a file name. Line breaks stay; every
/// other control character, the noncharacters XML 1.0 cannot hold and
/// invisible formatting characters become visible `\u{..}` escapes, and no
/// line is a CI workflow command (see [`crate::escape::escape_text`]).
pub fn visible_controls(text: &str) -> String {
    crate::escape::escape_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            visible_controls("a\u{0}b\u{1b}[31m\r\u{7f}\u{85}\u{fffe}\u{ffff}\tok\n"),
            "a\\u{0}b\\u{1b}[31m\\u{d}\\u{7f}\\u{85}\\u{fffe}\\u{ffff}\tok\n"
        );
        assert_eq!(
            visible_controls("straße ]]> </testcase>"),
            "straße ]]> </testcase>"
        );
    }
}
