//! The grader-played peer: a server for the student's client, on a thread
//! of its own, answering as the lab's protocol scripts it and as the test's
//! behaviour says (silent, twice, late, close early, or absent).
//!
//! A seeded plan (the pinger's: drops and known delays) is the `Plan`
//! behaviour: a UDP peer that holds each reply until its time without
//! holding up the datagrams after it, and notes in a [`Timeline`] when
//! each datagram arrived and each reply left. Accepts and reads block, so a
//! client's connection and bytes are taken the moment they arrive. When the
//! test ends, the sockets they block on are woken
//! (`crate::shut::SocketAlarm`), so the peer stops at once; `PEER_TICK`
//! bounds each call only as a backstop.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::transcript::Transcript;
use crate::cell::{self, Cell};
use crate::lab::{PeerBehaviour, Transport};
use crate::outcome::TranscriptEvent;
use crate::protocol::{AfterTurn, Answered, Heard, PeerScript, Timeline};
use crate::shut::SocketAlarm;
use socklab::udp_pinger::Fate;

/// The transcript channel of the grader's server.
pub(super) const PEER_CHANNEL: &str = "grader-server";

/// The transcript channel of the grader-played origin of a server test.
pub(super) const ORIGIN_CHANNEL: &str = "origin";

/// The longest a blocking call of the peer lasts, should a wake-up be missed.
const PEER_TICK: Duration = Duration::from_millis(10);

/// Where the grader-played peer listens besides `127.0.0.1` and the test's
/// port (decided in `run/`, from the cell and the lab).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerReach {
    /// The cell's network is open ([`Cell::open_network`]): the peer binds
    /// `0.0.0.0`, so a client that hard-codes any address reaches it.
    pub any_address: bool,
    /// More ports the peer listens on with the same script, for clients
    /// that hard-code the handout's (an SMTP client dialling 25 or 587).
    pub extra_ports: Vec<u16>,
}

impl PeerReach {
    /// "port 12000", "port 12000 of every address (and 25, 587)", as the
    /// transcript and hints say where the grader listened.
    pub fn describe(&self, port: u16) -> String {
        let mut text = format!("port {port}");
        if self.any_address {
            text.push_str(" of every address");
        }
        if !self.extra_ports.is_empty() {
            let extra: Vec<String> = self.extra_ports.iter().map(u16::to_string).collect();
            text.push_str(&format!(" (and {})", extra.join(", ")));
        }
        text
    }
}

/// Where one test's peer listens: its cell, the port the client was told,
/// and what else it reaches.
pub(super) struct PeerPlace<'a> {
    pub(super) cell: &'a Cell,
    pub(super) port: u16,
    pub(super) reach: &'a PeerReach,
}

/// How the peer plays: its behaviour, and with `plan`, the plan drawn from
/// the test's seed (the fate of each datagram in turn).
#[derive(Clone, Debug)]
pub(super) struct Playing {
    pub(super) behaviour: PeerBehaviour,
    pub(super) seed: u64,
    pub(super) plan: Vec<Fate>,
}

/// Starts the grader's server at `place`, or notes that nothing listens
/// there (`absent`): the `serve` step.
pub(super) fn serve(
    place: PeerPlace<'_>,
    transport: Transport,
    playing: Playing,
    script: PeerScript,
    transcript: &Transcript,
    client_closes_first: bool,
) -> Result<Option<Peer>, Failure> {
    let PeerPlace { cell, port, reach } = place;
    let behaviour = playing.behaviour;
    if behaviour == PeerBehaviour::Absent {
        transcript.note(PEER_CHANNEL, format!("nothing listens on port {port}"));
        return Ok(None);
    }
    let host = if reach.any_address {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        cell::CELL_HOST
    };
    let mut endpoints = Vec::new();
    for number in std::iter::once(port).chain(reach.extra_ports.iter().copied()) {
        if endpoints.iter().any(|(taken, _)| *taken == number) {
            continue;
        }
        endpoints.push((number, bind(cell, host, number, transport)?));
    }
    transcript.note(
        PEER_CHANNEL,
        format!(
            "the grader's {} server listens on {}",
            transport.as_str().to_uppercase(),
            reach.describe(port)
        ),
    );
    if behaviour == PeerBehaviour::Plan {
        transcript.note(
            PEER_CHANNEL,
            format!(
                "the grader's server plays the plan of seed {}",
                playing.seed
            ),
        );
    }
    Ok(Some(Peer::start(
        endpoints,
        port,
        reach.clone(),
        (behaviour, playing.plan),
        script,
        Voice {
            transcript: transcript.clone(),
            channel: PEER_CHANNEL,
        },
        client_closes_first,
    )))
}

