//! The LMS and CI formats: golden files for real gradings, each
//! format's shape checked against what its consumer documents, a hostile
//! result that no format may break on, and the Gradescope kit run end to end.
//!
//! Golden files live in `fixtures/golden/<format>/<sample>.<ext>`. They are
//! rendered from a copy of the result with every duration zeroed and the
//! numbers that vary from run to run (ephemeral ports, waits in
//! milliseconds) replaced by `[..]`. `SOCKLAB_OVERWRITE=1` rewrites them from
//! the current run. They were recorded in the namespace tier; elsewhere only
//! the shape checks run, since the process tier words some results
//! differently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use grader::cell::Tier;
use grader::escape::escape_lines;
use grader::hint::{Hint, HintKind};
use grader::lab::{Kind, Part, Visibility};
use grader::outcome::{
    ExitReport, Isolation, Outcome, ProgramRun, SubmissionResult, SubmissionStatus, TestResult,
    TranscriptEntry, TranscriptEvent,
};
use grader::report::{self, Audience, Format, autolab, github};
use grader::submission::Source;
use serde_json::Value;

use crate::support::{grade_fixture, grade_source, grader_binary, lab, repo};

/// The formats with golden files: the directory under `fixtures/golden/`
/// and the file extension.
const GOLDEN_FORMATS: [(Format, &str, &str); 4] = [
    (Format::Gradescope, "gradescope", "json"),
    (Format::Github, "github", "json"),
    (Format::Junit, "junit", "xml"),
    (Format::Autolab, "autolab", "txt"),
];

const EVERYONE: Audience = Audience {
    visible_only: false,
};
const STUDENTS: Audience = Audience { visible_only: true };

// ---------------------------------------------------------------------------
// Real gradings: golden files and shape checks.

#[test]
fn udp_uppercase_reference_in_every_format() {
    let lab = lab("udp-uppercase");
    let result = grade_source(&lab, Source::Reference);
    assert_eq!(result.score(), result.max_score(), "the reference passes");
    check_sample("udp-uppercase-reference", &result);
}

#[test]
fn udp_uppercase_textbook_in_every_format() {
    let result = grade_fixture("udp-uppercase", "udp-uppercase/textbook");
    assert!(
        result
            .tests
            .iter()
            .any(|test| test.id == "invalid-utf8" && !test.outcome.is_pass()),
        "the textbook server dies on invalid UTF-8"
    );
    check_sample("udp-uppercase-textbook", &result);
}

#[test]
fn tcp_uppercase_client_that_prints_what_it_sent_in_every_format() {
    let result = grade_fixture("tcp-uppercase", "tcp-uppercase/client-prints-sent");
    check_sample("tcp-uppercase-client-prints-sent", &result);
}

/// No golden file: whether the grader's next connection meets the crashed
/// textbook server still running (a reset) or gone (refused) is a race, and
/// the explanation names whichever happened.
#[test]
fn tcp_uppercase_textbook_in_every_format() {
    let result = grade_fixture("tcp-uppercase", "tcp-uppercase/textbook");
    check_shapes(&stable(&result));
}

/// Renders `result` in every format, for every audience, and checks each
/// against its consumer's documented shape (the sample tests call it on every
/// sample they grade).
pub(crate) fn check_shapes(result: &SubmissionResult) {
    for audience in [EVERYONE, STUDENTS] {
        let render = |format| report::render(result, format, audience, false);
        check_gradescope(&render(Format::Gradescope), result);
        check_github(&render(Format::Github), result);
        check_github_step_output(result, audience);
        check_junit(&render(Format::Junit), result);
        check_autolab(&render(Format::Autolab), result);
    }
}

