//! Running the student's client in the test's cell, with the test's
//! standard input. The checks of what it printed, sent and ended with are
//! `client_checks.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Clock;
use super::failure::{self, Failure, FailureKind, TestHint};
use super::peer::{PEER_CHANNEL, Peer};
use super::transcript::Transcript;
use crate::cell::{Cell, ProgramEnd, SpawnSpec};
use crate::diagnose::{self, shown, shown_or_nothing};
use crate::ending::{self, Ending};
use crate::hint::{Hint, HintKind};
use crate::lab::PeerBehaviour;
use crate::outcome::ExitReport;
use crate::protocol::{ClientSymptom, Protocol};
use crate::scratch::scrub_paths;

/// The student's client as a test runs it: everything but standard input
/// is decided before the test (`run/program.rs`).
pub struct StudentClient {
    pub spawn: SpawnSpec,
    /// The command, as people read it.
    pub display: String,
    /// Removed from what it prints (see [`scrub_paths`]).
    pub workdir: PathBuf,
}

/// Why the client part should not be run again: the later tests say where
/// to look instead of collecting the same failure under other names.
#[derive(Clone, Debug)]
pub struct GaveUp {
    /// "never ran", "crashed before it sent anything".
    pub why: String,
    /// The grading machine lacked what the client needs.
    pub grader_environment: bool,
}

/// What one run of the client left.
pub(super) struct ClientRun {
    pub(super) exit: Option<ExitReport>,
    /// What it printed, without the scratch directory's path.
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    pub(super) stdin: Vec<u8>,
}

/// What the client checks read besides the client: the test's peer.
pub(super) struct Around<'x> {
    pub cell: &'x Cell,
    pub protocol: Protocol,
    pub clock: Clock,
    pub transcript: &'x Transcript,
    pub peer: Option<&'x Peer>,
}

impl Around<'_> {
    /// Whether the grader's server was listening and heard nothing at all.
    pub(super) fn nothing_arrived(&self) -> bool {
        self.peer.is_some_and(|peer| peer.log().received.is_empty())
    }

    /// Why a client that hard-codes another host cannot reach the grader
    /// here, when that is so: the cell shares the machine's network.
    fn why_not_redirected(&self) -> &'static str {
        if self.peer.is_some_and(|peer| peer.reach.any_address) {
            ""
        } else if self.cell.tier() == crate::cell::Tier::Process {
            " This grading shares the machine's network (the process tier), so a client that hard-codes another host (10.0.0.1, smtp.gmail.com) cannot be led to the grader; the namespace tier can."
        } else {
            ""
        }
    }

    /// A hint from the client's stderr, with why the grader could not
    /// redirect it when it names a host that could not be looked up or
    /// reached (a hard-coded one).
    pub(super) fn stderr_hint(&self, stderr: &[u8]) -> Option<Hint> {
        let mut hint = diagnose::stderr_hint(stderr)?;
        if matches!(hint.kind, HintKind::HostLookup | HintKind::Unreachable) {
            hint.text.push_str(self.why_not_redirected());
        }
        Some(hint)
    }

    /// The hint when the grader's server heard nothing from the client: where
    /// it listened, and, where the cell shares the machine's network, why a
    /// client that hard-codes another host cannot be redirected to it.
    pub(super) fn nothing_arrived_hint(&self) -> Hint {
        let listened = match self.peer {
            Some(peer) => format!(
                "Nothing reached the grader's server, which listened on {}.",
                peer.reach.describe(peer.port)
            ),
            None => "Nothing reached the grader's server.".to_string(),
        };
        let redirect = self.why_not_redirected();
        Hint::new(
            HintKind::NothingArrived,
            format!(
                "{listened} Send to the host and port you were given (SOCKLAB_HOST and SOCKLAB_PORT, or {{host}}/{{port}} in your command; 127.0.0.1 and 12000 by default).{redirect}"
            ),
        )
    }
}

/// How long a client's exit waits to be noted for the peer to finish the
/// connections the exit closed (it wakes at once; a peer holding a late
/// reply for a client that is gone is not waited for longer).
const PEER_SETTLES: Duration = Duration::from_millis(250);

/// The student's client within one test.
pub(super) struct ClientRoom {
    program: StudentClient,
    ran: Option<ClientRun>,
    pub starts: u32,
    /// How its last run ended, for the part's record.
    pub end: Option<ProgramEnd>,
    pub gave_up: Option<GaveUp>,
}

impl ClientRoom {
    pub fn new(program: StudentClient) -> ClientRoom {
        ClientRoom {
            program,
            ran: None,
            starts: 0,
            end: None,
            gave_up: None,
        }
    }

    /// Where the client runs: its copy of the submission.
    pub(super) fn workdir(&self) -> &std::path::Path {
        &self.program.workdir
    }

    pub(super) fn ran(&self) -> &ClientRun {
        self.ran
            .as_ref()
            .expect("validated: checks follow run_client")
    }

