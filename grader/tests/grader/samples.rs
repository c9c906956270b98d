//! The sample submissions: `fixtures/submissions/<lab>/<sample>/`, each a
//! small program with one realistic student bug (or none, for `textbook/`),
//! and beside it `expected.toml`, the grading it must get.
//!
//! The samples are graded in parallel, one thread each (a few at a time, see
//! [`slots`]): a buggy sample spends most of its time waiting out test
//! deadlines, so one after another they would take minutes. Every test is
//! graded with the fixed seed `support::SEED`, so the sentences sent, and
//! with them the statuses, are the same on every run.
//!
//! With `SOCKLAB_OVERWRITE=1` the statuses in `expected.toml` are rewritten
//! from the run instead of checked: tests the lab gained are added, tests it
//! lost are dropped, and the comment header, the `bug` line and every hint
//! the run still gives are kept. A new sample needs only the header and its
//! `bug` line before the first overwrite run; the `hint` words that name its
//! bug are then added by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use grader::lab::{Kind, Part};
use grader::outcome::SubmissionResult;
use grader::report::{Audience, json};
use serde::Deserialize;

use crate::support::{self, SEED, repo, summary};

// The samples checked here are those of the built-in labs; other directories
// under `fixtures/submissions/` (e.g. `adversarial/`) have tests of their own.

/// The statuses a test may be recorded with.
const TEST_STATUSES: [&str; 5] = ["pass", "fail", "timeout", "error", "skipped"];

/// What one `expected.toml` records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// The sample's bug, in a sentence, for the instructor reading the file.
    bug: String,
    /// The submission's status; absent until the first overwrite run.
    status: Option<String>,
    /// Text the submission's status message must contain (a sample that is
    /// not runnable: the words that say what was found).
    message: Option<String>,
    /// Text one of the submission's notes must contain.
    note: Option<String>,
    /// Tools the sample needs on the grading machine (`go`), or
    /// `namespaces` for a client graded as written only where the kernel
    /// gives the namespace tier: where one is missing the sample is skipped,
    /// with the reason printed.
    #[serde(default)]
    requires: Vec<String>,
    /// Why the recorded grading is not yet what the sample deserves (a
    /// runtime the default limits do not fit, a bug with no diagnosis yet):
    /// printed on every run, and it waives the rule that a failing sample
    /// records the hint words naming its bug.
    pending: Option<String>,
    #[serde(default)]
    tests: BTreeMap<String, ExpectedTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedTest {
    status: String,
    /// Text the test's hint must contain: the words that name the bug.
    hint: Option<String>,
}

/// One sample directory with its expectations.
struct Sample {
    lab: &'static str,
    name: String,
    dir: PathBuf,
}

impl Sample {
    fn expected_path(&self) -> PathBuf {
        self.dir.join("expected.toml")
    }

    fn expected(&self) -> Expected {
        let path = self.expected_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
        toml::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    fn grade(&self) -> SubmissionResult {
        let _slot = Slot::take();
        support::grade_fixture(self.lab, &format!("{}/{}", self.lab, self.name))
    }

    /// `udp-uppercase/echo`, as the sample is named in messages.
    fn label(&self) -> String {
        format!("{}/{}", self.lab, self.name)
    }
}

/// Every directory of `lab` that holds an `expected.toml`, by name.
fn samples(lab: &'static str) -> Vec<Sample> {
    let lab_dir = repo().join("fixtures/submissions").join(lab);
    let entries = std::fs::read_dir(&lab_dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", lab_dir.display()));
    let mut samples: Vec<Sample> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|dir| dir.join("expected.toml").is_file())
        .map(|dir| Sample {
            lab,
            name: dir
                .file_name()
                .expect("a directory name")
                .to_string_lossy()
                .into_owned(),
            dir,
        })
        .collect();
    samples.sort_by(|a, b| a.name.cmp(&b.name));
    samples
}

/// How many samples are graded at once, across every test of this module.
///
/// Most of a buggy sample's time is spent waiting out deadlines, so many can
/// share a core; but each one starts interpreters and cells, and a client
/// test's deadline includes the interpreter's start-up, so too many at once
/// on a small machine turn a slow start into a different status.
fn slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (3 * cores).max(4)
}

/// A place among the samples being graded; given back when dropped.
struct Slot;

static FREE_SLOTS: Mutex<Option<usize>> = Mutex::new(None);
static SLOT_FREED: Condvar = Condvar::new();

