//! One engine for one test: the grader's sockets towards the student's
//! server, the grader-played peer for the student's client, and the
//! student's client itself, driven by the test's steps in order. A test may
//! use any of them; what a step needs was checked when the lab was loaded.
//!
//! The engine never decides points: it returns the first [`Failure`] (or
//! none) with the transcript, and `run/` turns that into an outcome. It
//! knows nothing of what the bytes mean: that is the lab's [`Protocol`].
//!
//! Rooms: `failure.rs` (the one failure type), `transcript.rs` (the one
//! recorder), `expect.rs` (pure matching), `connection.rs` and `reply.rs`
//! (TCP and UDP towards the server), `peer.rs` (the grader-played peer),
//! `client.rs` and `client_checks.rs` (the student's client and the checks
//! of what it did).

mod client;
mod client_checks;
mod connection;
mod expect;
mod failure;
mod peer;
mod reply;
mod transcript;

pub use client::{GaveUp, StudentClient};
pub use failure::{Failure, FailureKind, TestHint, never_ran};
pub use peer::PeerReach;
pub use transcript::{grader_note, sent_bytes};

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::cell::{CELL_HOST, Cell, CellProcess, ProgramEnd, Tier};
use crate::lab::{ORIGIN_PLACEHOLDER, Payload, PeerBehaviour, Send, Step};
use crate::outcome::TranscriptEntry;
use crate::protocol::{Protocol, proxy};
use crate::sentence;
use client::{Around, ClientRoom};
use connection::Sockets;
use peer::Peer;
use transcript::Transcript;

/// When a test started and when it must end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub started: Instant,
    pub deadline: Instant,
}

impl Clock {
    /// What is left of the test, or of `within_ms` if that is shorter.
    pub fn remaining(&self, within_ms: Option<u64>) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        within_ms.map_or(left, |ms| left.min(Duration::from_millis(ms)))
    }

    /// How long the test was given.
    pub fn allowed(&self) -> Duration {
        self.deadline - self.started
    }
}

/// Whether a blocking socket call returned only because its timeout
/// (`SO_RCVTIMEO`) passed or a signal interrupted it: the loops around
/// such calls look at their deadline and call again.
fn woke_without_data(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Everything one test runs with.
pub struct Setup<'a> {
    pub cell: &'a Cell,
    pub protocol: Protocol,
    /// Where the student's server listens, or where the student's client is
    /// told to send (and the grader-played peer listens).
    pub port: u16,
    /// Draws the test's seeded sentences.
    pub rng: fastrand::Rng,
    pub started: Instant,
    pub deadline: Instant,
    /// Whether the peer lets the client close a connection first, so that
    /// its TIME_WAIT lands on the client's port (decided in `run/program.rs`).
    pub client_closes_first: bool,
    /// Where the grader-played peer listens besides the test's port.
    pub peer_reach: PeerReach,
    /// The student's client, in a client test.
    pub client: Option<StudentClient>,
    /// The student's server, in a server test: waits end when it dies.
    pub server: Option<&'a CellProcess>,
}

/// How a test ended, with everything `run/` records.
pub struct Ended {
    pub result: Result<(), Failure>,
    pub transcript: Vec<TranscriptEntry>,
    /// How many times the student's client was started.
    pub client_starts: u32,
    /// How the client's last run ended.
    pub client_end: Option<ProgramEnd>,
    /// Set when the client part should not be run again.
    pub gave_up: Option<GaveUp>,
}

pub struct Exchange<'a> {
    cell: &'a Cell,
    protocol: Protocol,
    port: u16,
    rng: fastrand::Rng,
    clock: Clock,
    client_closes_first: bool,
    peer_reach: PeerReach,
    transcript: Transcript,
    sockets: Sockets<'a>,
    peer: Option<Peer>,
    /// What `{origin}` in a send text stands for: the address of the origin
    /// a server test's last `serve` step started (or left absent).
    origin: Option<String>,
    client: Option<ClientRoom>,
}

