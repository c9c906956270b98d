//! Lab definitions: scripted exchanges, as data.
//!
//! A lab file is TOML. [`load`] turns its text into a validated [`Lab`]; the
//! runner and the reporters only ever see the validated form, so nothing past
//! this module has to worry about a missing payload or an unknown socket name.

mod builtin;
mod load;
mod step;

pub use builtin::{BUILTIN_LABS, builtin};
pub use load::{LabError, digest, load_file, load_str};
pub use step::{
    Alphabet, ClientExpectation, Expectation, OutputStream, Payload, PeerBehaviour, Send,
    SocketName, Step, Transport,
};

use serde::{Deserialize, Serialize};

use crate::limits::LimitOverrides;
use crate::transform::TransformName;

/// A validated lab: what is graded and how.
#[derive(Clone, Debug)]
pub struct Lab {
    pub name: String,
    pub title: String,
    /// Where the lab comes from in the textbook, e.g. `2.7.1`.
    pub textbook: Option<String>,
    /// The transport a bare `open` step uses.
    pub transport: Transport,
    /// The reference transform expected replies are computed with.
    pub transform: TransformName,
    /// The port the handout asks for (the textbook's 12000).
    pub port: u16,
    pub conventions: Conventions,
    pub limits: LimitOverrides,
    pub tests: Vec<TestCase>,
    /// Where the definition was read from, for messages.
    pub source: String,
    /// A digest of what decides a grading (see [`load::digest`]): kept in
    /// every result, so that a batch reuses a result only for the lab
    /// definition it was graded with.
    pub digest: String,
}

impl Lab {
    pub fn max_score(&self) -> u32 {
        self.tests.iter().map(|test| test.points).sum()
    }

    pub fn has_part(&self, part: Part) -> bool {
        self.tests.iter().any(|test| test.part == part)
    }
}

/// How a submission without a manifest is recognised.
///
/// Names are language-neutral stems (`UDPServer`): a server in any language
/// the grader knows is recognised by them (`UDPServer.py`, `UDPServer.java`,
/// `UDPServer.c`, …; see `grader/src/conventions/`). `server_files` are the
/// exact Python file names run with `python3 -u` first; a lab file may give
/// either list and the loader derives the other.
#[derive(Clone, Debug, Default)]
pub struct Conventions {
    /// Conventional names of the server, without an extension, best first.
    pub server_names: Vec<String>,
    /// Conventional names of the client, without an extension, best first.
    pub client_names: Vec<String>,
    /// File names of a textbook-style server, run with `python3 -u`.
    pub server_files: Vec<String>,
    /// File names of a textbook-style client, run with `python3 -u`.
    pub client_files: Vec<String>,
    /// Binary names a Cargo package may build for the server; run with `--port {port}`.
    pub server_bins: Vec<String>,
    /// Binary names a Cargo package may build for the client; run with `--host {host} --port {port}`.
    pub client_bins: Vec<String>,
}

impl Conventions {
    /// The conventional names of `part`'s program, without an extension.
    pub fn names(&self, part: Part) -> &[String] {
        match part {
            Part::Server => &self.server_names,
            Part::Client => &self.client_names,
        }
    }

    /// The exact Python file names of `part`'s program.
    pub fn python_files(&self, part: Part) -> &[String] {
        match part {
            Part::Server => &self.server_files,
            Part::Client => &self.client_files,
        }
    }

    /// The binary names a Cargo package may build for `part`.
    pub fn cargo_bins(&self, part: Part) -> &[String] {
        match part {
            Part::Server => &self.server_bins,
            Part::Client => &self.client_bins,
        }
    }
}

/// One test of a lab.
#[derive(Clone, Debug)]
pub struct TestCase {
    pub id: String,
    pub name: String,
    pub part: Part,
    pub kind: Kind,
    pub points: u32,
    pub visibility: Visibility,
    /// How long the whole test may take, when the test sets it; otherwise the
    /// `test_ms` limit in force applies (see [`TestCase::timeout`]).
    pub timeout_ms: Option<u64>,
    /// The lab author's hint, shown when the test fails and no sharper
    /// diagnosis applies.
    pub hint: String,
    pub steps: Vec<Step>,
    /// 1-based line of the test in its lab file, for messages.
    pub line: usize,
}

impl TestCase {
    /// The test's own deadline, or the default from the limits in force.
    pub fn timeout(&self, limits: &crate::limits::Limits) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(limits.test_ms))
    }
}

/// Which program of the submission a test exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Server,
    Client,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Server => "server",
            Part::Client => "client",
        }
    }
}

/// Core tests check what the handout requires; robustness tests what a careful
/// programmer would also handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Core,
    Robustness,
}

/// Who may read a test's details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Visible,
    Hidden,
    AfterDueDate,
}
