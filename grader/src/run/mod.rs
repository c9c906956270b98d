//! Grading one submission: plan it, build it (`build.rs`), run its server
//! part (`server.rs`) and its client part (`client.rs`), each test through
//! the exchange engine, and return the result model. How a program is
//! launched is `program.rs`.
//!
//! Student failures become outcomes; only bad input to the grader itself (an
//! unreadable submission path, a lab without a reference) is an error.

mod build;
mod client;
mod program;
mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cell::{self, Cell, CellOptions, IsolationRequest};
use crate::exchange::TestHint;
use crate::hint::{Hint, HintKind};
use crate::lab::{Lab, Part, TestCase};
use crate::limits::{LimitOverrides, Limits};
use crate::outcome::{Isolation, Outcome, SubmissionResult, SubmissionStatus, TestResult};
use crate::protocol::Protocol;
use crate::submission::{self, Overrides, Plan, PlanError, ProgramPlan, Source};
use build::BuildFailure;

/// How to grade, beyond the lab and the submission.
#[derive(Clone, Debug, Default)]
pub struct GradeOptions {
    pub seed: u64,
    pub isolation: IsolationRequest,
    /// The grader binary: it keeps namespace cells and runs the reference.
    pub grader_binary: Option<PathBuf>,
    pub limits: LimitOverrides,
    pub overrides: Overrides,
    /// A label for this grading's cells (see [`CellOptions::label`]).
    pub cell_label: Option<String>,
}

/// Bad input to the grader itself; the CLI exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The name a submission goes by in results.
pub fn submission_name(source: &Source) -> String {
    match source {
        Source::Reference => "reference".to_string(),
        Source::Directory(path) | Source::Commands(path) => path.display().to_string(),
    }
}

pub fn grade(
    lab: &Lab,
    source: &Source,
    options: &GradeOptions,
) -> Result<SubmissionResult, BadInput> {
    let started = Instant::now();
    let limits = Limits::resolve(&lab.limits, &options.limits);
    let scratch = crate::scratch::Scratch::create()
        .map_err(|err| BadInput(format!("creating a scratch directory: {err}")))?;
    let mut cell_options = CellOptions {
        isolation: options.isolation,
        keeper: options.grader_binary.clone(),
        limits: limits.clone(),
        label: options.cell_label.clone(),
        sandbox: None,
    };
    // The first program's cell: a spare the grading before left open (in a
    // batch), or one that opens while the submission is planned and built
    // (an interpreter found, a compiler run).
    let cell_ahead = match cell::take_spare(&cell_options, scratch.path()) {
        Some((ahead, sandbox)) => {
            cell_options.sandbox = Some(sandbox);
            ahead
        }
        None => {
            cell_options.sandbox = Some(cell::Sandbox::new(scratch.path()));
            cell::CellAhead::open(cell_options.clone())
        }
    };
    let mut grading = Grading {
        lab,
        options,
        cell_options,
        deadline: started + Duration::from_millis(limits.submission_ms),
        limits,
        isolation: None,
        tests: Vec::new(),
        notes: Vec::new(),
        cell_ahead: Some(cell_ahead),
        client_cell_ahead: None,
    };
    let result = |grading: Grading<'_>, status, server, client| SubmissionResult {
        lab: lab.name.clone(),
        lab_digest: lab.digest.clone(),
        submission: submission_name(source),
        status,
        seed: options.seed,
        isolation: grading.isolation.unwrap_or_else(|| Isolation {
            tier: None,
            reason: "no program of the submission ran".into(),
            protections: Vec::new(),
            sockets: None,
        }),
        duration: started.elapsed(),
        server,
        client,
        tests: grading.tests,
        notes: Vec::new(),
    };

    let mut plan = match submission::plan(
        lab,
        source,
        &options.overrides,
        scratch.path(),
        options.grader_binary.as_deref(),
    ) {
        Ok(plan) => plan,
        Err(PlanError::BadInput(message)) => return Err(BadInput(message)),
        Err(PlanError::NotRunnable(reason)) => {
            grading.fail_all(&Outcome::Fail {
                message: not_run(&reason),
            });
            return Ok(result(
                grading,
                SubmissionStatus::NotRunnable { reason },
                None,
                None,
            ));
        }
        Err(PlanError::MissingTool(message)) => {
            grading.fail_all(&Outcome::Error {
                message: not_run(&message),
            });
            return Ok(result(
                grading,
                SubmissionStatus::Error { message },
                None,
                None,
            ));
        }
    };
    // A lab's files (a web server's document root) go beside the program,
    // in the grading's own copy only: never into a directory of the user's.
    if let Protocol::Http { site, .. } = lab.protocol {
        if plan.workdir.starts_with(scratch.path()) {
            if let Err(err) = crate::lab::files::place(site, &plan.workdir) {
                return Err(BadInput(format!("placing the lab's files: {err}")));
            }
        } else {
            plan.notes.push(format!(
                "The lab's files were not copied into {}: the commands run in your own folder, which the grader never writes to. Put the files of the lab's `files` folder there.",
                plan.workdir.display()
            ));
        }
    }
    if let Some(build) = &plan.build {
        if let Err(failure) = grading.build(&plan, build) {
            let (outcome, status) = match failure {
                BuildFailure::Failed(reason) => (
                    Outcome::Fail {
                        message: not_run(&reason),
                    },
                    SubmissionStatus::NotRunnable { reason },
                ),
                BuildFailure::MissingTool(message) => (
                    Outcome::Error {
                        message: not_run(&message),
                    },
                    SubmissionStatus::Error { message },
                ),
            };
            grading.fail_all(&outcome);
            let mut failed = result(grading, status, None, None);
            failed.notes = plan.notes;
            return Ok(failed);
        }
    }
    let server = grading.server_part(&plan);
    let client = grading.client_part(&plan);
    let notes = std::mem::take(&mut grading.notes);
    let mut graded = result(grading, SubmissionStatus::Graded, server, client);
    graded.notes = plan.notes;
    graded.notes.extend(notes);
    Ok(graded)
}

