//! Lab definitions: scripted exchanges, as data.
//!
//! A lab file is TOML. [`load`] turns its text into a validated [`Lab`]; the
//! runner and the reporters only ever see the validated form, so nothing past
//! this module has to worry about a missing payload or an unknown socket name.

mod builtin;
pub mod files;
mod load;
mod step;

pub use builtin::{BUILTIN_LABS, builtin};
pub use load::{LabError, ORIGIN_PLACEHOLDER, digest, load_file, load_str, load_str_with};
pub use step::{
    Alphabet, ClientExpectation, Expectation, OutputStream, Payload, PeerBehaviour, Send,
    SmtpCheck, SmtpPlan, SocketName, Step, Transport,
};

use serde::{Deserialize, Serialize};

use crate::limits::LimitOverrides;
use crate::protocol::Protocol;

/// A validated lab: what is graded and how.
#[derive(Clone, Debug)]
pub struct Lab {
    pub name: String,
    pub title: String,
    /// Where the lab comes from in the textbook, e.g. `2.7.1`.
    pub textbook: Option<String>,
    /// The transport a bare `open` step uses.
    pub transport: Transport,
    /// What the lab's messages mean: the reference transform of a text lab,
    /// or HTTP over the lab's document root; expected replies come from it.
    pub protocol: Protocol,
    /// The server may listen on a port of its own choosing (`any_port`):
    /// the tests reach it on the one port it listens on. `port` is then the
    /// handout's example, what a program with `{port}` is told.
    pub any_port: bool,
    /// The port the handout asks for (the textbook's 12000).
    pub port: u16,
    /// Ports besides `port` that a client may hard-code; the grader-played
    /// server listens on them too where the cell's network is open.
    pub extra_ports: Vec<u16>,
    pub conventions: Conventions,
    pub limits: LimitOverrides,
    /// The tests of the assigned parts only: a part left out of the
    /// assignment (see [`Lab::unassigned`]) has no test here, so nothing
    /// downstream (runner, reporters, gradebook) runs or counts it.
    pub tests: Vec<TestCase>,
    /// The tests of the parts this assignment leaves out (`[lab] parts`, or
    /// `--part`), kept so that results can say what was not graded and
    /// `grader list` can show them; nothing grades them.
    pub left_out: Vec<TestCase>,
    /// The parts this assignment grades, server first: those with tests,
    /// less the ones left out. Kept apart from `tests`, which `--test` may
    /// narrow to one test of one part without changing the assignment.
    pub assigned: Vec<Part>,
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

    /// The parts this assignment grades, server first.
    pub fn parts(&self) -> Vec<Part> {
        self.assigned.clone()
    }

    /// This lab with only `parts` assigned: the other parts' tests are
    /// dropped, so they are neither run nor counted in any report or
    /// gradebook. The digest changes with the assignment, so a batch never
    /// reuses a result graded with other parts. An empty `parts` keeps the
    /// lab as it is; a part without tests here (the lab has none, or its
    /// lab file left it out) is refused, naming the parts there are.
    pub fn restricted_to(&self, parts: &[Part]) -> Result<Lab, PartError> {
        if parts.is_empty() {
            return Ok(self.clone());
        }
        if let Some(&missing) = parts.iter().find(|&&part| !self.has_part(part)) {
            return Err(PartError {
                lab: self.name.clone(),
                missing,
                available: self.parts(),
                left_out: self.left_out.iter().any(|test| test.part == missing),
            });
        }
        let mut restricted = self.clone();
        let (kept, dropped) = self
            .tests
            .iter()
            .cloned()
            .partition(|test| parts.contains(&test.part));
        restricted.tests = kept;
        restricted.assigned.retain(|part| parts.contains(part));
        restricted.left_out.extend::<Vec<TestCase>>(dropped);
        let assigned: Vec<&str> = restricted
            .parts()
            .iter()
            .map(|part| part.as_str())
            .collect();
        restricted.digest = format!(
            "fnv1a64:{:016x}",
            crate::sentence::stable_hash(&format!("{}|parts={}", self.digest, assigned.join(",")))
        );
        Ok(restricted)
    }

    /// The parts left out of this assignment, with the points their tests
    /// are worth, server first.
    pub fn unassigned(&self) -> Vec<(Part, u32)> {
        Part::ALL
            .into_iter()
            .filter_map(|part| {
                let tests: Vec<&TestCase> = self
                    .left_out
                    .iter()
                    .filter(|test| test.part == part)
                    .collect();
                (!tests.is_empty()).then(|| (part, tests.iter().map(|test| test.points).sum()))
            })
            .collect()
    }

