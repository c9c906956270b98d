//! The grader-played peer: a server for the student's client, on a thread
//! of its own, answering as the lab's protocol scripts it and as the test's
//! behaviour says (silent, twice, late, close early, or absent).
//!
//! Seams for later: a lossy or delayed plan (the pinger's) is one more
//! `PeerBehaviour`, applied in `replies_for` to each reply the protocol's
//! script gives. Accepts and reads block, so a client's connection and
//! bytes are taken the moment they arrive; they are bounded by `PEER_TICK`
//! only so that the loops see when the test ended (a stop pipe polled with
//! the socket would remove even that wake-up).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::transcript::Transcript;
use crate::cell::{self, Cell};
use crate::lab::{PeerBehaviour, Transport};
use crate::outcome::TranscriptEvent;
use crate::protocol::{AfterTurn, Protocol};

/// The transcript channel of the grader's server.
pub(super) const PEER_CHANNEL: &str = "grader-server";

/// How often the peer's blocking calls wake to check whether the test ended.
const PEER_TICK: Duration = Duration::from_millis(10);

/// Starts the grader's server on `port` in `cell`, or notes that nothing
/// listens there (`absent`): the `serve` step.
pub(super) fn serve(
    cell: &Cell,
    port: u16,
    transport: Transport,
    behaviour: PeerBehaviour,
    protocol: Protocol,
    transcript: &Transcript,
    client_closes_first: bool,
) -> Result<Option<Peer>, Failure> {
    if behaviour == PeerBehaviour::Absent {
        transcript.note(PEER_CHANNEL, format!("nothing listens on port {port}"));
        return Ok(None);
    }
    let socket = cell
        .socket(transport)
        .map_err(|err| Failure::grader("creating the grader's server socket", err))?;
    let _ = socket.set_reuse_address(true);
    socket
        .bind(&SocketAddr::new(cell::CELL_HOST, port).into())
        .map_err(|err| {
            Failure::grader(&format!("binding port {port} for the grader's server"), err)
        })?;
    let endpoint = match transport {
        Transport::Udp => Endpoint::Udp(UdpSocket::from(socket)),
        Transport::Tcp => {
            socket
                .listen(16)
                .map_err(|err| Failure::grader("listening", err))?;
            Endpoint::Tcp(TcpListener::from(socket))
        }
    };
    transcript.note(
        PEER_CHANNEL,
        format!(
            "the grader's {} server listens on port {port}",
            transport.as_str().to_uppercase()
        ),
    );
    Ok(Some(Peer::start(
        endpoint,
        behaviour,
        protocol,
        transcript.clone(),
        client_closes_first,
    )))
}

enum Endpoint {
    Udp(UdpSocket),
    Tcp(TcpListener),
}

#[derive(Clone, Default)]
pub(super) struct PeerLog {
    /// Everything the client sent, in order.
    pub(super) received: Vec<u8>,
    /// Every reply the peer sent, in order.
    pub(super) replies: Vec<Vec<u8>>,
}

/// The grader's server for one client test, on a thread of its own.
pub(super) struct Peer {
    pub(super) behaviour: PeerBehaviour,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<PeerLog>>,
    thread: JoinHandle<()>,
}

impl Peer {
    fn start(
        endpoint: Endpoint,
        behaviour: PeerBehaviour,
        protocol: Protocol,
        transcript: Transcript,
        client_closes_first: bool,
    ) -> Peer {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(PeerLog::default()));
        let context = PeerContext {
            behaviour,
            protocol,
            stop: Arc::clone(&stop),
            log: Arc::clone(&log),
            transcript,
            client_closes_first,
        };
        let thread = std::thread::spawn(move || match endpoint {
            Endpoint::Udp(socket) => context.serve_udp(socket),
            Endpoint::Tcp(listener) => context.serve_tcp(listener),
        });
        Peer {
            behaviour,
            stop,
            log,
            thread,
        }
    }

    pub(super) fn log(&self) -> PeerLog {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

struct PeerContext {
    /// Whether to let the client close a connection first (see
    /// `let_client_close_first`).
    client_closes_first: bool,
    behaviour: PeerBehaviour,
    protocol: Protocol,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<PeerLog>>,
    transcript: Transcript,
}

impl PeerContext {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Logs bytes from the client: a datagram (`stream: false`) is an entry
    /// of its own, stream bytes join the bytes received just before them.
    fn received(&self, bytes: &[u8], stream: bool) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .received
            .extend_from_slice(bytes);
        if stream {
            self.transcript.stream_bytes(PEER_CHANNEL, bytes);
        } else {
            self.transcript
                .record(PEER_CHANNEL, TranscriptEvent::Received(bytes.to_vec()));
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
        }
    }

    fn sent(&self, reply: &[u8]) {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replies
            .push(reply.to_vec());
        self.transcript
            .record(PEER_CHANNEL, TranscriptEvent::Sent(reply.to_vec()));
    }

    fn serve_udp(&self, socket: UdpSocket) {
        let _ = socket.set_read_timeout(Some(PEER_TICK));
        let mut buffer = vec![0u8; 65536];
        let mut script = self.protocol.peer();
        while !self.stopping() {
            let Ok((length, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            let request = buffer[..length].to_vec();
            self.received(&request, false);
            for reply in self.replies_for(script.on_datagram(&request)) {
                if socket.send_to(&reply, from).is_ok() {
                    self.sent(&reply);
                }
            }
        }
    }

    fn serve_tcp(&self, listener: TcpListener) {
        // A blocking accept bounded by SO_RCVTIMEO: a client's connection is
        // taken the moment it arrives, and the loop still wakes every tick
        // to see whether the test ended.
        let _ = socket2::SockRef::from(&listener).set_read_timeout(Some(PEER_TICK));
        while !self.stopping() {
            match listener.accept() {
                Ok((stream, _)) => {
                    self.transcript.record(
                        PEER_CHANNEL,
                        TranscriptEvent::Note("accepted a connection from the client".into()),
                    );
                    if self.behaviour == PeerBehaviour::CloseEarly {
                        self.transcript.record(
                            PEER_CHANNEL,
                            TranscriptEvent::Note("closed it without reading".into()),
                        );
                        continue;
                    }
                    self.serve_connection(stream);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                // Anything else (out of descriptors, say) is not worth a busy loop.
                Err(_) => std::thread::sleep(PEER_TICK),
            }
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
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }

    /// Serves one connection as the lab's protocol scripts it.
    fn serve_connection(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(PEER_TICK));
        let mut script = self.protocol.peer();
        let greeting = script.on_connect();
        if !greeting.is_empty() && stream.write_all(&greeting).is_ok() {
            self.sent(&greeting);
        }
        let mut buffer = vec![0u8; 65536];
        while !self.stopping() {
            let length = match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(length) => length,
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(_) => break,
            };
            self.received(&buffer[..length], true);
            let turn = script.on_stream(&buffer[..length]);
            for reply in turn
                .reply
                .map(|reply| self.replies_for(reply))
                .unwrap_or_default()
            {
                if stream.write_all(&reply).is_ok() {
                    self.sent(&reply);
                }
            }
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
            PEER_CHANNEL,
            TranscriptEvent::Note("closed the connection".into()),
        );
    }
}