/// The state of one grading run, shared by the server and client parts.
struct Grading<'a> {
    lab: &'a Lab,
    options: &'a GradeOptions,
    cell_options: CellOptions,
    limits: Limits,
    /// Tests not started by then are skipped.
    deadline: Instant,
    /// The tier of the first cell opened.
    isolation: Option<Isolation>,
    tests: Vec<TestResult>,
    /// What the result's notes say besides the plan's (where a server that
    /// chose its own port listened).
    notes: Vec<String>,
    /// The next cell, opening while the current test runs.
    cell_ahead: Option<cell::CellAhead>,
    /// The next client test's cell, opening with its network and its
    /// client prepared (see [`Grading::open_client_cell_ahead`]).
    client_cell_ahead: Option<cell::CellAhead>,
}

impl<'a> Grading<'a> {
    /// The earlier test of `after` that did not pass, if any: `test` is not
    /// worth running, for the reason that test already shows.
    fn failed_prerequisite(&self, test: &TestCase) -> Option<String> {
        let spoils = |done: &TestResult| {
            done.outcome != Outcome::Pass
                && !done
                    .hint
                    .as_ref()
                    .is_some_and(|hint| self.lab.protocol.forgiven_later(hint.kind))
        };
        test.after
            .iter()
            .find(|id| {
                self.tests
                    .iter()
                    .any(|done| &done.id == *id && spoils(done))
            })
            .cloned()
    }

    fn open_cell(&mut self) -> Result<Cell, String> {
        let cell = match self.cell_ahead.take() {
            Some(ahead) => ahead.take(),
            None => Cell::open(&self.cell_options),
        };
        self.opened(cell)
    }

    /// A client test's cell: the one opened for it ahead if there is one.
    fn open_client_cell(&mut self) -> Result<Cell, String> {
        match self.client_cell_ahead.take() {
            Some(ahead) => {
                let cell = ahead.take();
                self.opened(cell)
            }
            None => self.open_cell(),
        }
    }

    /// A cell just taken, made this grading's.
    fn opened(&mut self, cell: std::io::Result<Cell>) -> Result<Cell, String> {
        let mut cell = cell.map_err(|err| format!("grader error: opening a cell: {err}"))?;
        // A spare was opened with its user alone; it runs this grading's copy.
        cell.adopt(self.cell_options.sandbox.clone());
        if self.isolation.is_none() {
            // In a batch, the next grading's first cell opens while this
            // grading's tests run.
            cell::replenish_spare(&self.cell_options);
        }
        self.isolation.get_or_insert_with(|| Isolation {
            tier: Some(cell.tier()),
            reason: cell.reason().to_string(),
            protections: cell.protections(),
            sockets: Some(cell.socket_source()),
        });
        Ok(cell)
    }

    /// Starts opening the next cell now, for a test that will surely need
    /// one, so that it is ready (or nearly) when that test begins. Every
    /// cell of a grading has the same options, so any test can take it.
    fn open_cell_ahead(&mut self) {
        if self.cell_ahead.is_none() {
            self.cell_ahead = Some(cell::CellAhead::open(self.cell_options.clone()));
        }
    }

