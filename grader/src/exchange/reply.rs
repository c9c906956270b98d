//! Waiting for the student's server's reply and checking it: `expect`,
//! `expect_silence` and `expect_closed`, and the message for a reply that
//! was not the one expected.
//!
//! Waiting is always bounded by the test's deadline and always ends as soon
//! as the answer is known: a reply is judged as it arrives, so a correct
//! reply completes the step at once and a wrong first byte fails it at
//! once, without waiting for a timeout either way.

use std::time::{Duration, Instant};

use super::connection::{Connection, ReadResult, Sockets};
use super::expect;
use super::failure::{Failure, FailureKind, TestHint};
use crate::cell::CellProcess;
use crate::diagnose::{Diagnosis, shown, shown_or_nothing};
use crate::hint::HintKind;
use crate::lab::Expectation;
use crate::outcome::TranscriptEvent;
use crate::protocol::{Judgement, Mismatch, Protocol};

impl Sockets<'_> {
    pub(super) fn expect(
        &mut self,
        protocol: Protocol,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), Failure> {
        match self.get(name) {
            Connection::Udp { .. } => self.expect_datagram(protocol, name, expectation, wait),
            Connection::Tcp { .. } => self.expect_stream(protocol, name, expectation, wait),
        }
    }

    fn expect_datagram(
        &mut self,
        protocol: Protocol,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), Failure> {
        let target = self.target;
        let server = self.server;
        let Connection::Udp { socket, unanswered } = self.get(name) else {
            unreachable!("a UDP socket")
        };
        let sent = unanswered.pop_front().unwrap_or_default();
        let mut buffer = vec![0u8; 65536];
        let deadline = Instant::now() + wait;
        // A dead server sends nothing more, and UDP says nothing of it: its
        // exit wakes the wait, so a crash ends the test at once rather than
        // at its deadline. The verdict is the one the deadline would give
        // (no reply).
        let _woken = server.map(|server| server.wake_on_exit(&*socket));
        let (length, from) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.mismatch(protocol, name, &sent, expectation, &[], true));
            }
            if let Some(exit) = server.and_then(CellProcess::exit) {
                let mut failure = self.mismatch(protocol, name, &sent, expectation, &[], true);
                let details = failure
                    .message
                    .split_once('\n')
                    .map_or(String::new(), |(_, details)| details.to_string());
                failure.message =
                    format!("Your server ended ({exit}) before it replied.\n{details}");
                return Err(failure);
            }
            let _ = socket.set_read_timeout(Some(left));
            match crate::shut::recv_datagram(socket, &mut buffer) {
                Ok(Some(got)) => break got,
                // Woken by the server's exit: said above.
                Ok(None) => continue,
                Err(err) if super::woke_without_data(&err) => {
                    continue;
                }
                Err(err) => {
                    return Err(Failure::fail(format!(
                        "Waiting for your server's reply failed: {err}. Is your server still running?"
                    )));
                }
            }
        };
        let reply = buffer[..length].to_vec();
        self.transcript
            .record(name, TranscriptEvent::Received(reply.clone()));
        if from != target {
            return Err(Failure::diagnosed(
                FailureKind::Fail,
                format!(
                    "A reply arrived from {from}, not from the server's address {target}.\n  received: {}",
                    shown(&reply)
                ),
                Diagnosis::new(
                    HintKind::ReplyFromOtherSocket,
                    format!("The reply came from {from} instead of {target}."),
                    "Reply with the same socket the request arrived on: serverSocket.sendto(reply, clientAddress).",
                ),
            ));
        }
        if expect::datagram_matches(protocol, expectation, &sent, &reply) {
            Ok(())
        } else {
            Err(self.mismatch(protocol, name, &sent, expectation, &reply, false))
        }
    }

    fn expect_stream(
        &mut self,
        protocol: Protocol,
        name: &str,
        expectation: &Expectation,
        wait: Duration,
    ) -> Result<(), Failure> {
        let deadline = Instant::now() + wait;
        let Connection::Tcp { unanswered, .. } = self.get(name) else {
            unreachable!("a TCP socket")
        };
        let consumed = expect::request_length(protocol, expectation, unanswered);
        let sent = unanswered[..consumed].to_vec();
        loop {
            let Connection::Tcp {
                received,
                unanswered,
                ..
            } = self.get(name)
            else {
                unreachable!("a TCP socket")
            };
            match expect::judge_stream(protocol, expectation, &sent, received, false) {
                Judgement::Match { length } => {
                    received.drain(..length);
                    unanswered.drain(..consumed);
                    return Ok(());
                }
                Judgement::Mismatch => {
                    let got = received.clone();
                    return Err(self.mismatch(protocol, name, &sent, expectation, &got, false));
                }
                Judgement::Incomplete => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_more(name, left) {
                ReadResult::Data(_) => continue,
                ReadResult::TimedOut => {
                    let got = self.received(name);
                    return Err(self.mismatch(protocol, name, &sent, expectation, &got, true));
                }
                ReadResult::Eof | ReadResult::Reset => {
                    let got = self.received(name);
                    // A reply that ends with the connection (an HTTP
                    // response without a length) is complete only now.
                    if let Judgement::Match { length } =
                        expect::judge_stream(protocol, expectation, &sent, &got, true)
                    {
                        let Connection::Tcp {
                            received,
                            unanswered,
                            ..
                        } = self.get(name)
                        else {
                            unreachable!("a TCP socket")
                        };
                        received.drain(..length);
                        unanswered.drain(..consumed);
                        return Ok(());
                    }
                    let mut failure = self.mismatch(protocol, name, &sent, expectation, &got, true);
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

    pub(super) fn expect_silence(&mut self, name: &str, wait: Duration) -> Result<(), Failure> {
        let transcript = self.transcript.clone();
        match self.get(name) {
            Connection::Udp { socket, .. } => {
                let mut buffer = vec![0u8; 65536];
                if wait.is_zero() {
                    return Ok(());
                }
                let _ = socket.set_read_timeout(Some(wait));
                match crate::shut::recv_datagram(socket, &mut buffer) {
                    Ok(Some((length, _))) => {
                        let got = buffer[..length].to_vec();
                        transcript.record(name, TranscriptEvent::Received(got.clone()));
                        Err(Failure::fail(format!(
                            "Expected no reply yet, but your server sent {}.",
                            shown(&got)
                        )))
                    }
                    Ok(None) | Err(_) => Ok(()),
                }
            }
            Connection::Tcp { .. } => {
                let before = self.received(name).len();
                match self.read_more(name, wait) {
                    ReadResult::Data(_) => {
                        let got = self.received(name)[before..].to_vec();
                        Err(Failure::fail(format!(
                            "Expected no reply yet, but your server sent {}.",
                            shown(&got)
                        )))
                    }
                    ReadResult::TimedOut | ReadResult::Eof | ReadResult::Reset => Ok(()),
                }
            }
        }
    }

    pub(super) fn expect_closed(&mut self, name: &str, wait: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + wait;
        loop {
            let leftover = self.received(name);
            if !leftover.is_empty() {
                return Err(Failure::diagnosed(
                    FailureKind::Fail,
                    format!(
                        "Expected your server to close the connection after its reply, but it sent more: {}.",
                        shown(&leftover)
                    ),
                    Diagnosis::new(
                        HintKind::BytesAfterReply,
                        "Your server sent more bytes after the reply.",
                        "Send exactly one reply, with nothing (not even a newline) after it, then close the connection socket.",
                    ),
                ));
            }
            match self.read_more(name, deadline.saturating_duration_since(Instant::now())) {
                ReadResult::Eof | ReadResult::Reset => return Ok(()),
                ReadResult::Data(_) => continue,
                ReadResult::TimedOut => {
                    return Err(Failure::diagnosed(
                        FailureKind::Timeout,
                        "Your server did not close the connection after replying.".into(),
                        Diagnosis::new(
                            HintKind::ConnectionLeftOpen,
                            "The connection stayed open after the reply.",
                            "Close the connection socket after sending the reply (connectionSocket.close()), then accept the next client.",
                        ),
                    ));
                }
            }
        }
    }

    /// The failure for a reply that was not what was expected, with the
    /// sentence, what was sent, expected and received, and a diagnosis.
    fn mismatch(
        &self,
        protocol: Protocol,
        name: &str,
        sent: &[u8],
        expectation: &Expectation,
        received: &[u8],
        timed_out: bool,
    ) -> Failure {
        let expected_text = expect::describe_reply(protocol, expectation, sent);
        let diagnosis = expect::expected_bytes(protocol, expectation, sent).and_then(|expected| {
            protocol.diagnose_reply(&Mismatch {
                sent,
                expected: &expected,
                received,
                timed_out,
            })
        });
        let allowed = self.clock.allowed().as_millis();
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
        // A pattern or a length is the test's own property, which its hint
        // is about; a reply that differs from the one expected in a way
        // nothing recognised is shown as facts alone.
        let lab_hint_fits = received.is_empty()
            || match expectation {
                Expectation::Regex(_) | Expectation::Length(_) => true,
                Expectation::Reference | Expectation::Exact(_) => false,
            };
        let hint = match diagnosis {
            Some(diagnosis) => TestHint::Observed(diagnosis.into_hint()),
            None if lab_hint_fits => TestHint::Lab,
            None => TestHint::Withheld,
        };
        Failure {
            kind: if timed_out && received.is_empty() {
                FailureKind::Timeout
            } else {
                FailureKind::Fail
            },
            message: format!(
                "{headline}\n  sent:     {} (on socket `{name}`)\n  expected: {expected_text}\n  received: {}",
                shown(sent),
                shown_or_nothing(received)
            ),
            hint,
        }
    }
}