fn bind(cell: &Cell, host: IpAddr, port: u16, transport: Transport) -> Result<Endpoint, Failure> {
    let socket = cell
        .socket(transport)
        .map_err(|err| Failure::grader("creating the grader's server socket", err))?;
    let _ = socket.set_reuse_address(true);
    socket
        .bind(&SocketAddr::new(host, port).into())
        .map_err(|err| {
            Failure::grader(&format!("binding port {port} for the grader's server"), err)
        })?;
    Ok(match transport {
        Transport::Udp => Endpoint::Udp(UdpSocket::from(socket)),
        Transport::Tcp => {
            socket
                .listen(16)
                .map_err(|err| Failure::grader("listening", err))?;
            Endpoint::Tcp(TcpListener::from(socket))
        }
    })
}

/// Starts the grader-played origin of a server test (a proxy's) on `at`
/// (port 0: one the system picks), TCP: the `serve` step of a server test.
/// Returns it with the address it listens on.
pub(super) fn serve_origin(
    cell: &Cell,
    at: SocketAddr,
    behaviour: PeerBehaviour,
    script: PeerScript,
    transcript: &Transcript,
) -> Result<(Peer, SocketAddr), Failure> {
    let endpoint = bind(cell, at.ip(), at.port(), Transport::Tcp)?;
    let bound = match &endpoint {
        Endpoint::Tcp(listener) => listener.local_addr(),
        Endpoint::Udp(socket) => socket.local_addr(),
    }
    .map_err(|err| Failure::grader("reading the origin's address", err))?;
    // The origin's port is not the lab's: who closes first does not matter.
    let peer = Peer::start(
        vec![(bound.port(), endpoint)],
        bound.port(),
        PeerReach::default(),
        (behaviour, Vec::new()),
        script,
        Voice {
            transcript: transcript.clone(),
            channel: ORIGIN_CHANNEL,
        },
        false,
    );
    Ok((peer, bound))
}

/// Where a peer's events are recorded: the test's transcript, on the
/// channel of the grader's server or of a proxy's origin.
struct Voice {
    transcript: Transcript,
    channel: &'static str,
}

enum Endpoint {
    Udp(UdpSocket),
    Tcp(TcpListener),
}

/// A reply the plan holds: when it is due, the reply, where it goes, and
/// the index of the datagram it answers.
type HeldReply = (Instant, Vec<u8>, SocketAddr, usize);

#[derive(Clone, Default)]
pub(super) struct PeerLog {
    /// Everything the client sent, in order.
    pub(super) received: Vec<u8>,
    /// Every reply the peer sent, in order.
    pub(super) replies: Vec<Vec<u8>>,
    /// Each TCP connection's script as it stands (what it recorded of the
    /// dialogue), in the order the connections came.
    pub(super) scripts: Vec<PeerScript>,
    /// What the client sent on each connection the peer accepted, in order
    /// (a proxy's origin counts its hits from them).
    pub(super) connections: Vec<Vec<u8>>,
    /// With the `Plan` behaviour: the plan, and when each datagram arrived
    /// and each reply left.
    pub(super) timeline: Timeline,
}

/// The grader's server for one client test, a thread per port it listens on.
pub(super) struct Peer {
    pub(super) behaviour: PeerBehaviour,
    /// Where it listened, for hints about a client that never reached it.
    pub(super) port: u16,
    pub(super) reach: PeerReach,
    stop: Arc<SocketAlarm>,
    log: Arc<Mutex<PeerLog>>,
    serving: Arc<Serving>,
    threads: Vec<JoinHandle<()>>,
}

/// How many connections the peer is serving: a client's exit is noted
/// once the peer has finished with the connections it closed, so the
/// transcript says "closed the connection" before "the client ended"
/// whichever thread the scheduler runs first.
#[derive(Default)]
struct Serving {
    open: Mutex<usize>,
    changed: Condvar,
}

impl Serving {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a connection until the guard is dropped.
    fn begin(&self) -> ServingOne<'_> {
        *self.lock() += 1;
        ServingOne(self)
    }
}

