//! Helpers shared by the grader's integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use grader::cell::IsolationRequest;
use grader::lab::Lab;
use grader::outcome::SubmissionResult;
use grader::runner::{GradeOptions, grade};
use grader::submission::{Overrides, Source};

/// The repository root.
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
    let options = grader::cell::CellOptions {
        isolation: IsolationRequest::Namespace,
        keeper: Some(grader_binary()),
        limits: grader::limits::Limits::default(),
        label: None,
    };
    grader::cell::Cell::open(&options).is_ok()
}