impl Slot {
    fn take() -> Slot {
        let mut free = FREE_SLOTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            let left = free.get_or_insert_with(slots);
            if *left > 0 {
                *left -= 1;
                return Slot;
            }
            free = SLOT_FREED
                .wait(free)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut free = FREE_SLOTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *free.get_or_insert_with(slots) += 1;
        SLOT_FREED.notify_one();
    }
}

fn overwriting() -> bool {
    std::env::var_os("SOCKLAB_OVERWRITE").is_some_and(|value| value != "0" && !value.is_empty())
}

/// Grades every sample of `lab` in parallel and checks (or, when
/// overwriting, rewrites) each one's expectations. Panics with every
/// mismatch of every sample, not only the first.
fn check_lab(lab: &'static str) {
    let samples = samples(lab);
    // A lab's buggy programs are counted in its graded part: the server's,
    // or the client's in a client-only lab (smtp-client).
    let tests = support::lab(lab).tests;
    let part = if tests.iter().any(|test| test.part == Part::Server) {
        Part::Server
    } else {
        Part::Client
    };
    let server_tests: BTreeSet<String> = tests
        .into_iter()
        .filter(|test| test.part == part)
        .map(|test| test.id)
        .collect();
    let buggy_servers = samples
        .iter()
        .filter(|sample| {
            sample.expected().tests.iter().any(|(id, test)| {
                server_tests.contains(id) && matches!(test.status.as_str(), "fail" | "timeout")
            })
        })
        .count();
    assert!(
        buggy_servers >= 5 || overwriting(),
        "{lab}: expected at least five samples of buggy programs, found {buggy_servers}"
    );
    let problems: Vec<String> = std::thread::scope(|scope| {
        let running: Vec<_> = samples
            .iter()
            .map(|sample| scope.spawn(move || check_sample(sample)))
            .collect();
        running
            .into_iter()
            .filter_map(|thread| thread.join().expect("a sample's thread does not panic"))
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} of {} samples of {lab} did not grade as recorded:\n\n{}",
        problems.len(),
        samples.len(),
        problems.join("\n\n")
    );
}

/// What is wrong with one sample's grading, if anything.
fn check_sample(sample: &Sample) -> Option<String> {
    let expected = sample.expected();
    if let Some(tool) = missing_tool(&expected) {
        eprintln!(
            "skipped sample {}: `{tool}` is not installed on this machine",
            sample.label()
        );
        return None;
    }
    if let Some(reason) = &expected.pending {
        eprintln!(
            "sample {} is recorded as graded today: {reason}",
            sample.label()
        );
    }
    let result = sample.grade();
    // Every sample's result, whatever it is, must come out well-formed in
    // every format its consumers read.
    crate::formats::check_shapes(&result);
    if overwriting() {
        overwrite(sample, &expected, &result);
        return None;
    }
    let mismatches = mismatches(sample, &expected, &result);
    if mismatches.is_empty() {
        return None;
    }
    Some(format!(
        "sample {} (seed {SEED}; regenerate with SOCKLAB_OVERWRITE=1):\n{}\ngraded as:\n{}",
        sample.label(),
        mismatches
            .iter()
            .map(|line| format!("  - {line}"))
            .collect::<Vec<_>>()
            .join("\n"),
        indent(&summary(&result)),
    ))
}

/// The first tool `expected` requires that is not on this machine's `PATH`
/// (or `namespaces`, where the kernel refuses them).
fn missing_tool(expected: &Expected) -> Option<&str> {
    expected
        .requires
        .iter()
        .find(|tool| match tool.as_str() {
            "namespaces" => !support::namespaces_available(),
            tool => grader::conventions::tools::find(tool).is_none(),
        })
        .map(String::as_str)
}

