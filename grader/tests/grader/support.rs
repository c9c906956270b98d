//! Helpers shared by the grader's integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use grader::cell::IsolationRequest;
use grader::lab::Lab;
use grader::outcome::SubmissionResult;
use grader::runner::{GradeOptions, grade};
use grader::submission::{Overrides, Source};

/// The repository root.
/// The names of the built-in labs, in their order. Every list of labs in
/// these tests is this one, so a new lab is tested without editing them.
pub fn lab_names() -> Vec<&'static str> {
    grader::lab::BUILTIN_LABS
        .iter()
        .map(|(name, _, _)| *name)
        .collect()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("grader/ is in the repo")
        .to_path_buf()
}

/// The grader binary Cargo built for these tests: it keeps namespace cells
/// and runs the reference.
pub fn grader_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_grader"))
}

/// A built-in lab by name.
pub fn lab(name: &str) -> Lab {
    grader::lab::builtin(name)
        .expect("a built-in lab")
        .expect("built-in labs load")
}

/// The seed every test uses unless it says otherwise; printed on failure by
/// the assertions that use it.
pub const SEED: u64 = 20261125;

pub fn options(isolation: IsolationRequest) -> GradeOptions {
    GradeOptions {
        seed: SEED,
        isolation,
        grader_binary: Some(grader_binary()),
        limits: Default::default(),
        overrides: Overrides::default(),
        cell_label: None,
    }
}

/// Grades `source` with the default options (automatic isolation).
pub fn grade_source(lab: &Lab, source: Source) -> SubmissionResult {
    grade(lab, &source, &options(IsolationRequest::Auto)).expect("grading runs")
}

/// Grades a directory under `fixtures/submissions/`.
pub fn grade_fixture(lab_name: &str, relative: &str) -> SubmissionResult {
    let lab = lab(lab_name);
    grade_source(
        &lab,
        Source::Directory(repo().join("fixtures/submissions").join(relative)),
    )
}

/// One line per test (`id status`), for readable assertion failures.
pub fn summary(result: &SubmissionResult) -> String {
    let mut lines: Vec<String> = result
        .tests
        .iter()
        .map(|test| {
            format!(
                "{} {} {}",
                test.id,
                test.outcome.status(),
                test.outcome
                    .message()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            )
        })
        .collect();
    lines.insert(
        0,
        format!(
            "seed {} score {}/{} status {}",
            result.seed,
            result.score(),
            result.max_score(),
            result.status.as_str()
        ),
    );
    lines.join("\n")
}

/// Whether this kernel lets the grader open namespace cells.
pub fn namespaces_available() -> bool {
    grader::cell::Cell::open(&namespace_options(None, None)).is_ok()
}

/// A namespace cell labelled `label`, with `sandbox` as a grading gives
/// one; `None`, with the reason printed, where the kernel refuses.
pub fn namespace_cell(
    label: &str,
    sandbox: Option<grader::cell::Sandbox>,
) -> Option<grader::cell::Cell> {
    if !namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return None;
    }
    let options = namespace_options(Some(label.to_string()), sandbox);
    Some(grader::cell::Cell::open(&options).expect("a namespace cell"))
}

fn namespace_options(
    label: Option<String>,
    sandbox: Option<grader::cell::Sandbox>,
) -> grader::cell::CellOptions {
    grader::cell::CellOptions {
        isolation: IsolationRequest::Namespace,
        keeper: Some(grader_binary()),
        limits: grader::limits::Limits::default(),
        label,
        sandbox,
    }
}

/// Copies the directory `from` to `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let destination = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &destination);
        } else {
            std::fs::copy(entry.path(), &destination).unwrap();
        }
    }
}

/// Processes still alive that a cell of the grader process `pid` started:
/// every cell marks its processes with the grader's pid first.
pub fn processes_left_by(pid: u32) -> Vec<i32> {
    grader::cell::procfs::processes_marked_with_prefix(&format!("{pid}-"))
}

/// Removes from a JSON result what differs between any two gradings of one
/// submission, whether alone or in a batch: durations (`duration_ms`,
/// `at_ms`), the random name of the scratch directory (`socklab-XXXXXX`) and
/// ephemeral port numbers the kernel picks (32768 and up).
pub fn comparable(value: &mut serde_json::Value) {
    use std::sync::OnceLock;
    static SCRATCH: OnceLock<regex::Regex> = OnceLock::new();
    static EPHEMERAL: OnceLock<regex::Regex> = OnceLock::new();
    let scratch = SCRATCH.get_or_init(|| regex::Regex::new(r"socklab-[A-Za-z0-9]{6}").unwrap());
    let ephemeral = EPHEMERAL.get_or_init(|| {
        regex::Regex::new(r"(:|port )(3[3-9][0-9]{3}|32[89][0-9]{2}|327[7-9][0-9]|[4-6][0-9]{4})\b")
            .unwrap()
    });
    match value {
        serde_json::Value::Object(fields) => {
            fields.remove("duration_ms");
            fields.remove("at_ms");
            fields.values_mut().for_each(comparable);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(comparable),
        serde_json::Value::String(text) => {
            let scrubbed = scratch.replace_all(text, "socklab-XXXXXX");
            *text = ephemeral
                .replace_all(&scrubbed, "${1}EPHEMERAL")
                .into_owned();
        }
        _ => {}
    }
}

/// Grades one test of a lab on a sample under `fixtures/submissions/`
/// (`lab/sample`) in the given tier, and returns that test's result.
pub fn grade_one_test(
    lab_name: &str,
    sample: &str,
    test_id: &str,
    isolation: IsolationRequest,
) -> grader::outcome::TestResult {
    let lab = lab(lab_name).only_tests(&[test_id.to_string()]).unwrap();
    let source = Source::Directory(repo().join("fixtures/submissions").join(sample));
    let result = grade(&lab, &source, &options(isolation)).expect("grading runs");
    assert_eq!(result.tests.len(), 1, "{}", summary(&result));
    result.tests.into_iter().next().unwrap()
}

/// The notes of a test's transcript, in order.
pub fn transcript_notes(test: &grader::outcome::TestResult) -> Vec<String> {
    test.transcript
        .iter()
        .filter_map(|entry| match &entry.event {
            grader::outcome::TranscriptEvent::Note(note) => Some(note.clone()),
            _ => None,
        })
        .collect()
}
