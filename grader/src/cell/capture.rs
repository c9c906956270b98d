//! Draining a child's stdout or stderr on a thread of its own, keeping a
//! bounded head and tail.
//!
//! A chatty child must never block on a full pipe (it would stall mid-test and
//! look hung), and must never grow the grader's memory: whatever it prints, at
//! most `limit` bytes are kept. The reader polls with a short timeout so that
//! it can be told to stop even while a stray grandchild still holds the pipe's
//! write end open; the grader's own threads and fds are then released.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// What was kept of one output stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    /// Bytes the stream carried in all.
    pub total: u64,
}

impl Captured {
    /// The kept bytes, with a visible marker where the middle was cut.
    pub fn joined(&self) -> Vec<u8> {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut bytes = self.head.clone();
        if self.total > kept {
            bytes.extend_from_slice(format!("\n…[{} bytes cut]…\n", self.total - kept).as_bytes());
        }
        bytes.extend_from_slice(&self.tail);
        bytes
    }

    /// The last `limit` bytes kept, for short reports such as a stderr tail,
    /// after a visible marker when anything before them was cut.
    pub fn last(&self, limit: usize) -> Vec<u8> {
        let joined = self.joined();
        if joined.len() <= limit && self.total == joined.len() as u64 {
            return joined;
        }
        let kept = &joined[joined.len().saturating_sub(limit)..];
        ["…[earlier output cut]…\n".as_bytes(), kept].concat()
    }
}

#[derive(Default)]
struct HeadTail {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

/// A stream being drained.
pub struct Capture {
    kept: Arc<Mutex<HeadTail>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Capture {
    /// Starts draining `pipe`, keeping `limit` bytes (half head, half tail).
    pub fn start(pipe: OwnedFd, limit: usize, name: &str) -> std::io::Result<Capture> {
        let kept = Arc::new(Mutex::new(HeadTail::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let kept = Arc::clone(&kept);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("capture-{name}"))
                .spawn(move || drain(File::from(pipe), &kept, &stop, limit))?
        };
        Ok(Capture {
            kept,
            stop,
            reader: Some(reader),
        })
    }

    pub fn snapshot(&self) -> Captured {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Captured {
            head: kept.head.clone(),
            tail: kept.tail.iter().copied().collect(),
            total: kept.total,
        }
    }

    /// Stops reading (after draining what is already buffered) and releases the
    /// pipe and the thread.
    pub fn finish(mut self) -> Captured {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.snapshot()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn drain(mut pipe: File, kept: &Mutex<HeadTail>, stop: &AtomicBool, limit: usize) {
    let head_limit = limit / 2;
    let tail_limit = limit - head_limit;
    let mut buffer = [0u8; 8192];
    loop {
        let stopping = stop.load(Ordering::Acquire);
        // Stopping still drains what is buffered, without waiting for more.
        let timeout = if stopping {
            PollTimeout::ZERO
        } else {
            PollTimeout::from(20u8)
        };
        let readable = {
            let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => false,
                Ok(_) => true,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        };
        if !readable {
            if stopping {
                return;
            }
            continue;
        }
        let read = match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.total += read as u64;
        let mut bytes = &buffer[..read];
        let room = head_limit.saturating_sub(kept.head.len());
        let into_head = room.min(bytes.len());
        kept.head.extend_from_slice(&bytes[..into_head]);
        bytes = &bytes[into_head..];
        kept.tail.extend(bytes);
        let excess = kept.tail.len().saturating_sub(tail_limit);
        kept.tail.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn keeps_head_and_tail_of_a_flood() {
        let (reader, writer) = crate::cell::cloexec_pipe().unwrap();
        let capture = Capture::start(reader, 10, "test").unwrap();
        let mut writer = File::from(writer);
        writer.write_all(b"HEAD-").unwrap();
        writer.write_all(&[b'x'; 100_000]).unwrap();
        writer.write_all(b"-TAIL").unwrap();
        drop(writer);
        let captured = capture.finish();
        assert_eq!(captured.total, 100_010);
        assert_eq!(captured.head, b"HEAD-");
        assert_eq!(captured.tail, b"-TAIL");
        let joined = String::from_utf8(captured.joined()).unwrap();
        assert_eq!(joined, "HEAD-\n…[100000 bytes cut]…\n-TAIL");
    }

    #[test]
    fn finish_returns_while_a_writer_is_still_open() {
        let (reader, writer) = crate::cell::cloexec_pipe().unwrap();
        let capture = Capture::start(reader, 64, "test").unwrap();
        let mut writer = File::from(writer);
        writer.write_all(b"partial").unwrap();
        // The write end stays open, as when a grandchild inherited it.
        let captured = capture.finish();
        assert_eq!(captured.joined(), b"partial");
        drop(writer);
    }
}
