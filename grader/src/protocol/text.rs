//! The text protocols of the first labs: a message (or, in tcp-lines, each
//! complete line) in, the reference transform of it out.
//!
//! Everything these labs differ in lives here: the transform a lab file
//! names (mapped to the reference implementation's own functions, so
//! expectations and reference agree), how much of what was sent a reply
//! answers, the grader-played server's script, what a correct client sends,
//! and the diagnoses of wrong replies (`text/diagnose.rs`).

mod diagnose;

use serde::{Deserialize, Serialize};

use super::{AfterTurn, ClientSymptom, Judgement, PeerTurn};
use crate::hint::{Hint, HintKind};

pub(super) use diagnose::reply as diagnose_reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransformName {
    /// The whole message uppercased (udp-uppercase, tcp-uppercase).
    Uppercase,
    /// The number of letters s (udp-count-s).
    CountS,
    /// Each complete line uppercased, `\n` after each (tcp-lines).
    UppercaseLines,
}

impl TransformName {
    pub fn apply(self, sent: &[u8]) -> Vec<u8> {
        match self {
            TransformName::Uppercase => socklab::transform::uppercase(sent),
            TransformName::CountS => socklab::transform::count_s(sent),
            TransformName::UppercaseLines => socklab::transform::uppercase_lines(sent),
        }
    }

    /// How many leading bytes of `sent` the transform has consumed: line-based
    /// transforms leave an unfinished line pending for the next reply.
    pub fn consumed(self, sent: &[u8]) -> usize {
        match self {
            TransformName::Uppercase | TransformName::CountS => sent.len(),
            TransformName::UppercaseLines => {
                sent.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
            }
        }
    }

    /// What a correct client sends for this standard input: line-based labs
    /// send every line, the others the first line without its newline.
    pub fn client_message(self, stdin: &[u8]) -> Vec<u8> {
        match self {
            TransformName::UppercaseLines => {
                let mut message = stdin.to_vec();
                if !message.is_empty() && !message.ends_with(b"\n") {
                    message.push(b'\n');
                }
                message
            }
            TransformName::Uppercase | TransformName::CountS => {
                let line = stdin.split(|&b| b == b'\n').next().unwrap_or_default();
                line.strip_suffix(b"\r").unwrap_or(line).to_vec()
            }
        }
    }

    /// Judges what arrived against the transform of `request`.
    pub(super) fn judge(self, request: &[u8], received: &[u8]) -> Judgement {
        Judgement::of_bytes(&self.apply(request), received)
    }

    fn framing(self) -> Framing {
        match self {
            TransformName::Uppercase | TransformName::CountS => Framing::WholeMessage,
            TransformName::UppercaseLines => Framing::Lines,
        }
    }

    pub(super) fn client_hint(self, symptom: ClientSymptom) -> Option<Hint> {
        match (self.framing(), symptom) {
            (Framing::Lines, ClientSymptom::NothingToAnswer) => Some(Hint::new(
                HintKind::ClientSentNoLine,
                "The grader's server got no complete line, so it had nothing to answer: end every line you send with '\\n'.",
            )),
            (Framing::Lines, ClientSymptom::RepliesNotPrinted) => Some(Hint::new(
                HintKind::ClientFirstReplyOnly,
                "Print every reply: keep reading until the server closes the connection (recv returns b''), not just once.",
            )),
            (Framing::WholeMessage, _) | (Framing::Lines, ClientSymptom::StillRunning) => None,
        }
    }
}

/// Where one request ends on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// What one read brought is the request, answered once; then the
    /// connection closes (tcp-uppercase).
    WholeMessage,
    /// Every complete line is a request, answered as it completes, for as
    /// long as the client keeps the connection open (tcp-lines).
    Lines,
}

/// The grader-played server of a text lab, like the lab's reference server:
/// one read and one reply for whole-message labs, a reply per line for line
/// labs. It says nothing on connect.
#[derive(Clone, Debug)]
pub struct TextPeer {
    transform: TransformName,
    /// Bytes of an unfinished line (line labs only).
    pending: Vec<u8>,
}

impl TextPeer {
    pub(super) fn new(transform: TransformName) -> TextPeer {
        TextPeer {
            transform,
            pending: Vec::new(),
        }
    }

    pub(super) fn on_connect(&mut self) -> Vec<u8> {
        Vec::new()
    }

    pub(super) fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        match self.transform.framing() {
            Framing::WholeMessage => PeerTurn {
                reply: Some(self.transform.apply(bytes)),
                then: AfterTurn::Close,
            },
            Framing::Lines => {
                self.pending.extend_from_slice(bytes);
                let complete = self.transform.consumed(&self.pending);
                let request: Vec<u8> = self.pending.drain(..complete).collect();
                PeerTurn {
                    reply: (!request.is_empty()).then(|| self.transform.apply(&request)),
                    then: AfterTurn::KeepReading,
                }
            }
        }
    }

    pub(super) fn on_datagram(&mut self, datagram: &[u8]) -> Vec<u8> {
        self.transform.apply(datagram)
    }
}

