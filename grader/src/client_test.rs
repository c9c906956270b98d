//! Client tests: the grader plays the server (a scripted peer in the cell),
//! runs the student's client with the test's standard input, and checks what
//! the client sent, printed and exited with.
//!
//! Each test gets its own cell, so a client that left something running cannot
//! disturb the next test.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cell::{self, Cell, PortLock, SpawnSpec};
use crate::diagnose::{self, shown, shown_or_nothing};
use crate::ending::{self, Ending};
use crate::hint::{Hint, HintKind};
use crate::lab::{
    ClientExpectation, Expectation, OutputStream, Part, PeerBehaviour, Step, Transport,
};
use crate::outcome::{ExitReport, Outcome, ProgramRun, TranscriptEntry, TranscriptEvent};
use crate::protocol::{AfterTurn, ClientSymptom, Protocol};
use crate::runner::{Grading, TestHint, never_ran_failure, port_for, record_end, scrub_paths};
use crate::submission::{Plan, ProgramPlan};

/// The hint when the grader's server heard nothing from the client.
fn nothing_arrived_hint() -> Hint {
    Hint::new(
        HintKind::NothingArrived,
        "Nothing reached the grader's server. Send to the host and port you were given (SOCKLAB_HOST and SOCKLAB_PORT, or {host}/{port} in your command; 127.0.0.1 and 12000 by default).",
    )
}

/// The transcript channel of the grader's server.
const PEER_CHANNEL: &str = "grader-server";

/// How often the peer's blocking calls wake to check whether the test ended.
const PEER_TICK: Duration = Duration::from_millis(10);

pub(crate) fn run_part(grading: &mut Grading<'_>, plan: &Plan) -> Option<ProgramRun> {
    let (tests, program) = grading.part_to_run(plan, Part::Client)?;
    let mut run = ProgramRun {
        command: program.display.clone(),
        ..ProgramRun::default()
    };
    // A client that never ran, or crashed before it sent anything, is one
    // finding: the tests after it say where to look instead of running it
    // again to collect the same failure under other names.
    let mut gave_up: Option<GaveUp> = None;
    for test in tests {
        let started = Instant::now();
        if grading.skipped_for_time(test) {
            continue;
        }
        if let Some(earlier) = &gave_up {
            let message = format!(
                "Not run: your client {} (see test `{}`).",
                earlier.why, earlier.test_id
            );
            grading.record_not_run(test, message, earlier.grader_environment);
            continue;
        }
        let timeout = test
            .timeout(&grading.limits)
            .min(grading.deadline.saturating_duration_since(started));
        let (outcome, hint, transcript) = match grading.open_cell() {
            Ok(cell) => {
                let mut client_test = ClientTest {
                    grading,
                    plan,
                    program: &program,
                    cell: &cell,
                    started,
                    deadline: started + timeout,
                    transcript: Arc::default(),
                    peer: None,
                    port: None,
                    ran: None,
                    run: &mut run,
                    gave_up: None,
                };
                let result = client_test.run_steps(&test.steps);
                let result = result.map_err(|failure| client_test.with_the_client(failure));
                gave_up = client_test
                    .gave_up
                    .take()
                    .map(|(why, grader_environment)| GaveUp {
                        test_id: test.id.clone(),
                        why,
                        grader_environment,
                    });
                let transcript = client_test.finish();
                let (outcome, hint) = match result {
                    Ok(()) => (Outcome::Pass, TestHint::Lab),
                    Err((outcome, hint)) => (outcome, hint),
                };
                (outcome, hint, transcript)
            }
            Err(message) => (Outcome::Error { message }, TestHint::Lab, Vec::new()),
        };
        grading.record(test, outcome, hint, transcript, started.elapsed());
    }
    Some(run)
}

/// Why the client part stopped being run, as the later tests are told.
struct GaveUp {
    test_id: String,
    /// "never ran", "crashed before it sent anything".
    why: String,
    /// The grading machine lacked what the client needs.
    grader_environment: bool,
}

type Failure = (Outcome, TestHint);

fn fail(message: String, hint: Option<Hint>) -> Failure {
    (Outcome::Fail { message }, TestHint::observed_or_lab(hint))
}

