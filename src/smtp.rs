//! The part of SMTP (RFC 5321) that the mail-client lab needs, as pure
//! functions and one state machine, [`Session`]: what a strict mail server
//! answers to each line a client sends.
//!
//! The reference's mail sink ([`crate::smtp_client::serve_sink`]) runs a
//! `Session` per connection, and the grader plays the same `Session` against
//! a student's client, so "what a strict server accepts" is written once.
//!
//! A dialogue, client lines marked `C:`, server replies `S:`:
//!
//! ```text
//! S: 220 socklab ESMTP ready
//! C: HELO alice.example
//! S: 250 socklab
//! C: MAIL FROM:<alice@example.org>
//! S: 250 OK
//! C: RCPT TO:<bob@example.org>
//! S: 250 OK
//! C: DATA
//! S: 354 End data with <CR><LF>.<CR><LF>
//! C: Subject: hello
//! C:
//! C: I love computer networks!
//! C: .
//! S: 250 OK: queued
//! C: QUIT
//! S: 221 Bye
//! ```
//!
//! Every line, both ways, ends in CR LF.

/// A reply: a three-digit code and its text. A multi-line reply repeats the
/// code with `-` on every line but the last (`250-first`, `250 last`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_owned()],
        }
    }

    /// The reply's bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            let separator = if index + 1 == self.lines.len() {
                ' '
            } else {
                '-'
            };
            bytes.extend_from_slice(format!("{}{separator}{line}\r\n", self.code).as_bytes());
        }
        bytes
    }
}

/// Reads one complete reply from the start of `bytes`: its code and where it
/// ends, or `None` if its last line has not arrived yet. A client must read
/// every line of a multi-line reply before it sends its next command.
pub fn parse_reply(bytes: &[u8]) -> Option<(u16, usize)> {
    let mut offset = 0;
    loop {
        let end = bytes[offset..].iter().position(|&byte| byte == b'\n')? + offset + 1;
        let line = &bytes[offset..end];
        let code = std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()?;
        if line.get(3) != Some(&b'-') {
            return Some((code, end));
        }
        offset = end;
    }
}

/// A command line, CR LF added: the one way the client writes commands.
pub fn command(text: &str) -> Vec<u8> {
    format!("{text}\r\n").into_bytes()
}

/// The message body ready for `DATA`: lines end in CR LF, a line that starts
/// with `.` gets a second one (so it cannot end the message early), and the
/// end marker `.` follows on a line of its own.
pub fn data_block(message: &str) -> Vec<u8> {
    let mut block = Vec::new();
    for line in message.lines() {
        if line.starts_with('.') {
            block.push(b'.');
        }
        block.extend_from_slice(line.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    block.extend_from_slice(b".\r\n");
    block
}

/// The address inside `MAIL FROM:<…>` or `RCPT TO:<…>`, if the argument is
/// written as the standard says: angle brackets around a `local@domain`.
pub fn bracketed_address(argument: &str) -> Option<&str> {
    let address = argument.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (local, domain) = address.split_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !address.contains(char::is_whitespace)
        && !address.contains(['<', '>']);
    valid.then_some(address)
}

/// How far a dialogue has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The greeting is sent; the client must say HELO or EHLO.
    Greeted,
    /// The client said hello; MAIL FROM comes next.
    Introduced,
    /// A sender is set; RCPT TO comes next.
    HasSender,
    /// At least one recipient was accepted; more RCPT TO, or DATA.
    HasRecipient,
    /// Inside DATA: every line is the message, until `.` alone.
    Message,
    /// QUIT was answered; the server closes.
    Closed,
}

/// What a strict server was told, for whoever shows the dialogue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent, dot-stuffing undone, lines ending in CR LF.
    pub message: Vec<u8>,
}

/// How strict or awkward the server is; the grader varies this per test.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer EHLO (and HELO) with a multi-line `250-` reply.
    pub multi_line_hello: bool,
    /// Recipients refused with `550`.
    pub refused_recipients: Vec<String>,
    /// Refuse every recipient with `550`, whatever its address (the grader
    /// cannot know which address a client composes for itself).
    pub refuse_every_recipient: bool,
    /// Take a line ended by a bare LF as a line, as many lenient servers
    /// do. A strict server (the default) answers it with `500`.
    pub accept_bare_lf: bool,
}

impl Behaviour {
    fn refuses(&self, address: &str) -> bool {
        self.refuse_every_recipient
            || self
                .refused_recipients
                .iter()
                .any(|refused| refused == address)
    }
}

