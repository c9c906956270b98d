//! Grading one submission: plan it, build it, start its server in a cell, run
//! every test, stop everything, and return the result model.
//!
//! Student failures become outcomes; only bad input to the grader itself (an
//! unreadable submission path, a lab without a reference) is an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cell::{
    self, Cell, CellOptions, CellProcess, IsolationRequest, PortLock, SpawnSpec, Tier,
};
use crate::client_test;
use crate::conventions;
use crate::diagnose::{self, Diagnosis};
use crate::ending::{self, Ending, NeverRan};
use crate::exchange::{FailureKind, ServerExchange, StepFailure};
use crate::hint::{Hint, HintKind};
use crate::lab::{Lab, Part, Step, TestCase, Transport};
use crate::limits::{LimitOverrides, Limits};
use crate::outcome::{
    Isolation, Outcome, ProgramRun, SubmissionResult, SubmissionStatus, TestResult,
};
use crate::readiness::{self, Readiness};
use crate::submission::{self, Overrides, Plan, PlanError, ProgramPlan, Source};

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
    let mut grading = Grading {
        lab,
        options,
        cell_options: CellOptions {
            isolation: options.isolation,
            keeper: options.grader_binary.clone(),
            limits: limits.clone(),
            label: options.cell_label.clone(),
            sandbox: Some(cell::Sandbox::new(scratch.path())),
        },
        deadline: started + Duration::from_millis(limits.submission_ms),
        limits,
        isolation: None,
        tests: Vec::new(),
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
        }),
        duration: started.elapsed(),
        server,
        client,
        tests: grading.tests,
        notes: Vec::new(),
    };

    let plan = match submission::plan(
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
    let client = client_test::run_part(&mut grading, &plan);
    let mut graded = result(grading, SubmissionStatus::Graded, server, client);
    graded.notes = plan.notes;
    Ok(graded)
}

/// The hint a failed test shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TestHint {
    /// The lab author's hint for the test: the failure is the kind it is about.
    Lab,
    /// A hint read off what was observed.
    Observed(Hint),
    /// None: the facts in the message are all that is known to be true, and
    /// a coding hint would name a cause nobody saw.
    Withheld,
}

impl TestHint {
    /// A diagnosis's hint when there is one, the lab's otherwise.
    pub fn observed_or_lab(hint: Option<Hint>) -> TestHint {
        hint.map_or(TestHint::Lab, TestHint::Observed)
    }
}

/// The state of one grading run, shared by the server and client parts.
pub(crate) struct Grading<'a> {
    pub lab: &'a Lab,
    pub options: &'a GradeOptions,
    pub cell_options: CellOptions,
    pub limits: Limits,
    /// Tests not started by then are skipped.
    pub deadline: Instant,
    /// The tier of the first cell opened.
    pub isolation: Option<Isolation>,
    pub tests: Vec<TestResult>,
}

impl<'a> Grading<'a> {
    pub fn open_cell(&mut self) -> Result<Cell, String> {
        let cell = Cell::open(&self.cell_options)
            .map_err(|err| format!("grader error: opening a cell: {err}"))?;
        self.isolation.get_or_insert_with(|| Isolation {
            tier: Some(cell.tier()),
            reason: cell.reason().to_string(),
            protections: cell.protections(),
        });
        Ok(cell)
    }