/// One connection being served (see [`Serving`]).
struct ServingOne<'a>(&'a Serving);

impl Drop for ServingOne<'_> {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        self.0.changed.notify_all();
    }
}

impl Peer {
    fn start(
        endpoints: Vec<(u16, Endpoint)>,
        port: u16,
        reach: PeerReach,
        (behaviour, plan): (PeerBehaviour, Vec<Fate>),
        script: PeerScript,
        voice: Voice,
        client_closes_first: bool,
    ) -> Peer {
        let stop = Arc::new(SocketAlarm::default());
        let log = Arc::new(Mutex::new(PeerLog::default()));
        let serving = Arc::new(Serving::default());
        let planned = behaviour == PeerBehaviour::Plan;
        let context = Arc::new(PeerContext {
            behaviour,
            script,
            expected: SocketAddr::new(cell::CELL_HOST, port),
            stop: Arc::clone(&stop),
            log: Arc::clone(&log),
            serving: Arc::clone(&serving),
            transcript: voice.transcript,
            client_closes_first,
            channel: voice.channel,
        });
        let threads = endpoints
            .into_iter()
            .map(|(_, endpoint)| {
                let context = Arc::clone(&context);
                let plan = plan.clone();
                std::thread::spawn(move || match endpoint {
                    Endpoint::Udp(socket) if planned => context.serve_udp_planned(socket, plan),
                    Endpoint::Udp(socket) => context.serve_udp(socket),
                    Endpoint::Tcp(listener) => context.serve_tcp(listener),
                })
            })
            .collect();
        Peer {
            behaviour,
            port,
            reach,
            stop,
            log,
            serving,
            threads,
        }
    }

