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
pub mod pinger;
pub mod proxy;
pub mod smtp;
mod text;

pub use text::TransformName;

use std::net::SocketAddr;
use std::time::Instant;

use socklab::udp_pinger::Fate;

use crate::diagnose::Diagnosis;
use crate::hint::{Hint, HintKind};

/// The protocol a lab speaks, built from what its lab file names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// A message or a line in, its transform out (udp-uppercase,
    /// tcp-uppercase, udp-count-s, tcp-lines).
    Text(TransformName),
    /// HTTP/1.x requests for the files of the lab's document root
    /// (web-server). Sites are interned ([`http::Site::intern`]), so the
    /// protocol stays a small `Copy` value.
    Http {
        site: &'static http::Site,
        /// Forgive what a lenient browser forgives in a response's form
        /// (see [`Protocol::judging`]).
        lenient: bool,
    },
    /// SMTP, the grader playing a strict mail server for the student's
    /// client (smtp-client).
    Smtp,
    /// A caching web proxy between the grader's requests and the
    /// grader-played origin, which serves the lab's files (web-proxy):
    /// what a correct proxy sends is the origin's response, byte for byte.
    Proxy { site: &'static http::Site },
    /// The UDP pinger (udp-pinger): the client's pings echoed in capitals
    /// by a server that plays a seeded plan of losses and delays, and the
    /// client's whole run judged against it ([`pinger::Check`]).
    Pinger,
}

/// A check of a client's whole run that only its protocol knows how to
/// make: a lab file's `check` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCheck {
    Pinger(pinger::Check),
}

/// One datagram the grader-played peer received, and when.
#[derive(Clone, Debug)]
pub struct Heard {
    pub at: Instant,
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

/// One reply the grader-played peer sent: when (taken just before it was
/// sent) and which datagram of [`Timeline::heard`] it answers.
#[derive(Clone, Debug)]
pub struct Answered {
    pub at: Instant,
    pub answers: usize,
}

/// What a peer playing a plan received and sent, with the times: what a
/// [`ClientCheck`] compares the client's output with.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// The fate of each datagram, in the order they arrive.
    pub plan: Vec<Fate>,
    pub heard: Vec<Heard>,
    pub answered: Vec<Answered>,
}

/// What a [`ClientCheck`] reads of one run of the client.
#[derive(Clone, Copy, Debug)]
pub struct ClientRunView<'a> {
    pub stdout: &'a [u8],
    pub timeline: &'a Timeline,
    /// When the client had ended (the check runs after it).
    pub ended: Instant,
}

/// A check's verdict: notes for the transcript (what was compared), and the
/// finding when it failed.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    pub notes: Vec<String>,
    pub failure: Option<(String, Hint)>,
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
    /// The client was still running at the test's deadline although the
    /// grader's server answered it.
    StillRunning,
}

