//! Matching what arrived against what a step expects, with no sockets and
//! no clock: every function here is pure, and unit-tested below.
//!
//! What the lab's reference reply is comes from the [`Protocol`]; what an
//! exact text, a pattern or a length asks for is the same in every lab.

use crate::diagnose::shown;
use crate::lab::{ClientExpectation, Expectation};
use crate::outcome::ExitReport;
use crate::protocol::{Judgement, Protocol, find};

/// How many leading bytes of what was sent and not yet answered the
/// expected reply answers: only the reference reply leaves a part (an
/// unfinished line) for a later one.
pub fn request_length(protocol: Protocol, expectation: &Expectation, unanswered: &[u8]) -> usize {
    match expectation {
        Expectation::Reference => protocol.request_length(unanswered),
        Expectation::Exact(_) | Expectation::Regex(_) | Expectation::Length(_) => unanswered.len(),
    }
}

/// Judges the bytes received on a stream so far against the expected reply
/// to `request`. Exact replies are compared as they arrive; a pattern
/// matches whatever has arrived once it does. `closed`: the server closed
/// its side, so nothing more will arrive.
pub fn judge_stream(
    protocol: Protocol,
    expectation: &Expectation,
    request: &[u8],
    received: &[u8],
    closed: bool,
) -> Judgement {
    match expectation {
        Expectation::Reference => protocol.judge(request, received, closed),
        Expectation::Exact(bytes) => Judgement::of_bytes(bytes, received),
        Expectation::Regex(regex) if regex.is_match(received) => Judgement::Match {
            length: received.len(),
        },
        Expectation::Length(length) if received.len() >= *length => {
            Judgement::Match { length: *length }
        }
        Expectation::Regex(_) | Expectation::Length(_) => Judgement::Incomplete,
    }
}

/// Whether one datagram is the expected reply to `request`, whole.
pub fn datagram_matches(
    protocol: Protocol,
    expectation: &Expectation,
    request: &[u8],
    datagram: &[u8],
) -> bool {
    match expectation {
        Expectation::Reference => matches!(
            protocol.judge(request, datagram, true),
            Judgement::Match { length } if length == datagram.len()
        ),
        Expectation::Exact(bytes) => datagram == bytes.as_slice(),
        Expectation::Regex(regex) => regex.is_match(datagram),
        Expectation::Length(length) => datagram.len() == *length,
    }
}

/// The exact reply expected, when the expectation is one; what the reply
/// diagnoses compare against.
pub fn expected_bytes(
    protocol: Protocol,
    expectation: &Expectation,
    request: &[u8],
) -> Option<Vec<u8>> {
    match expectation {
        Expectation::Reference => Some(protocol.reply_to(request)),
        Expectation::Exact(bytes) => Some(bytes.clone()),
        Expectation::Regex(_) | Expectation::Length(_) => None,
    }
}

/// The expected reply, as a message shows it.
pub fn describe_reply(protocol: Protocol, expectation: &Expectation, request: &[u8]) -> String {
    match expectation {
        Expectation::Reference => protocol.describe_reply(request),
        Expectation::Exact(bytes) => shown(bytes),
        Expectation::Regex(regex) => format!("a reply matching the pattern `{}`", regex.as_str()),
        Expectation::Length(length) => format!("{length} bytes"),
    }
}

/// Whether what the grader-played peer received from the student's client
/// is what a correct client sends for `stdin`, and that expectation shown.
pub fn sent_matches(
    protocol: Protocol,
    expectation: &Expectation,
    stdin: &[u8],
    received: &[u8],
) -> (bool, String) {
    match expectation {
        Expectation::Reference => {
            let message = protocol.client_request(stdin);
            (received == message.as_slice(), shown(&message))
        }
        Expectation::Exact(bytes) => (received == bytes.as_slice(), shown(bytes)),
        Expectation::Regex(regex) => (
            regex.is_match(received),
            format!("a match for `{}`", regex.as_str()),
        ),
        Expectation::Length(length) => (received.len() == *length, format!("{length} bytes")),
    }
}

/// Whether a client's output is what `expectation` asks, and that
/// expectation shown. `replies` are the peer's replies, in order.
pub fn output_matches(
    protocol: Protocol,
    expectation: &ClientExpectation,
    output: &[u8],
    replies: &[Vec<u8>],
) -> (bool, String) {
    match expectation {
        ClientExpectation::Replies if replies.is_empty() => (
            false,
            "the server's reply (but the client sent nothing the grader's server could answer)"
                .to_string(),
        ),
        ClientExpectation::Replies => {
            let shown_replies: Vec<String> = replies
                .iter()
                .map(|reply| shown(protocol.without_line_ending(reply)))
                .collect();
            (
                protocol.printed_replies(output, replies),
                format!("the reply {}", shown_replies.join(" then ")),
            )
        }
        ClientExpectation::Contains(text) => (
            find(output, text, 0).is_some(),
            format!("the text {}", shown(text)),
        ),
        ClientExpectation::Regex(regex) => (
            regex.is_match(output),
            format!("a match for `{}`", regex.as_str()),
        ),
        ClientExpectation::Lacks(text) => (
            find(output, text, 0).is_none(),
            format!("no {}", shown(text)),
        ),
    }
}

