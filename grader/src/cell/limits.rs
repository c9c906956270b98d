//! Resource limits applied to every program a cell starts, between `fork` and
//! `exec`. Only async-signal-safe calls belong here: the grader is
//! multi-threaded, and the child may only make system calls until it execs.

use nix::sys::resource::{Resource, setrlimit};
use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// The rlimits a program runs under, computed before forking.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Rlimits {
    cpu_seconds: u64,
    data: u64,
    file_size: u64,
    open_files: u64,
    processes: Option<u64>,
}

impl Rlimits {
    /// `count_processes`: whether RLIMIT_NPROC is meaningful. It counts every
    /// process of the real user, so it is only set where the cell has a user
    /// namespace of its own (and is ignored for root anyway).
    pub fn new(limits: &Limits, count_processes: bool) -> Rlimits {
        const MIB: u64 = 1024 * 1024;
        Rlimits {
            cpu_seconds: limits.cpu_seconds,
            data: limits.memory_mb.saturating_mul(MIB),
            file_size: limits.file_size_mb.saturating_mul(MIB),
            open_files: limits.open_files,
            processes: count_processes.then_some(limits.processes),
        }
    }

    /// Applies the limits to the calling process. Async-signal-safe.
    pub fn apply(&self) -> std::io::Result<()> {
        // The soft CPU limit sends SIGXCPU; the hard one a second later SIGKILL.
        setrlimit(Resource::RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 1)?;
        // The data segment, not the address space: runtimes such as the JVM
        // and Go reserve far more address space than they ever touch, and
        // RLIMIT_DATA counts only private writable memory (heap, anonymous
        // mappings, thread stacks), which is what a memory bomb grows.
        setrlimit(Resource::RLIMIT_DATA, self.data, self.data)?;
        setrlimit(Resource::RLIMIT_FSIZE, self.file_size, self.file_size)?;
        setrlimit(Resource::RLIMIT_NOFILE, self.open_files, self.open_files)?;
        // Core dumps of a crashing submission would only fill the disk.
        setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
        if let Some(processes) = self.processes {
            setrlimit(Resource::RLIMIT_NPROC, processes, processes)?;
        }
        Ok(())
    }
}