struct ClientRun {
    exit: Option<ExitReport>,
    /// What it printed, without the scratch directory's path.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdin: Vec<u8>,
}

struct ClientTest<'a, 'g> {
    grading: &'a Grading<'g>,
    plan: &'a Plan,
    program: &'a ProgramPlan,
    cell: &'a Cell,
    started: Instant,
    deadline: Instant,
    transcript: Arc<Mutex<Vec<TranscriptEntry>>>,
    peer: Option<Peer>,
    /// The port the client is told to use, and the lock that guards it.
    port: Option<(u16, Option<PortLock>)>,
    ran: Option<ClientRun>,
    run: &'a mut ProgramRun,
    /// Set when the client's part should not be run again (see `GaveUp`).
    gave_up: Option<(String, bool)>,
}

impl ClientTest<'_, '_> {
    fn port(&mut self) -> Result<u16, Failure> {
        if self.port.is_none() {
            let chosen = port_for(self.cell, self.program, self.grading.lab.port)
                .map_err(|message| (Outcome::Error { message }, TestHint::Lab))?;
            self.port = Some(chosen);
        }
        Ok(self.port.as_ref().expect("chosen above").0)
    }

    fn run_steps(&mut self, steps: &[Step]) -> Result<(), Failure> {
        for step in steps {
            match step {
                Step::Serve {
                    transport,
                    behaviour,
                } => self.serve(*transport, *behaviour)?,
                Step::RunClient { stdin } => self.run_client(stdin)?,
                Step::ExpectOutput {
                    stream,
                    expectation,
                } => self.expect_output(*stream, expectation)?,
                Step::ExpectSent(expectation) => self.expect_sent(expectation)?,
                Step::ExpectExit { code, success } => self.expect_exit(*code, *success)?,
                Step::ExpectNoCrash => self.expect_no_crash()?,
                Step::Pause { ms } => std::thread::sleep(
                    Duration::from_millis(*ms)
                        .min(self.deadline.saturating_duration_since(Instant::now())),
                ),
                Step::Open { .. }
                | Step::Send(_)
                | Step::ShutdownWrite { .. }
                | Step::Reset { .. }
                | Step::Close { .. }
                | Step::Expect { .. }
                | Step::ExpectSilence { .. }
                | Step::ExpectClosed { .. } => {
                    unreachable!("server steps are validated out of client tests")
                }
            }
        }
        Ok(())
    }

    fn serve(&mut self, transport: Transport, behaviour: PeerBehaviour) -> Result<(), Failure> {
        let port = self.port()?;
        let grader_error = |context: &str, err: std::io::Error| {
            (
                Outcome::Error {
                    message: format!("grader error: {context}: {err}"),
                },
                TestHint::Lab,
            )
        };
        if behaviour == PeerBehaviour::Absent {
            note(
                &self.transcript,
                self.started,
                format!("nothing listens on port {port}"),
            );
            return Ok(());
        }
        let socket = self
            .cell
            .socket(transport)
            .map_err(|err| grader_error("creating the grader's server socket", err))?;
        let _ = socket.set_reuse_address(true);
        socket
            .bind(&SocketAddr::new(cell::CELL_HOST, port).into())
            .map_err(|err| {
                grader_error(&format!("binding port {port} for the grader's server"), err)
            })?;
        let endpoint = match transport {
            Transport::Udp => Endpoint::Udp(UdpSocket::from(socket)),
            Transport::Tcp => {
                socket
                    .listen(16)
                    .map_err(|err| grader_error("listening", err))?;
                Endpoint::Tcp(TcpListener::from(socket))
            }
        };
        note(
            &self.transcript,
            self.started,
            format!(
                "the grader's {} server listens on port {port}",
                transport.as_str().to_uppercase()
            ),
        );
        self.peer = Some(Peer::start(
            endpoint,
            behaviour,
            Protocol::named(self.grading.lab.transform),
            Arc::clone(&self.transcript),
            self.started,
            // Only where the lab's port is the machine's does its TIME_WAIT matter.
            self.cell.tier() == cell::Tier::Process,
        ));
        Ok(())
    }