/// One dialogue of a strict SMTP server, line by line.
#[derive(Clone, Debug)]
pub struct Session {
    pub stage: Stage,
    pub behaviour: Behaviour,
    pub mail: Mail,
    /// Mails accepted in this dialogue (a client may send several).
    pub delivered: Vec<Mail>,
}

/// The server's first words, which a client must wait for.
pub fn greeting() -> Reply {
    Reply::new(220, "socklab ESMTP ready")
}

impl Session {
    pub fn new(behaviour: Behaviour) -> Session {
        Session {
            stage: Stage::Greeted,
            behaviour,
            mail: Mail::default(),
            delivered: Vec::new(),
        }
    }

    /// The reply to one line from the client (its line ending included), or
    /// `None` inside a message, where lines get no reply until its end.
    pub fn on_line(&mut self, line: &[u8]) -> Option<Reply> {
        let content = if let Some(content) = line.strip_suffix(b"\r\n") {
            content
        } else if let (true, Some(content)) =
            (self.behaviour.accept_bare_lf, line.strip_suffix(b"\n"))
        {
            content
        } else {
            // Inside a message too: a bare LF must not end it, or be taken
            // for a line of it.
            return Some(Reply::new(
                500,
                "Syntax error: every line must end in CR LF (\\r\\n)",
            ));
        };
        if self.stage == Stage::Message {
            if content == b"." {
                self.stage = Stage::Introduced;
                self.delivered.push(std::mem::take(&mut self.mail));
                return Some(Reply::new(250, "OK: queued"));
            }
            // A leading dot was doubled by the client; undo it.
            let content = content.strip_prefix(b".").unwrap_or(content);
            self.mail.message.extend_from_slice(content);
            self.mail.message.extend_from_slice(b"\r\n");
            return None;
        }
        let text = String::from_utf8_lossy(content);
        let (verb, argument) = match text.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim().to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        Some(self.on_command(&verb, &argument))
    }

    fn on_command(&mut self, verb: &str, argument: &str) -> Reply {
        let bad_sequence = |expected: &str| {
            Reply::new(503, &format!("Bad sequence of commands: {expected} first"))
        };
        match verb {
            "HELO" | "EHLO" => {
                if argument.is_empty() {
                    return Reply::new(501, &format!("Syntax: {verb} your-host-name"));
                }
                self.stage = Stage::Introduced;
                self.mail = Mail::default();
                if self.behaviour.multi_line_hello || verb == "EHLO" {
                    Reply {
                        code: 250,
                        lines: vec![
                            "socklab greets you".into(),
                            "8BITMIME".into(),
                            // Offered, then refused with 454: a client
                            // that insists on TLS is seen asking for it.
                            "STARTTLS".into(),
                            "HELP".into(),
                        ],
                    }
                } else {
                    Reply::new(250, "socklab")
                }
            }
            "MAIL" => {
                if self.stage == Stage::Greeted {
                    return bad_sequence("HELO");
                }
                if self.stage != Stage::Introduced {
                    return bad_sequence("DATA for the current mail, or RSET");
                }
                let Some(address) = from_argument(argument, "FROM:") else {
                    return Reply::new(501, "Syntax: MAIL FROM:<address>, with the angle brackets");
                };
                self.mail.from = address;
                self.stage = Stage::HasSender;
                Reply::new(250, "OK")
            }
            "RCPT" => {
                if !matches!(self.stage, Stage::HasSender | Stage::HasRecipient) {
                    return bad_sequence("MAIL FROM");
                }
                let Some(address) = from_argument(argument, "TO:") else {
                    return Reply::new(501, "Syntax: RCPT TO:<address>, with the angle brackets");
                };
                if self.behaviour.refuses(&address) {
                    return Reply::new(550, &format!("No such user: <{address}>"));
                }
                self.mail.to.push(address);
                self.stage = Stage::HasRecipient;
                Reply::new(250, "OK")
            }
            "DATA" => {
                if self.stage != Stage::HasRecipient {
                    return bad_sequence("RCPT TO (with an accepted recipient)");
                }
                self.stage = Stage::Message;
                Reply::new(354, "End data with <CR><LF>.<CR><LF>")
            }
            "RSET" => {
                if self.stage != Stage::Greeted {
                    self.stage = Stage::Introduced;
                }
                self.mail = Mail::default();
                Reply::new(250, "OK")
            }
            "NOOP" => Reply::new(250, "OK"),
            // This server speaks plain SMTP only: "TLS not available".
            "STARTTLS" => Reply::new(454, "TLS not available: this server speaks plain SMTP"),
            "QUIT" => {
                self.stage = Stage::Closed;
                Reply::new(221, "Bye")
            }
            _ => Reply::new(500, "Command not recognised"),
        }
    }
}

