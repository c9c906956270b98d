//! Knowing when a cell's process has ended, without polling.
//!
//! Whoever learns the exit (a thread blocked in `wait` in the process tier, the
//! keeper's message in the namespace tier) records it here; everyone else
//! waits on the condition variable with a deadline, or has a socket woken.

use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::shut::{SocketAlarm, Watched};

#[derive(Clone, Default)]
pub struct ExitWatch {
    state: Arc<(Mutex<Option<ExitReport>>, Condvar)>,
    /// Rung when the exit is recorded.
    alarm: Arc<SocketAlarm>,
}

impl ExitWatch {
    pub fn record(&self, exit: ExitReport) {
        let (_, changed) = &*self.state;
        let mut state = self.lock();
        state.get_or_insert(exit);
        changed.notify_all();
        self.alarm.ring();
    }

    pub fn get(&self) -> Option<ExitReport> {
        self.lock().clone()
    }

    /// Waits until the process has ended or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) -> Option<ExitReport> {
        let (_, changed) = &*self.state;
        let mut state = self.lock();
        loop {
            if state.is_some() {
                return state.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Shuts `socket` for reading when the process ends (now, if it has),
    /// for as long as the guard lives: a blocked `recv` on it returns at
    /// the exit. A datagram wait needs it, since a dead peer's UDP socket
    /// says nothing, and a receive timeout is rounded up to the kernel's
    /// tick (4 ms at 250 Hz), so looking at the exit between short
    /// timeouts notices it several milliseconds late.
    pub(crate) fn wake_on_exit(&self, socket: &impl AsRawFd) -> Watched<'_> {
        self.alarm.watch(socket)
    }

    fn lock(&self) -> MutexGuard<'_, Option<ExitReport>> {
        self.state
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl From<std::process::ExitStatus> for ExitReport {
    fn from(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitReport::Code(code),
            (None, Some(signal)) => ExitReport::Signal(signal),
            (None, None) => ExitReport::Code(-1),
        }
    }
}

/// How a program ended: its exit status or the signal that killed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReport {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitReport::Code(code) => write!(f, "exit status {code}"),
            ExitReport::Signal(signal) => write!(f, "signal {signal} ({})", signal_name(*signal)),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The exit reaches a datagram wait whether it was recorded before the
    /// socket was watched or after: the socket is shut either way, so a
    /// receive returns nothing at once rather than at its (long) timeout. (A
    /// receive already blocked is woken by the same shutdown.)
    #[test]
    fn an_exit_wakes_the_sockets_watched_for_it() {
        for exit_first in [true, false] {
            let watch = ExitWatch::default();
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(60)))
                .expect("a timeout");
            if exit_first {
                watch.record(ExitReport::Code(3));
            }
            let woken = watch.wake_on_exit(&socket);
            if !exit_first {
                watch.record(ExitReport::Code(3));
            }
            let mut buffer = [0u8; 16];
            let got = crate::shut::recv_datagram(&socket, &mut buffer);
            assert!(
                matches!(got, Ok(None)),
                "a shut socket receives nothing: {got:?}"
            );
            drop(woken);
        }
    }
}
