//! The smtp-client lab's protocol: the grader plays a strict SMTP server
//! ([`socklab::smtp::Session`], the same state machine as the reference's
//! mail sink) against the student's client, and records the dialogue as it
//! sees it, so the checks can say what the client did, in order.
//!
//! What a test varies is its [`SmtpPlan`] (a `serve` step's `smtp` table):
//! how long the server waits before its greeting and its replies, whether
//! the hello reply has several lines sent one by one, whether every
//! recipient is refused, whether a line ended by a bare LF is taken. A
//! client that speaks while the server is still due to answer (before the
//! greeting, before a reply or its last line) is noted as such: the server
//! holds its replies exactly so that this can be seen, and a correct
//! client, which always waits, can never be charged with it.
//!
//! Checks (`expect_dialogue`, [`SmtpCheck`]) look at the dialogue, never at
//! the wording of the message: a client composing its own message, as the
//! handout's does, is judged on what it did. The diagnoses are
//! `smtp/diagnose.rs`.

mod diagnose;

use std::time::Duration;

use serde::Deserialize;
use socklab::smtp::{self, Behaviour, Session, Stage};

use super::{AfterTurn, PeerTurn};

pub use diagnose::{Finding, check};

/// How the grader's SMTP server behaves in one test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpPlan {
    /// Wait this long after accepting before the `220` greeting.
    #[serde(default)]
    pub greeting_ms: u64,
    /// Wait this long before every reply.
    #[serde(default)]
    pub reply_ms: u64,
    /// Answer HELO with a multi-line `250-` reply too (EHLO always gets one).
    #[serde(default)]
    pub multi_line: bool,
    /// Send a multi-line reply line by line, this long apart.
    #[serde(default)]
    pub line_ms: u64,
    /// Refuse every recipient with `550`.
    #[serde(default)]
    pub refuse_recipients: bool,
    /// Take a line ended by a bare LF as a line (a strict server answers
    /// it with `500`).
    #[serde(default)]
    pub accept_bare_lf: bool,
}

impl SmtpPlan {
    /// The numbers a lab file may bound, by name.
    pub fn durations(&self) -> [(&'static str, u64); 3] {
        [
            ("greeting_ms", self.greeting_ms),
            ("reply_ms", self.reply_ms),
            ("line_ms", self.line_ms),
        ]
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour {
            multi_line_hello: self.multi_line,
            refuse_every_recipient: self.refuse_recipients,
            accept_bare_lf: self.accept_bare_lf,
            ..Behaviour::default()
        }
    }
}

/// What an `expect_dialogue` step checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpCheck {
    /// The client waited for the greeting and for every reply (all its
    /// lines) before it spoke again, and said HELO or EHLO.
    Waits,
    /// A mail was delivered: HELO/EHLO, MAIL FROM, RCPT TO, DATA, the
    /// message and its end, each accepted.
    Delivered,
    /// After its mail the client said QUIT.
    Quits,
    /// Refused with `550` at RCPT TO, the client did not go on to send the
    /// message as if the recipient had been accepted.
    StopsAfterRefusal,
    /// The client spoke SMTP itself, not through a mail library (Python's
    /// `smtplib`), as the assignment asks: judged by what it sent.
    OwnDialogue,
}

/// One command the client sent (outside a message) and the server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The line as sent, without its line ending.
    pub line: String,
    /// Its verb in capitals (`MAIL`, `RCPT`).
    pub verb: String,
    /// The verb exactly as written (`mail`, `Mail`).
    pub verb_as_written: String,
    /// The line ended in a bare LF.
    pub bare_lf: bool,
    pub code: u16,
    /// The reply's first line.
    pub reply: String,
}

/// The client spoke while the server was still due to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Early {
    /// What the server had not finished sending: "the greeting", "the
    /// reply to MAIL FROM:<a@b>", "the last line of the reply to EHLO x".
    pub before: String,
    /// The first line the client sent meanwhile.
    pub line: String,
}