fn check_sample(sample: &str, result: &SubmissionResult) {
    let stable = stable(result);
    check_shapes(&stable);
    if result.isolation.tier != Some(Tier::Namespace) {
        eprintln!(
            "{sample}: graded in the {:?} tier; golden files are compared in the namespace tier only",
            result.isolation.tier
        );
        return;
    }
    for (format, directory, extension) in GOLDEN_FORMATS {
        let rendered = report::render(&stable, format, EVERYONE, false);
        assert_golden(
            &Path::new(directory).join(format!("{sample}.{extension}")),
            &normalise(&rendered),
        );
    }
}

/// A copy of `result` that renders the same on every run: durations zeroed,
/// the submission path relative to the repository.
fn stable(result: &SubmissionResult) -> SubmissionResult {
    let mut stable = result.clone();
    stable.duration = Duration::ZERO;
    for test in &mut stable.tests {
        test.duration = Duration::ZERO;
        for entry in &mut test.transcript {
            entry.at = Duration::ZERO;
        }
    }
    let root = format!("{}/", repo().display());
    if let Some(relative) = stable.submission.strip_prefix(&root) {
        stable.submission = relative.to_string();
    }
    stable
}

/// Replaces what varies between runs with `[..]`: ephemeral ports, waits
/// measured in milliseconds, and the caret lines newer Pythons add under a
/// traceback's source line (in JSON strings the newlines are `\n` escapes).
fn normalise(text: &str) -> String {
    let rules = [
        (r"port \d+", "port [..]"),
        (r"(\d+\.\d+\.\d+\.\d+):\d+", "$1:[..]"),
        (r"(until|within) \d+ ms", "$1 [..] ms"),
        (r"(\\n|\n) +[~^]+[ ~^]*(\\n|\n)", "$2"),
    ];
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        let regex = regex::Regex::new(pattern).expect("a valid pattern");
        text = regex.replace_all(&text, replacement).into_owned();
    }
    text
}