/// `FROM:<a@b>` (or `TO:`), with an optional space after the colon, as
/// many clients write it.
fn from_argument(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    bracketed_address(&argument[keyword.len()..]).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(session: &mut Session, line: &str) -> Option<u16> {
        session.on_line(line.as_bytes()).map(|reply| reply.code)
    }

    #[test]
    fn a_whole_dialogue_delivers_one_mail() {
        let mut session = Session::new(Behaviour::default());
        assert_eq!(say(&mut session, "HELO alice\r\n"), Some(250));
        assert_eq!(
            say(&mut session, "MAIL FROM:<alice@example.org>\r\n"),
            Some(250)
        );
        assert_eq!(
            say(&mut session, "RCPT TO: <bob@example.org>\r\n"),
            Some(250)
        );
        assert_eq!(say(&mut session, "DATA\r\n"), Some(354));
        assert_eq!(say(&mut session, "Subject: hi\r\n"), None);
        assert_eq!(say(&mut session, "..a dotted line\r\n"), None);
        assert_eq!(say(&mut session, ".\r\n"), Some(250));
        assert_eq!(say(&mut session, "QUIT\r\n"), Some(221));
        assert_eq!(session.stage, Stage::Closed);
        assert_eq!(session.delivered.len(), 1);
        assert_eq!(session.delivered[0].from, "alice@example.org");
        assert_eq!(session.delivered[0].to, ["bob@example.org"]);
        assert_eq!(
            session.delivered[0].message,
            b"Subject: hi\r\n.a dotted line\r\n"
        );
    }

    #[test]
    fn refuses_what_a_strict_server_refuses() {
        let mut session = Session::new(Behaviour {
            refused_recipients: vec!["nobody@example.org".into()],
            ..Behaviour::default()
        });
        assert_eq!(
            say(&mut session, "MAIL FROM:<a@b>\r\n"),
            Some(503),
            "before HELO"
        );
        assert_eq!(say(&mut session, "HELO me\n"), Some(500), "LF without CR");
        assert_eq!(say(&mut session, "HELO me\r\n"), Some(250));
        assert_eq!(
            say(&mut session, "MAIL FROM: alice@example.org\r\n"),
            Some(501)
        );
        assert_eq!(say(&mut session, "DATA\r\n"), Some(503));
        assert_eq!(
            say(&mut session, "MAIL FROM:<alice@example.org>\r\n"),
            Some(250)
        );
        assert_eq!(
            say(&mut session, "RCPT TO:<nobody@example.org>\r\n"),
            Some(550)
        );
        assert_eq!(
            say(&mut session, "DATA\r\n"),
            Some(503),
            "no recipient accepted"
        );
        assert_eq!(say(&mut session, "FOO\r\n"), Some(500));
    }

    #[test]
    fn the_grader_s_variations_refuse_everyone_and_forgive_bare_lf() {
        let mut session = Session::new(Behaviour {
            refuse_every_recipient: true,
            accept_bare_lf: true,
            ..Behaviour::default()
        });
        assert_eq!(say(&mut session, "HELO me\n"), Some(250), "bare LF taken");
        assert_eq!(say(&mut session, "STARTTLS\r\n"), Some(454));
        assert_eq!(say(&mut session, "MAIL FROM:<a@b.org>\r\n"), Some(250));
        assert_eq!(say(&mut session, "RCPT TO:<anyone@c.org>\r\n"), Some(550));
        assert_eq!(say(&mut session, "DATA\r\n"), Some(503));
    }

    #[test]
    fn reads_multi_line_replies_whole() {
        let reply = Reply {
            code: 250,
            lines: vec!["a".into(), "b".into()],
        };
        let bytes = reply.to_bytes();
        assert_eq!(bytes, b"250-a\r\n250 b\r\n");
        assert_eq!(parse_reply(&bytes), Some((250, bytes.len())));
        assert_eq!(
            parse_reply(b"250-a\r\n"),
            None,
            "the last line has not arrived"
        );
        assert_eq!(parse_reply(b"354 go\r\nrest"), Some((354, 8)));
    }

    #[test]
    fn stuffs_dots_and_ends_the_message() {
        assert_eq!(
            data_block("Hi\n.hidden\nbye"),
            b"Hi\r\n..hidden\r\nbye\r\n.\r\n"
        );
        assert_eq!(bracketed_address("<a@b.org>"), Some("a@b.org"));
        for wrong in ["a@b.org", "<a b@c>", "<@b>", "<a@>", "<ab>"] {
            assert_eq!(bracketed_address(wrong), None, "{wrong}");
        }
    }
}
