//! What a wrong reply in a text protocol most likely means, in the
//! student's terms: a finding (what happened) and a hint (what to change),
//! or nothing when no pattern fits and the lab author's hint should stand.

use super::TransformName;
use crate::diagnose::Diagnosis;
use crate::hint::HintKind;
use crate::protocol::Mismatch;

pub(in crate::protocol) fn reply(
    transform: TransformName,
    mismatch: &Mismatch<'_>,
) -> Option<Diagnosis> {
    let Mismatch {
        sent,
        expected,
        received,
        timed_out,
    } = *mismatch;
    if received.is_empty() && timed_out {
        return None; // Silence: the lab's own hint says what the test needs.
    }
    let without_newlines =
        |bytes: &[u8]| -> Vec<u8> { bytes.iter().copied().filter(|&b| b != b'\n').collect() };
    let first_difference = received
        .iter()
        .zip(expected)
        .position(|(got, want)| got != want);
    // A line answered in pieces: the reply breaks a line where the expected
    // reply does not, and is otherwise the start of what was expected.
    let answered_early = transform == TransformName::UppercaseLines
        && first_difference.is_some_and(|at| received[at] == b'\n')
        && without_newlines(expected).starts_with(&without_newlines(received));
    if answered_early {
        return Some(Diagnosis::new(
            HintKind::PartialLine,
            "Your server answered part of a line before the line was complete.",
            "TCP is a byte stream: one recv can return part of a line. Keep the bytes in a buffer and answer only complete lines, ending at '\\n'.",
        ));
    }
    let reply_is_echo = !sent.is_empty() && (received == sent || received == strip_newline(sent));
    if reply_is_echo && expected != sent {
        let hint = match transform {
            TransformName::CountS => {
                "Did you count the letter s? Send the count, e.g. str(count).encode(), instead of the message."
            }
            TransformName::Uppercase | TransformName::UppercaseLines => {
                "Did you uppercase it? Send message.decode().upper().encode(), not the message you received."
            }
        };
        return Some(Diagnosis::new(
            HintKind::Echo,
            "Your server sent back exactly what it received.",
            hint,
        ));
    }
    if transform != TransformName::CountS
        && received == sent.to_ascii_uppercase().as_slice()
        && expected != received
    {
        return Some(Diagnosis::new(
            HintKind::AsciiOnlyUppercase,
            "Your server uppercased only the ASCII letters.",
            "Uppercase the decoded text (str.upper() in Python, to_uppercase() in Rust), not the raw bytes: bytes.upper() and to_ascii_uppercase() leave letters such as ß and é unchanged.",
        ));
    }
    // The reply followed by the rest of the receive buffer: zero bytes that
    // were never part of the message.
    let padding = received.strip_prefix(expected).unwrap_or_default();
    if !padding.is_empty() && padding.iter().all(|&b| b == 0) {
        return Some(Diagnosis::new(
            HintKind::BufferPadding,
            format!(
                "Your reply is the right text followed by {} zero bytes: the rest of your receive buffer.",
                padding.len()
            ),
            "Send only the bytes you received, not the whole buffer: in Java build the reply from packet.getData() with packet.getLength() (new String(data, 0, packet.getLength())); in C pass the count that recvfrom/recv returned to sendto/send, not sizeof(buffer).",
        ));
    }
    let zeros = received.iter().rev().take_while(|&&b| b == 0).count();
    if zeros > 0 && expected.len() < received.len() && !expected.contains(&0) {
        return Some(Diagnosis::new(
            HintKind::BufferPadding,
            format!("Your reply ends in {zeros} zero bytes that were never sent to your server."),
            "Send only as many bytes as you received: the count recvfrom/recv returned (packet.getLength() in Java), not the size of your buffer.",
        ));
    }
    if transform != TransformName::CountS
        && received.len() == expected.len()
        && received.len() > 1
        && received[..received.len() - 1] == expected[..expected.len() - 1]
        && received.last() != expected.last()
        && sent.last().is_some_and(|&b| Some(&b) == received.last())
    {
        return Some(Diagnosis::new(
            HintKind::LastCharacter,
            "Your reply is right except for its last character, which was left as it was sent.",
            "Check your loop's bound: it must reach the last character (i < n, not i < n - 1).",
        ));
    }
    // A count (or any reply) that answers only the first 1024 bytes sent.
    let answers_a_cut_message = sent.len() > 1024
        && transform == TransformName::CountS
        && received == transform.apply(&sent[..1024]).as_slice();
    if answers_a_cut_message
        || (received.len() == 1024 && expected.len() > 1024 && expected.starts_with(received))
    {
        return Some(Diagnosis::new(
            HintKind::CutAt1024,
            "Your reply answers only the first 1024 bytes of the message.",
            "A single recv(1024) or recvfrom(1024) returns at most 1024 bytes. Over UDP the rest of a longer datagram is lost, so receive with a buffer as large as the largest datagram (recvfrom(2048)); over TCP keep reading and appending to a buffer until the message is complete.",
        ));
    }
    let is_lines = transform == TransformName::UppercaseLines;
    // Every letter of the reply is there and only the line endings are
    // missing: without this check the silence after the last letter would
    // read as a reply cut short.
    if is_lines
        && !received.is_empty()
        && !received.contains(&b'\n')
        && received == without_newlines(expected).as_slice()
    {
        return Some(no_line_ending());
    }
    // Some lines answered in full, then nothing: the server dropped the
    // other lines of a segment, or stopped reading the connection.
    if is_lines
        && timed_out
        && received.ends_with(b"\n")
        && expected.len() > received.len()
        && expected.starts_with(received)
    {
        let lines = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'\n').count();
        return Some(Diagnosis::new(
            HintKind::LinesUnanswered,
            format!(
                "Your server answered {} of the {} lines it was sent, then nothing more.",
                lines(received),
                lines(expected)
            ),
            "Answer every complete line: one recv can return several lines, so split what you received at every '\\n', answer each line and keep only the unfinished rest for the next recv. Keep reading the connection after a reply, until the client closes it.",
        ));
    }
    if timed_out && !received.is_empty() && expected.starts_with(received) {
        return Some(Diagnosis::new(
            HintKind::IncompleteReply,
            format!(
                "Your server replied with only the first {} of {} bytes.",
                received.len(),
                expected.len()
            ),
            "Make sure the whole reply is sent: use sendall (Python) or write_all (Rust), and read the whole request before answering.",
        ));
    }
    for ending in [b"\n".as_slice(), b"\r\n"] {
        if received.strip_suffix(ending) == Some(expected) {
            return Some(Diagnosis::new(
                HintKind::ExtraLineEnding,
                "Your reply has an extra line ending after the expected text.",
                "Send exactly the reply the protocol asks for, without adding a newline.",
            ));
        }
    }
    // Only a reply with every letter and no line ending lacks the ending: a
    // reply still arriving (a byte per write) or a different reply does not.
    if received.eq_ignore_ascii_case(expected) {
        return Some(Diagnosis::new(
            HintKind::WrongCase,
            "Your reply has the right letters in the wrong case.",
            "The reply must be the uppercase of the whole message.",
        ));
    }
    if transform == TransformName::CountS {
        let lowercase_only = sent.iter().filter(|&&b| b == b's').count().to_string();
        if received == lowercase_only.as_bytes() && expected != received {
            return Some(Diagnosis::new(
                HintKind::CapitalSMissed,
                "Your count misses the capital S letters.",
                "Count 's' and 'S', or lowercase the message before counting.",
            ));
        }
        // The right number, dressed in words: "There are 4 s." A reply with
        // several numbers ("Lines: 0\nWords: 0") is not the count at all.
        let numbers: Vec<&[u8]> = received
            .split(|b| !b.is_ascii_digit())
            .filter(|run| !run.is_empty())
            .collect();
        if received != expected && numbers == [expected] {
            return Some(Diagnosis::new(
                HintKind::CountInWords,
                "Your reply has the right count, with other text around it.",
                "Send only the digits of the count, e.g. str(count).encode(): no words, spaces or newline around them.",
            ));
        }
    }
    None
}

