//! Building a submission that needs it (Cargo, javac, a C compiler), in a
//! cell of its own with room for a compiler.

use std::time::{Duration, Instant};

use super::{Grading, program};
use crate::cell::Cell;
use crate::conventions;
use crate::scratch::scrub_paths;
use crate::submission::{Plan, ProgramPlan};

impl Grading<'_> {
    pub(super) fn build(&mut self, plan: &Plan, build: &ProgramPlan) -> Result<(), BuildFailure> {
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
        let mut spec = program::spawn_spec(plan, build, self.lab.port, false);
        spec.env.push(("CARGO_TERM_COLOR".into(), "never".into()));
        let process = cell.spawn(&spec).map_err(|err| {
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
}

/// Why a submission's build did not produce something to run.
pub(super) enum BuildFailure {
    /// The student's build failed: the submission is not runnable.
    Failed(String),
    /// A tool the build runs is missing from the grading machine.
    MissingTool(String),
}