/// Whether a program's end is the one asked for: `code` exactly, or with
/// no code any success (`success`) or any failure, a fatal signal included.
pub fn exit_matches(exit: Option<&ExitReport>, code: Option<i32>, success: bool) -> bool {
    match (exit, code) {
        (Some(ExitReport::Code(actual)), Some(code)) => *actual == code,
        (Some(ExitReport::Code(actual)), None) => (*actual == 0) == success,
        (Some(ExitReport::Signal(_)), _) => !success && code.is_none(),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::TransformName;
    use regex::bytes::Regex;

    const UPPER: TransformName = TransformName::Uppercase;
    const LINES: TransformName = TransformName::UppercaseLines;

    #[test]
    fn a_stream_reply_is_judged_as_it_arrives() {
        let reference = Expectation::Reference;
        assert_eq!(
            judge_stream(UPPER.into(), &reference, b"abc", b"AB", false),
            Judgement::Incomplete
        );
        assert_eq!(
            judge_stream(UPPER.into(), &reference, b"abc", b"ABCD", false),
            Judgement::Match { length: 3 }
        );
        assert_eq!(
            judge_stream(UPPER.into(), &reference, b"abc", b"x", false),
            Judgement::Mismatch
        );
        let exact = Expectation::Exact(b"ok".to_vec());
        assert_eq!(
            judge_stream(UPPER.into(), &exact, b"abc", b"o", false),
            Judgement::Incomplete
        );
        assert_eq!(
            judge_stream(UPPER.into(), &exact, b"abc", b"no", false),
            Judgement::Mismatch
        );
    }

    #[test]
    fn patterns_and_lengths_wait_until_they_match() {
        let regex = Expectation::Regex(Regex::new("^[0-9]+$").unwrap());
        assert_eq!(
            judge_stream(UPPER.into(), &regex, b"", b"12x", false),
            Judgement::Incomplete
        );
        assert_eq!(
            judge_stream(UPPER.into(), &regex, b"", b"12", false),
            Judgement::Match { length: 2 }
        );
        let length = Expectation::Length(3);
        assert_eq!(
            judge_stream(UPPER.into(), &length, b"", b"ab", false),
            Judgement::Incomplete
        );
        assert_eq!(
            judge_stream(UPPER.into(), &length, b"", b"abcd", false),
            Judgement::Match { length: 3 }
        );
    }

    #[test]
    fn only_the_reference_reply_leaves_an_unfinished_line_pending() {
        assert_eq!(
            request_length(LINES.into(), &Expectation::Reference, b"one\ntw"),
            4
        );
        assert_eq!(
            request_length(LINES.into(), &Expectation::Length(1), b"one\ntw"),
            6
        );
        assert_eq!(
            request_length(UPPER.into(), &Expectation::Reference, b"one\ntw"),
            6
        );
    }

    #[test]
    fn a_datagram_matches_only_whole() {
        let reference = Expectation::Reference;
        assert!(datagram_matches(UPPER.into(), &reference, b"hi", b"HI"));
        assert!(!datagram_matches(UPPER.into(), &reference, b"hi", b"H"));
        assert!(!datagram_matches(UPPER.into(), &reference, b"hi", b"HI\n"));
        assert!(datagram_matches(
            UPPER.into(),
            &Expectation::Length(2),
            b"hi",
            b"xy"
        ));
        assert!(!datagram_matches(
            UPPER.into(),
            &Expectation::Exact(b"HI".to_vec()),
            b"",
            b"HI!"
        ));
    }

    #[test]
    fn what_a_client_sent_is_compared_with_a_correct_clients_request() {
        let (ok, shown) = sent_matches(
            UPPER.into(),
            &Expectation::Reference,
            b"hello\nmore\n",
            b"hello",
        );
        assert!(ok, "{shown}");
        let (ok, _) = sent_matches(
            UPPER.into(),
            &Expectation::Reference,
            b"hello\n",
            b"hello\n",
        );
        assert!(!ok);
        let (ok, _) = sent_matches(LINES.into(), &Expectation::Reference, b"a\nb", b"a\nb\n");
        assert!(ok);
    }

    #[test]
    fn a_clients_output_shows_every_reply_in_order() {
        let replies = [b"HELLO\n".to_vec(), b"WORLD\n".to_vec()];
        let out = b"From Server: HELLO\nWORLD\n";
        assert!(output_matches(LINES.into(), &ClientExpectation::Replies, out, &replies).0);
        let (ok, expected) = output_matches(LINES.into(), &ClientExpectation::Replies, out, &[]);
        assert!(!ok && expected.contains("sent nothing"));
        let lacks = ClientExpectation::Lacks(b"hello".to_vec());
        assert!(output_matches(UPPER.into(), &lacks, out, &[]).0);
        let contains = ClientExpectation::Contains(b"Server".to_vec());
        assert!(output_matches(UPPER.into(), &contains, out, &[]).0);
    }

    #[test]
    fn an_exit_is_matched_by_code_success_or_failure() {
        let zero = ExitReport::Code(0);
        let one = ExitReport::Code(1);
        let killed = ExitReport::Signal(9);
        assert!(exit_matches(Some(&zero), None, true));
        assert!(!exit_matches(Some(&one), None, true));
        assert!(exit_matches(Some(&one), None, false));
        assert!(exit_matches(Some(&one), Some(1), false));
        assert!(exit_matches(Some(&killed), None, false));
        assert!(!exit_matches(Some(&killed), Some(9), false));
        assert!(!exit_matches(None, None, false));
    }
}
