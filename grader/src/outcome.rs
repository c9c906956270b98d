//! What grading produced: one [`SubmissionResult`] holding a [`TestResult`] per
//! test. Reporters read this model and nothing else.
//!
//! Scores are never stored: a test scores its points exactly when its outcome
//! is [`Outcome::Pass`], and a submission's score is the sum of its tests'.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lab::{Kind, Part, Visibility};

/// The largest seed (see [`crate::sentence::MAX_SEED`]); results carry seeds.
pub use crate::sentence::MAX_SEED;

/// How one test ended. Closed on purpose: every reporter matches it exhaustively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The submission misbehaved; `message` says what was seen.
    Fail {
        message: String,
    },
    /// The submission did not answer within the test's deadline.
    Timeout {
        message: String,
    },
    /// The grader could not run the test. Never charged to the student: the
    /// test is reported, and reporters flag the run, but nobody is graded on a
    /// grader fault.
    Error {
        message: String,
    },
    /// Not run, e.g. the part is missing or the submission's deadline passed.
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail { .. } => "fail",
            Outcome::Timeout { .. } => "timeout",
            Outcome::Error { .. } => "error",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Pass => None,
            Outcome::Fail { message }
            | Outcome::Timeout { message }
            | Outcome::Error { message } => Some(message),
            Outcome::Skipped { reason } => Some(reason),
        }
    }

    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass)
    }
}

/// One event of a test's exchange, kept for the student to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// Time since the test started.
    pub at: Duration,
    /// The grader's socket or process the event is about (`main`, `client`, …).
    pub channel: String,
    pub event: TranscriptEvent,
}

/// Appends bytes received on a stream: when the entry before is bytes
/// received on the same channel, they join it. TCP delivers a reply in
/// whatever pieces the network chose, so keeping the pieces apart would make
/// two runs with the same seed read differently for no reason.
pub fn push_stream_bytes(
    transcript: &mut Vec<TranscriptEntry>,
    at: Duration,
    channel: &str,
    bytes: &[u8],
) {
    if let Some(TranscriptEntry {
        channel: last_channel,
        event: TranscriptEvent::Received(received),
        ..
    }) = transcript.last_mut()
    {
        if last_channel == channel {
            received.extend_from_slice(bytes);
            return;
        }
    }
    transcript.push(TranscriptEntry {
        at,
        channel: channel.to_string(),
        event: TranscriptEvent::Received(bytes.to_vec()),
    });
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptEvent {
    /// The grader sent these bytes.
    Sent(Vec<u8>),
    /// The grader received these bytes.
    Received(Vec<u8>),
    /// Something the grader did or saw that carries no payload.
    Note(String),
}

impl TranscriptEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            TranscriptEvent::Sent(_) => "sent",
            TranscriptEvent::Received(_) => "received",
            TranscriptEvent::Note(_) => "note",
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestResult {
    pub id: String,
    pub name: String,
    pub part: Part,
    pub kind: Kind,
    pub visibility: Visibility,
    pub max_score: u32,
    pub outcome: Outcome,
    /// The likely bug, in the student's terms, and which diagnosis it is;
    /// present on every failed test.
    pub hint: Option<crate::hint::Hint>,
    pub transcript: Vec<TranscriptEntry>,
    pub duration: Duration,
}

impl TestResult {
    pub fn score(&self) -> u32 {
        if self.outcome.is_pass() {
            self.max_score
        } else {
            0
        }
    }
}

/// Whether the submission could be graded at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmissionStatus {
    Graded,
    /// Nothing to run, a build that failed, an entry file that cannot start.
    /// Its tests are still listed (as failed) so the score is visibly zero.
    NotRunnable {
        reason: String,
    },
    /// The grader itself failed.
    Error {
        message: String,
    },
}

impl SubmissionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SubmissionStatus::Graded => "graded",
            SubmissionStatus::NotRunnable { .. } => "not_runnable",
            SubmissionStatus::Error { .. } => "error",
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            SubmissionStatus::Graded => None,
            SubmissionStatus::NotRunnable { reason } => Some(reason),
            SubmissionStatus::Error { message } => Some(message),
        }
    }
}

/// The isolation tier a submission ran in, and why that one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    /// `None` when nothing of the submission ran.
    pub tier: Option<crate::cell::Tier>,
    pub reason: String,
    /// What the cells guarded against, and what they could not.
    pub protections: Vec<crate::cell::Protection>,
    /// Where the first cell read its programs' bound sockets from; `None`
    /// when no cell was opened (or in a result read back from an older grader).
    pub sockets: Option<crate::cell::SocketSource>,
}

/// How one of the submission's programs ran.
#[derive(Clone, Debug, Default)]
pub struct ProgramRun {
    /// The command line, as run.
    pub command: String,
    /// What its interpreter was resolved to, when the grader resolved one
    /// (`interpreter::described`): the path run, and how it was found.
    pub interpreter: Option<String>,
    /// How many times it was started (more than once when it died mid-run).
    pub starts: u32,
    /// How its last run ended: `None` if the grader stopped it.
    pub exit: Option<ExitReport>,
    pub stdout_tail: Vec<u8>,
    pub stderr_tail: Vec<u8>,
}

pub use crate::cell::ExitReport;

#[derive(Clone, Debug)]
pub struct SubmissionResult {
    pub lab: String,
    /// The lab definition's digest (`lab::digest`): which version of the
    /// lab's tests this result was graded with.
    pub lab_digest: String,
    /// The submission's path, or `reference` when grading the reference.
    pub submission: String,
    pub status: SubmissionStatus,
    pub seed: u64,
    pub isolation: Isolation,
    pub duration: Duration,
    pub server: Option<ProgramRun>,
    pub client: Option<ProgramRun>,
    pub tests: Vec<TestResult>,
    /// Remarks about the submission as a whole, e.g. that it looks like Python 2.
    pub notes: Vec<String>,
}

impl SubmissionResult {
    pub fn score(&self) -> u32 {
        self.tests.iter().map(TestResult::score).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.tests.iter().map(|test| test.max_score).sum()
    }
}

/// The submission's status, as in its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Graded,
    /// It was graded, and scored zero because nothing of it could run.
    NotRunnable,
    /// The grader could not grade it; never charged to the student.
    Error,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Graded => "graded",
            RowStatus::NotRunnable => "not_runnable",
            RowStatus::Error => "error",
        }
    }
}

/// A test's status, as [`Outcome`] names it: what gradebooks and pages
/// keep of an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Pass,
    Fail,
    Timeout,
    Error,
    Skipped,
}

impl TestStatus {
    pub fn of(outcome: &Outcome) -> TestStatus {
        match outcome {
            Outcome::Pass => TestStatus::Pass,
            Outcome::Fail { .. } => TestStatus::Fail,
            Outcome::Timeout { .. } => TestStatus::Timeout,
            Outcome::Error { .. } => TestStatus::Error,
            Outcome::Skipped { .. } => TestStatus::Skipped,
        }
    }
}
