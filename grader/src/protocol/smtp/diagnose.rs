//! The smtp-client lab's checks and what a failed one most likely means,
//! read from the dialogue the grader's server recorded ([`Dialogue`]).
//!
//! Each check fails for its own property; the diagnosis names the first
//! thing in the dialogue that explains it (a client that spoke early, a
//! refusal and its reason, a message never ended), in the student's terms.

use super::{Command, Dialogue, SmtpCheck, quoted};
use crate::hint::{Hint, HintKind};

/// A failed check: what the grader saw, and the hint that names the bug.
pub type Finding = (String, Option<Hint>);

/// Runs `check` on the dialogues of one test (one per connection, in order).
pub fn check(check: SmtpCheck, dialogues: &[Dialogue]) -> Result<(), Finding> {
    let spoke = dialogues
        .iter()
        .any(|dialogue| !dialogue.commands.is_empty() || dialogue.tls_handshake);
    if !spoke {
        // Nothing to judge: the engine's own hints (nothing arrived, a
        // crash, a host it could not look up) say more.
        return Err((
            "The grader's server received no SMTP command from your client.".into(),
            None,
        ));
    }
    match check {
        SmtpCheck::Waits => waits(dialogues),
        SmtpCheck::Delivered => delivered(dialogues).map(|_| ()),
        SmtpCheck::Quits => quits(dialogues),
        SmtpCheck::StopsAfterRefusal => stops_after_refusal(dialogues),
        SmtpCheck::OwnDialogue => own_dialogue(dialogues),
    }
}

fn waits(dialogues: &[Dialogue]) -> Result<(), Finding> {
    if dialogues.iter().any(|dialogue| dialogue.tls_handshake) {
        return Err(tls_handshake());
    }
    if let Some(early) = dialogues.iter().flat_map(|dialogue| &dialogue.early).next() {
        return Err(spoke_early(early));
    }
    let introduced = dialogues
        .iter()
        .flat_map(|d| &d.commands)
        .any(|command| matches!(command.verb.as_str(), "HELO" | "EHLO") && command.code == 250);
    if introduced {
        return Ok(());
    }
    Err(match first_fault(dialogues) {
        Some(finding) => finding,
        None => (
            "Your client never introduced itself with HELO (or EHLO) after the greeting.".into(),
            Some(Hint::new(
                HintKind::SmtpBadSequence,
                "After the 220 greeting, the first command is HELO followed by a name for your machine (HELO alice), ended by \\r\\n.",
            )),
        ),
    })
}

/// The mails delivered, or why none was.
fn delivered(dialogues: &[Dialogue]) -> Result<usize, Finding> {
    let count: usize = dialogues.iter().map(|d| d.delivered.len()).sum();
    if count > 0 {
        return Ok(count);
    }
    if let Some(early) = dialogues.iter().flat_map(|dialogue| &dialogue.early).next() {
        let (message, hint) = spoke_early(early);
        return Err((format!("No mail was delivered. {message}"), hint));
    }
    if let Some(finding) = first_fault(dialogues) {
        return Err((format!("No mail was delivered. {}", finding.0), finding.1));
    }
    let commands: Vec<&Command> = dialogues.iter().flat_map(|d| &d.commands).collect();
    if looks_like_smtplib(&commands) {
        let last = commands.last().expect("checked: the client spoke");
        return Err((
            format!(
                "No mail was delivered: the dialogue stopped after {}, answered {} {}. It is spoken the way Python's smtplib speaks (lower-case commands, ehlo first).",
                quoted(&last.line),
                last.code,
                quoted(&last.reply)
            ),
            Some(mail_library_hint()),
        ));
    }
    let last = dialogues.iter().rev().find(|d| !d.commands.is_empty());
    let (message, hint) = match last {
        Some(dialogue) if dialogue.in_message => (
            format!(
                "The server received {} line(s) of the message after DATA but never its end: a line holding only a dot.",
                dialogue.message_lines
            ),
            Hint::new(
                HintKind::SmtpMessageNotEnded,
                "End the message with \\r\\n.\\r\\n (a line holding only a dot), then read the server's 250 before sending QUIT.",
            ),
        ),
        Some(dialogue) => (
            format!(
                "The dialogue stopped after {}: the server answered {} {} and your client sent nothing more.",
                quoted(
                    &dialogue
                        .commands
                        .last()
                        .map(|c| c.line.clone())
                        .unwrap_or_default()
                ),
                dialogue.commands.last().map_or(0, |c| c.code),
                quoted(
                    &dialogue
                        .commands
                        .last()
                        .map(|c| c.reply.clone())
                        .unwrap_or_default()
                ),
            ),
            Hint::new(
                HintKind::SmtpDialogueUnfinished,
                "Send the whole dialogue, reading each reply before the next command: HELO, MAIL FROM:<you>, RCPT TO:<them>, DATA, the message, \\r\\n.\\r\\n, QUIT. Wait as long as the server takes: a slow reply is not an error.",
            ),
        ),
        None => unreachable!("checked: the client spoke"),
    };
    Err((format!("No mail was delivered. {message}"), Some(hint)))
}

