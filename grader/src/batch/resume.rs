//! Whether a result file an earlier batch left in the results directory can
//! stand for grading a submission again. It is trusted only as far as it can
//! be checked: anything a student's program (or a hand) could have put
//! there that the grader would not have written is graded again, and the
//! batch says why.
//!
//! A result is reused when all of these hold:
//! - it is a regular file (not a link, a named pipe or a directory) of at
//!   most [`MAX_RESULT_BYTES`], read without blocking;
//! - it validates against `grader/schema/result-v1.schema.json`;
//! - it is for this lab, graded with this very lab definition: its
//!   `lab_digest` is the lab's ([`crate::lab::digest`]), so a test whose
//!   points or steps changed under the same id is graded again;
//! - its tests are the lab's, in order, each with the lab's points;
//! - its scores are what its tests say: a test scores its points exactly
//!   when it passed, and the total is the sum;
//! - it is not a grader error (those are always tried again).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::gradebook::{Column, Row, RowStatus, TestStatus};
use crate::lab::Lab;

/// Larger result files are not read: no grading writes one (transcripts and
/// output tails are bounded).
pub const MAX_RESULT_BYTES: u64 = 64 * 1024 * 1024;

/// What the results directory holds for one submission.
#[derive(Debug)]
pub enum Earlier {
    /// No result file: grade it.
    Absent,
    /// A result that checks out, as its gradebook row.
    Reused(Row),
    /// A file that cannot be trusted, and why; grade it again.
    Rejected(String),
}

/// Reads and checks the result file at `path` for submission `name`.
pub fn earlier(lab: &Lab, columns: &[Column], path: &Path, name: &str) -> Earlier {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Earlier::Absent,
        Err(err) => return Earlier::Rejected(format!("it cannot be read: {err}")),
    };
    if !metadata.is_file() {
        return Earlier::Rejected("it is not a regular file".into());
    }
    let text = match read_bounded(path) {
        Ok(text) => text,
        Err(why) => return Earlier::Rejected(why),
    };
    match check(lab, columns, &text, name) {
        Ok(row) => Earlier::Reused(row),
        Err(why) => Earlier::Rejected(why),
    }
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|err| format!("it cannot be read: {err}"))?;
    let metadata = file
        .metadata()
        .map_err(|err| format!("it cannot be read: {err}"))?;
    if !metadata.is_file() {
        return Err("it is not a regular file".into());
    }
    if metadata.len() > MAX_RESULT_BYTES {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_RESULT_BYTES / (1024 * 1024)
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RESULT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("it cannot be read: {err}"))?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

/// The fields of a result that the checks read; the schema has already
/// vouched for their types.
#[derive(Deserialize)]
struct Stored {
    lab: String,
    lab_digest: Option<String>,
    status: RowStatus,
    score: u32,
    max_score: u32,
    tests: Vec<StoredTest>,
}

#[derive(Deserialize)]
struct StoredTest {
    id: String,
    status: TestStatus,
    score: u32,
    max_score: u32,
}

fn check(lab: &Lab, columns: &[Column], text: &str, name: &str) -> Result<Row, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("it is not JSON: {err}"))?;
    let (schemas, index) = schema();
    if let Err(err) = schemas.validate(&value, *index) {
        // The innermost cause is the one that names the field.
        let cause = first_cause(&err);
        return Err(format!("it does not match the result schema: {cause}"));
    }
    let stored: Stored =
        serde_json::from_value(value).map_err(|err| format!("it is not a result: {err}"))?;
    if stored.lab != lab.name {
        return Err(format!("it is a result for lab `{}`", stored.lab));
    }
    match &stored.lab_digest {
        Some(digest) if *digest == lab.digest => {}
        Some(_) => {
            return Err(
                "it was graded with another version of the lab's definition (its tests, points, steps or limits changed)"
                    .into(),
            );
        }
        None => {
            return Err(
                "it has no lab digest (an older grader wrote it), so its lab definition cannot be checked"
                    .into(),
            );
        }
    }
    if stored.status == RowStatus::Error {
        return Err("it records a grader error".into());
    }
    let same_tests = stored.tests.len() == columns.len()
        && stored
            .tests
            .iter()
            .zip(columns)
            .all(|(test, column)| test.id == column.id && test.max_score == column.max_score);
    if !same_tests {
        return Err("its tests are not the lab's tests".into());
    }
    for test in &stored.tests {
        let earned = if test.status == TestStatus::Pass {
            test.max_score
        } else {
            0
        };
        if test.score != earned {
            return Err(format!(
                "test `{}` scores {} out of {} but its status is `{}`",
                test.id,
                test.score,
                test.max_score,
                serde_json::to_value(test.status)
                    .ok()
                    .and_then(|status| status.as_str().map(str::to_string))
                    .unwrap_or_default()
            ));
        }
    }
    let total: u64 = stored.tests.iter().map(|test| u64::from(test.score)).sum();
    let max_total: u64 = stored
        .tests
        .iter()
        .map(|test| u64::from(test.max_score))
        .sum();
    if u64::from(stored.score) != total || u64::from(stored.max_score) != max_total {
        return Err(format!(
            "its score {}/{} is not the sum of its tests' ({total}/{max_total})",
            stored.score, stored.max_score
        ));
    }
    Row::from_result_json(name, &lab.name, text)
}

