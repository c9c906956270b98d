//! The checks of what the student's client did: what it printed, what the
//! grader-played peer received from it, and how it ended.

use super::client::{Around, ClientRoom};
use super::expect;
use super::failure::Failure;
use crate::diagnose::{self, shown, shown_or_nothing};
use crate::ending::{self, Ending};
use crate::hint::{Hint, HintKind};
use crate::lab::{ClientExpectation, Expectation, OutputStream};
use crate::protocol::{ClientCheck, ClientRunView, ClientSymptom, find, pinger};

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

    /// A check of the whole run that the lab's protocol makes (`check`).
    pub fn check(&self, around: &Around<'_>, check: ClientCheck) -> Result<(), Failure> {
        let ran = self.ran();
        // A check about how the client ends charges a crash first.
        if check == ClientCheck::Pinger(pinger::Check::Ends) {
            self.expect_no_crash()?;
        }
        let timeline = around
            .peer
            .map(|peer| peer.log().timeline)
            .unwrap_or_default();
        let checked = around.protocol.check_client(
            check,
            &ClientRunView {
                stdout: &ran.stdout,
                timeline: &timeline,
                ended: std::time::Instant::now(),
            },
        );
        for note in checked.notes {
            around.transcript.note(super::peer::PEER_CHANNEL, note);
        }
        let Some((message, mut hint)) = checked.failure else {
            return Ok(());
        };
        if around.nothing_arrived() {
            hint = self.where_it_sent(around, hint);
        }
        Err(Failure::with_hint(
            format!("{message}{}", self.output_summary()),
            Some(hint),
        ))
    }

    /// A hint for a client the grader's server never heard, completed with
    /// where the server listened and, in the process tier (which shares the
    /// machine's network and can redirect nothing), the addresses the
    /// client's source writes in, if any: the likeliest reason.
    fn where_it_sent(&self, around: &Around<'_>, hint: Hint) -> Hint {
        let engine = around.nothing_arrived_hint();
        let mut text = match hint.kind {
            HintKind::NothingArrived => engine.text,
            _ => hint.text,
        };
        let open = around.peer.is_some_and(|peer| peer.reach.any_address);
        if !open && around.cell.tier() == crate::cell::Tier::Process {
            let named = addresses_in_sources(self.workdir());
            if !named.is_empty() {
                let port = around.peer.map_or(0, |peer| peer.port);
                text = format!(
                    "Your client's source writes in {}, and nothing reached the grader's server, which listened on 127.0.0.1 port {port}. This grading shares the machine's network (the process tier), so what is sent to another address cannot be led to the grader: send to the host and port on the command line (sys.argv[1] and int(sys.argv[2])), or have it graded in the namespace tier, where every address reaches the grader.",
                    named.join(", ")
                );
            }
        }
        Hint::new(hint.kind, text)
    }
}

/// The IPv4 addresses written in the source files at the top of `workdir`
/// (not 127.x.x.x, 0.0.0.0 or broadcast): at most three, each once.
fn addresses_in_sources(workdir: &std::path::Path) -> Vec<String> {
    const SOURCES: &[&str] = &["py", "java", "c", "cc", "cpp", "go", "js", "rs"];
    let Ok(entries) = std::fs::read_dir(workdir) else {
        return Vec::new();
    };
    let pattern = regex::Regex::new(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b")
        .expect("a valid pattern");
    let mut found = Vec::new();
    for entry in entries.flatten().take(64) {
        let path = entry.path();
        let source = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| SOURCES.contains(&extension));
        let small = entry
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.len() <= 256 * 1024);
        if !source || !small {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        for address in pattern.captures_iter(&text) {
            let octets: Vec<u32> = (1..=4).filter_map(|at| address[at].parse().ok()).collect();
            let local = octets[0] == 127 || octets.iter().all(|octet| *octet == 0);
            let valid = octets.len() == 4 && octets.iter().all(|octet| *octet <= 255);
            let broadcast = octets.iter().all(|octet| *octet == 255);
            let shown = address[0].to_string();
            if valid && !local && !broadcast && !found.contains(&shown) && found.len() < 3 {
                found.push(shown);
            }
        }
    }
    found
}