fn assert_golden(relative: &Path, actual: &str) {
    let path = repo().join("fixtures/golden").join(relative);
    let overwrite =
        std::env::var("SOCKLAB_OVERWRITE").is_ok_and(|value| !value.is_empty() && value != "0");
    if overwrite {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run with SOCKLAB_OVERWRITE=1 to create it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let differences: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .filter(|(_, (want, got))| want != got)
        .take(5)
        .map(|(at, (want, got))| format!("line {}:\n  golden: {want}\n  now:    {got}", at + 1))
        .collect();
    panic!(
        "{} differs from this run ({} lines golden, {} now):\n{}\n\
         If the change is intended, rerun with SOCKLAB_OVERWRITE=1 and review the diff.",
        path.display(),
        expected.lines().count(),
        actual.lines().count(),
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Shape checks against each consumer's documented fields.

fn parse_json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{what} is not JSON ({err}):\n{text}"))
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_keys_within(value: &Value, allowed: &[&str], what: &str) {
    for key in keys(value) {
        assert!(
            allowed.contains(&key),
            "{what}: `{key}` is not a documented field"
        );
    }
}

/// No control character but newline and tab in any string of `value`.
fn assert_no_controls_in_strings(value: &Value) {
    match value {
        Value::String(text) => assert_no_controls(text),
        Value::Array(items) => items.iter().for_each(assert_no_controls_in_strings),
        Value::Object(map) => map.values().for_each(assert_no_controls_in_strings),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn assert_no_controls(text: &str) {
    if let Some(c) = text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    }) {
        panic!("raw {c:?} in {text:?}");
    }
}

/// Gradescope's results.json (Autograder Specifications, "Output format").
fn check_gradescope(text: &str, result: &SubmissionResult) {
    const VISIBILITY: [&str; 4] = ["visible", "hidden", "after_due_date", "after_published"];
    const TEXT_FORMATS: [&str; 5] = ["text", "html", "simple_format", "md", "ansi"];
    let json = parse_json(text, "the Gradescope results");
    assert_keys_within(
        &json,
        &[
            "score",
            "execution_time",
            "output",
            "output_format",
            "test_output_format",
            "test_name_format",
            "visibility",
            "stdout_visibility",
            "extra_data",
            "tests",
            "leaderboard",
        ],
        "results.json",
    );
    assert_no_controls_in_strings(&json);
    for key in ["output_format", "test_output_format", "test_name_format"] {
        assert_eq!(
            json[key], "text",
            "student text is never rendered as HTML or Markdown"
        );
        assert!(TEXT_FORMATS.contains(&json[key].as_str().unwrap()));
    }
    for key in ["visibility", "stdout_visibility"] {
        assert!(
            VISIBILITY.contains(&json[key].as_str().unwrap()),
            "{key}: {}",
            json[key]
        );
    }
    assert_eq!(json["stdout_visibility"], "hidden");
    assert!(json["execution_time"].is_u64());
    assert!(json["output"].is_string());
    let tests = json["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), result.tests.len());
    let mut sum = 0;
    for (test, graded) in tests.iter().zip(&result.tests) {
        assert_keys_within(
            test,
            &[
                "score",
                "max_score",
                "status",
                "name",
                "name_format",
                "number",
                "output",
                "output_format",
                "tags",
                "visibility",
                "extra_data",
            ],
            "a Gradescope test",
        );
        let score = test["score"].as_u64().expect("score");
        let max_score = test["max_score"].as_u64().expect("max_score");
        assert!(score <= max_score);
        sum += score;
        assert_eq!(max_score, u64::from(graded.max_score));
        let status = test["status"].as_str().expect("status");
        assert!(["passed", "failed"].contains(&status), "status {status}");
        assert_eq!(status == "passed", graded.outcome.is_pass());
        assert!(test["name"].as_str().unwrap().starts_with(&graded.id));
        assert!(test["number"].is_string());
        assert!(test["output"].is_string());
        assert!(
            test["tags"]
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_string)
        );
        let visibility = test["visibility"].as_str().expect("visibility");
        assert!(VISIBILITY.contains(&visibility));
        let expected = match graded.visibility {
            Visibility::Visible => "visible",
            Visibility::Hidden => "hidden",
            Visibility::AfterDueDate => "after_due_date",
        };
        assert_eq!(visibility, expected);
    }
    assert_eq!(json["score"].as_u64(), Some(sum));
    assert_eq!(sum, u64::from(result.score()));
}

/// GitHub Classroom's grading reporter: what `autograding-command-grader`
/// puts in its `result` output, decoded.
fn check_github(text: &str, result: &SubmissionResult) {
    let json = parse_json(text, "the Classroom result");
    assert_keys_within(
        &json,
        &["version", "status", "max_score", "tests"],
        "result",
    );
    assert_eq!(json["version"], 1);
    let status = json["status"].as_str().expect("status");
    assert!(
        ["pass", "fail", "error"].contains(&status),
        "status {status}"
    );
    assert_eq!(
        json["max_score"].as_u64(),
        Some(u64::from(result.max_score()))
    );
    let tests = json["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), result.tests.len());
    let mut sum = 0;
    for (test, graded) in tests.iter().zip(&result.tests) {
        assert_keys_within(
            test,
            &[
                "name",
                "status",
                "score",
                "message",
                "test_code",
                "filename",
                "line_no",
                "duration",
            ],
            "a Classroom test",
        );
        let status = test["status"].as_str().expect("status");
        assert!(
            ["pass", "fail", "error"].contains(&status),
            "status {status}"
        );
        assert_eq!(status == "pass", graded.outcome.is_pass());
        sum += test["score"].as_u64().expect("score");
        assert!(test["line_no"].is_u64() && test["duration"].is_u64());
        for key in ["name", "message", "test_code", "filename"] {
            let text = test[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is a string"));
            assert_log_safe(text);
        }
    }
    assert_eq!(
        sum,
        u64::from(result.score()),
        "the reporter sums the tests' scores"
    );
    let all_passed = result.tests.iter().all(|test| test.outcome.is_pass());
    assert_eq!(status == "pass", all_passed);
}

/// Nothing the reporter prints can be taken for a workflow command or paint
/// the log.
fn assert_log_safe(text: &str) {
    assert_no_controls(text);
    for line in text.split(['\n', '\r']) {
        assert!(
            !line.trim_start().starts_with("::"),
            "a workflow command reaches the log: {line:?}"
        );
    }
    assert!(
        !text.contains("##["),
        "an old-style workflow command: {text:?}"
    );
}

/// The step output line decodes to the same result as the JSON file.
fn check_github_step_output(result: &SubmissionResult, audience: Audience) {
    let line = github::step_output(result, audience);
    let encoded = line
        .strip_prefix("result=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .expect("one `result=` line");
    assert!(!encoded.contains(['\n', '\r']));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("standard base64");
    let from_output: Value = serde_json::from_slice(&decoded).expect("JSON inside");
    let from_file = parse_json(&github::render(result, audience), "the Classroom result");
    assert_eq!(from_output, from_file);
}

/// JUnit XML, read back with quick-junit's own parser and checked for
/// characters XML 1.0 cannot hold.
fn check_junit(text: &str, result: &SubmissionResult) {
    assert_xml_chars(text);
    assert!(!text.contains("]]>"), "`]]>` may not appear in XML text");
    let report = quick_junit::Report::deserialize_from_str(text)
        .unwrap_or_else(|err| panic!("not JUnit XML ({err}):\n{text}"));
    assert_eq!(report.tests, result.tests.len());
    let parts: Vec<Part> = [Part::Server, Part::Client]
        .into_iter()
        .filter(|part| result.tests.iter().any(|test| test.part == *part))
        .collect();
    assert_eq!(report.test_suites.len(), parts.len());
    for (suite, part) in report.test_suites.iter().zip(parts) {
        let name = format!("{}.{}", result.lab, part.as_str());
        assert_eq!(suite.name.as_str(), name);
        let graded: Vec<&TestResult> = result
            .tests
            .iter()
            .filter(|test| test.part == part)
            .collect();
        assert_eq!(suite.tests, graded.len());
        assert_eq!(
            suite.test_cases.len(),
            graded.len(),
            "one testcase per test, none forged"
        );
        let count = |wanted: fn(&Outcome) -> bool| {
            graded.iter().filter(|test| wanted(&test.outcome)).count()
        };
        assert_eq!(
            suite.failures,
            count(|outcome| matches!(outcome, Outcome::Fail { .. } | Outcome::Timeout { .. }))
        );
        assert_eq!(
            suite.errors,
            count(|outcome| matches!(outcome, Outcome::Error { .. }))
        );
        let skipped = count(|outcome| matches!(outcome, Outcome::Skipped { .. }));
        assert_eq!(suite.disabled, skipped);
        assert_eq!(
            suite.extra.get("skipped").map(|value| value.as_str()),
            Some(skipped.to_string().as_str())
        );
        for (case, test) in suite.test_cases.iter().zip(&graded) {
            assert!(
                case.name.starts_with(&test.id),
                "{} for {}",
                case.name.as_str(),
                test.id
            );
            assert_eq!(case.classname.as_deref(), Some(name.as_str()));
            use quick_junit::{NonSuccessKind, TestCaseStatus};
            let written = match &case.status {
                TestCaseStatus::Success { .. } => "success",
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    ..
                } => "failure",
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Error,
                    ..
                } => "error",
                TestCaseStatus::Skipped { .. } => "skipped",
            };
            let expected = match &test.outcome {
                Outcome::Pass => "success",
                Outcome::Fail { .. } | Outcome::Timeout { .. } => "failure",
                Outcome::Error { .. } => "error",
                Outcome::Skipped { .. } => "skipped",
            };
            assert_eq!(written, expected, "{}", test.id);
        }
    }
}

/// Every character is one XML 1.0's `Char` production allows, and none of
/// the C1 controls it discourages.
fn assert_xml_chars(text: &str) {
    if let Some(c) = text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    }) {
        panic!("{c:?} cannot appear in XML 1.0:\n{text}");
    }
}

/// Autolab: the last line is the autoresult, and it is the grader's.
fn check_autolab(text: &str, result: &SubmissionResult) {
    assert_no_controls(text);
    assert!(text.ends_with('\n'));
    let last = text.lines().last().expect("some output");
    assert_eq!(last, autolab::autoresult(result));
    let json = parse_json(last, "the autoresult");
    assert_eq!(keys(&json), ["scores"]);
    let scores = json["scores"].as_object().expect("a scores object");
    assert_eq!(scores.len(), result.tests.len());
    for test in &result.tests {
        assert_eq!(
            scores[&test.id].as_u64(),
            Some(u64::from(test.score())),
            "{}",
            test.id
        );
    }
}

// ---------------------------------------------------------------------------
// A hostile result: student text that tries to break or forge every format.

/// Bytes a submission might send or print: invalid UTF-8, a terminal
/// sequence, NUL, XML's CDATA end and closing tag, workflow commands at line
/// starts, a fake Autolab autoresult, and U+FFFE.
const HOSTILE_BYTES: &[u8] = b"\xff\xfe\x1b[2J\x00]]></testcase><testcase name=\"forged\"/>\n\
::notice::forged by the student\n  ::add-mask::x\n##[error]old style\n\
{\"scores\": {\"one\": 100}}\n\xef\xbf\xbe\r::error::after a carriage return";

/// The same as text that reached a message unescaped, as a buggy diagnosis
/// might let it: the reporters must still hold.
const HOSTILE_TEXT: &str = "raw \x1b[31mred\x00 ]]> </testcase> \u{fffe}\r::error::carriage\n\
::notice::forged\n{\"scores\": {\"one\": 100}}";

fn hostile_result() -> SubmissionResult {
    let test = |id: &str, part: Part, visibility: Visibility, outcome: Outcome| TestResult {
        id: id.to_string(),
        name: format!("The {id} test \x07"),
        part,
        kind: Kind::Core,
        visibility,
        max_score: 2,
        outcome,
        hint: None,
        transcript: Vec::new(),
        duration: Duration::ZERO,
    };
    let entry = |event: TranscriptEvent| TranscriptEntry {
        at: Duration::ZERO,
        channel: "main".to_string(),
        event,
    };
    let mut one = test("one", Part::Server, Visibility::Visible, Outcome::Pass);
    one.transcript = vec![
        entry(TranscriptEvent::Sent(HOSTILE_BYTES.to_vec())),
        entry(TranscriptEvent::Received(HOSTILE_BYTES.to_vec())),
        entry(TranscriptEvent::Note(HOSTILE_TEXT.to_string())),
    ];
    let mut two = test(
        "two",
        Part::Server,
        Visibility::Visible,
        Outcome::Fail {
            message: format!(
                "Your server exited (exit status 1). The end of its stderr:\n{}\n{HOSTILE_TEXT}",
                escape_lines(HOSTILE_BYTES)
            ),
        },
    );
    two.hint = Some(Hint::new(HintKind::LabHint, HOSTILE_TEXT));
    two.transcript = one.transcript.clone();
    let mut three = test(
        "three",
        Part::Server,
        Visibility::Hidden,
        Outcome::Timeout {
            message: format!("SECRET-MESSAGE {HOSTILE_TEXT}"),
        },
    );
    three.hint = Some(Hint::new(HintKind::Echo, "SECRET-HINT"));
    three.transcript = vec![entry(TranscriptEvent::Sent(b"SECRET-INPUT".to_vec()))];
    let four = test(
        "four",
        Part::Client,
        Visibility::AfterDueDate,
        Outcome::Error {
            message: "SECRET-LATER: the grader broke".to_string(),
        },
    );
    let five = test(
        "five",
        Part::Client,
        Visibility::Visible,
        Outcome::Skipped {
            reason: format!("Not run: {HOSTILE_TEXT}"),
        },
    );
    let mut six = test("six", Part::Server, Visibility::Hidden, Outcome::Pass);
    six.transcript = vec![entry(TranscriptEvent::Sent(b"SECRET-PASSED".to_vec()))];
    SubmissionResult {
        lab: "hostile".to_string(),
        lab_digest: "fnv1a64:0000000000000000".to_string(),
        submission: "submissions/\x1b[2Jhostile".to_string(),
        status: SubmissionStatus::Graded,
        seed: 7,
        isolation: Isolation {
            tier: Some(Tier::Process),
            reason: HOSTILE_TEXT.to_string(),
            protections: Vec::new(),
            sockets: None,
        },
        duration: Duration::from_millis(1500),
        server: Some(ProgramRun {
            command: "python3 -u server.py \x1b]0;title\x07".to_string(),
            interpreter: Some("python3 = /opt/\x1b[2Jpython3".to_string()),
            starts: 2,
            exit: Some(ExitReport::Code(1)),
            stdout_tail: HOSTILE_BYTES.to_vec(),
            stderr_tail: [HOSTILE_BYTES, b"\nSECRET-STDERR\n"].concat(),
        }),
        client: Some(ProgramRun {
            command: "python3 -u client.py".to_string(),
            interpreter: None,
            starts: 1,
            exit: Some(ExitReport::Signal(9)),
            stdout_tail: Vec::new(),
            stderr_tail: HOSTILE_BYTES.to_vec(),
        }),
        tests: vec![one, two, three, four, five, six],
        notes: vec![HOSTILE_TEXT.to_string()],
    }
}

#[test]
fn hostile_student_text_breaks_no_format_and_forges_nothing() {
    let result = hostile_result();
    for audience in [EVERYONE, STUDENTS] {
        check_gradescope(
            &report::render(&result, Format::Gradescope, audience, false),
            &result,
        );
        check_github(
            &report::render(&result, Format::Github, audience, false),
            &result,
        );
        check_github_step_output(&result, audience);
        check_junit(
            &report::render(&result, Format::Junit, audience, false),
            &result,
        );
        check_autolab(
            &report::render(&result, Format::Autolab, audience, false),
            &result,
        );
        let page = report::render(&result, Format::Html, audience, false);
        assert!(
            !page.contains("</testcase>") && !page.contains('\u{1b}') && !page.contains('\0'),
            "student text is text in the HTML page:\n{page}"
        );
        assert!(!page.contains("<script"), "a student's page runs no script");
        assert!(
            page.contains("\\u{1b}[31m"),
            "controls are shown as escapes"
        );
        // The native JSON is not this issue's, but it must parse too.
        parse_json(
            &report::render(&result, Format::Json, audience, false),
            "the native JSON",
        );
    }
    let xml = report::render(&result, Format::Junit, EVERYONE, false);
    assert!(
        !xml.contains("forged\"/>"),
        "no element forged from student text"
    );
    assert!(
        xml.contains("\\u{1b}") && xml.contains("\\u{fffe}"),
        "controls are shown as escapes, not dropped:\n{xml}"
    );
    let github = github::render(&result, EVERYONE);
    assert_eq!(
        parse_json(&github, "github")["status"],
        "error",
        "a grader fault is an error"
    );
}

/// Whether `text` holds anything a terminal or a CI log would act on: a
/// control byte other than a line break or tab, or a line (after blanks)
/// that is a workflow command.
fn acts_on_a_reader(text: &str) -> Option<String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Some(format!("control character {:?}", c));
    }
    text.lines()
        .find(|line| line.trim_start().starts_with("::") || line.contains("##["))
        .map(|line| format!("workflow command line {line:?}"))
}

