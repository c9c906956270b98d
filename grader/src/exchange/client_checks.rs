//! The checks of what the student's client did: what it printed, what the
//! grader-played peer received from it, and how it ended.

use super::client::{Around, ClientRoom};
use super::expect;
use super::failure::Failure;
use crate::diagnose::{self, shown, shown_or_nothing};
use crate::ending::{self, Ending};
use crate::hint::{Hint, HintKind};
use crate::lab::{ClientExpectation, Expectation, OutputStream};
use crate::protocol::{ClientSymptom, find};

impl ClientRoom {
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
            Some(around.nothing_arrived_hint())
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
            around.nothing_arrived_hint()
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

    /// An `expect_dialogue` step: the protocol's check of the dialogue the
    /// grader's server recorded.
    pub fn expect_dialogue(
        &self,
        around: &Around<'_>,
        check: crate::lab::SmtpCheck,
    ) -> Result<(), Failure> {
        let scripts = around
            .peer
            .map(|peer| peer.log().scripts)
            .unwrap_or_default();
        let Err((finding, hint)) = around.protocol.check_dialogue(check, &scripts) else {
            return Ok(());
        };
        // What the client said on stderr (a traceback, a host it could not
        // look up) explains a dialogue that never began better.
        let hint = if around.nothing_arrived() {
            around
                .stderr_hint(&self.ran().stderr)
                .or_else(|| Some(around.nothing_arrived_hint()))
        } else {
            hint.or_else(|| diagnose::stderr_hint(&self.ran().stderr))
        };
        Err(Failure::with_hint(
            format!("{finding}{}", self.output_summary()),
            hint,
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
            around.nothing_arrived_hint()
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
}
