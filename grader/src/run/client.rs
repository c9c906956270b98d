//! The client part of a submission: every client test in a cell of its
//! own, so a client that left something running cannot disturb the next.

use std::time::Instant;

use super::{Grading, program};
use crate::cell::{Cell, Tier};
use crate::exchange::{Exchange, GaveUp, PeerReach, Setup, StudentClient, TestHint, grader_note};
use crate::lab::{Part, TestCase};
use crate::outcome::{Outcome, ProgramRun};
use crate::submission::{Plan, ProgramPlan};

impl Grading<'_> {
    pub(super) fn client_part(&mut self, plan: &Plan) -> Option<ProgramRun> {
        let (tests, program) = self.part_to_run(plan, Part::Client)?;
        let mut run = ProgramRun {
            command: program.display.clone(),
            interpreter: crate::interpreter::described(&program.argv),
            ..ProgramRun::default()
        };
        // A client that never ran, or crashed before it sent anything, is one
        // finding: the tests after it say where to look instead of running it
        // again to collect the same failure under other names.
        let mut gave_up: Option<(String, GaveUp)> = None;
        for (index, test) in tests.iter().enumerate() {
            let started = Instant::now();
            if self.skipped_for_time(test) {
                continue;
            }
            if let Some((test_id, earlier)) = &gave_up {
                let message = format!(
                    "Not run: your client {} (see test `{test_id}`).",
                    earlier.why
                );
                self.record_not_run(test, message, earlier.grader_environment);
                continue;
            }
            // A test that needs an earlier one to pass (a mail delivered at
            // all) says where to look instead of failing for that again.
            if let Some(earlier) = self.failed_prerequisite(test) {
                let message =
                    format!("Not run: it needs what test `{earlier}` checks, which did not pass.");
                self.record_not_run(test, message, false);
                continue;
            }
            let more = index + 1 < tests.len();
            if let Some(why) = self.client_test(test, plan, &program, &mut run, started, more) {
                gave_up = Some((test.id.clone(), why));
            }
        }
        Some(run)
    }

    /// Runs one client test and records it; returns why the part should
    /// not be run again, if it should not.
    fn client_test(
        &mut self,
        test: &TestCase,
        plan: &Plan,
        program: &ProgramPlan,
        run: &mut ProgramRun,
        started: Instant,
        more_tests: bool,
    ) -> Option<GaveUp> {
        let timeout = test
            .timeout(&self.limits)
            .min(self.deadline.saturating_duration_since(started));
        let cell = match self.open_client_cell() {
            Ok(cell) => cell,
            Err(message) => {
                let outcome = Outcome::Error { message };
                self.record(test, outcome, TestHint::Lab, Vec::new(), started.elapsed());
                return None;
            }
        };
        let peer_reach = open_network_for_client(&cell, &self.lab.extra_ports);
        // Held until the test's record is made: the port stays this test's.
        let port = match program::choose_port(&cell, program, self.lab.port, false) {
            Ok(port) => port,
            Err(message) => {
                let outcome = Outcome::Error { message };
                self.record(test, outcome, TestHint::Lab, Vec::new(), started.elapsed());
                return None;
            }
        };
        let spawn = program::spawn_spec(plan, program, port.number, false);
        // Every client test has a cell of its own: the next one opens while
        // this one runs, with the client prepared where it is the same.
        if more_tests {
            let next = program::next_client_spec(&cell, plan, program, self.lab.port);
            self.open_client_cell_ahead(next);
        }
        let ended = Exchange::new(Setup {
            cell: &cell,
            protocol: self.lab.protocol,
            port: port.number,
            rng: crate::sentence::generator(self.options.seed, &test.id),
            started,
            deadline: started + timeout,
            client_closes_first: program::peer_lets_client_close_first(&cell),
            peer_reach,
            client: Some(StudentClient {
                spawn,
                display: program.display.clone(),
                workdir: plan.workdir.clone(),
            }),
            server: None,
        })
        .run(&test.steps);
        drop(port);
        run.starts += ended.client_starts;
        if let Some(end) = ended.client_end {
            program::record_end(run, end, &plan.workdir);
        }
        let (outcome, hint) = match ended.result {
            Ok(()) => (Outcome::Pass, TestHint::Lab),
            Err(failure) => failure.into_outcome(),
        };
        let mut transcript = ended.transcript;
        let names = cell.names_asked();
        if !names.is_empty() {
            // Every name resolves to the cell: say which ones the client used.
            transcript.insert(
                0,
                grader_note(format!(
                    "the client looked up {} (in this cell every name is the grader's address)",
                    names.join(", ")
                )),
            );
        }
        self.record(test, outcome, hint, transcript, started.elapsed());
        ended.gave_up
    }
}

/// Opens a namespace cell's network before its client starts, so that a
/// client which hard-codes the handout's host and port (`10.0.0.1`,
/// `smtp.gmail.com:587`) reaches the grader-played server as written. The
/// process tier shares the machine's network: nothing can be redirected
/// there, and the peer listens on the test's port of 127.0.0.1 only.
fn open_network_for_client(cell: &Cell, extra_ports: &[u16]) -> PeerReach {
    if cell.tier() != Tier::Namespace || cell.open_network().is_err() {
        return PeerReach::default();
    }
    PeerReach {
        any_address: true,
        extra_ports: extra_ports.to_vec(),
    }
}