/// Every way `result` differs from `expected`, one line each.
fn mismatches(sample: &Sample, expected: &Expected, result: &SubmissionResult) -> Vec<String> {
    let mut found = Vec::new();
    let status = result.status.as_str();
    match &expected.status {
        Some(recorded) if recorded == status => {}
        Some(recorded) => found.push(format!(
            "submission status: recorded `{recorded}`, got `{status}` ({})",
            result.status.message().unwrap_or("")
        )),
        None => found.push(format!("submission status: not recorded, got `{status}`")),
    }
    if let Some(words) = &expected.message {
        let message = result.status.message().unwrap_or("");
        if !message.contains(words.as_str()) {
            found.push(format!(
                "the submission's message should contain `{words}` but is `{message}`"
            ));
        }
    }
    if let Some(words) = &expected.note {
        if !result
            .notes
            .iter()
            .any(|note| note.contains(words.as_str()))
        {
            found.push(format!(
                "no note contains `{words}`; the notes are {:?}",
                result.notes
            ));
        }
    }
    // A submission that never ran has one finding, its status; its tests
    // must not each repeat a coding hint as if the code had run.
    let never_ran = matches!(status, "not_runnable" | "error");
    if never_ran {
        for test in result.tests.iter().filter(|test| test.hint.is_some()) {
            found.push(format!(
                "test `{}` has a hint although nothing ran: {:?}",
                test.id, test.hint
            ));
        }
    }
    let graded: BTreeSet<&str> = result.tests.iter().map(|test| test.id.as_str()).collect();
    for id in expected.tests.keys() {
        if !graded.contains(id.as_str()) {
            found.push(format!(
                "test `{id}` is recorded but the lab has no such test"
            ));
        }
    }
    for test in &result.tests {
        let Some(recorded) = expected.tests.get(&test.id) else {
            found.push(format!(
                "test `{}` is not recorded (it came out `{}`)",
                test.id,
                test.outcome.status()
            ));
            continue;
        };
        if !TEST_STATUSES.contains(&recorded.status.as_str()) {
            found.push(format!(
                "test `{}`: `{}` is not a status ({})",
                test.id,
                recorded.status,
                TEST_STATUSES.join(", ")
            ));
        }
        if recorded.status != test.outcome.status() {
            found.push(format!(
                "test `{}`: recorded `{}`, got `{}`: {}",
                test.id,
                recorded.status,
                test.outcome.status(),
                first_line(test.outcome.message().unwrap_or(""))
            ));
        }
        if let Some(words) = &recorded.hint {
            let hint = test.hint.as_ref().map_or("", |hint| hint.text.as_str());
            if !hint.contains(words.as_str()) {
                found.push(format!(
                    "test `{}`: the hint should contain `{words}` but is `{hint}`",
                    test.id
                ));
            }
        }
    }
    // A buggy sample exists to show that the grader names its bug.
    let fails = |test: &ExpectedTest| matches!(test.status.as_str(), "fail" | "timeout");
    if sample.name != "textbook"
        && !never_ran
        && expected.pending.is_none()
        && expected.tests.values().any(fails)
        && !expected.tests.values().any(|test| test.hint.is_some())
    {
        found.push(
            "no failing test records a `hint`: add the words of the hint that name the bug".into(),
        );
    }
    found
}

/// Rewrites `expected.toml` with the statuses of `result`, keeping the
/// comment header, the `bug` line, and every hint the new run still gives.
fn overwrite(sample: &Sample, expected: &Expected, result: &SubmissionResult) {
    let path = sample.expected_path();
    let old = std::fs::read_to_string(&path).expect("read a moment ago");
    let mut text: String = old
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    writeln!(text, "bug = {}", toml_string(&expected.bug)).unwrap();
    writeln!(text, "status = {}", toml_string(result.status.as_str())).unwrap();
    for (key, words) in [
        ("message", &expected.message),
        ("note", &expected.note),
        ("pending", &expected.pending),
    ] {
        if let Some(words) = words {
            writeln!(text, "{key} = {}", toml_string(words)).unwrap();
        }
    }
    if !expected.requires.is_empty() {
        let tools: Vec<String> = expected
            .requires
            .iter()
            .map(|tool| toml_string(tool))
            .collect();
        writeln!(text, "requires = [{}]", tools.join(", ")).unwrap();
    }
    text.push_str("\n[tests]\n");
    for test in &result.tests {
        let status = test.outcome.status();
        let hint = expected
            .tests
            .get(&test.id)
            .and_then(|recorded| recorded.hint.as_ref());
        match hint {
            Some(words)
                if test
                    .hint
                    .as_ref()
                    .is_some_and(|hint| hint.text.contains(words.as_str())) =>
            {
                writeln!(
                    text,
                    "{} = {{ status = {}, hint = {} }}",
                    test.id,
                    toml_string(status),
                    toml_string(words)
                )
                .unwrap();
            }
            other => {
                if let Some(words) = other {
                    // Kept it would fail the next run; said aloud so a person
                    // can record the words of the new hint instead.
                    eprintln!(
                        "{}: dropped the hint `{words}` of test `{}`: it now comes out `{status}` with hint {:?}",
                        sample.label(),
                        test.id,
                        test.hint
                    );
                }
                writeln!(text, "{} = {{ status = {} }}", test.id, toml_string(status)).unwrap();
            }
        }
    }
    if text != old {
        std::fs::write(&path, text)
            .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
        eprintln!("{}: rewrote {}", sample.label(), path.display());
    }
}

