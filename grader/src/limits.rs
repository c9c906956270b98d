//! Limits on a submission (SPEC §6), with the documented defaults.
//!
//! A lab file may override any of them in its `[limits]` table and the command
//! line may override them again; [`Limits::resolve`] applies that order.

use serde::Deserialize;

/// Optional limit values, as written in a lab file or given on the command line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub readiness_ms: Option<u64>,
    pub test_ms: Option<u64>,
    pub submission_ms: Option<u64>,
    pub build_ms: Option<u64>,
    pub cpu_seconds: Option<u64>,
    pub memory_mb: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_mb: Option<u64>,
    pub open_files: Option<u64>,
    pub output_kb: Option<u64>,
}

/// The limits in force for one grading run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a server may take to start listening.
    pub readiness_ms: u64,
    /// Default wall time of one test (a test may set its own).
    pub test_ms: u64,
    /// Wall time of the whole submission; tests not started by then are skipped.
    pub submission_ms: u64,
    /// Wall time of a build step (`cargo build`, a manifest's `build`).
    pub build_ms: u64,
    /// CPU seconds per process (RLIMIT_CPU).
    pub cpu_seconds: u64,
    /// Address space per process (RLIMIT_AS), in MiB.
    pub memory_mb: u64,
    /// Processes per cell (RLIMIT_NPROC where the cell has its own user).
    pub processes: u64,
    /// Largest file a submission may write (RLIMIT_FSIZE), in MiB.
    pub file_size_mb: u64,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Captured output kept per stream, in KiB: half from the head, half from the tail.
    pub output_kb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            readiness_ms: 5_000,
            test_ms: 2_000,
            submission_ms: 120_000,
            build_ms: 300_000,
            cpu_seconds: 60,
            memory_mb: 1_024,
            processes: 64,
            file_size_mb: 16,
            open_files: 256,
            output_kb: 64,
        }
    }
}

impl Limits {
    /// The defaults, overridden by the lab, overridden by the command line.
    pub fn resolve(lab: &LimitOverrides, cli: &LimitOverrides) -> Limits {
        let defaults = Limits::default();
        let pick =
            |cli: Option<u64>, lab: Option<u64>, default: u64| cli.or(lab).unwrap_or(default);
        Limits {
            readiness_ms: pick(cli.readiness_ms, lab.readiness_ms, defaults.readiness_ms),
            test_ms: pick(cli.test_ms, lab.test_ms, defaults.test_ms),
            submission_ms: pick(cli.submission_ms, lab.submission_ms, defaults.submission_ms),
            build_ms: pick(cli.build_ms, lab.build_ms, defaults.build_ms),
            cpu_seconds: pick(cli.cpu_seconds, lab.cpu_seconds, defaults.cpu_seconds),
            memory_mb: pick(cli.memory_mb, lab.memory_mb, defaults.memory_mb),
            processes: pick(cli.processes, lab.processes, defaults.processes),
            file_size_mb: pick(cli.file_size_mb, lab.file_size_mb, defaults.file_size_mb),
            open_files: pick(cli.open_files, lab.open_files, defaults.open_files),
            output_kb: pick(cli.output_kb, lab.output_kb, defaults.output_kb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_lab_beats_default() {
        let lab = LimitOverrides {
            test_ms: Some(500),
            memory_mb: Some(256),
            ..LimitOverrides::default()
        };
        let cli = LimitOverrides {
            memory_mb: Some(128),
            ..LimitOverrides::default()
        };
        let limits = Limits::resolve(&lab, &cli);
        assert_eq!(limits.test_ms, 500);
        assert_eq!(limits.memory_mb, 128);
        assert_eq!(limits.readiness_ms, Limits::default().readiness_ms);
    }
}
