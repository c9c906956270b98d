//! Knowing when a cell's process has ended, without polling.
//!
//! Whoever learns the exit (a thread blocked in `wait` in the process tier, the
//! keeper's message in the namespace tier) records it here; everyone else
//! waits on the condition variable with a deadline.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

#[derive(Clone, Default)]
pub struct ExitWatch {
    state: Arc<(Mutex<Option<ExitReport>>, Condvar)>,
}

impl ExitWatch {
    pub fn record(&self, exit: ExitReport) {
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.get_or_insert(exit);
        changed.notify_all();
    }

    pub fn get(&self) -> Option<ExitReport> {
        self.state
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits until the process has ended or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) -> Option<ExitReport> {
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
