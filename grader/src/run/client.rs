//! The client part of a submission: every client test in a cell of its
//! own, so a client that left something running cannot disturb the next.

use std::time::Instant;

use super::{Grading, program};
use crate::exchange::{Exchange, GaveUp, Setup, StudentClient, TestHint};
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
        for test in tests {
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
            if let Some(why) = self.client_test(test, plan, &program, &mut run, started) {
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
    ) -> Option<GaveUp> {
        let timeout = test
            .timeout(&self.limits)
            .min(self.deadline.saturating_duration_since(started));
        let cell = match self.open_cell() {
            Ok(cell) => cell,
            Err(message) => {
                let outcome = Outcome::Error { message };
                self.record(test, outcome, TestHint::Lab, Vec::new(), started.elapsed());
                return None;
            }
        };
        // Held until the test's record is made: the port stays this test's.
        let port = match program::choose_port(&cell, program, self.lab.port, false) {
            Ok(port) => port,
            Err(message) => {
                let outcome = Outcome::Error { message };
                self.record(test, outcome, TestHint::Lab, Vec::new(), started.elapsed());
                return None;
            }
        };
        let ended = Exchange::new(Setup {
            cell: &cell,
            protocol: self.lab.protocol,
            port: port.number,
            rng: crate::sentence::generator(self.options.seed, &test.id),
            started,
            deadline: started + timeout,
            client_closes_first: program::peer_lets_client_close_first(&cell),
            client: Some(StudentClient {
                spawn: program::spawn_spec(plan, program, port.number, false),
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
        self.record(test, outcome, hint, ended.transcript, started.elapsed());
        ended.gave_up
    }
}
