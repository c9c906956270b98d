//! Waiting for a server to listen, by watching its sockets (socket
//! diagnostics, or `/proc` as a fallback: see `cell::procfs`) rather than by
//! sending it anything.

use std::time::{Duration, Instant};

use crate::cell::ExitReport;
use crate::cell::{Cell, CellProcess};
use crate::transport::Transport;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Listening {
        port: u16,
    },
    /// It ended before listening.
    Exited(ExitReport),
    /// It listens, but not where it should: these (transport, port) pairs.
    WrongPort(Vec<(Transport, u16)>),
    /// It runs and listens nowhere.
    Silent,
}

/// How often the sockets are looked at while waiting: well inside the 2 ms
/// in which readiness should be noticed, and cheap through sock_diag (a look
/// costs well under 0.1 ms).
const POLL: Duration = Duration::from_micros(500);

/// A look may cost far more when the cell reads `/proc` (about 15 ms on a
/// machine with a large socket table): the pause between looks is then this
/// many times what the last look cost, so waiting never takes more than a
/// third of a core.
const POLL_PER_COST: u32 = 2;

/// How often the full list of a program's sockets is read while waiting.
const FULL_LOOK_EVERY: Duration = Duration::from_millis(50);

/// How long a server seen listening may keep running before it counts as
/// ready anyway. A server that listens and then waits for clients is asleep
/// in the kernel within microseconds (`Cell::settled`); one that daemonises
/// listens and then forks and exits without ever waiting, and must be seen
/// exiting, as it was when looks were slower, not graded as a server that
/// started. A server that listens and spins without waiting (it will fail
/// its tests anyway) is taken as ready after this.
const SETTLE_AT_MOST: Duration = Duration::from_millis(50);

/// How long a server that listens on a wrong port gets to open the right one
/// too before it is reported.
const WRONG_PORT_GRACE: Duration = Duration::from_millis(300);

/// Waits until `process` listens on one of `ports` (the first is the one it
/// was given) over `transport`, exits, or `deadline` passes.
pub fn wait(
    cell: &Cell,
    process: &CellProcess,
    transport: Transport,
    ports: &[u16],
    deadline: Instant,
) -> Readiness {
    let mut wrong_since: Option<Instant> = None;
    let mut next_full_look = Instant::now();
    let mut listening_since: Option<Instant> = None;
    loop {
        let look = Instant::now();
        let listening = cell.listening_on(process, transport, ports);
        if let Some(port) = listening {
            let since = *listening_since.get_or_insert(look);
            // Read before the exit, so a daemon's parent that exits between
            // the two is seen exiting rather than settled.
            let settled = cell.settled(process);
            if !process.has_ended() && (settled || look.duration_since(since) >= SETTLE_AT_MOST) {
                return Readiness::Listening { port };
            }
        }
        let pause = POLL.max(look.elapsed() * POLL_PER_COST);
        if let Some(exit) = process.exit() {
            return Readiness::Exited(exit);
        }
        let now = Instant::now();
        if listening.is_some() {
            // On the right port, waiting for it to settle: no wrong port.
            if let Some(exit) = process.wait_until((now + pause).min(deadline)) {
                return Readiness::Exited(exit);
            }
            continue;
        }
        // Everything the program listens on costs more to find, and is only
        // needed to notice a wrong port: looked at now and then.
        if now >= next_full_look || now >= deadline {
            next_full_look = now + FULL_LOOK_EVERY;
            let mut bound: Vec<(Transport, u16)> = cell
                .listeners(process)
                .iter()
                .map(|listener| (listener.transport, listener.port))
                .collect();
            if !bound.is_empty() {
                let since = *wrong_since.get_or_insert(now);
                if now >= deadline || now - since >= WRONG_PORT_GRACE {
                    bound.sort_by_key(|(transport, port)| (*port, transport.as_str()));
                    bound.dedup();
                    return Readiness::WrongPort(bound);
                }
            }
        }
        if now >= deadline {
            return Readiness::Silent;
        }
        // The kernel offers no event for "a socket started listening", so
        // this polls; the exit watch wakes it at once if the process ends.
        if let Some(exit) = process.wait_until((now + pause).min(deadline)) {
            return Readiness::Exited(exit);
        }
    }
}

/// Waits until `process` listens on exactly one port over `transport` and
/// nothing else, for a lab whose server chooses its own port; exits; or
/// `deadline` passes. A server that listens on several ports (or on the
/// other transport) is reported with them, once it had the same grace as a
/// wrong port to settle.
pub fn wait_for_any_port(
    cell: &Cell,
    process: &CellProcess,
    transport: Transport,
    deadline: Instant,
) -> Readiness {
    let mut listening_since: Option<Instant> = None;
    let mut several_since: Option<Instant> = None;
    loop {
        let look = Instant::now();
        let mut bound: Vec<(Transport, u16)> = cell
            .listeners(process)
            .iter()
            .map(|listener| (listener.transport, listener.port))
            .collect();
        bound.sort_by_key(|(transport, port)| (*port, transport.as_str()));
        bound.dedup();
        match bound.as_slice() {
            [(bound_transport, port)] if *bound_transport == transport => {
                let since = *listening_since.get_or_insert(look);
                let settled = cell.settled(process);
                if !process.has_ended() && (settled || look.duration_since(since) >= SETTLE_AT_MOST)
                {
                    return Readiness::Listening { port: *port };
                }
            }
            [] => {}
            _ => {
                let since = *several_since.get_or_insert(look);
                if look >= deadline || look - since >= WRONG_PORT_GRACE {
                    return Readiness::WrongPort(bound);
                }
            }
        }
        if let Some(exit) = process.exit() {
            return Readiness::Exited(exit);
        }
        let now = Instant::now();
        if now >= deadline {
            return Readiness::Silent;
        }
        let pause = POLL.max(look.elapsed() * POLL_PER_COST);
        if let Some(exit) = process.wait_until((now + pause).min(deadline)) {
            return Readiness::Exited(exit);
        }
    }
}