/// One connection's dialogue as the grader's server saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dialogue {
    pub commands: Vec<Command>,
    pub early: Vec<Early>,
    /// Mails accepted (the `250` after the message's end).
    pub delivered: Vec<smtp::Mail>,
    /// The message was begun (`354`) and not ended.
    pub in_message: bool,
    /// Lines of the message received so far, all mails together.
    pub message_lines: usize,
    /// The first bytes looked like a TLS handshake (`SMTP_SSL`, port 465).
    pub tls_handshake: bool,
}

impl Dialogue {
    /// Whether the client said QUIT.
    pub fn quit(&self) -> bool {
        self.commands.iter().any(|command| command.verb == "QUIT")
    }

    /// The first command refused with a code of 500 or above, if any.
    pub fn first_refusal(&self) -> Option<&Command> {
        self.commands.iter().find(|command| command.code >= 500)
    }
}

/// The grader's SMTP server for one connection.
#[derive(Clone, Debug)]
pub struct SmtpPeer {
    plan: SmtpPlan,
    session: Session,
    /// Bytes of a line not yet complete.
    pending: Vec<u8>,
    /// What the server is due to send and has not yet finished sending.
    awaiting: Option<String>,
    pub dialogue: Dialogue,
    notes: Vec<String>,
    heard_anything: bool,
}

impl SmtpPeer {
    pub fn new(plan: SmtpPlan) -> SmtpPeer {
        let mut notes = Vec::new();
        if plan.refuse_recipients {
            notes.push("in this test the grader's server refuses every recipient with 550".into());
        }
        SmtpPeer {
            plan,
            session: Session::new(plan.behaviour()),
            pending: Vec::new(),
            awaiting: None,
            dialogue: Dialogue::default(),
            notes,
            heard_anything: false,
        }
    }

    /// The `220` greeting, sent after the plan's pause.
    pub fn on_connect(&mut self) -> Vec<u8> {
        self.awaiting = Some("the greeting".into());
        smtp::greeting().to_bytes()
    }

    /// How long to wait before the greeting.
    pub fn greeting_pause(&self) -> Duration {
        Duration::from_millis(self.plan.greeting_ms)
    }

    /// How long to wait before each reply, and between the lines of a
    /// multi-line one.
    pub fn reply_pace(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.plan.reply_ms),
            Duration::from_millis(self.plan.line_ms),
        )
    }

    /// Bytes that arrived while the server was holding (or still sending)
    /// its reply. `before_last_line` says the reply's first lines had gone.
    pub fn heard_early(&mut self, bytes: &[u8], before_last_line: bool) {
        if !self.heard_anything && bytes.starts_with(&TLS_RECORD) {
            // A TLS handshake, which `on_stream` names: not a line said
            // too soon.
            return;
        }
        let Some(awaiting) = &self.awaiting else {
            return;
        };
        let before = if before_last_line {
            format!("the last line of {awaiting}")
        } else {
            awaiting.clone()
        };
        self.record_early(before, bytes);
    }

    fn record_early(&mut self, before: String, bytes: &[u8]) {
        if self
            .dialogue
            .early
            .iter()
            .any(|early| early.before == before)
        {
            return;
        }
        let line = first_line(bytes);
        self.notes.push(format!(
            "the client sent {} before {before} had been sent",
            quoted(&line)
        ));
        self.dialogue.early.push(Early { before, line });
    }

    /// What the server does with bytes from the client: the replies to
    /// every complete line, in order.
    pub fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        // Whatever was due has been sent by now.
        self.awaiting = None;
        if !self.heard_anything && !bytes.is_empty() {
            self.heard_anything = true;
            // A TLS record starts with 0x16 0x03: SMTP_SSL, or port 465.
            if bytes.starts_with(&TLS_RECORD) {
                self.dialogue.tls_handshake = true;
                self.notes.push(
                    "the client began a TLS handshake; the grader's server speaks plain SMTP"
                        .into(),
                );
                return PeerTurn {
                    reply: None,
                    then: AfterTurn::Close,
                };
            }
        }
        self.pending.extend_from_slice(bytes);
        let mut replies = Vec::new();
        let mut answered: Option<String> = None;
        let mut then = AfterTurn::KeepReading;
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(answered) = &answered {
                // Two commands in one piece: the second was sent before the
                // reply to the first.
                let before = format!("the reply to {answered}");
                self.record_early(before, &line);
            }
            let stage = self.session.stage;
            let delivered = self.session.delivered.len();
            let reply = self.session.on_line(&line);
            if stage == Stage::Message && reply.is_none() {
                self.dialogue.message_lines += 1;
                continue;
            }
            let Some(reply) = reply else {
                continue;
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            let bare_lf = !line.ends_with(b"\r\n");
            let content = text.trim_end_matches(['\r', '\n']).to_owned();
            if stage == Stage::Message {
                if let Some(mail) = self.session.delivered.get(delivered) {
                    self.notes.push(format!(
                        "mail delivered: from <{}> to <{}>, {} bytes of message",
                        mail.from,
                        mail.to.join(">, <"),
                        mail.message.len()
                    ));
                    self.dialogue.delivered.push(mail.clone());
                }
            }
            let verb_as_written = if stage == Stage::Message {
                content.clone()
            } else {
                content.split(' ').next().unwrap_or_default().to_owned()
            };
            self.dialogue.commands.push(Command {
                verb: verb_as_written.to_ascii_uppercase(),
                verb_as_written,
                line: content.clone(),
                bare_lf,
                code: reply.code,
                reply: reply.lines.first().cloned().unwrap_or_default(),
            });
            replies.extend_from_slice(&reply.to_bytes());
            answered = Some(shorten(&content));
            if self.session.stage == Stage::Closed {
                then = AfterTurn::Close;
                break;
            }
        }
        self.dialogue.in_message = self.session.stage == Stage::Message;
        if let Some(answered) = answered {
            self.awaiting = Some(format!("the reply to {answered}"));
        }
        PeerTurn {
            reply: (!replies.is_empty()).then_some(replies),
            then,
        }
    }

    /// Notes for the transcript since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