fn no_line_ending() -> Diagnosis {
    Diagnosis::new(
        HintKind::NoLineEnding,
        "Your reply has no '\\n' at the end of the line.",
        "End every reply line with '\\n' so the client knows where it ends.",
    )
}

fn strip_newline(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnose(
        transform: TransformName,
        sent: &[u8],
        received: &[u8],
        timed_out: bool,
    ) -> Option<Diagnosis> {
        let expected = transform.apply(sent);
        reply(
            transform,
            &Mismatch {
                sent,
                expected: &expected,
                received,
                timed_out,
            },
        )
    }

    #[test]
    fn an_echo_asks_about_uppercasing() {
        let d = diagnose(TransformName::Uppercase, b"hello", b"hello", false).unwrap();
        assert!(d.hint.contains("Did you uppercase it?"));
        let d = diagnose(TransformName::CountS, b"sss", b"sss", false).unwrap();
        assert!(d.hint.contains("count the letter s"));
    }

    #[test]
    fn ascii_only_uppercase_is_named() {
        let d = diagnose(
            TransformName::Uppercase,
            "straße".as_bytes(),
            "STRAßE".as_bytes(),
            false,
        )
        .unwrap();
        assert!(d.finding.contains("only the ASCII letters"));
    }

    #[test]
    fn a_reply_cut_at_1024_bytes_is_named() {
        let sent = vec![b'a'; 2000];
        let d = diagnose(TransformName::Uppercase, &sent, &vec![b'A'; 1024], true).unwrap();
        assert!(d.hint.contains("single recv(1024)"));
    }

    #[test]
    fn an_early_answer_to_a_split_line_is_a_byte_stream_bug() {
        let d = diagnose(
            TransformName::UppercaseLines,
            b"hello world\n",
            b"HELLO\n WORLD\n",
            false,
        )
        .unwrap();
        assert!(d.hint.contains("TCP is a byte stream"));
    }

    #[test]
    fn capital_s_missed_is_named() {
        let d = diagnose(TransformName::CountS, b"Sassy", b"2", false).unwrap();
        assert!(d.finding.contains("capital S"));
    }

    #[test]
    fn a_udp_reply_cut_at_1024_bytes_asks_for_a_larger_buffer() {
        let sent = vec![b'a'; 2048];
        let d = diagnose(TransformName::Uppercase, &sent, &vec![b'A'; 1024], false).unwrap();
        assert!(d.hint.contains("recvfrom(2048)"));
    }

    #[test]
    fn lines_answered_without_newlines_are_named() {
        // Silence after the last letter is still a missing newline, not a cut reply.
        let d = diagnose(TransformName::UppercaseLines, b"hello\n", b"HELLO", true).unwrap();
        assert!(d.finding.contains("no '\\n'"), "{d:?}");
    }

    #[test]
    fn lines_left_unanswered_are_counted() {
        let d = diagnose(
            TransformName::UppercaseLines,
            b"one\ntwo\nthree\n",
            b"ONE\n",
            true,
        )
        .unwrap();
        assert!(d.finding.contains("1 of the 3 lines"), "{d:?}");
        assert!(d.hint.contains("split what you received"));
    }

    #[test]
    fn a_count_in_words_is_named() {
        let d = diagnose(TransformName::CountS, b"sassy", b"There are 3 s.", false).unwrap();
        assert!(d.hint.contains("only the digits"));
        // A wrong number in words is not the same bug.
        assert_eq!(
            diagnose(TransformName::CountS, b"sassy", b"There are 2 s.", false),
            None
        );
    }

    #[test]
    fn silence_leaves_the_lab_hint() {
        assert_eq!(diagnose(TransformName::Uppercase, b"x", b"", true), None);
    }

    #[test]
    fn a_reply_padded_with_the_buffer_names_the_length_fix() {
        let mut padded = b"HELLO".to_vec();
        padded.resize(1024, 0);
        let d = diagnose(TransformName::Uppercase, b"hello", &padded, false).unwrap();
        assert!(d.finding.contains("1019 zero bytes"), "{d:?}");
        assert!(d.hint.contains("getLength()") && d.hint.contains("sizeof"));
    }

    #[test]
    fn a_last_character_left_alone_is_an_off_by_one() {
        let d = diagnose(TransformName::Uppercase, b"hello", b"HELLo", false).unwrap();
        assert!(d.hint.contains("i < n"), "{d:?}");
    }

    #[test]
    fn several_numbers_are_not_the_count_in_words() {
        assert_eq!(
            diagnose(
                TransformName::CountS,
                b"sassy",
                b"Lines: 3\nWords: 3",
                false
            ),
            None
        );
    }

    #[test]
    fn a_reply_still_arriving_is_not_missing_its_line_ending() {
        let d = diagnose(
            TransformName::UppercaseLines,
            b"hello world\n",
            b"HELLO W",
            true,
        );
        assert!(
            d.as_ref().is_none_or(|d| !d.finding.contains("no '\\n'")),
            "{d:?}"
        );
    }
}
