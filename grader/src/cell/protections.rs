//! Which protections a cell had in force, for every result: each depends on
//! a kernel feature or on the grader's privileges, and a missing one is
//! reported, never silently skipped (docs/ISOLATION.md lists them per tier).

use serde::Serialize;

/// One thing a cell guards against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guard {
    /// No program reads or writes the grader's memory or environment.
    GraderMemory,
    /// No controlling terminal to type into or read from.
    Terminal,
    /// Nothing outlives the cell, its stop or a killed grader.
    Cleanup,
    /// Programs do not run as root.
    User,
    /// Files outside the scratch copy are read-only or invisible.
    Files,
    /// Only the test's TCP ports can be bound or connected to.
    TcpPorts,
    /// Signals and abstract Unix sockets stay inside the cell.
    Signals,
    /// Memory bounded for the whole cell, not only per process.
    Memory,
    /// Processes bounded for the cell.
    Processes,
    /// What the cell writes is bounded.
    Disk,
    /// A private view of the file system (mount namespace).
    MountView,
}

impl Guard {
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::GraderMemory => "grader-memory",
            Guard::Terminal => "terminal",
            Guard::Cleanup => "cleanup",
            Guard::User => "user",
            Guard::Files => "files",
            Guard::TcpPorts => "tcp-ports",
            Guard::Signals => "signals",
            Guard::Memory => "memory",
            Guard::Processes => "processes",
            Guard::Disk => "disk",
            Guard::MountView => "mount-view",
        }
    }
}

/// A guard, whether it held in this cell, and how (or why not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Protection {
    pub guard: Guard,
    pub in_force: bool,
    pub detail: String,
}

impl Protection {
    pub fn held(guard: Guard, detail: impl Into<String>) -> Protection {
        Protection {
            guard,
            in_force: true,
            detail: detail.into(),
        }
    }

    pub fn missing(guard: Guard, detail: impl Into<String>) -> Protection {
        Protection {
            guard,
            in_force: false,
            detail: detail.into(),
        }
    }
}
