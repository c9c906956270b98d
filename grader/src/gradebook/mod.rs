//! The gradebook of a batch: one row per submission with its score
//! and every test's status, and a summary of the class. It is what an
//! instructor keeps; the full results, transcripts and all, stay in the
//! per-submission result files.
//!
//! A gradebook is small on purpose: a batch holds one [`Row`] per submission
//! and never a whole [`SubmissionResult`], so memory stays flat however large
//! the class. Its JSON form is versioned ([`GRADEBOOK_VERSION`]) and read back
//! by `grader merge`; [`csv`] and [`table`] render the same rows for
//! spreadsheets and terminals.

pub mod csv;
pub mod html;
pub mod merge;
pub mod results;
pub mod summary;
pub mod table;

use serde::{Deserialize, Serialize};

use crate::hint::HintKind;
use crate::lab::Lab;
pub use crate::outcome::{RowStatus, TestStatus};
use crate::outcome::{SubmissionResult, SubmissionStatus};
use crate::report::json::SCHEMA_VERSION;

pub use merge::{MergeError, Merged, merge};
pub use summary::Summary;

/// The version of the gradebook's JSON form.
pub const GRADEBOOK_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gradebook {
    pub gradebook_version: u32,
    pub lab: String,
    /// The lab's tests, in the lab's order: the gradebook's columns.
    pub tests: Vec<Column>,
    pub max_score: u32,
    /// The batch's `--seed`; each submission's own seed is derived from it
    /// (see `batch::seed_for`) and kept in its row. `None` after merging
    /// shards graded with different seeds.
    pub seed: Option<u64>,
    /// Which shard of the class this is; `None` for a whole class.
    pub shard: Option<Shard>,
    /// False when the batch was interrupted before every submission was graded.
    pub complete: bool,
    /// Sorted by name.
    pub submissions: Vec<Row>,
    pub summary: Summary,
}

/// One test of the lab, as a gradebook column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub id: String,
    pub name: String,
    pub max_score: u32,
}

/// One submission's line in the gradebook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The submission's directory name.
    pub name: String,
    pub status: RowStatus,
    /// Why a submission is `not_runnable` or an `error`.
    pub message: Option<String>,
    pub score: u32,
    pub max_score: u32,
    /// The seed its random sentences were drawn from; `None` when it was
    /// never graded (an `error` row).
    pub seed: Option<u64>,
    pub duration_ms: u64,
    /// One entry per test graded, in the lab's order; empty for an `error` row.
    pub tests: Vec<TestMark>,
}

/// How one test of one submission ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMark {
    pub id: String,
    pub status: TestStatus,
    pub score: u32,
    /// Which diagnosis the test's hint came from, when it failed; what a
    /// class report counts. Absent in gradebooks and results written
    /// before hint kinds existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_kind: Option<HintKind>,
}

/// A part of a class graded on its own: the submissions (sorted by name) at
/// positions `index - 1`, `index - 1 + count`, `index - 1 + 2 * count`, …
/// The index is 1-based, as Slurm array task ids and most CI matrices count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the submission at 0-based `position` of the sorted class is
    /// in this shard.
    pub fn selects(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let wrong = || format!("`{text}`: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (index, count) = text.split_once('/').ok_or_else(wrong)?;
        let index: usize = index.trim().parse().map_err(|_| wrong())?;
        let count: usize = count.trim().parse().map_err(|_| wrong())?;
        if index == 0 || index > count {
            return Err(wrong());
        }
        Ok(Shard { index, count })
    }
}

impl Column {
    /// The columns of `lab`: its tests, in order.
    pub fn for_lab(lab: &Lab) -> Vec<Column> {
        lab.tests
            .iter()
            .map(|test| Column {
                id: test.id.clone(),
                name: test.name.clone(),
                max_score: test.points,
            })
            .collect()
    }
}