/// The grader-played peer's script for one connection (or one UDP socket):
/// what it says on connect and what it answers to bytes.
#[derive(Clone, Debug)]
pub enum PeerScript {
    Text(text::TextPeer),
    Http(http::HttpPeer),
    Smtp(Box<smtp::SmtpPeer>),
    Origin(proxy::OriginPeer),
    Pinger,
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
            PeerScript::Http(_) | PeerScript::Origin(_) | PeerScript::Pinger => Vec::new(),
            PeerScript::Smtp(peer) => peer.on_connect(),
        }
    }

    /// How long the peer waits before what it says on connect.
    pub fn greeting_pause(&self) -> std::time::Duration {
        match self {
            PeerScript::Text(_)
            | PeerScript::Http(_)
            | PeerScript::Origin(_)
            | PeerScript::Pinger => std::time::Duration::ZERO,
            PeerScript::Smtp(peer) => peer.greeting_pause(),
        }
    }

    /// How long the peer waits before each reply, and between the lines of
    /// a reply of several lines (zero: the reply goes in one piece).
    pub fn reply_pace(&self) -> (std::time::Duration, std::time::Duration) {
        match self {
            PeerScript::Text(_)
            | PeerScript::Http(_)
            | PeerScript::Origin(_)
            | PeerScript::Pinger => (std::time::Duration::ZERO, std::time::Duration::ZERO),
            PeerScript::Smtp(peer) => peer.reply_pace(),
        }
    }

    /// Bytes that arrived while the peer was holding its greeting or reply
    /// (or had sent only its first lines): a protocol in which the server
    /// must finish speaking first notes it.
    pub fn heard_early(&mut self, bytes: &[u8], before_last_line: bool) {
        match self {
            PeerScript::Text(_)
            | PeerScript::Http(_)
            | PeerScript::Origin(_)
            | PeerScript::Pinger => {}
            PeerScript::Smtp(peer) => peer.heard_early(bytes, before_last_line),
        }
    }

    /// What the script noticed since it was last asked, for the transcript.
    pub fn take_notes(&mut self) -> Vec<String> {
        match self {
            PeerScript::Text(_)
            | PeerScript::Http(_)
            | PeerScript::Origin(_)
            | PeerScript::Pinger => Vec::new(),
            PeerScript::Smtp(peer) => peer.take_notes(),
        }
    }

    /// What the peer does with bytes read from a connection.
    pub fn on_stream(&mut self, bytes: &[u8]) -> PeerTurn {
        match self {
            PeerScript::Text(peer) => peer.on_stream(bytes),
            PeerScript::Http(peer) => peer.on_stream(bytes),
            PeerScript::Smtp(peer) => peer.on_stream(bytes),
            PeerScript::Origin(peer) => peer.on_stream(bytes),
            // The pinger runs over UDP; a stream gets its bytes back in capitals.
            PeerScript::Pinger => PeerTurn {
                reply: Some(pinger::echo(bytes)),
                then: AfterTurn::KeepReading,
            },
        }
    }

    /// The reply to one datagram.
    pub fn on_datagram(&mut self, datagram: &[u8]) -> Vec<u8> {
        match self {
            PeerScript::Text(peer) => peer.on_datagram(datagram),
            // HTTP and SMTP do not run over UDP; a lab cannot ask for it.
            PeerScript::Http(_) | PeerScript::Smtp(_) | PeerScript::Origin(_) => Vec::new(),
            PeerScript::Pinger => pinger::echo(datagram),
        }
    }
}

impl Protocol {
    /// This protocol judging one `expect` step: strictly, or forgiving what
    /// a lenient browser forgives (a step's `lenient = true`), so that a
    /// test fails only for the property it is about.
    pub fn judging(self, lenient: bool) -> Protocol {
        match self {
            // A proxy forwards the origin's bytes: there is no form of its own.
            Protocol::Text(_) | Protocol::Smtp | Protocol::Proxy { .. } | Protocol::Pinger => self,
            Protocol::Http { site, .. } => Protocol::Http { site, lenient },
        }
    }

    /// Whether a test that failed with a hint of `kind` still lets the tests
    /// that need it run (`after`): a fault of form that lenient tests
    /// forgive says nothing about what those tests check.
    pub fn forgiven_later(self, kind: HintKind) -> bool {
        match self {
            Protocol::Text(_) | Protocol::Smtp | Protocol::Proxy { .. } | Protocol::Pinger => false,
            Protocol::Http { .. } => http::is_form_fault(kind),
        }
    }