/// A TOML basic string: quoted, with quotes, backslashes and control
/// characters escaped.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => write!(quoted, "\\u{:04X}", u32::from(c)).unwrap(),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn udp_uppercase_samples_grade_as_recorded() {
    check_lab("udp-uppercase");
}

#[test]
fn tcp_uppercase_samples_grade_as_recorded() {
    check_lab("tcp-uppercase");
}

#[test]
fn udp_count_s_samples_grade_as_recorded() {
    check_lab("udp-count-s");
}

#[test]
fn tcp_lines_samples_grade_as_recorded() {
    check_lab("tcp-lines");
}

#[test]
fn web_server_samples_grade_as_recorded() {
    check_lab("web-server");
}

#[test]
fn smtp_client_samples_grade_as_recorded() {
    check_lab("smtp-client");
}

#[test]
fn web_proxy_samples_grade_as_recorded() {
    check_lab("web-proxy");
}

#[test]
fn udp_pinger_samples_grade_as_recorded() {
    check_lab("udp-pinger");
}

/// The textbook's own programs pass every core test of their lab.
/// Graded afresh rather than read from `expected.toml`, so a wrong record
/// cannot hide a textbook program that fails.
#[test]
fn textbook_samples_pass_every_core_test() {
    let textbooks: Vec<Sample> = support::lab_names()
        .into_iter()
        .map(|lab| {
            samples(lab)
                .into_iter()
                .find(|sample| sample.name == "textbook")
                .unwrap_or_else(|| panic!("{lab} has a textbook sample with an expected.toml"))
        })
        .collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let running: Vec<_> = textbooks
            .iter()
            .map(|sample| scope.spawn(move || (sample, sample.grade())))
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("grading does not panic"))
            .filter_map(|(sample, result)| {
                // A server-only sample skips the client tests, and so on: a
                // part counts once any of its tests ran.
                let ran: BTreeSet<&str> = result
                    .tests
                    .iter()
                    .filter(|test| test.outcome.status() != "skipped")
                    .map(|test| test.part.as_str())
                    .collect();
                let failed: Vec<&str> = result
                    .tests
                    .iter()
                    .filter(|test| test.kind == Kind::Core && ran.contains(test.part.as_str()))
                    .filter(|test| !test.outcome.is_pass())
                    .map(|test| test.id.as_str())
                    .collect();
                (!failed.is_empty() || ran.is_empty()).then(|| {
                    format!(
                        "{} failed core tests {failed:?}:\n{}",
                        sample.label(),
                        indent(&summary(&result))
                    )
                })
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The seed fixes everything a report says: two gradings with the same seed
/// render the same JSON once the timings are taken out, and another seed
/// sends other sentences.
#[test]
fn the_same_seed_gives_the_same_report() {
    let sample = "udp-count-s/textbook";
    let lab = support::lab("udp-count-s");
    let grade = |seed: u64| {
        let _slot = Slot::take();
        let mut options = support::options(grader::cell::IsolationRequest::Auto);
        options.seed = seed;
        let source =
            grader::submission::Source::Directory(repo().join("fixtures/submissions").join(sample));
        grader::runner::grade(&lab, &source, &options).expect("grading runs")
    };
    let (first, second, other) = std::thread::scope(|scope| {
        let first = scope.spawn(|| grade(SEED));
        let second = scope.spawn(|| grade(SEED));
        let other = scope.spawn(|| grade(SEED + 1));
        (
            first.join().expect("grades"),
            second.join().expect("grades"),
            other.join().expect("grades"),
        )
    });
    let render = |result: &SubmissionResult| -> serde_json::Value {
        let mut value: serde_json::Value =
            serde_json::from_str(&json::render(result, Audience::default()))
                .expect("the JSON report parses");
        without_timings(&mut value);
        value
    };
    assert_eq!(
        first.score(),
        first.max_score(),
        "{sample} passes every test:\n{}",
        summary(&first)
    );
    let (first_json, second_json) = (render(&first), render(&second));
    assert!(
        first_json == second_json,
        "{sample}, seed {SEED}: two runs differ beyond their timings:\n{}\n---\n{}",
        serde_json::to_string_pretty(&first_json).unwrap(),
        serde_json::to_string_pretty(&second_json).unwrap()
    );
    let sent = |result: &SubmissionResult| -> Vec<Vec<u8>> {
        result
            .tests
            .iter()
            .flat_map(|test| &test.transcript)
            .filter_map(|entry| match &entry.event {
                grader::outcome::TranscriptEvent::Sent(bytes) => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    };
    assert_ne!(
        sent(&first),
        sent(&other),
        "{sample}: seeds {SEED} and {} sent the same bytes",
        SEED + 1
    );
}

/// How many seeds every sample is graded under by
/// `no_verdict_depends_on_the_seed`.
const SEEDS: u64 = 20;

/// A verdict never depends on the seed: every sample's server gets the same
/// status on every test under [`SEEDS`] seeds. Only server tests draw seeded
/// sentences (a client test's input is written in the lab file, and a lab
/// file cannot give a client test a seeded send), so the client tests are
/// left out; the seeds are printed, and a failure names the seed that
/// differed.
#[test]
fn no_verdict_depends_on_the_seed() {
    let seeds: Vec<u64> = (0..SEEDS).map(|n| SEED.wrapping_add(n * 7919)).collect();
    println!("seeds: {seeds:?}");
    let mut jobs: Vec<(Sample, grader::lab::Lab)> = Vec::new();
    for lab_name in support::lab_names() {
        let mut lab = support::lab(lab_name);
        lab.tests.retain(|test| test.part == Part::Server);
        // A lab whose tests send only literal bytes (web-server) gives the
        // seed nothing to change: there is nothing to compare.
        let seeded = lab.tests.iter().flat_map(|test| &test.steps).any(|step| {
            matches!(
                step,
                grader::lab::Step::Send(send) if !matches!(send.payload, grader::lab::Payload::Bytes(_))
            )
        });
        if !seeded {
            println!("{lab_name}: no seeded payload, left out");
            continue;
        }
        for sample in samples(lab_name) {
            let has_server = sample.expected().tests.iter().any(|(id, test)| {
                test.status != "skipped" && lab.tests.iter().any(|t| &t.id == id)
            });
            if has_server {
                jobs.push((sample, lab.clone()));
            }
        }
    }
    assert!(
        jobs.len() >= 20,
        "only {} samples with a server",
        jobs.len()
    );
    let grade = |sample: &Sample, lab: &grader::lab::Lab, seed: u64| {
        let _slot = Slot::take();
        let mut options = support::options(grader::cell::IsolationRequest::Auto);
        options.seed = seed;
        let source = grader::submission::Source::Directory(sample.dir.clone());
        let result = grader::runner::grade(lab, &source, &options).expect("grading runs");
        let verdicts: Vec<(String, &'static str)> = result
            .tests
            .iter()
            .map(|test| (test.id.clone(), test.outcome.status()))
            .collect();
        verdicts
    };
    let problems: Vec<String> = std::thread::scope(|scope| {
        let running: Vec<_> = jobs
            .iter()
            .map(|(sample, lab)| {
                let seeds = &seeds;
                scope.spawn(move || {
                    let first = grade(sample, lab, seeds[0]);
                    seeds[1..].iter().find_map(|&seed| {
                        let verdicts = grade(sample, lab, seed);
                        (verdicts != first).then(|| {
                            format!(
                                "{}: seed {} gave {first:?}, seed {seed} gave {verdicts:?}",
                                sample.label(),
                                seeds[0]
                            )
                        })
                    })
                })
            })
            .collect();
        running
            .into_iter()
            .filter_map(|thread| thread.join().expect("a sample's thread does not panic"))
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Removes what a run's timing decides: durations, transcript times, and the
/// port the system gave the grader's own UDP socket (named in a note).
fn without_timings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("duration_ms");
            map.remove("at_ms");
            for field in map.values_mut() {
                without_timings(field);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_timings),
        serde_json::Value::String(text) => {
            const UDP_NOTE: &str = "opened a UDP socket on port ";
            if text.starts_with(UDP_NOTE) {
                *text = format!("{UDP_NOTE}(any)");
            }
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// A sample directory without `expected.toml` would be skipped silently.
#[test]
fn every_sample_directory_records_its_grading() {
    for lab in support::lab_names() {
        let lab_dir = repo().join("fixtures/submissions").join(lab);
        for entry in std::fs::read_dir(&lab_dir).unwrap() {
            let dir = entry.unwrap().path();
            if dir.is_dir() {
                assert!(
                    dir.join("expected.toml").is_file(),
                    "{} has no expected.toml",
                    dir.display()
                );
            }
        }
        for sample in samples(lab) {
            let expected = sample.expected();
            assert!(
                !expected.bug.trim().is_empty(),
                "{}: empty bug",
                sample.label()
            );
        }
    }
}