fn quits(dialogues: &[Dialogue]) -> Result<(), Finding> {
    delivered(dialogues)?;
    if dialogues.iter().any(Dialogue::quit) {
        return Ok(());
    }
    Err((
        "Your client delivered its mail but never sent QUIT: it closed the connection without ending the dialogue.".into(),
        Some(Hint::new(
            HintKind::SmtpNoQuit,
            "After the 250 that accepts the message, send QUIT\\r\\n, read the server's 221, then close the socket.",
        )),
    ))
}

fn stops_after_refusal(dialogues: &[Dialogue]) -> Result<(), Finding> {
    let refused = dialogues.iter().find_map(|dialogue| {
        let at = dialogue
            .commands
            .iter()
            .position(|command| command.verb == "RCPT" && command.code == 550)?;
        Some((dialogue, at))
    });
    let Some((dialogue, at)) = refused else {
        return Err(match first_fault(dialogues) {
            Some(finding) => finding,
            None => (
                "Your client never reached RCPT TO, so the server could not refuse the recipient."
                    .into(),
                Some(Hint::new(
                    HintKind::SmtpDialogueUnfinished,
                    "Send HELO, MAIL FROM:<you> and RCPT TO:<them>, reading each reply before the next command.",
                )),
            ),
        });
    };
    let carried_on = dialogue.commands[at + 1..]
        .iter()
        .find(|command| command.verb == "DATA")
        .or_else(|| {
            dialogue.commands[at + 1..]
                .iter()
                .find(|command| !matches!(command.verb.as_str(), "QUIT" | "RSET" | "RCPT" | "NOOP"))
        });
    match carried_on {
        None => Ok(()),
        Some(command) => Err((
            format!(
                "The server refused the recipient ({} answered 550 {}), and your client carried on: it sent {} next and went on as if the recipient had been accepted{}.",
                quoted(&dialogue.commands[at].line),
                quoted(&dialogue.commands[at].reply),
                quoted(&command.line),
                if dialogue.message_lines > 0 {
                    format!(
                        ", sending {} line(s) of the message",
                        dialogue.message_lines
                    )
                } else {
                    String::new()
                },
            ),
            Some(Hint::new(
                HintKind::SmtpIgnoredRefusal,
                "Check each reply's code before the next command: when RCPT TO is answered with 550 (or anything but 250), do not send DATA and the message; print the error, send QUIT and stop.",
            )),
        )),
    }
}

fn own_dialogue(dialogues: &[Dialogue]) -> Result<(), Finding> {
    let commands: Vec<&Command> = dialogues.iter().flat_map(|d| &d.commands).collect();
    let starttls = commands.iter().find(|command| command.verb == "STARTTLS");
    // smtplib writes its verbs in lower case (`ehlo`, `mail FROM:<…>`,
    // `rcpt TO:<…>`, `data`, `quit`); a hand-written client copies the
    // handout's capitals.
    let lower: Vec<&&Command> = commands
        .iter()
        .filter(|command| {
            [
                "ehlo", "helo", "mail", "rcpt", "data", "quit", "rset", "noop",
            ]
            .contains(&command.verb_as_written.as_str())
        })
        .collect();
    let looks_like_smtplib = looks_like_smtplib(&commands);
    if looks_like_smtplib || starttls.is_some() {
        let mut seen: Vec<String> = lower.iter().take(4).map(|c| quoted(&c.line)).collect();
        if let Some(starttls) = starttls {
            seen.push(quoted(&starttls.line));
        }
        let library = if looks_like_smtplib {
            "This is how Python's smtplib speaks (lower-case commands, EHLO first"
        } else {
            "A client asking for STARTTLS needs TLS, which smtplib's starttls() or the ssl module gives"
        };
        let library = if looks_like_smtplib && starttls.is_some() {
            format!("{library}, then STARTTLS)")
        } else if looks_like_smtplib {
            format!("{library})")
        } else {
            library.to_string()
        };
        return Err((
            format!(
                "Your client's dialogue shows a mail library at work, not your own SMTP: the server received {}. {library}.",
                seen.join(", ")
            ),
            Some(mail_library_hint()),
        ));
    }
    if dialogues.iter().any(|dialogue| dialogue.tls_handshake) {
        return Err(tls_handshake());
    }
    Ok(())
}