    /// Whether the grader-played peer can play a seeded plan
    /// (`behaviour = "plan"`).
    pub fn has_plan(self) -> bool {
        match self {
            Protocol::Pinger => true,
            Protocol::Text(_) | Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } => {
                false
            }
        }
    }

    /// The plan drawn from `seed`: the fate of each datagram in turn.
    pub fn plan(self, seed: u64) -> Vec<Fate> {
        match self {
            Protocol::Pinger => socklab::udp_pinger::graded_plan(seed),
            Protocol::Text(_) | Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } => {
                Vec::new()
            }
        }
    }

    /// The names a lab file's `check` step may give.
    pub fn client_check_names(self) -> &'static [&'static str] {
        match self {
            Protocol::Pinger => pinger::Check::NAMES,
            Protocol::Text(_) | Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } => {
                &[]
            }
        }
    }

    /// The check a `check` step names, if this protocol has it.
    pub fn client_check(self, name: &str) -> Option<ClientCheck> {
        match self {
            Protocol::Pinger => pinger::Check::named(name).map(ClientCheck::Pinger),
            Protocol::Text(_) | Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } => {
                None
            }
        }
    }

    /// Makes `check` of one run of the client.
    pub fn check_client(self, check: ClientCheck, run: &ClientRunView<'_>) -> Checked {
        match check {
            ClientCheck::Pinger(check) => pinger::check(check, run),
        }
    }

    /// The protocol of a lab whose file names `transform`.
    pub fn named(transform: TransformName) -> Protocol {
        Protocol::Text(transform)
    }

    /// How many leading bytes of what was sent and not yet answered the
    /// next reply answers (a line protocol leaves an unfinished line).
    pub fn request_length(self, unanswered: &[u8]) -> usize {
        match self {
            Protocol::Text(transform) => transform.consumed(unanswered),
            // One request per connection: everything sent is the request.
            // (An SMTP lab has no server tests.)
            Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } | Protocol::Pinger => {
                unanswered.len()
            }
        }
    }

    /// The reply a correct server gives to `request`.
    pub fn reply_to(self, request: &[u8]) -> Vec<u8> {
        match self {
            Protocol::Text(transform) => transform.apply(request),
            Protocol::Http { site, .. } => site.reference_response(request),
            Protocol::Smtp => Vec::new(),
            Protocol::Proxy { site } => proxy::expected_reply(site, request),
            Protocol::Pinger => pinger::echo(request),
        }
    }

    /// The expected reply to `request`, as a failure message shows it.
    pub fn describe_reply(self, request: &[u8]) -> String {
        match self {
            Protocol::Text(transform) => crate::diagnose::shown(&transform.apply(request)),
            Protocol::Http { site, .. } => site.expected(request).describe(),
            Protocol::Smtp => "an SMTP reply".into(),
            Protocol::Proxy { site } => proxy::describe_reply(site, request),
            Protocol::Pinger => crate::diagnose::shown(&pinger::echo(request)),
        }
    }

    /// Judges what arrived so far against the reply to `request`. `closed`
    /// says the server has closed its side: a protocol whose replies end
    /// with the connection (an HTTP response without a length) needs it.
    pub fn judge(self, request: &[u8], received: &[u8], closed: bool) -> Judgement {
        match self {
            Protocol::Text(transform) => transform.judge(request, received),
            Protocol::Http { site, lenient } => {
                match http::judge(&site.expected(request), received, closed, lenient) {
                    http::Verdict::Incomplete => Judgement::Incomplete,
                    http::Verdict::Right(_) => Judgement::Match {
                        length: received.len(),
                    },
                    http::Verdict::Wrong(_) | http::Verdict::Malformed(_) => Judgement::Mismatch,
                }
            }
            Protocol::Smtp => Judgement::Mismatch,
            Protocol::Proxy { site } => {
                proxy::judge(&proxy::expected_reply(site, request), received, closed)
            }
            Protocol::Pinger => Judgement::of_bytes(&pinger::echo(request), received),
        }
    }

    /// What a wrong reply most likely means, when a known pattern fits.
    pub fn diagnose_reply(self, mismatch: &Mismatch<'_>) -> Option<Diagnosis> {
        match self {
            Protocol::Text(transform) => text::diagnose_reply(transform, mismatch),
            Protocol::Http { site, lenient } => {
                let expected = site.expected(mismatch.sent);
                // Judged as final: the diagnosis is asked for once the reply
                // stopped arriving or the server closed.
                http::diagnose(
                    &expected,
                    &http::judge(&expected, mismatch.received, true, lenient),
                )
            }
            Protocol::Smtp => None,
            Protocol::Proxy { .. } => proxy::diagnose(mismatch),
            Protocol::Pinger => None,
        }
    }

    /// A fresh script for the grader-played peer.
    pub fn peer(self) -> PeerScript {
        self.peer_with(None)
    }

    /// A fresh script for the grader-played peer, as a `serve` step's
    /// protocol table (`smtp = {…}`) asks.
    pub fn peer_with(self, smtp: Option<smtp::SmtpPlan>) -> PeerScript {
        match self {
            Protocol::Text(transform) => PeerScript::Text(text::TextPeer::new(transform)),
            Protocol::Http { site, .. } => PeerScript::Http(http::HttpPeer::new(site)),
            Protocol::Smtp => {
                PeerScript::Smtp(Box::new(smtp::SmtpPeer::new(smtp.unwrap_or_default())))
            }
            // The origin a proxy fetches from.
            Protocol::Proxy { site } => PeerScript::Origin(proxy::OriginPeer::new(site)),
            Protocol::Pinger => PeerScript::Pinger,
        }
    }

    /// An `expect_dialogue` step: the check run on the peer's scripts, one
    /// per connection, as they ended.
    pub fn check_dialogue(
        self,
        check: smtp::SmtpCheck,
        scripts: &[PeerScript],
    ) -> Result<(), smtp::Finding> {
        let dialogues: Vec<smtp::Dialogue> = scripts
            .iter()
            .filter_map(|script| match script {
                PeerScript::Smtp(peer) => Some(peer.dialogue.clone()),
                PeerScript::Text(_)
                | PeerScript::Http(_)
                | PeerScript::Origin(_)
                | PeerScript::Pinger => None,
            })
            .collect();
        smtp::check(check, &dialogues)
    }

    /// What a correct client sends for this standard input.
    pub fn client_request(self, stdin: &[u8]) -> Vec<u8> {
        match self {
            Protocol::Text(transform) => transform.client_message(stdin),
            Protocol::Http { .. } => http::client_request(stdin),
            // A mail client composes its own dialogue: no one framing.
            Protocol::Smtp => Vec::new(),
            // A proxy lab grades the proxy, a server: no client of its own.
            Protocol::Proxy { .. } | Protocol::Pinger => Vec::new(),
            // The pinger reads nothing: it makes up its own pings.
        }
    }

    /// Whether a client's output shows every reply it was sent, in order.
    pub fn printed_replies(self, output: &[u8], replies: &[Vec<u8>]) -> bool {
        match self {
            Protocol::Text(_) | Protocol::Pinger => text::contains_in_order(output, replies),
            // A client prints the page it fetched: the body of each response.
            Protocol::Http { .. } | Protocol::Proxy { .. } => replies.iter().all(|reply| {
                let body = rules_body(reply);
                find(output, body, 0).is_some()
            }),
            Protocol::Smtp => smtp::printed_replies(output, replies),
        }
    }

    /// A message without its line ending: a reply as a client prints it, a
    /// sentence as `input()` reads it.
    pub fn without_line_ending(self, message: &[u8]) -> &[u8] {
        match self {
            Protocol::Text(_) => text::strip_newline(message),
            Protocol::Http { .. } | Protocol::Smtp | Protocol::Proxy { .. } | Protocol::Pinger => {
                message
            }
        }
    }

    /// The protocol's own hint for a client test's symptom, if it has one.
    pub fn client_hint(self, symptom: ClientSymptom) -> Option<Hint> {
        match self {
            Protocol::Text(transform) => transform.client_hint(symptom),
            Protocol::Http { .. } => http::client_hint(symptom),
            Protocol::Smtp => smtp::client_hint(symptom),
            Protocol::Proxy { .. } => None,
            Protocol::Pinger => pinger::client_hint(symptom),
        }
    }

    /// How many times the grader-played peer was asked for each target,
    /// from the bytes of each connection it accepted: the origin's hit
    /// counter (`expect_hits`). Only protocols whose peer serves named
    /// resources count anything.
    pub fn peer_hits(self, connections: &[Vec<u8>]) -> std::collections::BTreeMap<String, u32> {
        match self {
            Protocol::Text(_) | Protocol::Smtp | Protocol::Pinger => Default::default(),
            Protocol::Http { .. } | Protocol::Proxy { .. } => proxy::hits(connections),
        }
    }

    /// Whether a failed test of a server that kept running reads what the
    /// server printed ([`Protocol::diagnose_server_stderr`]).
    pub fn reads_server_stderr(self) -> bool {
        matches!(self, Protocol::Proxy { .. })
    }

    /// What a server's error output during a test it failed (while it kept
    /// running: one of its threads stopped) says, when the protocol knows
    /// the error: a proxy's thread that hit Python 2's `makefile('r', 0)`.
    pub fn diagnose_server_stderr(self, stderr: &[u8]) -> Option<Diagnosis> {
        match self {
            Protocol::Text(_) | Protocol::Http { .. } | Protocol::Smtp => None,
            Protocol::Proxy { .. } => proxy::diagnose_stderr(stderr),
            Protocol::Pinger => None,
        }
    }
}

/// The body of a whole HTTP response (everything after its head).
fn rules_body(response: &[u8]) -> &[u8] {
    socklab::http::request_head_end(response).map_or(response, |end| &response[end..])
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