impl<'a> Exchange<'a> {
    pub fn new(setup: Setup<'a>) -> Exchange<'a> {
        let clock = Clock {
            started: setup.started,
            deadline: setup.deadline,
        };
        let transcript = Transcript::new(setup.started);
        Exchange {
            cell: setup.cell,
            protocol: setup.protocol,
            port: setup.port,
            rng: setup.rng,
            clock,
            client_closes_first: setup.client_closes_first,
            peer_reach: setup.peer_reach,
            sockets: Sockets::new(
                setup.cell,
                setup.server,
                setup.port,
                clock,
                transcript.clone(),
            ),
            transcript,
            peer: None,
            origin: None,
            client: setup.client.map(ClientRoom::new),
        }
    }

    /// Runs `steps` until the first failure, then closes every socket and
    /// stops the peer.
    pub fn run(mut self, steps: &[Step]) -> Ended {
        let mut result = steps.iter().try_for_each(|step| self.step(step));
        if let (Err(failure), Some(client)) = (result.as_mut(), &self.client) {
            *failure = client.with_the_client(failure.clone());
        }
        self.sockets.close_all();
        // A failed test with an origin says how often it was asked for what,
        // whichever step failed: beside both sides of the exchange, that is
        // what tells a cache that answered from a wrong copy from one that
        // asked the origin again.
        if result.is_err() && self.client.is_none() && self.peer.is_some() {
            self.note_hits("at the end of the test");
        }
        if let Some(peer) = self.peer.take() {
            peer.stop();
        }
        let (client_starts, client_end, gave_up) = match self.client {
            Some(client) => (client.starts, client.end, client.gave_up),
            None => (0, None, None),
        };
        Ended {
            result,
            transcript: self.transcript.into_entries(),
            client_starts,
            client_end,
            gave_up,
        }
    }

    fn around(&self) -> Around<'_> {
        Around {
            cell: self.cell,
            protocol: self.protocol,
            clock: self.clock,
            transcript: &self.transcript,
            peer: self.peer.as_ref(),
        }
    }

    fn client(&self) -> &ClientRoom {
        self.client
            .as_ref()
            .expect("validated: client steps are in client tests")
    }

    fn step(&mut self, step: &Step) -> Result<(), Failure> {
        match step {
            Step::Open { socket, transport } => self.sockets.open(socket, *transport),
            Step::Send(send) => {
                let bytes = self.payload(send);
                self.sockets.send(send, bytes)
            }
            Step::ShutdownWrite { socket } => self.sockets.shutdown_write(socket),
            Step::Reset { socket } => {
                self.sockets.reset(socket);
                Ok(())
            }
            Step::Close { socket } => {
                self.sockets.close(socket);
                Ok(())
            }
            Step::Expect {
                socket,
                expectation,
                within_ms,
                lenient,
            } => {
                let wait = self.clock.remaining(*within_ms);
                let judging = self.protocol.judging(*lenient);
                self.sockets.expect(judging, socket, expectation, wait)
            }
            Step::ExpectSilence { socket, ms } => {
                let wait = self.clock.remaining(Some(*ms));
                self.sockets.expect_silence(socket, wait)
            }
            Step::ExpectClosed { socket } => {
                let wait = self.clock.remaining(None);
                self.sockets.expect_closed(socket, wait)
            }
            Step::Pause { ms } => {
                // A pause the lab asks for, between two things the grader
                // does; never used to wait for the submission.
                std::thread::sleep(self.clock.remaining(Some(*ms)));
                Ok(())
            }
            // A server test's peer is the origin a proxy fetches from.
            Step::Serve { behaviour, .. } if self.client.is_none() => self.serve_origin(*behaviour),
            Step::Serve {
                transport,
                behaviour,
                smtp,
            } => {
                // Only a plan draws from the test's seed, so the sentences
                // of every other lab's tests stay what they were.
                let seed = if *behaviour == PeerBehaviour::Plan {
                    self.rng.u64(..)
                } else {
                    0
                };
                self.peer = peer::serve(
                    peer::PeerPlace {
                        cell: self.cell,
                        port: self.port,
                        reach: &self.peer_reach,
                    },
                    *transport,
                    peer::Playing {
                        behaviour: *behaviour,
                        seed,
                        plan: self.protocol.plan(seed),
                    },
                    self.protocol.peer_with(*smtp),
                    &self.transcript,
                    self.client_closes_first,
                )?;
                Ok(())
            }
            Step::RunClient { stdin } => {
                let mut client = self
                    .client
                    .take()
                    .expect("validated: run_client is in client tests");
                let result = client.run(&self.around(), stdin);
                self.client = Some(client);
                result
            }
            Step::ExpectOutput {
                stream,
                expectation,
            } => self
                .client()
                .expect_output(&self.around(), *stream, expectation),
            Step::ExpectSent(expectation) => self.client().expect_sent(&self.around(), expectation),
            Step::ExpectDialogue(check) => self.client().expect_dialogue(&self.around(), *check),
            Step::ExpectExit { code, success } => {
                self.client().expect_exit(&self.around(), *code, *success)
            }
            Step::ExpectNoCrash => self.client().expect_no_crash(),
            Step::ExpectHits { path, count } => self.expect_hits(path, *count),
            Step::Check(check) => self.client().check(&self.around(), *check),
        }
    }