/// smtplib writes its verbs in lower case and their keywords in capitals
/// (`ehlo`, `mail FROM:<…>`, `rcpt TO:<…>`); a hand-written client copies
/// the handout's capitals. Lower case alone is allowed (SMTP verbs are case
/// blind, and a student may type `helo`): only smtplib's mix of the two,
/// seen twice, names it.
fn looks_like_smtplib(commands: &[&Command]) -> bool {
    let written = |verb: &str, start: &str| {
        commands
            .iter()
            .any(|command| command.verb_as_written == verb && command.line.starts_with(start))
    };
    let ehlo_first = commands.first().is_some_and(|command| {
        command.verb_as_written == "ehlo" && command.line.starts_with("ehlo ")
    });
    let mail = written("mail", "mail FROM:<");
    let starttls = written("STARTTLS", "STARTTLS");
    (mail && (written("rcpt", "rcpt TO:<") || ehlo_first)) || (ehlo_first && starttls)
}

fn mail_library_hint() -> Hint {
    Hint::new(
        HintKind::SmtpMailLibrary,
        "The assignment asks you to speak SMTP yourself over a TCP socket: do not use smtplib (or its starttls()). Open a socket, connect, and send HELO, MAIL FROM:<...>, RCPT TO:<...>, DATA, the message, \\r\\n.\\r\\n and QUIT yourself, reading each reply.",
    )
}

/// The client spoke while the server still had something to say.
fn spoke_early(early: &super::Early) -> Finding {
    let message = format!(
        "Your client sent {} before {} had been sent: it did not wait for the server.",
        quoted(&early.line),
        early.before
    );
    let hint = if early.before == "the greeting" {
        Hint::new(
            HintKind::SmtpSpokeBeforeGreeting,
            "The server speaks first: read its 220 greeting (recv) before you send HELO, or every reply after it is read one step late.",
        )
    } else if early.before.starts_with("the last line") {
        Hint::new(
            HintKind::SmtpMultiLineReply,
            "A reply may have several lines (250-first, 250-second, 250 last): keep reading until a line whose code is followed by a space, not a dash, before you send the next command. One recv is not one reply.",
        )
    } else {
        Hint::new(
            HintKind::SmtpSpokeBeforeReply,
            "Read the server's reply to each command (and check its code) before you send the next one.",
        )
    };
    (message, Some(hint))
}

fn tls_handshake() -> Finding {
    (
        "Your client began a TLS handshake (SMTP over SSL, as on port 465); the grader's server, like the lab's, speaks plain SMTP.".into(),
        Some(Hint::new(
            HintKind::SmtpTls,
            "Connect with a plain TCP socket to the host and port you were given and speak SMTP in clear: no ssl.wrap_socket, SMTP_SSL or STARTTLS in this lab.",
        )),
    )
}