/// How a TLS record (a ClientHello) begins.
const TLS_RECORD: [u8; 2] = [0x16, 0x03];

/// The first line of `bytes`, without its ending, for a message.
fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(bytes.len());
    shorten(String::from_utf8_lossy(&bytes[..end]).trim_end_matches('\r'))
}

/// A line as a message names it: at most 60 characters.
fn shorten(line: &str) -> String {
    let mut short: String = line.chars().take(60).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// A line quoted for a message.
pub(crate) fn quoted(line: &str) -> String {
    format!("`{}`", line.escape_debug())
}

/// The lab's own hint for a client test's symptom.
pub fn client_hint(symptom: super::ClientSymptom) -> Option<crate::hint::Hint> {
    match symptom {
        super::ClientSymptom::NothingToAnswer => Some(crate::hint::Hint::new(
            crate::hint::HintKind::ClientSentNoLine,
            "The server answers a command once its line is complete: end every SMTP line with \\r\\n.",
        )),
        super::ClientSymptom::RepliesNotPrinted | super::ClientSymptom::StillRunning => None,
    }
}

/// Whether `output` shows every reply the grader's server sent (each
/// reply's lines, without their line endings), in order.
pub fn printed_replies(output: &[u8], replies: &[Vec<u8>]) -> bool {
    let mut from = 0;
    for reply in replies {
        for line in reply.split(|&byte| byte == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            match super::find(output, line, from) {
                Some(at) => from = at + line.len(),
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialogue(plan: SmtpPlan, chunks: &[&str]) -> (SmtpPeer, Vec<Option<String>>) {
        let mut peer = SmtpPeer::new(plan);
        peer.on_connect();
        let replies = chunks
            .iter()
            .map(|chunk| {
                peer.on_stream(chunk.as_bytes())
                    .reply
                    .map(|reply| String::from_utf8(reply).unwrap())
            })
            .collect();
        (peer, replies)
    }

    /// A whole, correct dialogue, in the pieces a client sends (the
    /// diagnoses' tests use it too).
    pub(super) const WHOLE: [&str; 7] = [
        "HELO me\r\n",
        "MAIL FROM:<a@b.org>\r\n",
        "RCPT TO:<c@d.org>\r\n",
        "DATA\r\n",
        "Subject: x\r\n\r\nhello\r\n",
        ".\r\n",
        "QUIT\r\n",
    ];

    #[test]
    fn a_whole_dialogue_is_recorded_in_order() {
        let (peer, replies) = dialogue(SmtpPlan::default(), &WHOLE);
        let codes: Vec<&str> = replies
            .iter()
            .map(|reply| reply.as_deref().map_or("-", |reply| &reply[..3]))
            .collect();
        assert_eq!(codes, ["250", "250", "250", "354", "-", "250", "221"]);
        let dialogue = &peer.dialogue;
        assert_eq!(dialogue.delivered.len(), 1);
        assert_eq!(dialogue.message_lines, 3);
        assert!(dialogue.quit());
        assert!(dialogue.early.is_empty());
        assert!(dialogue.first_refusal().is_none());
    }

    #[test]
    fn two_commands_in_one_piece_are_noted_as_early() {
        let (peer, _) = dialogue(SmtpPlan::default(), &["HELO me\r\nMAIL FROM:<a@b.org>\r\n"]);
        assert_eq!(peer.dialogue.early.len(), 1);
        assert_eq!(peer.dialogue.early[0].before, "the reply to HELO me");
        assert_eq!(peer.dialogue.early[0].line, "MAIL FROM:<a@b.org>");
    }

    #[test]
    fn bytes_while_the_greeting_is_held_are_early() {
        let mut peer = SmtpPeer::new(SmtpPlan {
            greeting_ms: 100,
            ..SmtpPlan::default()
        });
        peer.on_connect();
        peer.heard_early(b"HELO me\r\n", false);
        assert_eq!(peer.dialogue.early[0].before, "the greeting");
        let turn = peer.on_stream(b"HELO me\r\n");
        assert!(turn.reply.unwrap().starts_with(b"250"));
        peer.heard_early(b"MAIL FROM:<a@b>\r\n", true);
        assert_eq!(
            peer.dialogue.early[1].before,
            "the last line of the reply to HELO me"
        );
    }

    #[test]
    fn refusals_and_bare_lf_follow_the_plan() {
        let (strict, _) = dialogue(SmtpPlan::default(), &["HELO me\n"]);
        assert_eq!(strict.dialogue.commands[0].code, 500);
        assert!(strict.dialogue.commands[0].bare_lf);
        let (lenient, _) = dialogue(
            SmtpPlan {
                accept_bare_lf: true,
                refuse_recipients: true,
                ..SmtpPlan::default()
            },
            &[
                "HELO me\n",
                "MAIL FROM:<a@b.org>\n",
                "RCPT TO:<any@d.org>\n",
            ],
        );
        let codes: Vec<u16> = lenient
            .dialogue
            .commands
            .iter()
            .map(|command| command.code)
            .collect();
        assert_eq!(codes, [250, 250, 550]);
    }

    #[test]
    fn a_tls_handshake_is_recognised_and_closed() {
        let (peer, replies) = dialogue(SmtpPlan::default(), &["\u{16}\u{3}\u{1}rest"]);
        assert!(peer.dialogue.tls_handshake);
        assert_eq!(replies, [None]);
        // Sent at once on connect (SMTP_SSL), while the greeting is held.
        let mut held = SmtpPeer::new(SmtpPlan {
            greeting_ms: 100,
            ..SmtpPlan::default()
        });
        held.on_connect();
        held.heard_early(b"\x16\x03\x01rest", false);
        held.on_stream(b"\x16\x03\x01rest");
        assert!(held.dialogue.tls_handshake);
        assert!(held.dialogue.early.is_empty());
    }

    #[test]
    fn printed_replies_are_found_line_by_line() {
        let replies = vec![b"220 hi\r\n".to_vec(), b"250-a\r\n250 b\r\n".to_vec()];
        assert!(printed_replies(b"220 hi\n250-a\n250 b\n", &replies));
        assert!(!printed_replies(b"220 hi\n250 b\n", &replies));
    }
}