    fn run_client(&mut self, stdin: &[u8]) -> Result<(), Failure> {
        let port = self.port()?;
        let (program, args) = self.program.render(&cell::CELL_HOST.to_string(), port);
        let spec = SpawnSpec {
            program,
            args,
            cwd: self.plan.workdir.clone(),
            env: self.grading.environment(self.plan, port),
            stdin: Some(stdin.to_vec()),
        };
        self.run.starts += 1;
        note(
            &self.transcript,
            self.started,
            format!("started the client with standard input {}", shown(stdin)),
        );
        let process = self.cell.spawn(&spec).map_err(|err| {
            fail(
                format!("Your client `{}` could not be started: {err}.", self.program.display),
                Some(Hint::new(HintKind::CannotStart, "Check that the file exists and is executable, or give the command in socklab.toml.")),
            )
        })?;
        let exit = process.wait_until(self.deadline);
        let end = self.cell.stop_all(process);
        record_end(self.run, end.clone(), &self.plan.workdir);
        match &exit {
            Some(exit) => note(
                &self.transcript,
                self.started,
                format!("the client ended with {exit}"),
            ),
            None => note(
                &self.transcript,
                self.started,
                "the client was still running at the deadline and was stopped",
            ),
        }
        self.ran = Some(ClientRun {
            exit: exit.clone(),
            stdout: scrub_paths(&end.stdout.joined(), &self.plan.workdir),
            stderr: scrub_paths(&end.stderr.joined(), &self.plan.workdir),
            stdin: stdin.to_vec(),
        });
        match ending::classify(exit.as_ref(), &self.ran().stderr) {
            Ending::NeverRan(never) => {
                let failure =
                    never_ran_failure("client", &self.program.display, never, &self.ran().stderr);
                let grader_environment = failure.kind == crate::exchange::FailureKind::Error;
                self.gave_up = Some(("never ran".into(), grader_environment));
                return Err(crate::runner::into_outcome(failure));
            }
            Ending::Crashed(crash) if self.peer.is_some() && self.nothing_arrived() => {
                self.gave_up = Some(("crashed before it sent anything".into(), false));
                let evidence = crash
                    .evidence
                    .as_deref()
                    .map(|line| format!(" ({})", crate::escape::escape_lines(line.as_bytes())))
                    .unwrap_or_default();
                let hint =
                    diagnose::stderr_hint(&self.ran().stderr).unwrap_or_else(nothing_arrived_hint);
                return Err(fail(
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
            let allowed = (self.deadline - self.started).as_millis();
            let silent_peer = self.peer.as_ref().is_none_or(|peer| {
                matches!(
                    peer.behaviour,
                    PeerBehaviour::Silent | PeerBehaviour::Absent
                )
            });
            let log = self.peer.as_ref().map(Peer::log).unwrap_or_default();
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
                .then(|| self.protocol().client_hint(ClientSymptom::NothingToAnswer))
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
            return Err((
                Outcome::Timeout {
                    message: format!(
                        "Your client did not finish within the test's {allowed} ms; the grader stopped it.{exchange}{}",
                        self.output_summary()
                    ),
                },
                TestHint::Observed(hint),
            ));
        }
        Ok(())
    }

    /// Whether the grader's server was listening and heard nothing at all.
    fn nothing_arrived(&self) -> bool {
        self.peer
            .as_ref()
            .is_some_and(|peer| peer.log().received.is_empty())
    }

    fn protocol(&self) -> Protocol {
        Protocol::named(self.grading.lab.transform)
    }

    fn ran(&self) -> &ClientRun {
        self.ran
            .as_ref()
            .expect("validated: checks follow run_client")
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

    fn expect_output(
        &mut self,
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
        let replies = self
            .peer
            .as_ref()
            .map(|peer| peer.log().replies)
            .unwrap_or_default();
        let (ok, expected) = match expectation {
            ClientExpectation::Replies => {
                if replies.is_empty() {
                    (false, "the server's reply (but the client sent nothing the grader's server could answer)".to_string())
                } else {
                    let protocol = self.protocol();
                    let shown_replies: Vec<String> = replies
                        .iter()
                        .map(|reply| shown(protocol.printable_reply(reply)))
                        .collect();
                    (
                        protocol.printed_replies(&output, &replies),
                        format!("the reply {}", shown_replies.join(" then ")),
                    )
                }
            }
            ClientExpectation::Contains(text) => (
                crate::protocol::find(&output, text, 0).is_some(),
                format!("the text {}", shown(text)),
            ),
            ClientExpectation::Regex(regex) => (
                regex.is_match(&output),
                format!("a match for `{}`", regex.as_str()),
            ),
            ClientExpectation::Lacks(text) => (
                crate::protocol::find(&output, text, 0).is_none(),
                format!("no {}", shown(text)),
            ),
        };
        if ok {
            return Ok(());
        }
        let printed_sent = {
            let sent = self.protocol().client_request(&ran.stdin);
            !sent.is_empty()
                && crate::protocol::find(&output, &sent, 0).is_some()
                && matches!(expectation, ClientExpectation::Replies)
        };
        // What the client said on stderr (a stub's todo!(), a traceback)
        // explains more than what it failed to print.
        let told_by_stderr = diagnose::stderr_hint(&ran.stderr);
        let hint = if told_by_stderr.is_some() {
            told_by_stderr
        } else if self.nothing_arrived() {
            Some(nothing_arrived_hint())
        } else if printed_sent {
            Some(Hint::new(
                HintKind::ClientPrintedSent,
                "Your client printed the sentence it sent, not the server's reply. Print what recvfrom/recv returned (modifiedMessage.decode()).",
            ))
        } else if matches!(expectation, ClientExpectation::Replies) {
            self.protocol()
                .client_hint(ClientSymptom::RepliesNotPrinted)
        } else {
            None
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
        Err(fail(
            format!(
                "{finding}\n  sent:     {} (standard input)\n  expected: {expected}\n  received: {}",
                shown(&ran.stdin),
                shown_or_nothing(&output)
            ),
            hint,
        ))
    }

    fn expect_sent(&mut self, expectation: &Expectation) -> Result<(), Failure> {
        let protocol = self.protocol();
        let stdin = self.ran().stdin.clone();
        let received = self
            .peer
            .as_ref()
            .map(|peer| peer.log().received)
            .unwrap_or_default();
        let (ok, expected) = match expectation {
            Expectation::Reference => {
                let message = protocol.client_request(&stdin);
                (received == message, shown(&message))
            }
            Expectation::Exact(bytes) => (received == *bytes, shown(bytes)),
            Expectation::Regex(regex) => (
                regex.is_match(&received),
                format!("a match for `{}`", regex.as_str()),
            ),
            Expectation::Length(length) => (received.len() == *length, format!("{length} bytes")),
        };
        if ok {
            return Ok(());
        }
        let told_by_stderr = diagnose::stderr_hint(&self.ran().stderr);
        let hint = if let Some(hint) = told_by_stderr {
            hint
        } else if received.is_empty() {
            nothing_arrived_hint()
        } else if strip_newline(&received) == protocol.client_request(&stdin).as_slice() {
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
        Err(fail(
            format!(
                "What your client sent is not what it read.\n  sent:     {} (standard input)\n  expected: {expected} on the wire\n  received: {}",
                shown(&stdin),
                shown_or_nothing(&received)
            ),
            Some(hint),
        ))
    }

    fn expect_exit(&mut self, code: Option<i32>, success: bool) -> Result<(), Failure> {
        let exit = self.ran().exit.clone();
        let ok = match (&exit, code) {
            (Some(ExitReport::Code(actual)), Some(code)) => *actual == code,
            (Some(ExitReport::Code(actual)), None) => (*actual == 0) == success,
            (Some(ExitReport::Signal(_)), _) => !success && code.is_none(),
            (None, _) => false,
        };
        if ok {
            return Ok(());
        }
        let wanted = match code {
            Some(code) => format!("exit status {code}"),
            None if success => "a successful exit (status 0)".to_string(),
            None => "a failure exit status (not 0)".to_string(),
        };
        let got = exit.map_or("no exit".to_string(), |exit| exit.to_string());
        let hint = if self.nothing_arrived() && success {
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
        Err(fail(
            format!(
                "Expected {wanted} but your client ended with {got}.{}",
                self.output_summary()
            ),
            Some(hint),
        ))
    }

    fn expect_no_crash(&mut self) -> Result<(), Failure> {
        let ran = self.ran();
        let Ending::Crashed(crash) = ending::classify(ran.exit.as_ref(), &ran.stderr) else {
            return Ok(());
        };
        let evidence = crash
            .evidence
            .as_deref()
            .map(|line| format!(" ({})", crate::escape::escape_lines(line.as_bytes())))
            .unwrap_or_default();
        Err(fail(
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

    /// A failed client test always shows how the client ended and what it
    /// wrote on stderr: that is often the whole story (a host it could not
    /// find, an address it could not reach, an argument it never got).
    fn with_the_client(&self, (outcome, hint): Failure) -> Failure {
        let Some(ran) = &self.ran else {
            return (outcome, hint);
        };
        let add = |message: String| {
            let mut message = message;
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
            message
        };
        let outcome = match outcome {
            Outcome::Fail { message } => Outcome::Fail {
                message: add(message),
            },
            Outcome::Timeout { message } => Outcome::Timeout {
                message: add(message),
            },
            Outcome::Pass | Outcome::Skipped { .. } | Outcome::Error { .. } => outcome,
        };
        (outcome, hint)
    }

    fn finish(mut self) -> Vec<TranscriptEntry> {
        if let Some(peer) = self.peer.take() {
            peer.stop();
        }
        self.port = None;
        let transcript = self
            .transcript
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        transcript.clone()
    }
}

fn strip_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

fn note(transcript: &Mutex<Vec<TranscriptEntry>>, started: Instant, text: impl Into<String>) {
    record(transcript, started, TranscriptEvent::Note(text.into()));
}

fn record(transcript: &Mutex<Vec<TranscriptEntry>>, started: Instant, event: TranscriptEvent) {
    transcript
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(TranscriptEntry {
            at: started.elapsed(),
            channel: PEER_CHANNEL.into(),
            event,
        });
}

enum Endpoint {
    Udp(UdpSocket),
    Tcp(TcpListener),
}

#[derive(Clone, Default)]
struct PeerLog {
    /// Everything the client sent, in order.
    received: Vec<u8>,
    /// Every reply the peer sent, in order.
    replies: Vec<Vec<u8>>,
}

/// The grader's server for one client test, on a thread of its own.
struct Peer {
    behaviour: PeerBehaviour,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<PeerLog>>,
    thread: JoinHandle<()>,
}

impl Peer {
    fn start(
        endpoint: Endpoint,
        behaviour: PeerBehaviour,
        protocol: Protocol,
        transcript: Arc<Mutex<Vec<TranscriptEntry>>>,
        started: Instant,
        client_closes_first: bool,
    ) -> Peer {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(PeerLog::default()));
        let context = PeerContext {
            behaviour,
            protocol,
            stop: Arc::clone(&stop),
            log: Arc::clone(&log),
            transcript,
            started,
            client_closes_first,
        };
        let thread = std::thread::spawn(move || match endpoint {
            Endpoint::Udp(socket) => context.serve_udp(socket),
            Endpoint::Tcp(listener) => context.serve_tcp(listener),
        });
        Peer {
            behaviour,
            stop,
            log,
            thread,
        }
    }

    fn log(&self) -> PeerLog {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

struct PeerContext {
    /// Whether to let the client close a connection first (see
    /// `let_client_close_first`).
    client_closes_first: bool,
    behaviour: PeerBehaviour,
    protocol: Protocol,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<PeerLog>>,
    transcript: Arc<Mutex<Vec<TranscriptEntry>>>,
    started: Instant,
}

impl PeerContext {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Logs bytes from the client: a datagram (`stream: false`) is an entry
    /// of its own, stream bytes join the bytes received just before them.
    fn received(&self, bytes: &[u8], stream: bool) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .received
            .extend_from_slice(bytes);
        if stream {
            let mut transcript = self
                .transcript
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            crate::outcome::push_stream_bytes(
                &mut transcript,
                self.started.elapsed(),
                PEER_CHANNEL,
                bytes,
            );
        } else {
            record(
                &self.transcript,
                self.started,
                TranscriptEvent::Received(bytes.to_vec()),
            );
        }
    }

    /// The replies to send instead of a correct server's `reply`, per the
    /// behaviour, after any delay.
    fn replies_for(&self, reply: Vec<u8>) -> Vec<Vec<u8>> {
        match self.behaviour {
            PeerBehaviour::Reference => vec![reply],
            PeerBehaviour::Twice => vec![reply.clone(), reply],
            PeerBehaviour::Late(ms) => {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until && !self.stopping() {
                    std::thread::sleep(
                        PEER_TICK.min(until.saturating_duration_since(Instant::now())),
                    );
                }
                if self.stopping() {
                    Vec::new()
                } else {
                    vec![reply]
                }
            }
            PeerBehaviour::Silent | PeerBehaviour::CloseEarly | PeerBehaviour::Absent => Vec::new(),
        }
    }

    fn sent(&self, reply: &[u8]) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replies
            .push(reply.to_vec());
        record(
            &self.transcript,
            self.started,
            TranscriptEvent::Sent(reply.to_vec()),
        );
    }

    fn serve_udp(&self, socket: UdpSocket) {
        let _ = socket.set_read_timeout(Some(PEER_TICK));
        let mut buffer = vec![0u8; 65536];
        let mut script = self.protocol.peer();
        while !self.stopping() {
            let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            let request = buffer[..length].to_vec();
            self.received(&request, false);
            for reply in self.replies_for(script.on_datagram(&request)) {
                if socket.send_to(&reply, from).is_ok() {
                    self.sent(&reply);
                }
            }
        }
    }

    fn serve_tcp(&self, listener: TcpListener) {
        let _ = listener.set_nonblocking(true);
        while !self.stopping() {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    record(
                        &self.transcript,
                        self.started,
                        TranscriptEvent::Note("accepted a connection from the client".into()),
                    );
                    if self.behaviour == PeerBehaviour::CloseEarly {
                        record(
                            &self.transcript,
                            self.started,
                            TranscriptEvent::Note("closed it without reading".into()),
                        );
                        continue;
                    }
                    self.serve_connection(stream);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => std::thread::sleep(PEER_TICK),
                Err(_) => std::thread::sleep(PEER_TICK),
            }
        }
    }

    /// Waits briefly for the client to close first, so that the TIME_WAIT of
    /// the connection lands on the client's ephemeral port and not on the
    /// lab's port, which a later server without SO_REUSEADDR must bind again
    /// (this matters in the process tier, where the port is the machine's).
    fn let_client_close_first(&self, stream: &mut TcpStream) {
        const GRACE: Duration = Duration::from_millis(200);
        let until = Instant::now() + GRACE;
        let mut scratch = [0u8; 1024];
        while !self.stopping() && Instant::now() < until {
            match stream.read(&mut scratch) {
                // The client closed: closing now is the passive close.
                Ok(0) => return,
                // Bytes after the request are not part of the protocol; ignore them.
                Ok(_) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }

    /// Serves one connection as the lab's protocol scripts it.
    fn serve_connection(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(PEER_TICK));
        let mut script = self.protocol.peer();
        let greeting = script.on_connect();
        if !greeting.is_empty() && stream.write_all(&greeting).is_ok() {
            self.sent(&greeting);
        }
        let mut buffer = vec![0u8; 65536];
        while !self.stopping() {
            let length = match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(length) => length,
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(_) => break,
            };
            self.received(&buffer[..length], true);
            let turn = script.on_stream(&buffer[..length]);
            for reply in turn
                .reply
                .map(|reply| self.replies_for(reply))
                .unwrap_or_default()
            {
                if stream.write_all(&reply).is_ok() {
                    self.sent(&reply);
                }
            }
            match turn.then {
                AfterTurn::KeepReading => {}
                AfterTurn::Close => {
                    if self.client_closes_first {
                        self.let_client_close_first(&mut stream);
                    }
                    break;
                }
            }
        }
        record(
            &self.transcript,
            self.started,
            TranscriptEvent::Note("closed the connection".into()),
        );
    }
}
