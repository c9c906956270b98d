//! Knowing when a cell's process has ended, without polling.
//!
//! Whoever learns the exit (a thread blocked in `wait` in the process tier, the
//! keeper's message in the namespace tier) records it here; everyone else
//! waits on the condition variable with a deadline.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::outcome::ExitReport;

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