fn first_cause<'a>(err: &'a boon::ValidationError<'a, 'a>) -> &'a boon::ValidationError<'a, 'a> {
    let mut cause = err;
    while let Some(inner) = cause.causes.first() {
        cause = inner;
    }
    cause
}

/// The result schema, compiled once from the copy built into the grader.
fn schema() -> &'static (boon::Schemas, boon::SchemaIndex) {
    static SCHEMA: OnceLock<(boon::Schemas, boon::SchemaIndex)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        const URL: &str = "https://socklab.invalid/schema/result-v1.schema.json";
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/result-v1.schema.json"))
                .expect("the built-in result schema is JSON");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource(URL, document)
            .expect("the built-in result schema is added once");
        let index = compiler
            .compile(URL, &mut schemas)
            .expect("the built-in result schema compiles");
        (schemas, index)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Isolation, Outcome, SubmissionResult, SubmissionStatus, TestResult};
    use std::time::Duration;

    fn lab() -> Lab {
        crate::lab::builtin("udp-count-s").unwrap().unwrap()
    }

    /// A result as the grader writes it: every other test passed.
    fn written(lab: &Lab) -> String {
        let result = SubmissionResult {
            lab: lab.name.clone(),
            lab_digest: lab.digest.clone(),
            submission: "class/alice".into(),
            status: SubmissionStatus::Graded,
            seed: 7,
            isolation: Isolation {
                tier: None,
                reason: "test".into(),
                protections: Vec::new(),
                sockets: None,
            },
            duration: Duration::from_millis(5),
            server: None,
            client: None,
            tests: lab
                .tests
                .iter()
                .enumerate()
                .map(|(at, test)| TestResult {
                    id: test.id.clone(),
                    name: test.name.clone(),
                    part: test.part,
                    kind: test.kind,
                    visibility: test.visibility,
                    max_score: test.points,
                    outcome: if at % 2 == 0 {
                        Outcome::Pass
                    } else {
                        Outcome::Fail {
                            message: "no".into(),
                        }
                    },
                    hint: None,
                    transcript: Vec::new(),
                    duration: Duration::ZERO,
                })
                .collect(),
            notes: Vec::new(),
        };
        crate::report::json::render(&result, crate::report::Audience::default())
    }

    fn verdict(lab: &Lab, text: &str) -> Result<Row, String> {
        check(lab, &Column::for_lab(lab), text, "alice")
    }

    fn edited(text: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
        edit(&mut value);
        value.to_string()
    }

    #[test]
    fn what_the_grader_wrote_is_reused() {
        let lab = lab();
        let row = verdict(&lab, &written(&lab)).unwrap();
        assert_eq!(row.name, "alice");
        assert_eq!(row.max_score, lab.max_score());
    }

    #[test]
    fn forged_scores_are_rejected() {
        let lab = lab();
        let text = written(&lab);
        let forged = edited(&text, |value| value["score"] = 999.into());
        assert!(verdict(&lab, &forged).unwrap_err().contains("not the sum"));
        let forged = edited(&text, |value| value["tests"][1]["score"] = 2.into());
        assert!(
            verdict(&lab, &forged)
                .unwrap_err()
                .contains("scores 2 out of")
        );
        let forged = edited(&text, |value| value["score"] = (-1).into());
        assert!(verdict(&lab, &forged).unwrap_err().contains("schema"));
        let forged = edited(&text, |value| value["extra"] = true.into());
        assert!(verdict(&lab, &forged).unwrap_err().contains("schema"));
    }

    #[test]
    fn a_changed_lab_rejects_results_graded_with_the_old_one() {
        let lab = lab();
        let text = written(&lab);
        let mut changed = lab.clone();
        changed.digest = "fnv1a64:0123456789abcdef".into();
        assert!(
            verdict(&changed, &text)
                .unwrap_err()
                .contains("another version")
        );
        let older = edited(&text, |value| {
            value.as_object_mut().unwrap().remove("lab_digest");
        });
        assert!(verdict(&lab, &older).unwrap_err().contains("no lab digest"));
        let mut more_points = lab.clone();
        more_points.tests[0].points += 3;
        let columns = Column::for_lab(&more_points);
        more_points.digest = lab.digest.clone();
        assert!(
            check(&more_points, &columns, &text, "alice")
                .unwrap_err()
                .contains("not the lab's tests")
        );
    }

    #[test]
    fn pipes_links_and_huge_files_are_not_read() {
        let lab = lab();
        let columns = Column::for_lab(&lab);
        let directory = tempfile::tempdir().unwrap();
        let pipe = directory.path().join("alice.json");
        nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            earlier(&lab, &columns, &pipe, "alice"),
            Earlier::Rejected(why) if why.contains("not a regular file")
        ));
        let real = directory.path().join("real.json");
        std::fs::write(&real, written(&lab)).unwrap();
        let link = directory.path().join("bob.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            earlier(&lab, &columns, &link, "bob"),
            Earlier::Rejected(_)
        ));
        assert!(matches!(
            earlier(&lab, &columns, &real, "real"),
            Earlier::Reused(_)
        ));
        assert!(matches!(
            earlier(&lab, &columns, &directory.path().join("none.json"), "none"),
            Earlier::Absent
        ));
    }
}
