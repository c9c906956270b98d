//! Knowing when a cell's process has ended, without polling.
//!
//! Whoever learns the exit (a thread blocked in `wait` in the process tier, the
//! keeper's message in the namespace tier) records it here; everyone else
//! waits on the condition variable with a deadline, or has a socket woken.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::shut::shut_for_reading;

#[derive(Clone, Default)]
pub struct ExitWatch {
    state: Arc<(Mutex<ExitState>, Condvar)>,
}

#[derive(Default)]
struct ExitState {
    exit: Option<ExitReport>,
    /// Sockets a wait is blocked on, shut for reading when the exit is
    /// recorded. One is removed (under this lock) before its socket closes,
    /// so a number here is never one the process reused.
    woken: Vec<RawFd>,
}

impl ExitWatch {
    pub fn record(&self, exit: ExitReport) {
        let (_, changed) = &*self.state;
        let mut state = self.lock();
        state.exit.get_or_insert(exit);
        for &fd in &state.woken {
            shut_for_reading(fd);
        }
        changed.notify_all();
    }

    pub fn get(&self) -> Option<ExitReport> {
        self.lock().exit.clone()
    }

    /// Waits until the process has ended or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) -> Option<ExitReport> {
        let (_, changed) = &*self.state;
        let mut state = self.lock();
        loop {
            if state.exit.is_some() {
                return state.exit.clone();
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
    pub fn wake_on_exit(&self, socket: &impl AsRawFd) -> ExitWake<'_> {
        let fd = socket.as_raw_fd();
        let mut state = self.lock();
        state.woken.push(fd);
        if state.exit.is_some() {
            shut_for_reading(fd);
        }
        ExitWake { watch: self, fd }
    }

    fn lock(&self) -> MutexGuard<'_, ExitState> {
        self.state
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A socket woken at the exit, for as long as this lives; it must be
/// dropped before the socket is closed.
pub struct ExitWake<'a> {
    watch: &'a ExitWatch,
    fd: RawFd,
}

impl Drop for ExitWake<'_> {
    fn drop(&mut self) {
        let mut state = self.watch.lock();
        if let Some(at) = state.woken.iter().position(|&fd| fd == self.fd) {
            state.woken.swap_remove(at);
        }
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
            assert!(
                watch.lock().woken.is_empty(),
                "the guard leaves no descriptor behind"
            );
        }
    }
}