    pub fn record(
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
    pub fn record_not_run(&mut self, test: &TestCase, message: String, grader_environment: bool) {
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

    /// The environment a submission's program runs with: a short allowlist of
    /// the grader's own (no tokens or secrets a CI runner may hold), plus the
    /// host and port it should use.
    pub fn environment(&self, plan: &Plan, port: u16) -> Vec<(String, String)> {
        const PASSED_ON: &[&str] = &[
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "LC_CTYPE",
            "TZ",
            "USER",
            "LOGNAME",
            "PYENV_ROOT",
            "PYENV_VERSION",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ];
        let mut env: Vec<(String, String)> = PASSED_ON
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        if !env.iter().any(|(name, _)| name == "LANG") {
            env.push(("LANG".into(), "C.UTF-8".into()));
        }
        let _ = std::fs::create_dir_all(&plan.tmp);
        env.extend([
            ("SOCKLAB_HOST".into(), cell::CELL_HOST.to_string()),
            ("SOCKLAB_PORT".into(), port.to_string()),
            ("TMPDIR".into(), plan.tmp.to_string_lossy().into_owned()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ("PYTHONUNBUFFERED".into(), "1".into()),
        ]);
        env
    }

    fn build(&mut self, plan: &Plan, build: &ProgramPlan) -> Result<(), BuildFailure> {
        // Compilers need far more room than a lab server does.
        let mut options = self.cell_options.clone();
        options.limits.memory_mb = options.limits.memory_mb.max(8192);
        options.limits.processes = options.limits.processes.max(512);
        options.limits.cpu_seconds = options
            .limits
            .cpu_seconds
            .max(2 * self.limits.build_ms / 1000);
        options.limits.file_size_mb = options.limits.file_size_mb.max(2048);
        options.limits.open_files = options.limits.open_files.max(4096);
        options.sandbox = options.sandbox.map(|sandbox| sandbox.for_build());
        let cell = Cell::open(&options).map_err(|err| {
            BuildFailure::Failed(format!("grader error: opening a cell for the build: {err}"))
        })?;
        let (program, args) = build.render(&cell::CELL_HOST.to_string(), self.lab.port);
        let mut env = self.environment(plan, self.lab.port);
        env.push(("CARGO_TERM_COLOR".into(), "never".into()));
        let process = cell
            .spawn(&SpawnSpec {
                program,
                args,
                cwd: plan.workdir.clone(),
                env,
                stdin: None,
            })
            .map_err(|err| {
                BuildFailure::Failed(format!(
                    "The build command `{}` could not start: {err}.",
                    build.display
                ))
            })?;
        let exit = process.wait_until(Instant::now() + Duration::from_millis(self.limits.build_ms));
        let end = cell.stop_all(process);
        let stderr = end.stderr.last(2048);
        match exit {
            Some(crate::outcome::ExitReport::Code(0)) => Ok(()),
            // The shell's "not found" for a compiler is the grading machine's
            // environment, not the student's code.
            Some(crate::outcome::ExitReport::Code(126 | 127))
                if conventions::tools::missing_from_output(&stderr).is_some() =>
            {
                let tool = conventions::tools::missing_from_output(&stderr).expect("checked");
                Err(BuildFailure::MissingTool(
                    conventions::tools::missing_message(
                        &tool,
                        &format!("by the build `{}`", build.display),
                    ),
                ))
            }
            Some(exit) => Err(BuildFailure::Failed(format!(
                "The build `{}` failed ({exit}).\nThe end of its output:\n{}",
                build.display,
                crate::escape::escape_lines(&scrub_paths(&stderr, &plan.workdir))
            ))),
            None => Err(BuildFailure::Failed(format!(
                "The build `{}` did not finish within {} s.",
                build.display,
                self.limits.build_ms / 1000
            ))),
        }
    }

    /// The tests of `part` and the program that runs them. `None` when the lab
    /// has no such tests, or when the submission has no such program: its
    /// tests are then recorded as skipped, so they visibly score nothing.
    pub fn part_to_run(
        &mut self,
        plan: &Plan,
        part: Part,
    ) -> Option<(Vec<&'a TestCase>, ProgramPlan)> {
        let lab = self.lab;
        let tests: Vec<&'a TestCase> = lab.tests.iter().filter(|test| test.part == part).collect();
        if tests.is_empty() {
            return None;
        }
        let Some(program) = plan.program(part).cloned() else {
            let looked_for = match part {
                Part::Server => &lab.conventions.server_files,
                Part::Client => &lab.conventions.client_files,
            };
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
    pub fn skipped_for_time(&mut self, test: &TestCase) -> bool {
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

    fn server_part(&mut self, plan: &Plan) -> Option<ProgramRun> {
        let (tests, program) = self.part_to_run(plan, Part::Server)?;
        let mut run = ProgramRun {
            command: program.display.clone(),
            ..ProgramRun::default()
        };
        let mut server: Option<RunningServer> = None;
        let mut start_failure: Option<StartFailure> = None;
        // The test whose failure made the grader start the server afresh.
        let mut restarted_after: Option<String> = None;
        for test in tests {
            let test_started = Instant::now();
            if self.skipped_for_time(test) {
                continue;
            }
            // A server that never started is one finding, on the test that
            // tried; the others say where to look, with no hint of their own.
            if let Some(failure) = &start_failure {
                let message = format!(
                    "Not run: your server did not start (see test `{}`).",
                    failure.test_id
                );
                self.record_not_run(test, message, failure.grader_environment);
                continue;
            }
            // A server that stopped serving after the last test (it exited,
            // or closed its listening socket) is started afresh for this one.
            if server.as_ref().is_some_and(|running| !running.serving()) {
                server
                    .take()
                    .expect("checked")
                    .stop(&mut run, &plan.workdir);
            }
            let fresh = server.is_none();
            if let Err(failure) = self.ensure_server(plan, &program, &mut server, &mut run) {
                start_failure = Some(self.record_start_failure(test, failure, test_started));
                continue;
            }
            let (mut result, mut transcript, mut ended) =
                self.run_server_test(test, plan, &mut server, &mut run);
            // A server that served earlier tests may have stopped serving just
            // before this one began, its exit not yet reported, and taken the
            // test's first request down with it. The test runs again on a
            // fresh server, so no verdict depends on that timing; a failure
            // the test itself causes simply happens again.
            if result.is_err() && ended.is_some() && !fresh {
                if let Err(failure) = self.ensure_server(plan, &program, &mut server, &mut run) {
                    start_failure = Some(self.record_start_failure(test, failure, test_started));
                    continue;
                }
                let again = self.run_server_test(test, plan, &mut server, &mut run);
                (result, transcript, ended) = again;
                transcript.insert(
                    0,
                    grader_note(
                        "the server had stopped serving during this test; the test was run again on a fresh server",
                    ),
                );
            } else if let Some(previous) = restarted_after.take().filter(|_| fresh) {
                transcript.insert(
                    0,
                    grader_note(format!(
                        "the server was started afresh for this test, because test `{previous}` failed: what went wrong there cannot spill into this one"
                    )),
                );
            }
            let died = ended
                .as_ref()
                .and_then(|end| Some((end.exit.clone()?, end)));
            let failed = result.is_err();
            let (outcome, hint) = match (result, died) {
                (Ok(()), _) => (Outcome::Pass, TestHint::Lab),
                (Err(mut failure), Some((exit, end))) => {
                    // The server's death explains the failure better than the reply does.
                    let stderr = scrub_paths(&end.stderr.last(4096), &plan.workdir);
                    let split = test
                        .steps
                        .iter()
                        .any(|step| matches!(step, Step::Send(send) if !send.segments.is_empty()));
                    let diagnosis = diagnose::exited_during(
                        "server",
                        &exit,
                        &stderr,
                        split,
                        &sent_bytes(&transcript),
                    );
                    failure.message = format!("{}\n{}", diagnosis.finding, failure.message);
                    failure.diagnosis = Some(diagnosis);
                    into_outcome(failure)
                }
                (Err(failure), None) => into_outcome(failure),
            };
            self.record(test, outcome, hint, transcript, test_started.elapsed());
            // One bug is charged once: a server that failed a test (it hung,
            // left a connection unanswered, or answered wrongly and may be
            // in a bad state) is stopped, and the next test starts it afresh.
            if failed {
                if let Some(running) = server.take() {
                    running.stop(&mut run, &plan.workdir);
                }
                restarted_after = Some(test.id.clone());
            }
        }
        if let Some(running) = server {
            running.stop(&mut run, &plan.workdir);
        }
        Some(run)
    }

    /// Starts the server if none is running.
    fn ensure_server(
        &mut self,
        plan: &Plan,
        program: &ProgramPlan,
        server: &mut Option<RunningServer>,
        run: &mut ProgramRun,
    ) -> Result<(), StepFailure> {
        if server.is_none() {
            run.starts += 1;
            *server = Some(self.start_server(plan, program, run)?);
        }
        Ok(())
    }

    /// Records the failure to start the server as `test`'s outcome and
    /// returns what the tests after it are told.
    fn record_start_failure(
        &mut self,
        test: &TestCase,
        failure: StepFailure,
        started: Instant,
    ) -> StartFailure {
        let grader_environment = failure.kind == FailureKind::Error;
        let (outcome, hint) = into_outcome(failure);
        self.record(test, outcome, hint, Vec::new(), started.elapsed());
        StartFailure {
            test_id: test.id.clone(),
            grader_environment,
        }
    }

    /// Runs one server test against the running server. A failure after which
    /// the server no longer serves stops it for good and returns how it ended,
    /// so its exit status and all of its output are known before the
    /// diagnosis. Whether it still serves is read from its sockets, which does
    /// not depend on how soon its exit is reported.
    fn run_server_test(
        &mut self,
        test: &TestCase,
        plan: &Plan,
        server: &mut Option<RunningServer>,
        run: &mut ProgramRun,
    ) -> (
        Result<(), StepFailure>,
        Vec<crate::outcome::TranscriptEntry>,
        Option<cell::ProgramEnd>,
    ) {
        let running = server.as_ref().expect("started before its tests");
        let timeout = test
            .timeout(&self.limits)
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let rng = crate::sentence::generator(self.options.seed, &test.id);
        let mut exchange = ServerExchange::new(
            &running.cell,
            running.port,
            crate::protocol::Protocol::named(self.lab.transform),
            rng,
            timeout,
        );
        let result = exchange.run(&test.steps);
        let transcript = exchange.into_transcript();
        let ended = match &result {
            Err(_) if !running.serving() => {
                running.process.wait_until(Instant::now() + EXIT_NOTICE);
                Some(server.take().expect("running").stop(run, &plan.workdir))
            }
            Ok(()) | Err(_) => None,
        };
        (result, transcript, ended)
    }

    fn start_server(
        &mut self,
        plan: &Plan,
        program: &ProgramPlan,
        run: &mut ProgramRun,
    ) -> Result<RunningServer, StepFailure> {
        let grader_error = |message: String| StepFailure {
            kind: FailureKind::Error,
            lab_hint_fits: true,
            message,
            diagnosis: None,
        };
        let cell = self.open_cell().map_err(grader_error)?;
        let (port, lock) = port_for(&cell, program, self.lab.port).map_err(grader_error)?;
        let (binary, args) = program.render(&cell::CELL_HOST.to_string(), port);
        let spec = SpawnSpec {
            program: binary,
            args,
            cwd: plan.workdir.clone(),
            env: self.environment(plan, port),
            stdin: None,
        };
        let mut waited_for_port = false;
        loop {
            let process = cell.spawn(&spec).map_err(|err| StepFailure {
                kind: FailureKind::Fail,
                lab_hint_fits: true,
                message: format!("Your server `{}` could not be started: {err}.", program.display),
                diagnosis: Some(Diagnosis::new(
                    HintKind::CannotStart,
                    format!("`{}` could not be started: {err}.", program.display),
                    "Check that the file exists and is executable, or give the command in socklab.toml.",
                )),
            })?;
            let ready_by = Instant::now() + Duration::from_millis(self.limits.readiness_ms);
            let readiness = readiness::wait(
                &cell,
                &process,
                self.lab.transport,
                &[port, self.lab.port],
                ready_by,
            );
            if let Readiness::Listening { port } = readiness {
                return Ok(RunningServer {
                    cell,
                    process,
                    port,
                    transport: self.lab.transport,
                    _lock: lock,
                });
            }
            // Stopped first: its exit and all it printed are then known.
            let end = cell.stop_all(process);
            let stderr = scrub_paths(&end.stderr.last(4096), &plan.workdir);
            let exit = end.exit.clone();
            record_end(run, end, &plan.workdir);
            // In the process tier the lab's port is the machine's: a connection
            // an earlier program on it left in TIME_WAIT keeps a server without
            // SO_REUSEADDR from binding it for up to a minute. Holding the port's
            // lock, the grader waits that out once rather than fail the student.
            if lock.is_some()
                && !waited_for_port
                && String::from_utf8_lossy(&stderr).contains("in use")
            {
                waited_for_port = true;
                if wait_for_time_wait(port, self.deadline) {
                    run.starts += 1;
                    continue;
                }
            }
            if let Some(Ending::NeverRan(never)) = exit
                .as_ref()
                .map(|exit| ending::classify(Some(exit), &stderr))
            {
                return Err(never_ran_failure(
                    "server",
                    &program.display,
                    never,
                    &stderr,
                ));
            }
            let diagnosis = match (readiness, exit) {
                (_, Some(exit)) => diagnose::exited("server", &exit, &stderr),
                (Readiness::WrongPort(bound), None) => {
                    diagnose::wrong_port(port, &bound, self.lab.transport)
                }
                (Readiness::Listening { .. } | Readiness::Exited(_) | Readiness::Silent, None) => {
                    let mut diagnosis = diagnose::wrong_port(port, &[], self.lab.transport);
                    diagnosis.finding = format!(
                        "Your server did not start listening on port {port} within {} ms.",
                        self.limits.readiness_ms
                    );
                    diagnosis
                }
            };
            return Err(StepFailure {
                kind: FailureKind::Fail,
                lab_hint_fits: true,
                message: diagnosis.finding.clone(),
                diagnosis: Some(diagnosis),
            });
        }
    }
}

/// Why a submission's build did not produce something to run.
enum BuildFailure {
    /// The student's build failed: the submission is not runnable.
    Failed(String),
    /// A tool the build runs is missing from the grading machine.
    MissingTool(String),
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

/// Waits until no TCP connection on `port` is in TIME_WAIT, or `deadline`.
/// Returns whether there had been any and they are gone.
fn wait_for_time_wait(port: u16, deadline: Instant) -> bool {
    const LONGEST: Duration = Duration::from_secs(65);
    let until = deadline.min(Instant::now() + LONGEST);
    if cell::procfs::time_waits(port) == 0 {
        return false;
    }
    while Instant::now() < until {
        if cell::procfs::time_waits(port) == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The port a program gets in `cell`, and the lock to hold while it runs.
pub(crate) fn port_for(
    cell: &Cell,
    program: &ProgramPlan,
    lab_port: u16,
) -> Result<(u16, Option<PortLock>), String> {
    match cell.tier() {
        // Every namespace cell has the whole port range to itself.
        Tier::Namespace => Ok((lab_port, None)),
        Tier::Process if program.port_aware() => cell::free_port()
            .map(|port| (port, None))
            .map_err(|err| format!("grader error: finding a free port: {err}")),
        // A command without {port} may hard-code the lab's port: it runs
        // alone on this machine, holding that port's lock.
        Tier::Process => PortLock::acquire(lab_port)
            .map(|lock| (lab_port, Some(lock)))
            .map_err(|err| format!("grader error: {err}")),
    }
}

pub(crate) fn into_outcome(failure: StepFailure) -> (Outcome, TestHint) {
    let hint = match failure.diagnosis {
        Some(diagnosis) => TestHint::Observed(diagnosis.into_hint()),
        None if failure.lab_hint_fits => TestHint::Lab,
        None => TestHint::Withheld,
    };
    let outcome = match failure.kind {
        FailureKind::Fail => Outcome::Fail {
            message: failure.message,
        },
        FailureKind::Timeout => Outcome::Timeout {
            message: failure.message,
        },
        FailureKind::Error => Outcome::Error {
            message: failure.message,
        },
    };
    (outcome, hint)
}

/// The failure of a program that never got to run its own code: one finding
/// for its part. A tool missing on the grading machine is the grader's
/// environment, never charged to the student.
pub(crate) fn never_ran_failure(
    program: &str,
    command: &str,
    never: NeverRan,
    stderr: &[u8],
) -> StepFailure {
    let tail = crate::escape::escape_lines(&stderr[stderr.len().saturating_sub(1024)..]);
    let stderr_part = if tail.trim().is_empty() {
        String::new()
    } else {
        format!(" The end of its stderr:\n{tail}")
    };
    let message = format!(
        "Your {program} `{command}` never ran. {}{stderr_part}",
        never.finding
    );
    match never.missing_tool {
        Some(_) => StepFailure {
            kind: FailureKind::Error,
            message: format!("{message}\n{}", never.hint),
            diagnosis: None,
            lab_hint_fits: false,
        },
        None => StepFailure {
            kind: FailureKind::Fail,
            message,
            diagnosis: Some(Diagnosis::new(
                HintKind::NeverRan,
                never.finding,
                never.hint,
            )),
            lab_hint_fits: false,
        },
    }
}

/// A server that could not be started, as the tests after it are told.
struct StartFailure {
    /// The test whose outcome says why.
    test_id: String,
    /// The grading machine lacked what the server needs.
    grader_environment: bool,
}

/// Everything the grader sent in a test, in order.
fn sent_bytes(transcript: &[crate::outcome::TranscriptEntry]) -> Vec<u8> {
    transcript
        .iter()
        .filter_map(|entry| match &entry.event {
            crate::outcome::TranscriptEvent::Sent(bytes) => Some(bytes.as_slice()),
            crate::outcome::TranscriptEvent::Received(_)
            | crate::outcome::TranscriptEvent::Note(_) => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// A note from the grader in a test's transcript.
pub(crate) fn grader_note(text: impl Into<String>) -> crate::outcome::TranscriptEntry {
    crate::outcome::TranscriptEntry {
        at: Duration::ZERO,
        channel: "grader".into(),
        event: crate::outcome::TranscriptEvent::Note(text.into()),
    }
}

/// A server that is up, with the cell it runs in.
struct RunningServer {
    cell: Cell,
    process: CellProcess,
    port: u16,
    transport: Transport,
    /// Held while a possibly hard-coded port is in use (process tier only).
    _lock: Option<PortLock>,
}

impl RunningServer {
    /// Whether it still runs and still listens where the tests reach it.
    fn serving(&self) -> bool {
        self.process.exit().is_none()
            && self
                .cell
                .listening_on(&self.process, self.transport, &[self.port])
                .is_some()
    }

    /// Stops it, keeps how it ended in `run`, and returns that.
    fn stop(self, run: &mut ProgramRun, workdir: &Path) -> cell::ProgramEnd {
        let end = self.cell.stop_all(self.process);
        record_end(run, end.clone(), workdir);
        end
    }
}

/// Keeps how a program's last run ended, and the tails of its output.
pub(crate) fn record_end(run: &mut ProgramRun, end: cell::ProgramEnd, workdir: &Path) {
    run.exit = end.exit;
    run.stdout_tail = scrub_paths(&end.stdout.last(2048), workdir);
    run.stderr_tail = scrub_paths(&end.stderr.last(2048), workdir);
}

/// How long a failed test waits for the exit of a server that stopped serving.
const EXIT_NOTICE: Duration = Duration::from_secs(1);

/// Removes the scratch directory from a program's output: Python prints
/// absolute paths in tracebacks, and `/tmp/socklab-x1y2z3/submission/` would
/// make every report different and tell the student nothing.
pub(crate) fn scrub_paths(bytes: &[u8], workdir: &Path) -> Vec<u8> {
    let prefix = format!("{}/", workdir.display());
    let prefix = prefix.as_bytes();
    let mut scrubbed = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest
        .windows(prefix.len())
        .position(|window| window == prefix)
    {
        scrubbed.extend_from_slice(&rest[..at]);
        rest = &rest[at + prefix.len()..];
    }
    scrubbed.extend_from_slice(rest);
    scrubbed
}