/// A reply without its line ending, as a client prints it.
pub(super) fn strip_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Whether every reply (without its newline) appears in `output`, in order.
pub(super) fn contains_in_order(output: &[u8], replies: &[Vec<u8>]) -> bool {
    let mut from = 0;
    for reply in replies {
        for line in strip_newline(reply).split(|&b| b == b'\n') {
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

    #[test]
    fn replies_must_appear_in_order() {
        let output = b"Input lowercase sentence:From Server: HELLO\nWORLD\n";
        assert!(contains_in_order(
            output,
            &[b"HELLO\n".to_vec(), b"WORLD\n".to_vec()]
        ));
        assert!(!contains_in_order(
            output,
            &[b"WORLD\n".to_vec(), b"HELLO\n".to_vec()]
        ));
    }

    #[test]
    fn the_judge_compares_as_bytes_arrive() {
        let upper = TransformName::Uppercase;
        assert_eq!(upper.judge(b"hello", b"HEL"), Judgement::Incomplete);
        assert_eq!(
            upper.judge(b"hello", b"HELLO"),
            Judgement::Match { length: 5 }
        );
        // More than the reply: the match ends where the reply does.
        assert_eq!(
            upper.judge(b"hello", b"HELLO\n"),
            Judgement::Match { length: 5 }
        );
        // A wrong first byte is a mismatch at once.
        assert_eq!(upper.judge(b"hello", b"h"), Judgement::Mismatch);
        assert_eq!(upper.judge(b"", b""), Judgement::Match { length: 0 });
        let count = TransformName::CountS;
        assert_eq!(
            count.judge(b"mississippi", b"4"),
            Judgement::Match { length: 1 }
        );
        assert_eq!(count.judge(b"mississippi", b"3"), Judgement::Mismatch);
        let lines = TransformName::UppercaseLines;
        // An unfinished line gets no reply yet: nothing is expected for it.
        assert_eq!(
            lines.judge(b"one\ntw", b"ONE\n"),
            Judgement::Match { length: 4 }
        );
        assert_eq!(lines.judge(b"one\ntwo\n", b"ONE\n"), Judgement::Incomplete);
    }

    #[test]
    fn a_line_request_ends_at_its_last_newline() {
        let lines = TransformName::UppercaseLines;
        assert_eq!(lines.consumed(b"one\ntw"), 4);
        assert_eq!(lines.consumed(b"tw"), 0);
        assert_eq!(TransformName::Uppercase.consumed(b"one\ntw"), 6);
    }

    #[test]
    fn the_whole_message_peer_answers_one_read_then_closes() {
        let mut peer = TextPeer::new(TransformName::Uppercase);
        assert_eq!(peer.on_connect(), b"");
        assert_eq!(
            peer.on_stream(b"hi there"),
            PeerTurn {
                reply: Some(b"HI THERE".to_vec()),
                then: AfterTurn::Close
            }
        );
        let mut peer = TextPeer::new(TransformName::CountS);
        assert_eq!(peer.on_datagram(b"sassy"), b"3");
    }

    #[test]
    fn the_line_peer_answers_complete_lines_as_they_arrive() {
        let mut peer = TextPeer::new(TransformName::UppercaseLines);
        let turn = |reply: Option<&[u8]>| PeerTurn {
            reply: reply.map(<[u8]>::to_vec),
            then: AfterTurn::KeepReading,
        };
        assert_eq!(peer.on_stream(b"hel"), turn(None));
        assert_eq!(peer.on_stream(b"lo\nwor"), turn(Some(b"HELLO\n")));
        assert_eq!(peer.on_stream(b"ld\na\nb\n"), turn(Some(b"WORLD\nA\nB\n")));
        assert_eq!(peer.on_stream(b""), turn(None));
    }

    #[test]
    fn a_correct_client_sends_the_first_line_or_every_line() {
        assert_eq!(
            TransformName::Uppercase.client_message(b"hi\r\nmore\n"),
            b"hi"
        );
        assert_eq!(
            TransformName::UppercaseLines.client_message(b"a\nb"),
            b"a\nb\n"
        );
        assert_eq!(TransformName::UppercaseLines.client_message(b""), b"");
    }

    #[test]
    fn only_line_labs_explain_client_symptoms() {
        assert_eq!(
            TransformName::UppercaseLines
                .client_hint(ClientSymptom::NothingToAnswer)
                .map(|hint| hint.kind),
            Some(HintKind::ClientSentNoLine)
        );
        assert_eq!(
            TransformName::Uppercase.client_hint(ClientSymptom::RepliesNotPrinted),
            None
        );
    }
}