    /// Starts the origin of a server test: on port 80 of every address when
    /// the cell's network is open (the namespace tier: every host name
    /// resolves to the cell, so `{origin}` is a name), else on a port of its
    /// own on the cell's host (`{origin}` is `127.0.0.1:PORT`). `absent`
    /// leaves that address with nothing listening. A second `serve` stops
    /// the first origin.
    fn serve_origin(&mut self, behaviour: PeerBehaviour) -> Result<(), Failure> {
        if let Some(earlier) = self.peer.take() {
            earlier.stop();
        }
        let named = self.cell.tier() == Tier::Namespace && self.cell.open_network().is_ok();
        let at = if named {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 80))
        } else {
            SocketAddr::new(CELL_HOST, 0)
        };
        let authority = |port: u16| {
            if named {
                proxy::ORIGIN_HOST.to_owned()
            } else {
                format!("{CELL_HOST}:{port}")
            }
        };
        let origin = if behaviour == PeerBehaviour::Absent {
            let port = if named {
                80
            } else {
                crate::cell::free_port()
                    .map_err(|err| Failure::grader("finding a port for the absent origin", err))?
            };
            let origin = authority(port);
            self.transcript.note(
                peer::ORIGIN_CHANNEL,
                format!("nothing listens at {origin}, the origin the requests name"),
            );
            origin
        } else {
            let (started, bound) = peer::serve_origin(
                self.cell,
                at,
                behaviour,
                self.protocol.peer(),
                &self.transcript,
            )?;
            self.peer = Some(started);
            let origin = authority(bound.port());
            self.transcript.note(
                peer::ORIGIN_CHANNEL,
                format!("the grader's origin listens on {bound}; the requests name it `{origin}`"),
            );
            origin
        };
        self.origin = Some(origin);
        Ok(())
    }

    /// The origin's hit counter, noted in the transcript (`when` it was read).
    fn note_hits(&self, when: &str) -> (std::collections::BTreeMap<String, u32>, String) {
        let connections = self
            .peer
            .as_ref()
            .map(|peer| peer.log().connections)
            .unwrap_or_default();
        let hits = self.protocol.peer_hits(&connections);
        let counts = if hits.is_empty() {
            format!("the origin's hit counts {when}: no request")
        } else {
            let listed: Vec<String> = hits
                .iter()
                .map(|(target, &hits)| {
                    format!(
                        "{target} ({hits} request{})",
                        if hits == 1 { "" } else { "s" }
                    )
                })
                .collect();
            format!("the origin's hit counts {when}: {}", listed.join(", "))
        };
        self.transcript.note(peer::ORIGIN_CHANNEL, counts.clone());
        (hits, counts)
    }

    /// Checks the origin's hit counter for `path`, noting every count in the
    /// transcript beside both sides of the exchange.
    fn expect_hits(&self, path: &str, count: u32) -> Result<(), Failure> {
        let (hits, counts) = self.note_hits("so far");
        let got = hits.get(path).copied().unwrap_or(0);
        if got == count {
            return Ok(());
        }
        let times = |n: u32| {
            if n == 1 {
                "once".to_owned()
            } else {
                format!("{n} times")
            }
        };
        let why = if got > count {
            " Your proxy asked the origin again for what it should have answered from its cache."
        } else {
            " Your proxy answered without asking the origin for it (or asked for another path)."
        };
        Err(Failure {
            kind: FailureKind::Fail,
            message: format!(
                "The origin was asked for {path} {}; the test expects {}.{why}\n  {counts}",
                times(got),
                times(count)
            ),
            hint: TestHint::Lab,
        })
    }

    fn payload(&mut self, send: &Send) -> Vec<u8> {
        let mut bytes = match (&send.payload, &self.origin) {
            (Payload::Bytes(bytes), Some(origin)) => {
                replace_all(bytes, ORIGIN_PLACEHOLDER.as_bytes(), origin.as_bytes())
            }
            (Payload::Bytes(bytes), None) => bytes.clone(),
            (Payload::Words { count, alphabet }, _) => {
                sentence::words(&mut self.rng, *count, *alphabet)
            }
            (Payload::Size(size), _) => sentence::filler(&mut self.rng, *size),
        };
        if send.newline {
            bytes.push(b'\n');
        }
        bytes
    }
}

/// `bytes` with every `from` replaced by `to`.
fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(found) = crate::protocol::find(bytes, from, at) {
        out.extend_from_slice(&bytes[at..found]);
        out.extend_from_slice(to);
        at = found + from.len();
    }
    out.extend_from_slice(&bytes[at..]);
    out
}
