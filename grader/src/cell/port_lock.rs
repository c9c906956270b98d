//! A machine-wide lock on one port, for the process tier.
//!
//! A submission that may hard-code the lab's port (its command has no
//! `{port}`) can only run when no other grader process on the machine is
//! running one; an advisory `flock` on a file named for the port serialises
//! them across processes, and the lock dies with its holder.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

pub struct PortLock {
    _lock: Flock<File>,
}

impl PortLock {
    /// Blocks until the port's lock is free, then holds it until dropped.
    pub fn acquire(port: u16) -> std::io::Result<PortLock> {
        let path = lock_path(port);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            std::io::Error::other(format!("locking {}: {errno}", path.display()))
        })?;
        Ok(PortLock { _lock: lock })
    }
}

fn lock_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("socklab-port-{port}.lock"))
}
