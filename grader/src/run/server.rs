//! The server part of a submission: its lifecycle across the tests (start
//! in a fresh cell, readiness, restart after a failed test or when it
//! stopped serving, one retry on a fresh server), each test run through
//! the exchange engine.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Grading, program};
use crate::cell::{Cell, CellProcess, ProgramEnd};
use crate::diagnose::{self, Diagnosis};
use crate::ending::{self, Ending};
use crate::exchange::{
    Exchange, Failure, FailureKind, PeerReach, Setup, TestHint, grader_note, never_ran, sent_bytes,
};
use crate::hint::HintKind;
use crate::lab::{Part, Step, TestCase, Transport};
use crate::outcome::{Outcome, ProgramRun, TranscriptEntry};
use crate::readiness::{self, Readiness};
use crate::scratch::scrub_paths;
use crate::submission::{Plan, ProgramPlan};

impl Grading<'_> {
    pub(super) fn server_part(&mut self, plan: &Plan) -> Option<ProgramRun> {
        let (tests, program) = self.part_to_run(plan, Part::Server)?;
        let mut run = ProgramRun {
            command: program.display.clone(),
            interpreter: crate::interpreter::described(&program.argv),
            ..ProgramRun::default()
        };
        let mut server: Option<RunningServer> = None;
        let mut start_failure: Option<StartFailure> = None;
        // The test whose failure made the grader start the server afresh.
        let mut restarted_after: Option<String> = None;
        let client_tests_follow = plan.program(Part::Client).is_some()
            && self.lab.tests.iter().any(|test| test.part == Part::Client);
        for (index, test) in tests.iter().copied().enumerate() {
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
            // A test that needs an earlier one to pass (a page served at
            // all) says where to look instead of failing for that again.
            if let Some(earlier) = self.failed_prerequisite(test) {
                let message =
                    format!("Not run: it needs what test `{earlier}` checks, which did not pass.");
                self.record_not_run(test, message, false);
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
            let stderr_before = server
                .as_ref()
                .map_or(0, |running| running.process.stderr().total);
            // Whether a fresh server may be needed after this test: for the
            // run again below, or for the tests after it.
            let later_tests = index + 1 < tests.len() || client_tests_follow;
            let (mut result, mut transcript, mut ended) =
                self.run_server_test(test, plan, &mut server, &mut run, later_tests || !fresh);
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
                let again = self.run_server_test(test, plan, &mut server, &mut run, later_tests);
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
                    failure.hint = TestHint::Observed(diagnosis.into_hint());
                    failure.into_outcome()
                }
                (Err(mut failure), None) => {
                    // A server that kept running may have lost the thread
                    // that served the test: what it printed says why, when
                    // the protocol knows the error (a proxy's makefile). It
                    // is stopped now rather than after the record (it failed),
                    // once its threads are idle, so that all it printed is read.
                    let unexplained = !matches!(failure.hint, TestHint::Observed(_))
                        && self.lab.protocol.reads_server_stderr();
                    let running = if unexplained { server.take() } else { None };
                    let stderr = match running {
                        Some(running) => {
                            running.wait_until_idle(Instant::now() + EXIT_NOTICE);
                            let end = running.stop(&mut run, &plan.workdir);
                            let new = end.stderr.total.saturating_sub(stderr_before);
                            scrub_paths(&end.stderr.last(new.min(4096) as usize), &plan.workdir)
                        }
                        None => Vec::new(),
                    };
                    if let Some(diagnosis) = unexplained
                        .then(|| self.lab.protocol.diagnose_server_stderr(&stderr))
                        .flatten()
                    {
                        failure.message = format!(
                            "{}\n{}\n  stderr:   {}",
                            diagnosis.finding,
                            failure.message,
                            crate::diagnose::shown_or_nothing(&stderr)
                        );
                        failure.hint = TestHint::Observed(diagnosis.into_hint());
                    }
                    failure.into_outcome()
                }
            };
            self.record(test, outcome, hint, transcript, test_started.elapsed());
            // One bug is charged once: a server that failed a test (it hung,
            // left a connection unanswered, or answered wrongly and may be
            // in a bad state) is stopped, and the next test starts it afresh.
            if failed {
                // The fresh server's cell opens while this one is stopped.
                if later_tests {
                    self.open_cell_ahead();
                }
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
    ) -> Result<(), Failure> {
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
        failure: Failure,
        started: Instant,
    ) -> StartFailure {
        let grader_environment = failure.grader_environment();
        let (outcome, hint) = failure.into_outcome();
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
    /// not depend on how soon its exit is reported. With `restart_follows`,
    /// the cell of the server that will replace a stopped one opens while it
    /// is stopped.
    fn run_server_test(
        &mut self,
        test: &TestCase,
        plan: &Plan,
        server: &mut Option<RunningServer>,
        run: &mut ProgramRun,
        restart_follows: bool,
    ) -> (
        Result<(), Failure>,
        Vec<TranscriptEntry>,
        Option<ProgramEnd>,
    ) {
        let running = server.as_ref().expect("started before its tests");
        let timeout = test
            .timeout(&self.limits)
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let started = Instant::now();
        let ended = Exchange::new(Setup {
            cell: &running.cell,
            protocol: self.lab.protocol,
            port: running.port.number,
            rng: crate::sentence::generator(self.options.seed, &test.id),
            started,
            deadline: started + timeout,
            client_closes_first: program::peer_lets_client_close_first(&running.cell),
            peer_reach: PeerReach::default(),
            client: None,
            server: Some(&running.process),
        })
        .run(&test.steps);
        let (result, transcript) = (ended.result, ended.transcript);
        let ended = match &result {
            Err(_) if !running.serving() => {
                if restart_follows {
                    self.open_cell_ahead();
                }
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
    ) -> Result<RunningServer, Failure> {
        let cell = self.open_cell().map_err(Failure::grader_message)?;
        // The client tests that follow open a cell each: the first opens
        // while the server is tested, its client prepared where it can be.
        if let Some(client) = plan
            .program(Part::Client)
            .filter(|_| self.lab.tests.iter().any(|test| test.part == Part::Client))
        {
            let next = program::next_client_spec(&cell, plan, client, self.lab.port);
            self.open_client_cell_ahead(next);
        }
        // A server free to choose its port may choose 80, as a web server
        // does: a namespace cell's network lets its programs bind any port.
        // A proxy's origin listens on port 80 of every address, where host
        // names resolve to the cell. The process tier has nothing to open;
        // the port is the machine's.
        let origin = has_origin(&self.lab.tests);
        if (self.lab.any_port || origin) && cell.tier() == crate::cell::Tier::Namespace {
            let _ = cell.open_network();
        }
        let spec_port = program::choose_port(&cell, program, self.lab.port, self.lab.any_port)
            .map_err(Failure::grader_message)?;
        let mut spec = program::spawn_spec(plan, program, spec_port.number, self.lab.any_port);
        // A proxy connects to its origin, on a port of the origin's own.
        spec.any_tcp_port |= origin;
        let mut waited_for_port = false;
        loop {
            let process = cell.spawn(&spec).map_err(|err| {
                Failure::diagnosed(
                    FailureKind::Fail,
                    format!("Your server `{}` could not be started: {err}.", program.display),
                    Diagnosis::new(
                        HintKind::CannotStart,
                        format!("`{}` could not be started: {err}.", program.display),
                        "Check that the file exists and is executable, or give the command in socklab.toml.",
                    ),
                )
            })?;
            let ready_by = Instant::now() + Duration::from_millis(self.limits.readiness_ms);
            let readiness = if self.lab.any_port {
                readiness::wait_for_any_port(&cell, &process, self.lab.transport, ready_by)
            } else {
                readiness::wait(
                    &cell,
                    &process,
                    self.lab.transport,
                    &[spec_port.number, self.lab.port],
                    ready_by,
                )
            };
            if let Readiness::Listening { port } = readiness {
                if self.lab.any_port {
                    let note = format!(
                        "Your server listens on {} port {port}; the tests reached it there.",
                        self.lab.transport.as_str().to_uppercase()
                    );
                    if !self.notes.contains(&note) {
                        self.notes.push(note);
                    }
                }
                // The server may listen on the lab's port instead of the
                // one it was given: the tests reach it where it listens.
                return Ok(RunningServer {
                    cell,
                    process,
                    port: program::Port {
                        number: port,
                        lock: spec_port.lock,
                    },
                    transport: self.lab.transport,
                });
            }
            // Stopped first: its exit and all it printed are then known.
            let end = cell.stop_all(process);
            let stderr = scrub_paths(&end.stderr.last(4096), &plan.workdir);
            let exit = end.exit.clone();
            program::record_end(run, end, &plan.workdir);
            // In the process tier the lab's port is the machine's: a connection
            // an earlier program on it left in TIME_WAIT keeps a server without
            // SO_REUSEADDR from binding it for up to a minute. Holding the port's
            // lock, the grader waits that out once rather than fail the student.
            if program::may_wait_out_time_wait(&spec_port, &stderr, waited_for_port) {
                waited_for_port = true;
                if program::wait_for_time_wait(spec_port.number, self.deadline) {
                    run.starts += 1;
                    continue;
                }
            }
            if let Some(Ending::NeverRan(never)) = exit
                .as_ref()
                .map(|exit| ending::classify(Some(exit), &stderr))
            {
                return Err(never_ran("server", &program.display, never, &stderr));
            }
            let diagnosis = match (readiness, exit) {
                (_, Some(exit)) => diagnose::exited("server", &exit, &stderr),
                (Readiness::WrongPort(bound), None) if self.lab.any_port => {
                    diagnose::several_ports(&bound, self.lab.transport)
                }
                (Readiness::WrongPort(bound), None) => {
                    diagnose::wrong_port(spec_port.number, &bound, self.lab.transport)
                }
                (Readiness::Listening { .. } | Readiness::Exited(_) | Readiness::Silent, None) => {
                    let mut diagnosis =
                        diagnose::wrong_port(spec_port.number, &[], self.lab.transport);
                    diagnosis.finding = format!(
                        "Your server did not start listening on port {} within {} ms.",
                        spec_port.number, self.limits.readiness_ms
                    );
                    diagnosis
                }
            };
            return Err(Failure::diagnosed(
                FailureKind::Fail,
                diagnosis.finding.clone(),
                diagnosis,
            ));
        }
    }
}

/// A server that could not be started, as the tests after it are told.
struct StartFailure {
    /// The test whose outcome says why.
    test_id: String,
    /// The grading machine lacked what the server needs.
    grader_environment: bool,
}

/// A server that is up, with the cell it runs in.
struct RunningServer {
    cell: Cell,
    process: CellProcess,
    /// Where it listens; holds the lab port's lock in the process tier.
    port: program::Port,
    transport: Transport,
}

impl RunningServer {
    /// Whether it still runs and still listens where the tests reach it.
    fn serving(&self) -> bool {
        !self.process.has_ended()
            && self
                .cell
                .listening_on(&self.process, self.transport, &[self.port.number])
                .is_some()
    }

    /// Waits until every thread of its cell is asleep in the kernel (or
    /// `until`): a worker thread that died has then printed why.
    fn wait_until_idle(&self, until: Instant) {
        while Instant::now() < until && !self.cell.threads_settled(&self.process) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops it, keeps how it ended in `run`, and returns that.
    fn stop(self, run: &mut ProgramRun, workdir: &Path) -> ProgramEnd {
        let end = self.cell.stop_all(self.process);
        program::record_end(run, end.clone(), workdir);
        end
    }
}

/// Whether any server test plays an origin (a `serve` step): a proxy lab.
fn has_origin(tests: &[TestCase]) -> bool {
    tests.iter().any(|test| {
        test.part == Part::Server
            && test
                .steps
                .iter()
                .any(|step| matches!(step, Step::Serve { .. }))
    })
}

/// How long a failed test waits for the exit of a server that stopped serving.
const EXIT_NOTICE: Duration = Duration::from_secs(1);
