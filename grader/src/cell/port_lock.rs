//! A machine-wide lock on one port, for the process tier.
//!
//! A submission that may hard-code the lab's port (its command has no
//! `{port}`) can only run when no other grader process on the machine is
//! running one; an advisory `flock` on a file named for the port serialises
//! them across processes, and the lock dies with its holder.
//!
//! The file lives in a directory every grader on the machine agrees on,
//! whatever its `TMPDIR` (see [`lock_dir`]), and the wait is bounded: a
//! grader that holds the port for longer than a whole grading can take is
//! reported, not waited for forever.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// Longest wait for a port another grading on this machine holds.
pub const PORT_LOCK_WAIT: Duration = Duration::from_secs(300);

pub struct PortLock {
    _lock: Flock<File>,
}

impl PortLock {
    /// Waits until the port's lock is free (at most [`PORT_LOCK_WAIT`]), then
    /// holds it until dropped.
    pub fn acquire(port: u16) -> std::io::Result<PortLock> {
        let path = lock_dir().join(format!("socklab-port-{port}.lock"));
        let lock = lock_file(&path, PORT_LOCK_WAIT)?.ok_or_else(|| {
            std::io::Error::other(format!(
                "port {port} has been held by another grading on this machine for more than {} s \
                 (the lock {}); a submission that hard-codes the lab's port runs only when \
                 it has the port to itself",
                PORT_LOCK_WAIT.as_secs(),
                path.display()
            ))
        })?;
        Ok(PortLock { _lock: lock })
    }
}

impl PortLock {
    /// The lock a grading holds while a server free to choose its port runs
    /// in the process tier, where that port is the machine's: any port may
    /// be the one it takes, so such gradings take turns.
    pub fn acquire_any_port() -> std::io::Result<PortLock> {
        let path = lock_dir().join("socklab-port-any.lock");
        let lock = lock_file(&path, PORT_LOCK_WAIT)?.ok_or_else(|| {
            std::io::Error::other(format!(
                "another grading on this machine has run a server that chooses its own port \
                 for more than {} s (the lock {})",
                PORT_LOCK_WAIT.as_secs(),
                path.display()
            ))
        })?;
        Ok(PortLock { _lock: lock })
    }
}

/// Locks `path` exclusively, waiting at most `wait`; `None` when it stayed
/// held that long. `Duration::ZERO` tries once.
pub(crate) fn lock_file(
    path: &std::path::Path,
    wait: Duration,
) -> std::io::Result<Option<Flock<File>>> {
    const RETRY: Duration = Duration::from_millis(20);
    // Read-only is enough for flock, so graders running as other users can
    // lock a file the first one created.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .open(path)
        .or_else(|_| File::open(path))
        .map_err(|err| std::io::Error::other(format!("opening {}: {err}", path.display())))?;
    let until = Instant::now() + wait;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Some(lock)),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                if Instant::now() >= until {
                    return Ok(None);
                }
                file = back;
                std::thread::sleep(RETRY);
            }
            Err((_, errno)) => {
                return Err(std::io::Error::other(format!(
                    "locking {}: {errno}",
                    path.display()
                )));
            }
        }
    }
}

/// The directory machine-wide locks live in: the first of `/run/lock`,
/// `/var/lock`, `/dev/shm` and `/tmp` that this process can write. It never
/// depends on `TMPDIR`, so two graders with different temporary directories
/// still see each other's locks.
pub(crate) fn lock_dir() -> PathBuf {
    use nix::unistd::{AccessFlags, access};
    ["/run/lock", "/var/lock", "/dev/shm", "/tmp"]
        .into_iter()
        .map(PathBuf::from)
        .find(|dir| dir.is_dir() && access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_reported_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.lock");
        let held = lock_file(&path, Duration::ZERO).unwrap();
        assert!(held.is_some());
        assert!(
            lock_file(&path, Duration::from_millis(50))
                .unwrap()
                .is_none()
        );
        drop(held);
        assert!(lock_file(&path, Duration::ZERO).unwrap().is_some());
    }
}