#[test]
fn manifest_commands_names_and_toml_errors_are_data_in_every_format() {
    let mut result = hostile_result();
    // What a manifest and a directory name can carry: a command with a line
    // break and a workflow command, a TOML error quoting a key the student
    // wrote, a note naming a file.
    result.submission = "class/::error::forged\n::notice::x\x1b[2J".to_string();
    if let Some(server) = result.server.as_mut() {
        server.command = "python3 -u server.py\n::error file=x::forged\r\x1b]0;t\x07".to_string();
    }
    result.status = SubmissionStatus::NotRunnable {
        reason: "socklab.toml, line 2: unknown field `a\n::error::forged\x1b[2J`".to_string(),
    };
    result
        .notes
        .push("Left out: `\u{1b}[31m` and\n  ::warning::x".to_string());
    for format in [
        Format::Human,
        Format::Json,
        Format::Gradescope,
        Format::Github,
        Format::Junit,
        Format::Autolab,
    ] {
        for audience in [EVERYONE, STUDENTS] {
            let shown = report::render(&result, format, audience, false);
            assert_eq!(
                acts_on_a_reader(&shown),
                None,
                "{format:?} carries student text raw:\n{shown}"
            );
        }
    }
    let human = report::render(&result, Format::Human, EVERYONE, false);
    assert!(human.contains("\\u{3a}:error::forged"), "{human}");
    assert!(
        human.contains("python3 -u server.py\\n"),
        "the command stays one line: {human}"
    );
    let json = parse_json(
        &report::render(&result, Format::Json, EVERYONE, false),
        "json",
    );
    assert!(!json["server"]["command"].as_str().unwrap().contains('\n'));
    assert!(!json["submission"].as_str().unwrap().contains('\u{1b}'));
}

