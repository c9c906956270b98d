//! What to run for a submission, once it is planned: its programs' command
//! lines, where they run, and why a submission cannot run. The model that
//! `submission` (which finds the plan) and `conventions` (the rules it
//! applies) both speak, kept apart so that neither imports the other's
//! internals.

use std::path::{Path, PathBuf};

use crate::lab::Part;

/// A program to start; `{host}` and `{port}` in its arguments are filled in
/// when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramPlan {
    pub argv: Vec<String>,
    /// How the command is shown to people.
    pub display: String,
}

impl ProgramPlan {
    pub(crate) fn shell(command: &str) -> ProgramPlan {
        ProgramPlan {
            argv: vec!["/bin/sh".into(), "-c".into(), command.into()],
            display: command.to_string(),
        }
    }

    /// Whether the command takes its port from the grader. One that does not
    /// may hard-code the lab's port.
    pub fn port_aware(&self) -> bool {
        self.argv.iter().any(|arg| arg.contains("{port}"))
    }

    /// The program and its arguments with `{host}` and `{port}` filled in.
    pub fn render(&self, host: &str, port: u16) -> (PathBuf, Vec<String>) {
        let fill = |arg: &String| {
            arg.replace("{host}", host)
                .replace("{port}", &port.to_string())
        };
        let mut argv = self.argv.iter().map(fill);
        let program = PathBuf::from(argv.next().unwrap_or_default());
        (program, argv.collect())
    }
}

/// How to run a submission.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where its programs run: the scratch copy.
    pub workdir: PathBuf,
    /// A private temporary directory for its programs (their `TMPDIR`).
    pub tmp: PathBuf,
    /// Built before anything runs (`cargo build`, a manifest's `build`).
    pub build: Option<ProgramPlan>,
    pub server: Option<ProgramPlan>,
    pub client: Option<ProgramPlan>,
    /// Things worth telling the student, e.g. that the code looks like Python 2.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn program(&self, part: Part) -> Option<&ProgramPlan> {
        match part {
            Part::Server => self.server.as_ref(),
            Part::Client => self.client.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The grader was given something it cannot read (exit code 2).
    BadInput(String),
    /// A readable submission with nothing that can run; graded as zero.
    NotRunnable(String),
    /// The submission needs a compiler or interpreter the grading machine
    /// lacks: the grader's environment, reported as an error and never
    /// charged to the student (see `conventions::tools`).
    MissingTool(String),
}

/// A tell-tale sign of Python 2 source, if any.
pub fn python2_marker(source: &str) -> Option<&'static str> {
    for line in source.lines().map(str::trim_start) {
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("print \"") || line.starts_with("print '") || line == "print" {
            return Some("a print statement without parentheses");
        }
        if line.contains("raw_input(") {
            return Some("raw_input()");
        }
        if line.starts_with("except ")
            && line.contains(", ")
            && line.ends_with(':')
            && !line.contains('(')
        {
            return Some("`except Error, name:`");
        }
    }
    None
}

/// The real Python 3 interpreter, resolved once per grader process (see
/// [`crate::interpreter`]): version-manager shims on the PATH would add a
/// shell and a second process to every run.
pub fn python3() -> &'static Path {
    &crate::interpreter::python3().path
}