    /// This lab with each hint worded for `language`: a test without a
    /// wording for it keeps the Python one, which the textbook's programs
    /// and most languages read alike.
    pub fn with_hints(mut self, language: HintLanguage) -> Lab {
        if let HintLanguage::Rust = language {
            for test in self.tests.iter_mut().chain(self.left_out.iter_mut()) {
                if let Some(rust) = &test.rust_hint {
                    test.hint = rust.clone();
                }
            }
        }
        self
    }

    /// This lab with only the tests `ids` (in the lab's order): `grader grade
    /// --test`, and a lab crate's `cargo test <name>`, which grades one test
    /// alone. An id the lab does not have is refused, naming those it has; an
    /// id of a part the assignment leaves out is simply not graded.
    pub fn only_tests(&self, ids: &[String]) -> Result<Lab, String> {
        if ids.is_empty() {
            return Ok(self.clone());
        }
        let known = |id: &String| {
            self.tests
                .iter()
                .chain(&self.left_out)
                .any(|test| &test.id == id)
        };
        if let Some(unknown) = ids.iter().find(|id| !known(id)) {
            let all: Vec<&str> = self
                .tests
                .iter()
                .chain(&self.left_out)
                .map(|test| test.id.as_str())
                .collect();
            return Err(format!(
                "--test {unknown}: lab `{}` has no such test; its tests are {}",
                self.name,
                all.join(", ")
            ));
        }
        let mut only = self.clone();
        only.tests.retain(|test| ids.contains(&test.id));
        only.digest = format!(
            "fnv1a64:{:016x}",
            crate::sentence::stable_hash(&format!("{}|tests={}", self.digest, ids.join(",")))
        );
        Ok(only)
    }

    /// What a result says when the assignment leaves a part out, e.g.
    /// "Assigned: the server only. The lab's client tests (4 points) are not
    /// part of this assignment and were not run."
    pub fn assignment_note(&self) -> Option<String> {
        let unassigned = self.unassigned();
        if unassigned.is_empty() {
            return None;
        }
        let assigned: Vec<&str> = self.parts().iter().map(|part| part.as_str()).collect();
        let left_out: Vec<String> = unassigned
            .iter()
            .map(|(part, points)| {
                format!(
                    "{} tests ({points} point{})",
                    part.as_str(),
                    plural(*points)
                )
            })
            .collect();
        Some(format!(
            "Assigned: the {} only. The lab's {} are not part of this assignment and were not run.",
            assigned.join(" and the "),
            left_out.join(" and ")
        ))
    }
}

fn plural(count: u32) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Which language a lab's hints are worded for (`--hints`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HintLanguage {
    /// The textbook's language, and the wording for every language without
    /// its own.
    #[default]
    Python,
    Rust,
}

/// A part asked for (`--part`, or `[lab] parts`) that the lab cannot grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartError {
    pub lab: String,
    pub missing: Part,
    /// The parts that can be assigned.
    pub available: Vec<Part>,
    /// The lab defines tests for the part, but its lab file leaves it out.
    pub left_out: bool,
}

impl std::fmt::Display for PartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let available: Vec<&str> = self.available.iter().map(|part| part.as_str()).collect();
        let why = if self.left_out {
            "its lab file assigns only"
        } else {
            "it has tests only for"
        };
        write!(
            f,
            "--part {}: lab `{}` cannot grade that part: {why} the {}",
            self.missing.as_str(),
            self.lab,
            available.join(" and the ")
        )
    }
}

impl std::error::Error for PartError {}

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
    /// Arguments given to a client found by its name (not a Cargo binary,
    /// not a command from `socklab.toml`): the handout's `MailClient.py
    /// HOST PORT` is `["{host}", "{port}"]`. Empty: none.
    pub client_args: Vec<String>,
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
    /// diagnosis applies: the wording for the language being graded (see
    /// [`Lab::with_hints`]); the textbook's Python wording until then.
    pub hint: String,
    /// The hint's wording for Rust programs (a lab crate), when the lab file
    /// gives one (`hint = { python = "…", rust = "…" }`).
    pub rust_hint: Option<String>,
    pub steps: Vec<Step>,
    /// Tests of the same part that must pass for this one to be worth
    /// running (`after = ["hello-page"]`): a server that cannot serve one
    /// page fails that test, and the tests that need a page say "Not run"
    /// instead of failing for the same reason again.
    pub after: Vec<String>,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Server,
    Client,
}

impl Part {
    /// Every part, in the order reports list them.
    pub const ALL: [Part; 2] = [Part::Server, Part::Client];

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