/// The first refusal of the dialogue, named by its reason.
fn first_fault(dialogues: &[Dialogue]) -> Option<Finding> {
    if dialogues.iter().any(|dialogue| dialogue.tls_handshake) {
        return Some(tls_handshake());
    }
    let commands: Vec<&Command> = dialogues.iter().flat_map(|d| &d.commands).collect();
    if let Some(starttls) = commands.iter().find(|command| command.verb == "STARTTLS") {
        let library = if looks_like_smtplib(&commands) {
            " This is how Python's smtplib speaks (lower-case commands, ehlo first), its starttls() asking for the TLS that Gmail's server requires."
        } else {
            ""
        };
        return Some((
            format!(
                "Your client asked for TLS: {} was answered {} {}, and the dialogue stopped there. The grader's server, like the lab's sink, speaks plain SMTP.{library}",
                quoted(&starttls.line),
                starttls.code,
                quoted(&starttls.reply)
            ),
            Some(if library.is_empty() {
                Hint::new(
                    HintKind::SmtpTls,
                    "Speak plain SMTP to the host and port you were given: no STARTTLS, no ssl.wrap_socket in this lab (a real mail server needs them, the lab's does not).",
                )
            } else {
                mail_library_hint()
            }),
        ));
    }
    let command = dialogues.iter().find_map(Dialogue::first_refusal)?;
    let said = format!(
        "The server answered {} with {} {}.",
        quoted(&command.line),
        command.code,
        quoted(&command.reply)
    );
    let hint = if command.bare_lf {
        Hint::new(
            HintKind::SmtpBareLf,
            "Every SMTP line ends in \\r\\n (carriage return and line feed), not \\n alone: send 'HELO alice\\r\\n'.",
        )
    } else {
        match (command.code, command.verb.as_str()) {
            (501, "MAIL" | "RCPT") => Hint::new(
                HintKind::SmtpAngleBrackets,
                "Write the address in angle brackets, with no space inside: MAIL FROM:<alice@example.org> and RCPT TO:<bob@example.org>.",
            ),
            (503, _) => Hint::new(
                HintKind::SmtpBadSequence,
                "Send the commands in SMTP's order, each after the reply to the one before: HELO, MAIL FROM, RCPT TO, DATA, the message, QUIT.",
            ),
            (454, _) | (_, "STARTTLS") => Hint::new(
                HintKind::SmtpMailLibrary,
                "The grader's server speaks plain SMTP: do not ask for STARTTLS (smtplib's starttls()), send HELO, MAIL FROM, RCPT TO, DATA yourself.",
            ),
            (550, "RCPT") => Hint::new(
                HintKind::SmtpDialogueUnfinished,
                "The recipient was refused: check the reply's code and stop when it is not 250.",
            ),
            (500, _) => Hint::new(
                HintKind::SmtpUnknownCommand,
                "The server did not know that command: SMTP's commands are HELO, MAIL FROM:<...>, RCPT TO:<...>, DATA and QUIT, each on a line of its own ended by \\r\\n.",
            ),
            _ => Hint::new(
                HintKind::SmtpDialogueUnfinished,
                "Read the server's reply to each command, check its code, and send the commands exactly as SMTP spells them.",
            ),
        }
    };
    Some((said, Some(hint)))
}

#[cfg(test)]
mod tests {
    use super::super::{SmtpPeer, SmtpPlan};
    use super::*;

    fn run(plan: SmtpPlan, chunks: &[&str]) -> Vec<Dialogue> {
        let mut peer = SmtpPeer::new(plan);
        peer.on_connect();
        for chunk in chunks {
            peer.on_stream(chunk.as_bytes());
        }
        vec![peer.dialogue]
    }

    fn kind(result: Result<(), Finding>) -> Option<HintKind> {
        result
            .err()
            .and_then(|(_, hint)| hint)
            .map(|hint| hint.kind)
    }

    /// A whole, correct dialogue, in the pieces a client sends.
    const GOOD: [&str; 7] = super::super::tests::WHOLE;

    #[test]
    fn a_good_dialogue_passes_every_check() {
        let dialogues = run(SmtpPlan::default(), &GOOD);
        for each in [
            SmtpCheck::Waits,
            SmtpCheck::Delivered,
            SmtpCheck::Quits,
            SmtpCheck::OwnDialogue,
        ] {
            assert_eq!(check(each, &dialogues), Ok(()), "{each:?}");
        }
    }