    /// [`Grading::open_cell_ahead`] for the next client test: its cell's
    /// network opens ahead too, and `client` is prepared to start in it.
    /// Such a cell has a slot of its own, which only client tests take, so
    /// no server is started in a cell whose names all resolve to itself
    /// unless its lab asks for that.
    fn open_client_cell_ahead(&mut self, client: Option<cell::SpawnSpec>) {
        if self.client_cell_ahead.is_none() {
            self.client_cell_ahead = Some(cell::CellAhead::open_for_client(
                self.cell_options.clone(),
                client,
            ));
        }
    }

    fn record(
        &mut self,
        test: &TestCase,
        outcome: Outcome,
        hint: TestHint,
        transcript: Vec<crate::outcome::TranscriptEntry>,
        duration: Duration,
    ) {
        let hint = match outcome {
            Outcome::Pass | Outcome::Skipped { .. } | Outcome::Error { .. } => None,
            Outcome::Fail { .. } | Outcome::Timeout { .. } => match hint {
                TestHint::Lab => Some(Hint::new(HintKind::LabHint, test.hint.clone())),
                TestHint::Observed(hint) => Some(hint),
                TestHint::Withheld => None,
            },
        };
        self.tests.push(TestResult {
            id: test.id.clone(),
            name: test.name.clone(),
            part: test.part,
            kind: test.kind,
            visibility: test.visibility,
            max_score: test.points,
            outcome,
            hint,
            transcript,
            duration,
        });
    }

    /// Records a test that is not run because an earlier test of its part
    /// already found why: `message` points there, and there is no hint of
    /// its own. A cause in the grading machine is an error, never charged.
    fn record_not_run(&mut self, test: &TestCase, message: String, grader_environment: bool) {
        let outcome = if grader_environment {
            Outcome::Error { message }
        } else {
            Outcome::Fail { message }
        };
        self.record(
            test,
            outcome,
            TestHint::Withheld,
            Vec::new(),
            Duration::ZERO,
        );
    }

    /// Every test ends with `outcome`: the submission could not run at all.
    /// No test carries the lab's coding hint: those are about code that ran,
    /// and this code never did; the one finding is the submission's status.
    fn fail_all(&mut self, outcome: &Outcome) {
        for test in &self.lab.tests {
            self.record(
                test,
                outcome.clone(),
                TestHint::Withheld,
                Vec::new(),
                Duration::ZERO,
            );
        }
    }

    /// The tests of `part` and the program that runs them. `None` when the lab
    /// has no such tests, or when the submission has no such program: its
    /// tests are then recorded as skipped, so they visibly score nothing.
    fn part_to_run(&mut self, plan: &Plan, part: Part) -> Option<(Vec<&'a TestCase>, ProgramPlan)> {
        let lab = self.lab;
        let tests: Vec<&'a TestCase> = lab.tests.iter().filter(|test| test.part == part).collect();
        if tests.is_empty() {
            return None;
        }
        let Some(program) = plan.program(part).cloned() else {
            let looked_for = lab.conventions.names(part);
            let reason = format!(
                "Not run: the submission has no {} (looked for {}).",
                part.as_str(),
                looked_for.join(", ")
            );
            for test in tests {
                self.record(
                    test,
                    Outcome::Skipped {
                        reason: reason.clone(),
                    },
                    TestHint::Withheld,
                    Vec::new(),
                    Duration::ZERO,
                );
            }
            return None;
        };
        Some((tests, program))
    }

    /// Records `test` as skipped if the submission's time is up, and says so.
    fn skipped_for_time(&mut self, test: &TestCase) -> bool {
        if Instant::now() < self.deadline {
            return false;
        }
        let reason = format!(
            "Not run: the submission's time limit of {} s was reached.",
            self.limits.submission_ms / 1000
        );
        self.record(
            test,
            Outcome::Skipped { reason },
            TestHint::Withheld,
            Vec::new(),
            Duration::ZERO,
        );
        true
    }
}

/// What each test of a submission that never ran says: the first line of
/// the reason, which the submission's status gives in full.
fn not_run(reason: &str) -> String {
    let first = reason.lines().next().unwrap_or(reason);
    let mut chars = first.chars();
    // "The build failed." reads on as "Not run: the build failed."; a
    // name such as `UDPServer.java` keeps its case.
    let lowered = match (chars.next(), chars.next()) {
        (Some(initial), Some(next)) if initial.is_uppercase() && next.is_lowercase() => initial
            .to_lowercase()
            .chain(first.chars().skip(1))
            .collect(),
        _ => first.to_string(),
    };
    format!("Not run: {lowered}")
}
