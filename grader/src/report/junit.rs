//! JUnit XML, as GitLab's test reports, Jenkins and the common GitHub test
//! reporters read it, written with `quick-junit` (the serializer nextest
//! uses).
//!
//! One `<testsuite>` per part of the lab (`udp-uppercase.server`,
//! `udp-uppercase.client`), one `<testcase>` per test with that suite as its
//! `classname`. A student's failure (`fail`, `timeout`) is a `<failure>`, a
//! grader fault an `<error>`, a test that did not run `<skipped>`. The
//! failure's `message` attribute is the first line of the explanation (XML
//! folds newlines in attributes), its text the whole explanation and hint
//! (the part GitLab shows); the transcript is the test's `<system-out>`.
//! Each suite's properties say which submission, seed and isolation produced
//! it, and what it scored; the program's stdout and stderr tails are the
//! suite's `<system-out>` and `<system-err>` (Jenkins shows them; GitLab
//! reads these only on test cases, and the explanations quote the stderr
//! that matters).
//!
//! XML 1.0 cannot hold most control characters, not even as character
//! references (and quick-junit silently drops them). Student bytes reach this
//! module escaped already; every string still goes through [`xml_text`], so a
//! lab's names or a manifest's command cannot break the document either.

use std::fmt::Write;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Audience, feedback};
use crate::escape::{escape_field, escape_lines};
use crate::lab::Part;
use crate::outcome::{Outcome, ProgramRun, SubmissionResult, TestResult};

pub fn report(result: &SubmissionResult, audience: Audience) -> Report {
    let mut report = Report::new(xml_text(&result.lab));
    report.set_time(result.duration);
    for part in [Part::Server, Part::Client] {
        let tests: Vec<&TestResult> = result
            .tests
            .iter()
            .filter(|test| test.part == part)
            .collect();
        if tests.is_empty() {
            continue;
        }
        report.add_test_suite(suite(result, part, &tests, audience));
    }
    report
}

fn suite(
    result: &SubmissionResult,
    part: Part,
    tests: &[&TestResult],
    audience: Audience,
) -> TestSuite {
    let name = xml_text(&format!("{}.{}", result.lab, part.as_str()));
    let mut suite = TestSuite::new(name.clone());
    suite.set_time(tests.iter().map(|test| test.duration).sum());
    let score: u32 = tests.iter().map(|test| test.score()).sum();
    let max_score: u32 = tests.iter().map(|test| test.max_score).sum();
    let tier = result.isolation.tier.map_or("none", |tier| tier.as_str());
    suite.add_properties([
        Property::new("submission", xml_text(&escape_field(&result.submission))),
        Property::new("status", result.status.as_str()),
        Property::new("seed", result.seed.to_string()),
        Property::new("isolation", tier),
        Property::new("score", score.to_string()),
        Property::new("max_score", max_score.to_string()),
    ]);
    let skipped = tests
        .iter()
        .filter(|test| matches!(test.outcome, Outcome::Skipped { .. }))
        .count();
    // Jenkins' schema and most readers count skipped tests in this attribute;
    // quick-junit counts them in `disabled` only.
    suite
        .extra
        .insert("skipped".into(), skipped.to_string().into());
    for test in tests {
        suite.add_test_case(test_case(test, &name, audience));
    }
    let run = match part {
        Part::Server => &result.server,
        Part::Client => &result.client,
    };
    if let (Some(run), true) = (run, feedback::shows_program_output(result, audience)) {
        suite.set_system_out(xml_text(&program_output(run)));
        if !run.stderr_tail.is_empty() {
            suite.set_system_err(xml_text(&escape_lines(&run.stderr_tail)));
        }
    }
    suite
}

fn test_case(test: &TestResult, classname: &str, audience: Audience) -> TestCase {
    let details = audience.shows_details(test);
    let explanation = if details {
        feedback::explanation(test)
    } else {
        feedback::HIDDEN_DETAILS.to_string()
    };
    let headline = explanation.lines().next().unwrap_or_default().to_string();
    let mut status = match &test.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail { .. } | Outcome::Timeout { .. } => {
            TestCaseStatus::non_success(NonSuccessKind::Failure)
        }
        Outcome::Error { .. } => TestCaseStatus::non_success(NonSuccessKind::Error),
        Outcome::Skipped { .. } => TestCaseStatus::skipped(),
    };
    if !test.outcome.is_pass() {
        status.set_type(test.outcome.status());
        status.set_message(xml_text(&headline));
        // GitLab shows the element's text, not its message attribute.
        status.set_description(xml_text(&explanation));
    }
    let mut case = TestCase::new(xml_text(&feedback::display_name(test)), status);
    case.set_classname(classname);
    case.set_time(test.duration);
    let mut out = format!(
        "{} test, {} of {} points, {}.\n",
        feedback::kind_name(test.kind),
        test.score(),
        test.max_score,
        feedback::visibility_name(test.visibility)
    );
    if details && !test.transcript.is_empty() {
        out.push_str("What was sent and received:\n");
        out.push_str(&feedback::transcript(test));
    }
    case.set_system_out(xml_text(&out));
    case
}

/// The program's command, how its last run ended, and its stdout tail.
fn program_output(run: &ProgramRun) -> String {
    let mut out = format!(
        "command: {}\nstarts: {}\n",
        escape_field(&run.command),
        run.starts
    );
    match &run.exit {
        Some(exit) => {
            let _ = writeln!(out, "ended with {exit}");
        }
        None => out.push_str("stopped by the grader\n"),
    }
    if !run.stdout_tail.is_empty() {
        out.push_str("the end of its stdout:\n");
        out.push_str(&escape_lines(&run.stdout_tail));
    }
    out
}

/// Text as XML 1.0 can hold it: see [`feedback::visible_controls`].
fn xml_text(text: &str) -> String {
    feedback::visible_controls(text)
}

pub fn render(result: &SubmissionResult, audience: Audience) -> String {
    report(result, audience)
        .to_string()
        .expect("writing XML to a string cannot fail")
}
