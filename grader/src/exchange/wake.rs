//! Ending a grader-played peer at once: the sockets its threads block on
//! are shut for reading when the test ends, which makes a blocked `accept`
//! or `recv` return there and then instead of at its next timeout.
//!
//! `shutdown(SHUT_RD)` wakes every kind the peer uses (see `crate::shut`).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::shut::shut_for_reading;

/// Whether the test ended, and the sockets to wake when it does.
#[derive(Default)]
pub(super) struct StopSignal {
    stopped: AtomicBool,
    /// Descriptors of sockets a peer thread may be blocked on. One is
    /// removed (under this lock) before its socket is closed, so a number
    /// here is never one the process reused for something else.
    blocked: Mutex<Vec<RawFd>>,
}

impl StopSignal {
    pub(super) fn is_set(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Ends the peer: sets the flag, then wakes every watched socket.
    pub(super) fn set(&self) {
        self.stopped.store(true, Ordering::Release);
        for &fd in self.lock().iter() {
            shut_for_reading(fd);
        }
    }

    /// Watches `socket` until the guard is dropped, which must happen before
    /// the socket is closed. A socket watched after the stop is woken now.
    pub(super) fn watch(&self, socket: &impl AsRawFd) -> Watched<'_> {
        let fd = socket.as_raw_fd();
        let mut blocked = self.lock();
        blocked.push(fd);
        if self.is_set() {
            shut_for_reading(fd);
        }
        Watched { signal: self, fd }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RawFd>> {
        self.blocked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A socket [`StopSignal::set`] wakes, for as long as this lives.
pub(super) struct Watched<'a> {
    signal: &'a StopSignal,
    fd: RawFd,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        let mut blocked = self.signal.lock();
        if let Some(at) = blocked.iter().position(|&fd| fd == self.fd) {
            blocked.swap_remove(at);
        }
    }
}
