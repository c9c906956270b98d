//! Running the student's client in the test's cell, with the test's
//! standard input, and the checks of what it printed, sent and ended with.

use std::path::PathBuf;

use super::Clock;
use super::expect;
use super::failure::{self, Failure, FailureKind, TestHint};
use super::peer::{PEER_CHANNEL, Peer};
use super::transcript::Transcript;
use crate::cell::{Cell, ProgramEnd, SpawnSpec};
use crate::diagnose::{self, shown, shown_or_nothing};
use crate::ending::{self, Ending};
use crate::hint::{Hint, HintKind};
use crate::lab::{ClientExpectation, Expectation, OutputStream, PeerBehaviour};
use crate::outcome::ExitReport;
use crate::protocol::{ClientSymptom, Protocol, find};
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
struct ClientRun {
    exit: Option<ExitReport>,
    /// What it printed, without the scratch directory's path.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdin: Vec<u8>,
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
    fn nothing_arrived(&self) -> bool {
        self.peer.is_some_and(|peer| peer.log().received.is_empty())
    }
}

/// The hint when the grader's server heard nothing from the client.
fn nothing_arrived_hint() -> Hint {
    Hint::new(
        HintKind::NothingArrived,
        "Nothing reached the grader's server. Send to the host and port you were given (SOCKLAB_HOST and SOCKLAB_PORT, or {host}/{port} in your command; 127.0.0.1 and 12000 by default).",
    )
}

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

    fn ran(&self) -> &ClientRun {
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
                let hint = diagnose::stderr_hint(stderr).unwrap_or_else(nothing_arrived_hint);
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
        let hint = if silent_peer {
            Hint::new(
                HintKind::ClientWaitsForever,
                "Your client waits forever when no reply comes. Set a timeout before receiving (clientSocket.settimeout(2) in Python, set_read_timeout in Rust), then print an error and exit.",
            )
        } else if log.received.is_empty() {
            nothing_arrived_hint()
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

    fn output_summary(&self) -> String {
        let Some(ran) = &self.ran else {
            return String::new();
        };
        format!(
            "\n  stdout:   {}\n  stderr:   {}",
            shown_or_nothing(&ran.stdout),
            shown_or_nothing(&ran.stderr[ran.stderr.len().saturating_sub(400)..])
        )
    }

    pub fn expect_output(
        &self,
        around: &Around<'_>,
        stream: OutputStream,
        expectation: &ClientExpectation,
    ) -> Result<(), Failure> {
        let ran = self.ran();
        let output = match stream {
            OutputStream::Stdout => ran.stdout.clone(),
            OutputStream::Stderr => ran.stderr.clone(),
            OutputStream::Any => [ran.stdout.as_slice(), &ran.stderr].concat(),
        };
        let stream_name = match stream {
            OutputStream::Stdout => "standard output",
            OutputStream::Stderr => "standard error",
            OutputStream::Any => "output",
        };
        let replies = around
            .peer
            .map(|peer| peer.log().replies)
            .unwrap_or_default();
        let (ok, expected) =
            expect::output_matches(around.protocol, expectation, &output, &replies);
        if ok {
            return Ok(());
        }
        let printed_sent = {
            let sent = around.protocol.client_request(&ran.stdin);
            !sent.is_empty()
                && find(&output, &sent, 0).is_some()
                && matches!(expectation, ClientExpectation::Replies)
        };
        // What the client said on stderr (a stub's todo!(), a traceback)
        // explains more than what it failed to print.
        let told_by_stderr = diagnose::stderr_hint(&ran.stderr);
        let hint = if told_by_stderr.is_some() {
            told_by_stderr
        } else if around.nothing_arrived() {
            Some(nothing_arrived_hint())
        } else if printed_sent {
            Some(Hint::new(
                HintKind::ClientPrintedSent,
                "Your client printed the sentence it sent, not the server's reply. Print what recvfrom/recv returned (modifiedMessage.decode()).",
            ))
        } else {
            match expectation {
                ClientExpectation::Replies => around
                    .protocol
                    .client_hint(ClientSymptom::RepliesNotPrinted),
                ClientExpectation::Contains(_)
                | ClientExpectation::Regex(_)
                | ClientExpectation::Lacks(_) => None,
            }
        };
        let finding = match expectation {
            _ if printed_sent => {
                "Your client printed the sentence it sent instead of the server's reply."
                    .to_string()
            }
            ClientExpectation::Lacks(text) => {
                format!("Your client's {stream_name} contains {}.", shown(text))
            }
            ClientExpectation::Replies
            | ClientExpectation::Contains(_)
            | ClientExpectation::Regex(_) => {
                format!("Your client's {stream_name} does not contain {expected}.")
            }
        };
        Err(Failure::with_hint(
            format!(
                "{finding}\n  sent:     {} (standard input)\n  expected: {expected}\n  received: {}",
                shown(&ran.stdin),
                shown_or_nothing(&output)
            ),
            hint,
        ))
    }

    pub fn expect_sent(
        &self,
        around: &Around<'_>,
        expectation: &Expectation,
    ) -> Result<(), Failure> {
        let stdin = &self.ran().stdin;
        let received = around
            .peer
            .map(|peer| peer.log().received)
            .unwrap_or_default();
        let (ok, expected) = expect::sent_matches(around.protocol, expectation, stdin, &received);
        if ok {
            return Ok(());
        }
        let told_by_stderr = diagnose::stderr_hint(&self.ran().stderr);
        let hint = if let Some(hint) = told_by_stderr {
            hint
        } else if received.is_empty() {
            nothing_arrived_hint()
        } else if around.protocol.without_line_ending(&received)
            == around.protocol.client_request(stdin).as_slice()
        {
            Hint::new(
                HintKind::ClientSentNewline,
                "Your client sent the newline that input() would have removed: send the sentence without the trailing newline.",
            )
        } else {
            Hint::new(
                HintKind::ClientSentOther,
                "Send exactly the sentence read from standard input, encoded as UTF-8 (sentence.encode()).",
            )
        };
        Err(Failure::with_hint(
            format!(
                "What your client sent is not what it read.\n  sent:     {} (standard input)\n  expected: {expected} on the wire\n  received: {}",
                shown(stdin),
                shown_or_nothing(&received)
            ),
            Some(hint),
        ))
    }

    pub fn expect_exit(
        &self,
        around: &Around<'_>,
        code: Option<i32>,
        success: bool,
    ) -> Result<(), Failure> {
        let exit = self.ran().exit.as_ref();
        if expect::exit_matches(exit, code, success) {
            return Ok(());
        }
        let wanted = match code {
            Some(code) => format!("exit status {code}"),
            None if success => "a successful exit (status 0)".to_string(),
            None => "a failure exit status (not 0)".to_string(),
        };
        let got = exit.map_or("no exit".to_string(), |exit| exit.to_string());
        let hint = if around.nothing_arrived() && success {
            nothing_arrived_hint()
        } else if success {
            diagnose::stderr_hint(&self.ran().stderr)
                .unwrap_or_else(|| Hint::new(HintKind::ClientFailedAtEnd, "Your client should end normally after printing the reply: check for an exception at the end (see its stderr)."))
        } else {
            Hint::new(
                HintKind::ClientExitZeroOnError,
                "When the server does not answer, report the error and exit with a non-zero status (sys.exit(1) in Python).",
            )
        };
        Err(Failure::with_hint(
            format!(
                "Expected {wanted} but your client ended with {got}.{}",
                self.output_summary()
            ),
            Some(hint),
        ))
    }

    pub fn expect_no_crash(&self) -> Result<(), Failure> {
        let ran = self.ran();
        let Ending::Crashed(crash) = ending::classify(ran.exit.as_ref(), &ran.stderr) else {
            return Ok(());
        };
        let evidence = crash
            .evidence
            .as_deref()
            .map(|line| format!(" ({})", crate::escape::escape_lines(line.as_bytes())))
            .unwrap_or_default();
        Err(Failure::with_hint(
            format!(
                "Your client crashed with {}{evidence}. A crash is not an error message: the test wants your client to notice the problem and say so.",
                crash.what
            ),
            Some(Hint::new(
                HintKind::ClientCrashed,
                "Catch the error where it happens (try/except around the socket calls in Python, try/catch in Java, checking the return value in C), print a message that says what went wrong, and exit with a non-zero status.",
            )),
        ))
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