impl Row {
    /// The row of a finished grading.
    pub fn graded(name: &str, result: &SubmissionResult) -> Row {
        Row {
            name: name.to_string(),
            status: match result.status {
                SubmissionStatus::Graded => RowStatus::Graded,
                SubmissionStatus::NotRunnable { .. } => RowStatus::NotRunnable,
                SubmissionStatus::Error { .. } => RowStatus::Error,
            },
            message: result.status.message().map(str::to_string),
            score: result.score(),
            max_score: result.max_score(),
            seed: Some(result.seed),
            duration_ms: result.duration.as_millis() as u64,
            tests: result
                .tests
                .iter()
                .map(|test| TestMark {
                    id: test.id.clone(),
                    status: TestStatus::of(&test.outcome),
                    score: test.score(),
                    hint_kind: test.hint.as_ref().map(|hint| hint.kind),
                })
                .collect(),
        }
    }

    /// The row of a submission the grader could not grade.
    pub fn error(name: &str, max_score: u32, message: String) -> Row {
        Row {
            name: name.to_string(),
            status: RowStatus::Error,
            message: Some(message),
            score: 0,
            max_score,
            seed: None,
            duration_ms: 0,
            tests: Vec::new(),
        }
    }

    /// The row of a result file an earlier batch wrote for `lab` (the native
    /// JSON of `report::json`), or why it cannot serve as one.
    pub fn from_result_json(name: &str, lab: &str, text: &str) -> Result<Row, String> {
        let stored: StoredResult =
            serde_json::from_str(text).map_err(|err| format!("not a result file: {err}"))?;
        if stored.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "result schema version {} (this grader writes {SCHEMA_VERSION})",
                stored.schema_version
            ));
        }
        if stored.lab != lab {
            return Err(format!("a result for lab `{}`", stored.lab));
        }
        Ok(Row {
            name: name.to_string(),
            status: stored.status,
            message: stored.status_message,
            score: stored.score,
            max_score: stored.max_score,
            seed: Some(stored.seed),
            duration_ms: stored.duration_ms,
            tests: stored.tests,
        })
    }

    /// Whether the row's tests are exactly the lab's, in order: a result
    /// file from another lab, or from an older version of the lab's tests,
    /// does not count as graded.
    pub fn matches(&self, columns: &[Column]) -> bool {
        self.tests.len() == columns.len()
            && self
                .tests
                .iter()
                .zip(columns)
                .all(|(test, column)| test.id == column.id)
    }
}

/// The fields of a native JSON result that a gradebook row needs.
#[derive(Deserialize)]
struct StoredResult {
    schema_version: u32,
    lab: String,
    status: RowStatus,
    status_message: Option<String>,
    score: u32,
    max_score: u32,
    seed: u64,
    duration_ms: u64,
    tests: Vec<TestMark>,
}

impl Gradebook {
    /// A gradebook of `rows` (in any order) for `lab`'s `columns`.
    pub fn new(
        lab: String,
        tests: Vec<Column>,
        seed: Option<u64>,
        shard: Option<Shard>,
        complete: bool,
        mut rows: Vec<Row>,
    ) -> Gradebook {
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        let max_score = tests.iter().map(|column| column.max_score).sum();
        let summary = Summary::of(&tests, &rows);
        Gradebook {
            gradebook_version: GRADEBOOK_VERSION,
            lab,
            tests,
            max_score,
            seed,
            shard,
            complete,
            submissions: rows,
            summary,
        }
    }

    /// Reads a gradebook's JSON form, checking its version.
    pub fn from_json(text: &str) -> Result<Gradebook, String> {
        #[derive(Deserialize)]
        struct Version {
            gradebook_version: Option<u32>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
        match version.gradebook_version {
            Some(GRADEBOOK_VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "gradebook version {other} (this grader reads {GRADEBOOK_VERSION})"
                ));
            }
            None => return Err("not a gradebook (no `gradebook_version`)".into()),
        }
        serde_json::from_str(text).map_err(|err| format!("malformed gradebook: {err}"))
    }

    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("the gradebook model always serialises");
        text.push('\n');
        text
    }
}
