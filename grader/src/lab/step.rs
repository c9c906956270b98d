//! The steps a test is made of, in their validated form.
//!
//! Server tests drive the student's server through sockets the grader opens;
//! client tests start the student's client while the grader plays the server.

use regex::bytes::Regex;
use serde::Deserialize;

/// The name a test gives one of its sockets; tests with a single socket never
/// write it and get [`SocketName::MAIN`].
pub type SocketName = String;

pub use crate::protocol::ClientCheck;
pub use crate::protocol::smtp::{SmtpCheck, SmtpPlan};
pub use crate::sentence::Alphabet;
pub use crate::transport::Transport;

#[derive(Clone, Debug)]
pub enum Step {
    /// Open a socket towards the server: connect over TCP, or bind an
    /// ephemeral UDP socket (left unconnected so replies from a wrong address
    /// are seen, not filtered by the kernel).
    Open {
        socket: SocketName,
        transport: Transport,
    },
    Send(Send),
    /// Half-close: the server reads end-of-file, the connection stays open for replies.
    ShutdownWrite {
        socket: SocketName,
    },
    /// Abort the connection with a TCP RST instead of a FIN.
    Reset {
        socket: SocketName,
    },
    Close {
        socket: SocketName,
    },
    /// Wait for a reply and check it.
    Expect {
        socket: SocketName,
        expectation: Expectation,
        /// How long to wait for it; the test's own deadline when absent.
        within_ms: Option<u64>,
        /// The reply's form is judged as a lenient browser would: a test
        /// about something else (a PNG's bytes, a second request) does not
        /// fail again for a status line that a stricter test already
        /// charged. Only protocols with a form to forgive use it (HTTP).
        lenient: bool,
    },
    /// Nothing may arrive for this long.
    ExpectSilence {
        socket: SocketName,
        ms: u64,
    },
    /// The server must close the connection (TCP end-of-file).
    ExpectClosed {
        socket: SocketName,
    },
    Pause {
        ms: u64,
    },
    /// Client tests: the grader listens where the client will send and answers
    /// as `behaviour` says. Server tests: the grader plays the origin a
    /// proxy fetches from, on an address of its own that `{origin}` in a
    /// later `send` text names; a second `serve` replaces the first.
    Serve {
        transport: Transport,
        behaviour: PeerBehaviour,
        /// How the grader's mail server behaves (smtp labs): pauses,
        /// multi-line replies, refused recipients.
        smtp: Option<SmtpPlan>,
    },
    /// Client tests: start the student's client with this standard input and
    /// wait for it to finish (or reach the test's deadline).
    RunClient {
        stdin: Vec<u8>,
    },
    /// Client tests: what the client printed.
    ExpectOutput {
        stream: OutputStream,
        expectation: ClientExpectation,
    },
    /// Client tests: what the grader's server received from the client.
    ExpectSent(Expectation),
    /// Client tests, smtp labs: a check of the dialogue the grader's mail
    /// server had with the client.
    ExpectDialogue(SmtpCheck),
    /// How many connections the grader-played peer (a proxy's origin) was
    /// asked `path` on since its `serve` step: the origin's hit counter.
    ExpectHits {
        path: String,
        count: u32,
    },
    /// Client tests: how the client ended. `None` means "any failure status".
    ExpectExit {
        code: Option<i32>,
        success: bool,
    },
    /// Client tests: the client ended on its own terms, not by a crash in
    /// any language (a traceback, an uncaught exception, a panic, a fatal
    /// signal).
    ExpectNoCrash,
    /// Client tests: one of the checks the lab's protocol makes of the
    /// client's whole run (the pinger's RTTs, its pacing), reading what the
    /// client printed beside what the grader's server received and sent, and
    /// when.
    Check(ClientCheck),
}

#[derive(Clone, Debug)]
pub struct Send {
    pub socket: SocketName,
    pub payload: Payload,
    /// Append `\n` after the payload.
    pub newline: bool,
    /// Sizes of the segments to send the payload in, with `pause_ms` between
    /// them; what is left after the last size goes in one final segment.
    pub segments: Vec<usize>,
    pub pause_ms: u64,
}

#[derive(Clone, Debug)]
pub enum Payload {
    /// Literal bytes (from `text` or `hex`).
    Bytes(Vec<u8>),
    /// A sentence of this many words, drawn from the run's seed.
    Words { count: usize, alphabet: Alphabet },
    /// This many bytes of seeded lowercase text.
    Size(usize),
}

/// What a reply must look like.
#[derive(Clone, Debug)]
pub enum Expectation {
    /// The lab's reference transform of what was sent since the last reply.
    Reference,
    Exact(Vec<u8>),
    Regex(Regex),
    /// Exactly this many bytes, whatever they are.
    Length(usize),
}

/// How the grader's server answers a student's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerBehaviour {
    /// Like the reference server.
    Reference,
    /// Receive, never answer.
    Silent,
    /// Answer twice.
    Twice,
    /// Answer after this many milliseconds.
    Late(u64),
    /// Close the connection without answering.
    CloseEarly,
    /// Nothing is listening at all.
    Absent,
    /// Plays the protocol's seeded plan (the pinger's server: two pings
    /// dropped, one reply held past the client's deadline, the others
    /// answered after known delays), drawn from the test's seed.
    Plan,
}

/// Which of a client's outputs a check reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    #[default]
    Stdout,
    Stderr,
    /// Standard output and standard error together.
    Any,
}

/// What a client's output must contain.
#[derive(Clone, Debug)]
pub enum ClientExpectation {
    /// Every reply the grader's server sent, in order.
    Replies,
    Contains(Vec<u8>),
    Regex(Regex),
    /// Not this text: catches a client that prints what it sent.
    Lacks(Vec<u8>),
}