#[test]
fn directory_names_are_data_in_the_csv_and_the_table() {
    use grader::gradebook::{Column, Gradebook, Row, RowStatus};
    let row = |name: &str| Row {
        name: name.to_string(),
        status: RowStatus::NotRunnable,
        message: Some("Nothing to run\n::error::forged".into()),
        score: 0,
        max_score: 1,
        seed: Some(1),
        duration_ms: 0,
        tests: Vec::new(),
    };
    let book = Gradebook::new(
        "t".into(),
        vec![Column {
            id: "one".into(),
            name: "One".into(),
            max_score: 1,
        }],
        Some(1),
        None,
        true,
        vec![row("::error::x\x1b[2J"), row("bob\r\nmallory,0")],
    );
    for (what, text) in [
        ("csv", grader::gradebook::csv::render(&book)),
        ("table", grader::gradebook::table::render(&book)),
        ("summary", book.summary.describe(book.max_score)),
    ] {
        // CSV lines end in \r\n by the RFC; no other control byte is allowed.
        let text = text.replace("\r\n", "\n");
        assert_eq!(acts_on_a_reader(&text), None, "{what}:\n{text}");
    }
}

#[test]
fn hidden_tests_count_but_their_details_reach_no_student() {
    let result = hostile_result();
    let secrets = [
        "SECRET-PASSED",
        "SECRET-MESSAGE",
        "SECRET-HINT",
        "SECRET-INPUT",
        "SECRET-LATER",
        "SECRET-STDERR",
    ];
    for format in [
        Format::Gradescope,
        Format::Github,
        Format::Junit,
        Format::Autolab,
        Format::Html,
    ] {
        let shown = report::render(&result, format, STUDENTS, false);
        for secret in secrets {
            assert!(
                !shown.contains(secret),
                "{format:?} --visible-only shows {secret}:\n{shown}"
            );
        }
    }
    // Gradescope hides them itself: instructors still get the details, and
    // each test carries its visibility.
    let gradescope = parse_json(
        &report::render(&result, Format::Gradescope, EVERYONE, false),
        "gradescope",
    );
    let tests = gradescope["tests"].as_array().unwrap();
    assert_eq!(tests[2]["visibility"], "hidden");
    assert!(
        tests[2]["output"]
            .as_str()
            .unwrap()
            .contains("SECRET-MESSAGE")
    );
    assert_eq!(tests[3]["visibility"], "after_due_date");
    // Hidden tests still count: the scores are the same whoever reads them.
    assert_eq!(result.score(), 4, "`one` and the hidden `six` passed");
    let render = |format, audience| report::render(&result, format, audience, false);
    let gradescope = parse_json(&render(Format::Gradescope, STUDENTS), "gradescope");
    assert_eq!(gradescope["score"], u64::from(result.score()));
    let github = parse_json(&render(Format::Github, STUDENTS), "github");
    let github_sum: u64 = github["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|test| test["score"].as_u64().unwrap())
        .sum();
    assert_eq!(github_sum, u64::from(result.score()));
    assert_eq!(
        render(Format::Autolab, EVERYONE).lines().last(),
        render(Format::Autolab, STUDENTS).lines().last()
    );
    let junit =
        quick_junit::Report::deserialize_from_str(&render(Format::Junit, STUDENTS)).unwrap();
    let server_score = junit.test_suites[0]
        .properties
        .iter()
        .find(|property| property.name.as_str() == "score")
        .map(|property| property.value.as_str().to_string());
    assert_eq!(server_score.as_deref(), Some("4"));
}

// ---------------------------------------------------------------------------
// The command line and the Gradescope kit.

#[test]
fn format_github_sets_the_step_output_when_github_output_is_set() {
    let scratch = tempfile::tempdir().unwrap();
    let report_path = scratch.path().join("result.json");
    let step_output = scratch.path().join("github_output");
    std::fs::write(&step_output, "earlier=1\n").unwrap();
    let status = Command::new(grader_binary())
        .current_dir(repo())
        .args(["grade", "udp-count-s", "--format", "github", "-o"])
        .arg(&report_path)
        .env("GITHUB_OUTPUT", &step_output)
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(&step_output).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "one line appended:\n{written}");
    assert_eq!(lines[0], "earlier=1");
    let encoded = lines[1].strip_prefix("result=").expect("result=");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let from_output: Value = serde_json::from_slice(&decoded).unwrap();
    let from_file = parse_json(
        &std::fs::read_to_string(&report_path).unwrap(),
        "result.json",
    );
    assert_eq!(from_output, from_file);
    assert_eq!(from_file["status"], "pass", "the reference passes");
}