    #[test]
    fn each_fault_is_named() {
        let brackets = run(
            SmtpPlan::default(),
            &["HELO me\r\n", "MAIL FROM: a@b.org\r\n"],
        );
        assert_eq!(
            kind(check(SmtpCheck::Delivered, &brackets)),
            Some(HintKind::SmtpAngleBrackets)
        );
        let lf = run(SmtpPlan::default(), &["HELO me\n"]);
        assert_eq!(
            kind(check(SmtpCheck::Delivered, &lf)),
            Some(HintKind::SmtpBareLf)
        );
        let no_quit = run(SmtpPlan::default(), &GOOD[..6]);
        assert_eq!(
            kind(check(SmtpCheck::Quits, &no_quit)),
            Some(HintKind::SmtpNoQuit)
        );
        let unended = run(SmtpPlan::default(), &GOOD[..5]);
        assert_eq!(
            kind(check(SmtpCheck::Delivered, &unended)),
            Some(HintKind::SmtpMessageNotEnded)
        );
        let order = run(SmtpPlan::default(), &["MAIL FROM:<a@b.org>\r\n"]);
        assert_eq!(
            kind(check(SmtpCheck::Waits, &order)),
            Some(HintKind::SmtpBadSequence)
        );
    }

    #[test]
    fn carrying_on_after_a_550_is_named_and_stopping_passes() {
        let plan = SmtpPlan {
            refuse_recipients: true,
            ..SmtpPlan::default()
        };
        let stubborn = run(plan, &GOOD);
        assert_eq!(
            kind(check(SmtpCheck::StopsAfterRefusal, &stubborn)),
            Some(HintKind::SmtpIgnoredRefusal)
        );
        let careful = run(plan, &[GOOD[0], GOOD[1], GOOD[2], "QUIT\r\n"]);
        assert_eq!(check(SmtpCheck::StopsAfterRefusal, &careful), Ok(()));
    }

    #[test]
    fn smtplib_is_named_by_what_it_sends() {
        let smtplib = run(
            SmtpPlan::default(),
            &[
                "ehlo [127.0.0.1]\r\n",
                "mail FROM:<a@b.org>\r\n",
                "rcpt TO:<c@d.org>\r\n",
                "data\r\n",
                "x\r\n.\r\n",
                "quit\r\n",
            ],
        );
        assert_eq!(check(SmtpCheck::Delivered, &smtplib), Ok(()));
        let (message, hint) = check(SmtpCheck::OwnDialogue, &smtplib).unwrap_err();
        assert!(message.contains("smtplib"), "{message}");
        assert_eq!(hint.unwrap().kind, HintKind::SmtpMailLibrary);
        let gmail = run(
            SmtpPlan::default(),
            &["ehlo [10.0.0.2]\r\n", "STARTTLS\r\n"],
        );
        let (message, hint) = check(SmtpCheck::Delivered, &gmail).unwrap_err();
        assert!(message.contains("smtplib"), "{message}");
        assert_eq!(hint.unwrap().kind, HintKind::SmtpMailLibrary);
        let starttls = run(SmtpPlan::default(), &["EHLO me\r\n", "STARTTLS\r\n"]);
        assert_eq!(
            kind(check(SmtpCheck::Delivered, &starttls)),
            Some(HintKind::SmtpTls)
        );
        assert_eq!(
            kind(check(SmtpCheck::OwnDialogue, &starttls)),
            Some(HintKind::SmtpMailLibrary)
        );
        // SMTP verbs are case blind: a student who types them in lower case
        // speaks SMTP all the same.
        let lower_case = run(
            SmtpPlan::default(),
            &[
                "ehlo me\r\n",
                "mail from:<a@b.org>\r\n",
                "rcpt to:<c@d.org>\r\n",
                "data\r\n",
                "x\r\n.\r\n",
                "quit\r\n",
            ],
        );
        assert_eq!(check(SmtpCheck::Delivered, &lower_case), Ok(()));
        assert_eq!(check(SmtpCheck::OwnDialogue, &lower_case), Ok(()));
    }

    #[test]
    fn speaking_early_is_named_by_what_was_not_yet_sent() {
        let mut peer = SmtpPeer::new(SmtpPlan::default());
        peer.on_connect();
        peer.heard_early(b"HELO me\r\n", false);
        assert_eq!(
            kind(check(SmtpCheck::Waits, &[peer.dialogue.clone()])),
            None,
            "nothing was answered yet: no command"
        );
        peer.on_stream(b"HELO me\r\n");
        assert_eq!(
            kind(check(SmtpCheck::Waits, &[peer.dialogue])),
            Some(HintKind::SmtpSpokeBeforeGreeting)
        );
    }
}