    pub(super) fn log(&self) -> PeerLog {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits, at most until `until`, for the peer to finish the connections
    /// it is serving: after the client ended, the kernel has closed them.
    pub(super) fn wait_until_served(&self, until: Instant) {
        let mut open = self.serving.lock();
        while *open > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            open = self
                .serving
                .changed
                .wait_timeout(open, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    pub(super) fn stop(self) {
        self.stop.ring();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct PeerContext {
    /// Whether to let the client close a connection first (see
    /// `let_client_close_first`).
    client_closes_first: bool,
    behaviour: PeerBehaviour,
    /// The script each connection (or the UDP socket) starts from.
    script: PeerScript,
    /// The address the client was told: reaching the peer at another one
    /// (an open cell network) is noted in the transcript.
    expected: SocketAddr,
    stop: Arc<SocketAlarm>,
    log: Arc<Mutex<PeerLog>>,
    serving: Arc<Serving>,
    transcript: Transcript,
    /// The transcript channel: the grader's server, or a proxy's origin.
    channel: &'static str,
}

impl PeerContext {
    fn stopping(&self) -> bool {
        self.stop.has_rung()
    }

    /// Logs bytes from the client: a datagram (`stream: false`) is an entry
    /// of its own, stream bytes join the bytes received just before them.
    fn received(&self, bytes: &[u8], stream: bool) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.received.extend_from_slice(bytes);
        if stream {
            if let Some(connection) = log.connections.last_mut() {
                connection.extend_from_slice(bytes);
            }
            self.transcript.stream_bytes(self.channel, bytes);
        } else {
            self.transcript
                .record(self.channel, TranscriptEvent::Received(bytes.to_vec()));
        }
    }

    /// The replies to send instead of a correct server's `reply`, per the
    /// behaviour, after any delay.
    fn replies_for(&self, reply: Vec<u8>) -> Vec<Vec<u8>> {
        match self.behaviour {
            PeerBehaviour::Reference => vec![reply],
            PeerBehaviour::Twice => vec![reply.clone(), reply],
            PeerBehaviour::Late(ms) => {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until && !self.stopping() {
                    std::thread::sleep(
                        PEER_TICK.min(until.saturating_duration_since(Instant::now())),
                    );
                }
                if self.stopping() {
                    Vec::new()
                } else {
                    vec![reply]
                }
            }
            PeerBehaviour::Silent | PeerBehaviour::CloseEarly | PeerBehaviour::Absent => Vec::new(),
            // A plan over TCP has no datagrams to lose: replies go at once.
            PeerBehaviour::Plan => vec![reply],
        }
    }

    fn note_dialled(&self, dialled: SocketAddr) {
        self.transcript.note(
            self.channel,
            format!(
                "the client sent to {dialled}, not to the {} it was given; in this cell every address reaches the grader",
                self.expected
            ),
        );
    }

    fn sent(&self, reply: &[u8]) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replies
            .push(reply.to_vec());
        self.transcript
            .record(self.channel, TranscriptEvent::Sent(reply.to_vec()));
    }

    /// A reply logged by [`Self::sent`] that could not be sent after all.
    fn not_sent(&self, err: &std::io::Error) {
        self.transcript
            .note(self.channel, format!("could not send it: {err}"));
    }

    fn serve_udp(&self, socket: UdpSocket) {
        let _woken = self.stop.watch(&socket);
        let _ = socket.set_read_timeout(Some(PEER_TICK));
        let mut buffer = vec![0u8; 65536];
        let mut script = self.script.clone();
        let mut noted = Vec::new();
        while !self.stopping() {
            let Ok(received) = crate::shut::recv_datagram(&socket, &mut buffer) else {
                continue;
            };
            // Woken because the test ended: no datagram came.
            let Some((length, from)) = received.filter(|_| !self.stopping()) else {
                break;
            };
            self.note_datagram_dialled(&socket, from, &mut noted);
            let request = buffer[..length].to_vec();
            self.received(&request, false);
            for reply in self.replies_for(script.on_datagram(&request)) {
                // Logged before it is sent: a client may read it, print it
                // and exit before this thread runs again.
                self.sent(&reply);
                if let Err(err) = socket.send_to(&reply, from) {
                    self.not_sent(&err);
                }
            }
        }
    }

    fn log_mut(&self) -> std::sync::MutexGuard<'_, PeerLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a reply the plan held, its time logged (before it is sent, as
    /// every reply is) for the judge of round-trip times.
    fn send_held(&self, socket: &UdpSocket, (_, reply, to, answers): HeldReply) {
        let at = Instant::now();
        self.log_mut()
            .timeline
            .answered
            .push(Answered { at, answers });
        self.sent(&reply);
        if let Err(err) = socket.send_to(&reply, to) {
            self.not_sent(&err);
        }
    }

    /// Notes, once per address, a datagram that was sent to another address
    /// than the client was given. In a cell whose network is open, the
    /// kernel gives an unbound client's socket the address it sends to as
    /// its source (the destination of a local route), so `from` names what
    /// it dialled.
    fn note_datagram_dialled(
        &self,
        socket: &UdpSocket,
        from: SocketAddr,
        noted: &mut Vec<SocketAddr>,
    ) {
        if let Ok(local) = socket.local_addr() {
            let dialled = SocketAddr::new(from.ip(), local.port());
            if dialled != self.expected && !noted.contains(&dialled) {
                noted.push(dialled);
                self.note_dialled(dialled);
            }
        }
    }

    /// Serves datagrams by `plan`: the n-th datagram's fate is `plan[n]`
    /// (answered at once past the plan's end). A held reply waits in a
    /// queue, so the datagrams after it are received, and timed, as they
    /// arrive; each wait for the socket ends when the next reply is due.
    fn serve_udp_planned(&self, socket: UdpSocket, plan: Vec<Fate>) {
        let _woken = self.stop.watch(&socket);
        self.log_mut().timeline.plan = plan.clone();
        let mut buffer = vec![0u8; 65536];
        let mut script = self.script.clone();
        // Earliest first.
        let mut held: Vec<HeldReply> = Vec::new();
        let mut index = 0usize;
        // The late reply waiting for the next datagram, if any.
        let mut late: Option<usize> = None;
        let mut noted = Vec::new();
        while !self.stopping() {
            while held.first().is_some_and(|first| first.0 <= Instant::now()) {
                self.send_held(&socket, held.remove(0));
            }
            let wait = held.first().map_or(PEER_TICK, |first| {
                first
                    .0
                    .saturating_duration_since(Instant::now())
                    .min(PEER_TICK)
            });
            // A zero timeout would mean "block forever".
            let _ = socket.set_read_timeout(Some(wait.max(Duration::from_micros(50))));
            let Ok(received) = crate::shut::recv_datagram(&socket, &mut buffer) else {
                continue;
            };
            // Woken because the test ended: no datagram came.
            let Some((length, from)) = received.filter(|_| !self.stopping()) else {
                break;
            };
            let at = Instant::now();
            self.note_datagram_dialled(&socket, from, &mut noted);
            let request = buffer[..length].to_vec();
            self.received(&request, false);
            // A late reply goes now, before this datagram's own: the client
            // has given up on it, since it sent this one.
            if let Some(late_index) = late.take() {
                if let Some(place) = held.iter().position(|entry| entry.3 == late_index) {
                    self.send_held(&socket, held.remove(place));
                }
            }
            self.log_mut().timeline.heard.push(Heard {
                at,
                from,
                bytes: request.clone(),
            });
            let fate = plan.get(index).copied().unwrap_or(Fate::Reply {
                delay: Duration::ZERO,
            });
            // How long the plan holds this datagram's reply, if it has one.
            let hold = match fate {
                Fate::Drop => {
                    self.transcript.note(
                        PEER_CHANNEL,
                        format!("datagram {} is lost, as the plan says: no reply", index + 1),
                    );
                    None
                }
                Fate::Late { at_most } => {
                    self.transcript.note(
                        PEER_CHANNEL,
                        format!(
                            "datagram {}: the plan holds its reply until the next datagram arrives (at most {} ms)",
                            index + 1,
                            at_most.as_millis()
                        ),
                    );
                    late = Some(index);
                    Some(at_most)
                }
                Fate::Reply { delay } => {
                    if !delay.is_zero() {
                        self.transcript.note(
                            PEER_CHANNEL,
                            format!(
                                "datagram {}: the plan holds its reply {} ms",
                                index + 1,
                                delay.as_millis()
                            ),
                        );
                    }
                    Some(delay)
                }
            };
            if let Some(hold) = hold {
                let reply = script.on_datagram(&request);
                let due = at + hold;
                let place = held.partition_point(|entry| entry.0 <= due);
                held.insert(place, (due, reply, from, index));
            }
            index += 1;
        }
    }

    fn serve_tcp(&self, listener: TcpListener) {
        // A blocking accept bounded by SO_RCVTIMEO: a client's connection is
        // taken the moment it arrives, and the loop still wakes every tick
        // to see whether the test ended.
        let _ = socket2::SockRef::from(&listener).set_read_timeout(Some(PEER_TICK));
        let _woken = self.stop.watch(&listener);
        while !self.stopping() {
            match listener.accept() {
                Ok((stream, _)) => {
                    self.transcript.record(
                        self.channel,
                        TranscriptEvent::Note("accepted a connection from the client".into()),
                    );
                    if let Ok(dialled) = stream.local_addr() {
                        if dialled != self.expected {
                            self.note_dialled(dialled);
                        }
                    }
                    self.log
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .connections
                        .push(Vec::new());
                    if self.behaviour == PeerBehaviour::CloseEarly {
                        self.transcript.record(
                            self.channel,
                            TranscriptEvent::Note("closed it without reading".into()),
                        );
                        continue;
                    }
                    self.serve_connection(stream);
                }
                Err(err) if super::woke_without_data(&err) => {}
                // The listener was shut because the test ended.
                Err(_) if self.stopping() => break,
                // Anything else (out of descriptors, say) is not worth a busy loop.
                Err(_) => std::thread::sleep(PEER_TICK),
            }
        }
        // Stop listening now, even if a copy of the descriptor lives on for a
        // moment (a process another grading forks holds every descriptor
        // until it runs its program): the next test's peer binds the port
        // again at once.
        let _ = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Both);
    }

    /// Writes one reply after `pause`, line by line when the script paces
    /// the lines of a reply; what the client sends meanwhile is logged, told
    /// to the script as early, and kept in `early` for the next turn. The
    /// script's record is kept before each write: a client that ends as
    /// soon as it has read the reply finds its dialogue recorded.
    fn deliver(
        &self,
        stream: &mut TcpStream,
        (index, script): (usize, &mut PeerScript),
        reply: Vec<u8>,
        pause: Duration,
        early: &mut Vec<u8>,
    ) {
        let (_, between_lines) = script.reply_pace();
        self.hold(stream, script, pause, false, early);
        let pieces: Vec<&[u8]> = if between_lines.is_zero() {
            vec![reply.as_slice()]
        } else {
            reply.split_inclusive(|&byte| byte == b'\n').collect()
        };
        let connection = index;
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 {
                self.hold(stream, script, between_lines, true, early);
            }
            self.keep_script(connection, script);
            // Logged before it is written, as a datagram's reply is.
            self.sent(piece);
            if let Err(err) = stream.write_all(piece) {
                self.not_sent(&err);
                return;
            }
        }
    }

    /// Waits `pause` before the peer speaks, reading whatever the client
    /// sends in the meantime.
    fn hold(
        &self,
        stream: &mut TcpStream,
        script: &mut PeerScript,
        pause: Duration,
        before_last_line: bool,
        early: &mut Vec<u8>,
    ) {
        if pause.is_zero() {
            return;
        }
        let until = Instant::now() + pause;
        let mut scratch = [0u8; 4096];
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = stream.set_read_timeout(Some(left.min(PEER_TICK)));
            match stream.read(&mut scratch) {
                Ok(0) => break,
                Ok(length) => {
                    self.received(&scratch[..length], true);
                    script.heard_early(&scratch[..length], before_last_line);
                    early.extend_from_slice(&scratch[..length]);
                }
                Err(err) if super::woke_without_data(&err) => {}
                Err(_) => break,
            }
        }
        let _ = stream.set_read_timeout(Some(PEER_TICK));
        // The client closed (or the test ended): the rest of the pause
        // changes nothing it can see.
    }