/// The kit's `run_autograder`, run against a directory laid out like
/// Gradescope's `/autograder`, with the grader these tests built.
#[test]
fn the_gradescope_kit_writes_results_json() {
    let root = tempfile::tempdir().unwrap();
    let submission = root.path().join("submission");
    std::fs::create_dir_all(&submission).unwrap();
    std::fs::create_dir_all(root.path().join("results")).unwrap();
    let server = repo().join("fixtures/submissions/udp-uppercase/textbook/UDPServer.py");
    std::fs::copy(&server, submission.join("UDPServer.py")).unwrap();
    let script: PathBuf = repo().join("docs/templates/gradescope/run_autograder");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(root.path())
        .env("AUTOGRADER_ROOT", root.path())
        .env("GRADER", grader_binary())
        .env("SOCKLAB_LAB", "udp-uppercase")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "run_autograder failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(root.path().join("results/results.json"))
        .expect("results/results.json written");
    let json = parse_json(&text, "results.json");
    let lab = lab("udp-uppercase");
    assert_eq!(json["tests"].as_array().unwrap().len(), lab.tests.len());
    let status_of = |id: &str| {
        json["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|test| test["extra_data"]["id"] == id)
            .map(|test| test["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    assert_eq!(status_of("one-sentence"), "passed");
    assert_eq!(status_of("invalid-utf8"), "failed");
    assert_eq!(
        status_of("client-one-sentence"),
        "failed",
        "no client was submitted"
    );
    let score = json["score"].as_u64().unwrap();
    let sum: u64 = json["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|test| test["score"].as_u64().unwrap())
        .sum();
    assert_eq!(score, sum);
    assert!(
        score > 0 && score < u64::from(lab.max_score()),
        "score {score}"
    );
    assert_eq!(
        std::fs::read_dir(&submission).unwrap().count(),
        1,
        "grading never changes the submission"
    );
}
