//! Running the steps of a server test against a started server.
//!
//! The exchange owns the grader's sockets for one test and a transcript of
//! everything sent and received. It never decides points: it returns `Ok` or
//! the first failure, and the runner turns that into an outcome.
//!
//! Waiting is always bounded by the test's deadline and always ends as soon as
//! the answer is known: a reply is compared byte by byte as it arrives, so a
//! correct reply completes the step at once and a wrong first byte fails it at
//! once, without waiting for a timeout either way.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::cell::{CELL_HOST, Cell};
use crate::diagnose::{Diagnosis, shown, shown_or_nothing};
use crate::hint::HintKind;
use crate::lab::{Expectation, Payload, Send, SocketName, Step, Transport};
use crate::outcome::{TranscriptEntry, TranscriptEvent};
use crate::protocol::{Judgement, Mismatch, Protocol};
use crate::sentence;

/// How a test step went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Fail,
    Timeout,
    /// The grader's own fault (e.g. it could not create a socket).
    Error,
}

#[derive(Clone, Debug)]
pub struct StepFailure {
    pub kind: FailureKind,
    pub message: String,
    pub diagnosis: Option<Diagnosis>,
    /// Whether the lab's hint for the test fits this failure when there is
    /// no diagnosis: it does for silence or a refused connection (the test
    /// is about exactly that), not for a reply that arrived wrong in a way
    /// nothing recognised, where only the facts are known to be true.
    pub lab_hint_fits: bool,
}

impl StepFailure {
    fn fail(message: String) -> StepFailure {
        StepFailure {
            kind: FailureKind::Fail,
            lab_hint_fits: true,
            message,
            diagnosis: None,
        }
    }

    fn grader(context: &str, err: std::io::Error) -> StepFailure {
        StepFailure {
            kind: FailureKind::Error,
            lab_hint_fits: true,
            message: format!("grader error: {context}: {err}"),
            diagnosis: None,
        }
    }
}

enum Conn {
    Tcp {
        stream: TcpStream,
        /// Bytes sent that no reply has answered yet.
        unanswered: Vec<u8>,
        /// Bytes received and not yet matched by an expectation.
        received: Vec<u8>,
        /// The server closed its side.
        at_eof: bool,
    },
    Udp {
        socket: UdpSocket,
        /// Datagrams sent that no reply has answered yet, oldest first.
        unanswered: VecDeque<Vec<u8>>,
    },
}

pub struct ServerExchange<'a> {
    cell: &'a Cell,
    target: SocketAddr,
    protocol: Protocol,
    rng: fastrand::Rng,
    started: Instant,
    deadline: Instant,
    sockets: HashMap<SocketName, Conn>,
    transcript: Vec<TranscriptEntry>,
}

