//! Bounds the kernel cannot hold for a cell, held by polling: the cell's
//! memory where no cgroup bounds it (the sum of its processes' resident
//! memory), and the size of the scratch copy where no tmpfs bounds it (the
//! process tier). A thread looks every [`INTERVAL`] and kills the cell's
//! processes when one is over; so the bound may be overshot by what a
//! program allocates or writes in that time, which the docs say.

use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::libc;

/// How often the bounds are checked.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// At most this many entries are looked at per check of the copy's size, so
/// a tree of millions of empty files cannot make a check slow; their count
/// is bounded anyway by what their directories take.
const MOST_ENTRIES: usize = 200_000;

/// What to hold.
#[derive(Clone, Debug, Default)]
pub struct Polled {
    /// Resident memory of all the cell's processes together, in bytes.
    pub memory: Option<u64>,
    /// The scratch copy, and how large it may grow, in bytes.
    pub disk: Option<(PathBuf, u64)>,
}

impl Polled {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.disk.is_none()
    }
}

/// A running watch; stopped when dropped.
pub struct Watch {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tripped: Arc<Mutex<Option<String>>>,
}

impl Watch {
    /// Watches `polled` for the processes `members` lists (polled each
    /// time), killing them all when a bound is crossed.
    pub fn start(
        polled: Polled,
        members: impl Fn() -> Vec<i32> + Send + 'static,
    ) -> std::io::Result<Watch> {
        let (stop, stopped) = channel::<()>();
        let tripped = Arc::new(Mutex::new(None));
        let record = Arc::clone(&tripped);
        // What the copy held before the program ran is the submission's,
        // not the program's: only growth counts.
        let baseline = polled
            .disk
            .as_ref()
            .map(|(dir, _)| tree_size(dir))
            .unwrap_or(0);
        let thread = std::thread::Builder::new()
            .name("cell-watch".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(INTERVAL) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let over = over_bound(&polled, baseline, &members);
                    if let Some(why) = over {
                        for pid in members() {
                            // SAFETY: plain kill.
                            unsafe {
                                libc::kill(pid, libc::SIGKILL);
                            }
                        }
                        *record.lock().expect("watch") = Some(why);
                    }
                }
            })?;
        Ok(Watch {
            stop: Some(stop),
            thread: Some(thread),
            tripped,
        })
    }

    /// Why the watch stopped the cell, if it did.
    pub fn tripped(&self) -> Option<String> {
        self.tripped.lock().expect("watch").clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn over_bound(polled: &Polled, baseline: u64, members: &dyn Fn() -> Vec<i32>) -> Option<String> {
    if let Some(bound) = polled.memory {
        let used: u64 = members().into_iter().map(resident).sum();
        if used > bound {
            return Some(format!(
                "socklab: the cell's processes held {} MiB together, over its memory bound of {} MiB; the cell was stopped",
                used >> 20,
                bound >> 20
            ));
        }
    }
    if let Some((dir, bound)) = &polled.disk {
        let grown = tree_size(dir).saturating_sub(baseline);
        if grown > *bound {
            return Some(format!(
                "socklab: the scratch copy grew by {} MiB, over its bound of {} MiB; the cell was stopped",
                grown >> 20,
                bound >> 20
            ));
        }
    }
    None
}

/// Resident memory of one process, in bytes (0 once it is gone).
fn resident(pid: i32) -> u64 {
    let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

/// The disk space a tree takes (allocated blocks, so a sparse file counts
/// what it holds), without following links.
pub fn tree_size(root: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MOST_ENTRIES {
                return total;
            }
            let Ok(meta) = entry.metadata() else { continue };
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_counts_what_its_files_hold() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/big"), vec![1u8; 1 << 20]).unwrap();
        let size = tree_size(dir.path());
        assert!(size >= 1 << 20, "{size}");
        assert!(size < 2 << 20, "{size}");
    }
}