    /// Starts the client with `stdin` and waits for it to end, at most until
    /// the test's deadline.
    pub fn run(&mut self, around: &Around<'_>, stdin: &[u8]) -> Result<(), Failure> {
        let spec = SpawnSpec {
            stdin: Some(stdin.to_vec()),
            ..self.program.spawn.clone()
        };
        self.starts += 1;
        around.transcript.note(
            PEER_CHANNEL,
            format!("started the client with standard input {}", shown(stdin)),
        );
        let display = self.program.display.clone();
        let process = around.cell.spawn(&spec).map_err(|err| {
            Failure::with_hint(
                format!("Your client `{display}` could not be started: {err}."),
                Some(Hint::new(HintKind::CannotStart, "Check that the file exists and is executable, or give the command in socklab.toml.")),
            )
        })?;
        let exit = process.wait_until(around.clock.deadline);
        let end = around.cell.stop_all(process);
        // Its connections are closed now: the peer's notes of them come first.
        if let Some(peer) = around.peer {
            peer.wait_until_served(Instant::now() + PEER_SETTLES);
        }
        match &exit {
            Some(exit) => around
                .transcript
                .note(PEER_CHANNEL, format!("the client ended with {exit}")),
            None => around.transcript.note(
                PEER_CHANNEL,
                "the client was still running at the deadline and was stopped",
            ),
        }
        let workdir = &self.program.workdir;
        self.ran = Some(ClientRun {
            exit: exit.clone(),
            stdout: scrub_paths(&end.stdout.joined(), workdir),
            stderr: scrub_paths(&end.stderr.joined(), workdir),
            stdin: stdin.to_vec(),
        });
        self.end = Some(end);
        let stderr = &self.ran().stderr;
        match ending::classify(exit.as_ref(), stderr) {
            Ending::NeverRan(never) => {
                let failure = failure::never_ran("client", &display, never, stderr);
                self.gave_up = Some(GaveUp {
                    why: "never ran".into(),
                    grader_environment: failure.grader_environment(),
                });
                return Err(failure);
            }
            Ending::Crashed(crash) if around.peer.is_some() && around.nothing_arrived() => {
                let evidence = crash
                    .evidence
                    .as_deref()
                    .map(|line| format!(" ({})", crate::escape::escape_lines(line.as_bytes())))
                    .unwrap_or_default();
                let hint = around
                    .stderr_hint(stderr)
                    .unwrap_or_else(|| around.nothing_arrived_hint());
                self.gave_up = Some(GaveUp {
                    why: "crashed before it sent anything".into(),
                    grader_environment: false,
                });
                return Err(Failure::with_hint(
                    format!(
                        "Your client crashed with {}{evidence} before the grader's server received anything.",
                        crash.what
                    ),
                    Some(hint),
                ));
            }
            Ending::Crashed(_) | Ending::OnItsOwnTerms | Ending::Stopped => {}
        }
        if exit.is_none() {
            return Err(self.still_running(around));
        }
        Ok(())
    }

    /// The failure of a client the grader had to stop at the deadline.
    fn still_running(&self, around: &Around<'_>) -> Failure {
        let allowed = around.clock.allowed().as_millis();
        let silent_peer = around.peer.is_none_or(|peer| {
            matches!(
                peer.behaviour,
                PeerBehaviour::Silent | PeerBehaviour::Absent
            )
        });
        let log = around.peer.map(Peer::log).unwrap_or_default();
        let planned = around
            .peer
            .is_some_and(|peer| peer.behaviour == PeerBehaviour::Plan);
        let hint = if let Some(hint) = (planned && !log.received.is_empty())
            .then(|| around.protocol.client_hint(ClientSymptom::StillRunning))
            .flatten()
        {
            hint
        } else if silent_peer {
            Hint::new(
                HintKind::ClientWaitsForever,
                "Your client waits forever when no reply comes. Set a timeout before receiving (clientSocket.settimeout(2) in Python, set_read_timeout in Rust), then print an error and exit.",
            )
        } else if log.received.is_empty() {
            around.nothing_arrived_hint()
        } else if let Some(hint) = log
            .replies
            .is_empty()
            .then(|| around.protocol.client_hint(ClientSymptom::NothingToAnswer))
            .flatten()
        {
            hint
        } else {
            Hint::new(
                HintKind::ClientKeptRunning,
                "Your client kept running after the exchange. Close the socket and let the program end once the replies are printed.",
            )
        };
        let exchange = if silent_peer {
            String::new()
        } else {
            let replies = shown_or_nothing(&log.replies.concat());
            format!(
                "\n  the grader's server received {} and replied {replies}",
                shown_or_nothing(&log.received)
            )
        };
        Failure {
            kind: FailureKind::Timeout,
            message: format!(
                "Your client did not finish within the test's {allowed} ms; the grader stopped it.{exchange}{}",
                self.output_summary()
            ),
            hint: TestHint::Observed(hint),
        }
    }

    pub(super) fn output_summary(&self) -> String {
        let Some(ran) = &self.ran else {
            return String::new();
        };
        format!(
            "\n  stdout:   {}\n  stderr:   {}",
            shown_or_nothing(&ran.stdout),
            shown_or_nothing(&ran.stderr[ran.stderr.len().saturating_sub(400)..])
        )
    }

    /// A failed test in which the client ran always shows how the client
    /// ended and what it wrote on stderr: that is often the whole story (a
    /// host it could not find, an address it could not reach, an argument
    /// it never got).
    pub fn with_the_client(&self, mut failure: Failure) -> Failure {
        let Some(ran) = &self.ran else {
            return failure;
        };
        match failure.kind {
            FailureKind::Fail | FailureKind::Timeout => {}
            FailureKind::Error => return failure,
        }
        let message = &mut failure.message;
        if !message.contains("\n  exit:") && !message.contains("ended with") {
            let ended = ran
                .exit
                .as_ref()
                .map_or("stopped by the grader".to_string(), ToString::to_string);
            message.push_str(&format!("\n  exit:     {ended}"));
        }
        if !message.contains("\n  stderr:") {
            let tail = &ran.stderr[ran.stderr.len().saturating_sub(400)..];
            message.push_str(&format!("\n  stderr:   {}", shown_or_nothing(tail)));
        }
        failure
    }
}