/// Closes a connection without leaving the server's port in TIME_WAIT.
///
/// Whoever closes a TCP connection first keeps it in TIME_WAIT for a minute,
/// and a server without SO_REUSEADDR (the textbook's) cannot bind its port
/// again until then. When the server closed first, the grader answers with a
/// reset, which ends the connection on both sides at once; otherwise the
/// grader is the one to close first and the TIME_WAIT is on its own side.
fn close_quietly(conn: Conn) {
    let Conn::Tcp { stream, at_eof, .. } = conn else {
        return;
    };
    // The server may have closed after a reply no step read past: look.
    let server_closed = at_eof || {
        let _ = stream.set_nonblocking(true);
        matches!((&stream).read(&mut [0u8; 1]), Ok(0))
    };
    if server_closed {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
}

/// What one blocking read brought.
enum Read_ {
    Data(usize),
    Eof,
    Reset,
    TimedOut,
}

impl<'a> ServerExchange<'a> {
    pub fn new(
        cell: &'a Cell,
        port: u16,
        protocol: Protocol,
        rng: fastrand::Rng,
        timeout: Duration,
    ) -> ServerExchange<'a> {
        let started = Instant::now();
        ServerExchange {
            cell,
            target: SocketAddr::new(CELL_HOST, port),
            protocol,
            rng,
            started,
            deadline: started + timeout,
            sockets: HashMap::new(),
            transcript: Vec::new(),
        }
    }

    pub fn into_transcript(mut self) -> Vec<TranscriptEntry> {
        for (_, conn) in self.sockets.drain() {
            close_quietly(conn);
        }
        std::mem::take(&mut self.transcript)
    }

    pub fn run(&mut self, steps: &[Step]) -> Result<(), StepFailure> {
        for step in steps {
            self.step(step)?;
        }
        Ok(())
    }

    fn record(&mut self, channel: &str, event: TranscriptEvent) {
        self.transcript.push(TranscriptEntry {
            at: self.started.elapsed(),
            channel: channel.to_string(),
            event,
        });
    }

    fn note(&mut self, channel: &str, text: impl Into<String>) {
        self.record(channel, TranscriptEvent::Note(text.into()));
    }

    fn remaining(&self, within_ms: Option<u64>) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        within_ms.map_or(left, |ms| left.min(Duration::from_millis(ms)))
    }

    fn step(&mut self, step: &Step) -> Result<(), StepFailure> {
        match step {
            Step::Open { socket, transport } => self.open(socket, *transport),
            Step::Send(send) => self.send(send),
            Step::ShutdownWrite { socket } => {
                let Conn::Tcp { stream, .. } = self.conn(socket) else {
                    unreachable!("validated as TCP")
                };
                let result = stream.shutdown(Shutdown::Write);
                self.note(socket, "shut down the sending side (half-close)");
                result.map_err(|err| {
                    StepFailure::fail(format!("could not half-close the connection: {err}"))
                })
            }
            Step::Reset { socket } => {
                if let Some(Conn::Tcp { stream, .. }) = self.sockets.remove(socket) {
                    // Linger 0 makes close send RST instead of FIN.
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    drop(stream);
                }
                self.note(socket, "reset the connection (RST)");
                Ok(())
            }
            Step::Close { socket } => {
                if let Some(conn) = self.sockets.remove(socket) {
                    close_quietly(conn);
                }
                self.note(socket, "closed");
                Ok(())
            }
            Step::Expect {
                socket,
                expectation,
                within_ms,
            } => {
                let wait = self.remaining(*within_ms);
                self.expect(socket, expectation, wait)
            }
            Step::ExpectSilence { socket, ms } => {
                let wait = self.remaining(Some(*ms));
                self.expect_silence(socket, wait)
            }
            Step::ExpectClosed { socket } => {
                let wait = self.remaining(None);
                self.expect_closed(socket, wait)
            }
            Step::Pause { ms } => {
                // A pause the lab asks for, between two things the grader does;
                // never used to wait for the submission.
                std::thread::sleep(self.remaining(Some(*ms)));
                Ok(())
            }
            Step::Serve { .. }
            | Step::RunClient { .. }
            | Step::ExpectOutput { .. }
            | Step::ExpectSent(_)
            | Step::ExpectExit { .. }
            | Step::ExpectNoCrash => {
                unreachable!("client steps are validated out of server tests")
            }
        }
    }

    fn conn(&mut self, socket: &str) -> &mut Conn {
        self.sockets
            .get_mut(socket)
            .expect("sockets are validated to be opened first")
    }

    fn open(&mut self, name: &str, transport: Transport) -> Result<(), StepFailure> {
        let socket = self
            .cell
            .socket(transport)
            .map_err(|err| StepFailure::grader("creating a socket", err))?;
        let conn = match transport {
            Transport::Tcp => {
                let wait = self.remaining(None).max(Duration::from_millis(1));
                match socket.connect_timeout(&self.target.into(), wait) {
                    Ok(()) => {}
                    Err(err) => {
                        let message = match err.kind() {
                            ErrorKind::ConnectionRefused => format!(
                                "The grader could not connect to your server on port {}: the connection was refused, so nothing is listening there.",
                                self.target.port()
                            ),
                            ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
                                "The grader could not connect to your server on port {} within the time limit.",
                                self.target.port()
                            ),
                            _ => format!(
                                "The grader could not connect to your server on port {}: {err}.",
                                self.target.port()
                            ),
                        };
                        self.note(
                            name,
                            format!("connect to port {} failed: {err}", self.target.port()),
                        );
                        return Err(StepFailure::fail(message));
                    }
                }
                let stream = TcpStream::from(socket);
                // Each write goes out as its own segment, so split sends really split.
                let _ = stream.set_nodelay(true);
                self.note(name, format!("connected to port {}", self.target.port()));
                Conn::Tcp {
                    stream,
                    unanswered: Vec::new(),
                    received: Vec::new(),
                    at_eof: false,
                }
            }
            Transport::Udp => {
                socket
                    .bind(&SocketAddr::new(CELL_HOST, 0).into())
                    .map_err(|err| StepFailure::grader("binding a UDP socket", err))?;
                let socket = UdpSocket::from(socket);
                self.note(name, "opened a UDP socket");
                Conn::Udp {
                    socket,
                    unanswered: VecDeque::new(),
                }
            }
        };
        self.sockets.insert(name.to_string(), conn);
        Ok(())
    }

    fn payload(&mut self, send: &Send) -> Vec<u8> {
        let mut bytes = match &send.payload {
            Payload::Bytes(bytes) => bytes.clone(),
            Payload::Words { count, alphabet } => sentence::words(&mut self.rng, *count, *alphabet),
            Payload::Size(size) => sentence::filler(&mut self.rng, *size),
        };
        if send.newline {
            bytes.push(b'\n');
        }
        bytes
    }

    fn send(&mut self, send: &Send) -> Result<(), StepFailure> {
        let bytes = self.payload(send);
        let target = self.target;
        match self.conn(&send.socket) {
            Conn::Udp { socket, unanswered } => {
                let result = socket.send_to(&bytes, target);
                unanswered.push_back(bytes.clone());
                self.record(&send.socket, TranscriptEvent::Sent(bytes));
                result.map(drop).map_err(|err| {
                    StepFailure::fail(format!("Sending the datagram failed: {err}."))
                })
            }
            Conn::Tcp { .. } => {
                let mut rest = bytes.as_slice();
                let mut sizes = send.segments.iter().peekable();
                while !rest.is_empty() || sizes.peek().is_none() {
                    let size = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
                    let (segment, after) = rest.split_at(size);
                    let Conn::Tcp {
                        stream, unanswered, ..
                    } = self.conn(&send.socket)
                    else {
                        unreachable!()
                    };
                    let result = stream.write_all(segment);
                    unanswered.extend_from_slice(segment);
                    self.record(&send.socket, TranscriptEvent::Sent(segment.to_vec()));
                    if let Err(err) = result {
                        return Err(StepFailure::fail(format!(
                            "Sending to your server failed: {err}. Your server closed or reset the connection before reading everything."
                        )));
                    }
                    rest = after;
                    if rest.is_empty() {
                        break;
                    }
                    if send.pause_ms > 0 {
                        std::thread::sleep(self.remaining(Some(send.pause_ms)));
                    }
                }
                Ok(())
            }
        }
    }

    fn expect(
        &mut self,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), StepFailure> {
        match self.conn(name) {
            Conn::Udp { .. } => self.expect_datagram(name, expectation, wait),
            Conn::Tcp { .. } => self.expect_stream(name, expectation, wait),
        }
    }

    fn expect_datagram(
        &mut self,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), StepFailure> {
        let protocol = self.protocol;
        let target = self.target;
        let Conn::Udp { socket, unanswered } = self.conn(name) else {
            unreachable!()
        };
        let sent = unanswered.pop_front().unwrap_or_default();
        let mut buffer = vec![0u8; 65536];
        let deadline = Instant::now() + wait;
        let (length, from) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.mismatch(name, &sent, expectation, &[], true));
            }
            let _ = socket.set_read_timeout(Some(left));
            match socket.recv_from(&mut buffer) {
                Ok(got) => break got,
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(err) => {
                    return Err(StepFailure::fail(format!(
                        "Waiting for your server's reply failed: {err}. Is your server still running?"
                    )));
                }
            }
        };
        let reply = buffer[..length].to_vec();
        self.record(name, TranscriptEvent::Received(reply.clone()));
        if from != target {
            return Err(StepFailure {
                kind: FailureKind::Fail,
                lab_hint_fits: true,
                message: format!(
                    "A reply arrived from {from}, not from the server's address {target}.\n  received: {}",
                    shown(&reply)
                ),
                diagnosis: Some(Diagnosis::new(
                    HintKind::ReplyFromOtherSocket,
                    format!("The reply came from {from} instead of {target}."),
                    "Reply with the same socket the request arrived on: serverSocket.sendto(reply, clientAddress).",
                )),
            });
        }
        let matches = match expectation {
            Expectation::Reference => matches!(
                protocol.judge(&sent, &reply),
                Judgement::Match { length } if length == reply.len()
            ),
            Expectation::Exact(bytes) => reply == *bytes,
            Expectation::Regex(regex) => regex.is_match(&reply),
            Expectation::Length(length) => reply.len() == *length,
        };
        if matches {
            Ok(())
        } else {
            Err(self.mismatch(name, &sent, expectation, &reply, false))
        }
    }

    /// Reads one more chunk from a TCP connection, waiting at most `wait`.
    fn read_more(&mut self, name: &str, wait: Duration) -> Read_ {
        let Conn::Tcp {
            stream,
            received,
            at_eof,
            ..
        } = self.conn(name)
        else {
            unreachable!()
        };
        if *at_eof {
            return Read_::Eof;
        }
        if wait.is_zero() {
            return Read_::TimedOut;
        }
        let _ = stream.set_read_timeout(Some(wait));
        let mut buffer = [0u8; 16384];
        let outcome = match stream.read(&mut buffer) {
            Ok(0) => {
                *at_eof = true;
                Read_::Eof
            }
            Ok(length) => {
                received.extend_from_slice(&buffer[..length]);
                Read_::Data(length)
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read_::TimedOut
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => Read_::Data(0),
            Err(_) => {
                *at_eof = true;
                Read_::Reset
            }
        };
        match outcome {
            Read_::Data(length) if length > 0 => {
                let Conn::Tcp { received, .. } = self.conn(name) else {
                    unreachable!()
                };
                let chunk = received[received.len() - length..].to_vec();
                let at = self.started.elapsed();
                crate::outcome::push_stream_bytes(&mut self.transcript, at, name, &chunk);
            }
            Read_::Eof => self.note(name, "the server closed the connection"),
            Read_::Reset => self.note(name, "the server reset the connection"),
            _ => {}
        }
        outcome
    }

    fn expect_stream(
        &mut self,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), StepFailure> {
        let protocol = self.protocol;
        let deadline = Instant::now() + wait;
        let Conn::Tcp { unanswered, .. } = self.conn(name) else {
            unreachable!()
        };
        let consumed = match expectation {
            Expectation::Reference => protocol.request_length(unanswered),
            Expectation::Exact(_) | Expectation::Regex(_) | Expectation::Length(_) => {
                unanswered.len()
            }
        };
        let sent = unanswered[..consumed].to_vec();
        let expected: Option<Vec<u8>> = match expectation {
            Expectation::Reference => Some(protocol.reply_to(&sent)),
            Expectation::Exact(bytes) => Some(bytes.clone()),
            Expectation::Regex(_) => None,
            Expectation::Length(_) => None,
        };
        loop {
            let Conn::Tcp {
                received,
                unanswered,
                ..
            } = self.conn(name)
            else {
                unreachable!()
            };
            let done = match (expectation, &expected) {
                (_, Some(expected)) => {
                    let common = received.len().min(expected.len());
                    if received[..common] != expected[..common] {
                        let got = received.clone();
                        return Err(self.mismatch(name, &sent, expectation, &got, false));
                    }
                    (received.len() >= expected.len()).then_some(expected.len())
                }
                (Expectation::Regex(regex), None) => {
                    regex.is_match(received).then_some(received.len())
                }
                (Expectation::Length(length), None) => {
                    (received.len() >= *length).then_some(*length)
                }
                _ => unreachable!("expected bytes are known for exact expectations"),
            };
            if let Some(matched) = done {
                received.drain(..matched);
                unanswered.drain(..consumed);
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_more(name, left) {
                Read_::Data(_) => continue,
                Read_::TimedOut => {
                    let got = self.received(name);
                    return Err(self.mismatch(name, &sent, expectation, &got, true));
                }
                Read_::Eof | Read_::Reset => {
                    let got = self.received(name);
                    let mut failure = self.mismatch(name, &sent, expectation, &got, true);
                    failure.kind = FailureKind::Fail;
                    failure.message = format!(
                        "Your server closed the connection before the reply was complete.\n{}",
                        failure
                            .message
                            .split_once('\n')
                            .map_or("", |(_, details)| details)
                    );
                    return Err(failure);
                }
            }
        }
    }

    fn received(&mut self, name: &str) -> Vec<u8> {
        let Conn::Tcp { received, .. } = self.conn(name) else {
            unreachable!()
        };
        received.clone()
    }

    fn expect_silence(&mut self, name: &str, wait: Duration) -> Result<(), StepFailure> {
        match self.conn(name) {
            Conn::Udp { socket, .. } => {
                let mut buffer = vec![0u8; 65536];
                if wait.is_zero() {
                    return Ok(());
                }
                let _ = socket.set_read_timeout(Some(wait));
                match socket.recv_from(&mut buffer) {
                    Ok((length, _)) => {
                        let got = buffer[..length].to_vec();
                        self.record(name, TranscriptEvent::Received(got.clone()));
                        Err(StepFailure::fail(format!(
                            "Expected no reply yet, but your server sent {}.",
                            shown(&got)
                        )))
                    }
                    Err(_) => Ok(()),
                }
            }
            Conn::Tcp { .. } => {
                let before = self.received(name).len();
                match self.read_more(name, wait) {
                    Read_::Data(_) => {
                        let got = self.received(name)[before..].to_vec();
                        Err(StepFailure::fail(format!(
                            "Expected no reply yet, but your server sent {}.",
                            shown(&got)
                        )))
                    }
                    Read_::TimedOut | Read_::Eof | Read_::Reset => Ok(()),
                }
            }
        }
    }

    fn expect_closed(&mut self, name: &str, wait: Duration) -> Result<(), StepFailure> {
        let deadline = Instant::now() + wait;
        loop {
            let leftover = self.received(name);
            if !leftover.is_empty() {
                return Err(StepFailure {
                    kind: FailureKind::Fail,
                    lab_hint_fits: true,
                    message: format!(
                        "Expected your server to close the connection after its reply, but it sent more: {}.",
                        shown(&leftover)
                    ),
                    diagnosis: Some(Diagnosis::new(
                        HintKind::BytesAfterReply,
                        "Your server sent more bytes after the reply.",
                        "Send exactly one reply, with nothing (not even a newline) after it, then close the connection socket.",
                    )),
                });
            }
            match self.read_more(name, deadline.saturating_duration_since(Instant::now())) {
                Read_::Eof | Read_::Reset => return Ok(()),
                Read_::Data(_) => continue,
                Read_::TimedOut => {
                    return Err(StepFailure {
                        kind: FailureKind::Timeout,
                        lab_hint_fits: true,
                        message: "Your server did not close the connection after replying.".into(),
                        diagnosis: Some(Diagnosis::new(
                            HintKind::ConnectionLeftOpen,
                            "The connection stayed open after the reply.",
                            "Close the connection socket after sending the reply (connectionSocket.close()), then accept the next client.",
                        )),
                    });
                }
            }
        }
    }

    /// The failure for a reply that was not what was expected, with the
    /// sentence, what was sent, expected and received, and a diagnosis.
    fn mismatch(
        &self,
        name: &str,
        sent: &[u8],
        expectation: &Expectation,
        received: &[u8],
        timed_out: bool,
    ) -> StepFailure {
        let expected_text = match expectation {
            Expectation::Reference => shown(&self.protocol.reply_to(sent)),
            Expectation::Exact(bytes) => shown(bytes),
            Expectation::Regex(regex) => {
                format!("a reply matching the pattern `{}`", regex.as_str())
            }
            Expectation::Length(length) => format!("{length} bytes"),
        };
        let diagnosis = match expectation {
            Expectation::Reference | Expectation::Exact(_) => {
                let expected = match expectation {
                    Expectation::Exact(bytes) => bytes.clone(),
                    _ => self.protocol.reply_to(sent),
                };
                self.protocol.diagnose_reply(&Mismatch {
                    sent,
                    expected: &expected,
                    received,
                    timed_out,
                })
            }
            Expectation::Regex(_) | Expectation::Length(_) => None,
        };
        let allowed = (self.deadline - self.started).as_millis();
        let headline = match (&diagnosis, timed_out, received.is_empty()) {
            (Some(diagnosis), _, _) => diagnosis.finding.clone(),
            (None, true, true) => {
                format!("Your server did not reply within the test's {allowed} ms.")
            }
            (None, true, false) => {
                "Your server's reply was incomplete when the time ran out.".to_string()
            }
            (None, false, _) => format!(
                "Expected {expected_text} but your server replied {}.",
                shown(received)
            ),
        };
        let received_text = shown_or_nothing(received);
        StepFailure {
            kind: if timed_out && received.is_empty() {
                FailureKind::Timeout
            } else {
                FailureKind::Fail
            },
            // A pattern or a length is the test's own property, which its
            // hint is about; a reply that differs from the one expected in a
            // way nothing recognised is shown as facts alone.
            lab_hint_fits: received.is_empty()
                || match expectation {
                    Expectation::Regex(_) | Expectation::Length(_) => true,
                    Expectation::Reference | Expectation::Exact(_) => false,
                },
            message: format!(
                "{headline}\n  sent:     {} (on socket `{name}`)\n  expected: {expected_text}\n  received: {received_text}",
                shown(sent)
            ),
            diagnosis,
        }
    }
}
