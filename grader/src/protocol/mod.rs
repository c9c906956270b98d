//! What differs from one lab's protocol to the next, in one closed enum.
//!
//! The engine in `exchange/` knows sockets, steps and deadlines, and nothing
//! of what the bytes mean: it asks the lab's [`Protocol`] how much of what
//! was sent a reply answers, whether what arrived is that reply (or its
//! beginning), what the grader-played peer says, what a correct client sends
//! and prints, and what a wrong reply most likely means. A new protocol (a
//! chapter 2 lab speaking HTTP or SMTP) is a new variant and a module here;
//! every `match` over [`Protocol`] then names what it must decide.
//!
//! Expected replies always come from the reference crate's pure functions
//! (`socklab::transform`), which the reference servers call too: the
//! grader's expectation and the reference cannot disagree.

pub mod http;
mod text;

pub use text::TransformName;

use crate::diagnose::Diagnosis;
use crate::hint::Hint;

/// The protocol a lab speaks, built from what its lab file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// A message or a line in, its transform out (udp-uppercase,
    /// tcp-uppercase, udp-count-s, tcp-lines).
    Text(TransformName),
}

/// What arrived so far, judged against the reply expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Right so far, and more is expected.
    Incomplete,
    /// The first `length` bytes received are the whole expected reply.
    Match { length: usize },
    /// What arrived cannot become the expected reply.
    Mismatch,
}

impl Judgement {
    /// Judges `received` against exactly `expected`, byte by byte as it
    /// arrives: a wrong first byte is a mismatch at once, without waiting.
    pub fn of_bytes(expected: &[u8], received: &[u8]) -> Judgement {
        let common = received.len().min(expected.len());
        if received[..common] != expected[..common] {
            Judgement::Mismatch
        } else if received.len() >= expected.len() {
            Judgement::Match {
                length: expected.len(),
            }
        } else {
            Judgement::Incomplete
        }
    }
}

/// A reply that was not the one expected, as the diagnoses read it.
#[derive(Clone, Copy, Debug)]
pub struct Mismatch<'a> {
    /// What was sent that the reply answers.
    pub sent: &'a [u8],
    pub expected: &'a [u8],
    pub received: &'a [u8],
    /// The reply stopped arriving before it was complete.
    pub timed_out: bool,
}

/// What the grader-played peer does after bytes arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTurn {
    /// The reply a correct server sends now, if any (a line protocol waits
    /// for a complete line).
    pub reply: Option<Vec<u8>>,
    /// Whether the exchange on this connection is over once replied.
    pub then: AfterTurn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterTurn {
    KeepReading,
    /// One request, one reply, then close: the handout's protocol.
    Close,
}

/// A symptom of a client test that a protocol may explain in its own terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientSymptom {
    /// The client sent bytes, the peer found no request to answer in them,
    /// and the client kept waiting.
    NothingToAnswer,
    /// The client's output lacks some of the replies it was sent.
    RepliesNotPrinted,
}

/// The grader-played peer's script for one connection (or one UDP socket):
/// what it says on connect and what it answers to bytes.
#[derive(Clone, Debug)]
pub enum PeerScript {
    Text(text::TextPeer),
}

impl From<TransformName> for Protocol {
    fn from(transform: TransformName) -> Protocol {
        Protocol::named(transform)
    }
}

impl PeerScript {
    /// What the peer says as soon as a client connects.
    pub fn on_connect(&mut self) -> Vec<u8> {
        match self {
            PeerScript::Text(peer) => peer.on_connect(),
        }
    }

    /// What the peer does with bytes read from a connection.
    pub fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        match self {
            PeerScript::Text(peer) => peer.on_stream(bytes),
        }
    }

    /// The reply to one datagram.
    pub fn on_datagram(&mut self, datagram: &[u8]) -> Vec<u8> {
        match self {
            PeerScript::Text(peer) => peer.on_datagram(datagram),
        }
    }
}

impl Protocol {
    /// The protocol of a lab whose file names `transform`.
    pub fn named(transform: TransformName) -> Protocol {
        Protocol::Text(transform)
    }

    /// How many leading bytes of what was sent and not yet answered the
    /// next reply answers (a line protocol leaves an unfinished line).
    pub fn request_length(self, unanswered: &[u8]) -> usize {
        match self {
            Protocol::Text(transform) => transform.consumed(unanswered),
        }
    }

    /// The reply a correct server gives to `request`.
    pub fn reply_to(self, request: &[u8]) -> Vec<u8> {
        match self {
            Protocol::Text(transform) => transform.apply(request),
        }
    }

    /// Judges what arrived so far against the reply to `request`.
    pub fn judge(self, request: &[u8], received: &[u8]) -> Judgement {
        match self {
            Protocol::Text(transform) => transform.judge(request, received),
        }
    }

    /// What a wrong reply most likely means, when a known pattern fits.
    pub fn diagnose_reply(self, mismatch: &Mismatch<'_>) -> Option<Diagnosis> {
        match self {
            Protocol::Text(transform) => text::diagnose_reply(transform, mismatch),
        }
    }

    /// A fresh script for the grader-played peer.
    pub fn peer(self) -> PeerScript {
        match self {
            Protocol::Text(transform) => PeerScript::Text(text::TextPeer::new(transform)),
        }
    }

    /// What a correct client sends for this standard input.
    pub fn client_request(self, stdin: &[u8]) -> Vec<u8> {
        match self {
            Protocol::Text(transform) => transform.client_message(stdin),
        }
    }

    /// Whether a client's output shows every reply it was sent, in order.
    pub fn printed_replies(self, output: &[u8], replies: &[Vec<u8>]) -> bool {
        match self {
            Protocol::Text(_) => text::contains_in_order(output, replies),
        }
    }

    /// A message without its line ending: a reply as a client prints it, a
    /// sentence as `input()` reads it.
    pub fn without_line_ending(self, message: &[u8]) -> &[u8] {
        match self {
            Protocol::Text(_) => text::strip_newline(message),
        }
    }

    /// The protocol's own hint for a client test's symptom, if it has one.
    pub fn client_hint(self, symptom: ClientSymptom) -> Option<Hint> {
        match self {
            Protocol::Text(transform) => transform.client_hint(symptom),
        }
    }
}

/// Where `needle` first occurs in `haystack` at or after `from`.
pub(crate) fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return Some(from);
    }
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}