    /// Keeps the script's record of the connection, and its notes in the
    /// transcript.
    fn keep_script(&self, index: usize, script: &mut PeerScript) {
        for note in script.take_notes() {
            self.transcript.note(self.channel, note);
        }
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = log.scripts.get_mut(index) {
            *kept = script.clone();
        }
    }

    /// Waits briefly for the client to close first, so that the TIME_WAIT of
    /// the connection lands on the client's ephemeral port and not on the
    /// lab's port, which a later server without SO_REUSEADDR must bind again
    /// (this matters in the process tier, where the port is the machine's).
    fn let_client_close_first(&self, stream: &mut TcpStream) {
        const GRACE: Duration = Duration::from_millis(200);
        let until = Instant::now() + GRACE;
        let mut scratch = [0u8; 1024];
        while !self.stopping() && Instant::now() < until {
            match stream.read(&mut scratch) {
                // The client closed: closing now is the passive close.
                Ok(0) => return,
                // Bytes after the request are not part of the protocol; ignore them.
                Ok(_) => {}
                Err(err) if super::woke_without_data(&err) => {}
                Err(_) => return,
            }
        }
    }

    /// Serves one connection as the lab's protocol scripts it.
    fn serve_connection(&self, mut stream: TcpStream) {
        // Dropped last, after the note that the connection closed.
        let _serving = self.serving.begin();
        let _woken = self.stop.watch(&stream);
        let _ = stream.set_read_timeout(Some(PEER_TICK));
        let mut script = self.script.clone();
        let index = {
            let mut log = self
                .log
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            log.scripts.push(script.clone());
            log.scripts.len() - 1
        };
        // Bytes the client sent while the peer was holding a reply: they
        // are the next turn's, once the reply has gone.
        let mut early = Vec::new();
        let greeting = script.on_connect();
        if !greeting.is_empty() {
            let pause = script.greeting_pause();
            self.deliver(
                &mut stream,
                (index, &mut script),
                greeting,
                pause,
                &mut early,
            );
        }
        self.keep_script(index, &mut script);
        let mut buffer = vec![0u8; 65536];
        while !self.stopping() {
            let bytes = if early.is_empty() {
                let length = match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(length) => length,
                    Err(err) if super::woke_without_data(&err) => {
                        continue;
                    }
                    Err(_) => break,
                };
                self.received(&buffer[..length], true);
                buffer[..length].to_vec()
            } else {
                std::mem::take(&mut early)
            };
            let turn = script.on_stream(&bytes);
            let (before, _) = script.reply_pace();
            for reply in turn
                .reply
                .map(|reply| self.replies_for(reply))
                .unwrap_or_default()
            {
                self.deliver(&mut stream, (index, &mut script), reply, before, &mut early);
            }
            self.keep_script(index, &mut script);
            match turn.then {
                AfterTurn::KeepReading => {}
                AfterTurn::Close => {
                    if self.client_closes_first {
                        self.let_client_close_first(&mut stream);
                    }
                    break;
                }
            }
        }
        self.transcript.record(
            self.channel,
            TranscriptEvent::Note("closed the connection".into()),
        );
    }
}
