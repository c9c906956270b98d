//! Limits on a submission, with the documented defaults.
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
    pub cell_memory_mb: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_mb: Option<u64>,
    pub disk_mb: Option<u64>,
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
    /// Private writable memory per process (RLIMIT_DATA), in MiB.
    pub memory_mb: u64,
    /// Memory of a whole cell, all its processes together (a cgroup, or
    /// their resident memory polled), in MiB; never below `memory_mb`, so
    /// one process at its own limit always fits.
    pub cell_memory_mb: u64,
    /// Processes and threads per cell (a cgroup's pids controller, else
    /// RLIMIT_NPROC where the cell has a user of its own).
    pub processes: u64,
    /// Largest file a submission may write (RLIMIT_FSIZE), in MiB.
    pub file_size_mb: u64,
    /// What a cell may write in all, to its scratch copy and its /tmp, in
    /// MiB (a tmpfs of that size in the namespace tier, the copy's growth
    /// polled in the process tier). Builds are not bounded by it: what they
    /// write is the submission's program.
    pub disk_mb: u64,
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
            cell_memory_mb: 2_048,
            processes: 64,
            file_size_mb: 16,
            disk_mb: 256,
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
            cell_memory_mb: pick(
                cli.cell_memory_mb,
                lab.cell_memory_mb,
                defaults.cell_memory_mb,
            ),
            processes: pick(cli.processes, lab.processes, defaults.processes),
            file_size_mb: pick(cli.file_size_mb, lab.file_size_mb, defaults.file_size_mb),
            disk_mb: pick(cli.disk_mb, lab.disk_mb, defaults.disk_mb),
            open_files: pick(cli.open_files, lab.open_files, defaults.open_files),
            output_kb: pick(cli.output_kb, lab.output_kb, defaults.output_kb),
        }
    }
}

/// A limit value outside the range the grader accepts for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub name: &'static str,
    pub value: u64,
    pub range: std::ops::RangeInclusive<u64>,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` = {} is out of range: it must be from {} to {}",
            self.name,
            self.value,
            self.range.start(),
            self.range.end()
        )
    }
}

/// The range each limit may take (documented in docs/LAB-FORMAT.md). Out of
/// these, a limit either cannot be enforced (an `open_files` above the
/// kernel's maximum makes every program fail to start), overflows a
/// deadline, or makes no sense (a zero timeout).
pub fn range_of(name: &str) -> Option<std::ops::RangeInclusive<u64>> {
    Some(match name {
        "readiness_ms" | "test_ms" => 1..=600_000,
        "submission_ms" => 1..=86_400_000,
        "build_ms" => 1..=3_600_000,
        "cpu_seconds" => 1..=3_600,
        "memory_mb" | "cell_memory_mb" => 16..=1_048_576,
        "processes" => 1..=100_000,
        "file_size_mb" | "disk_mb" => 1..=1_048_576,
        "open_files" => 16..=kernel_open_files_max(),
        "output_kb" => 1..=65_536,
        _ => return None,
    })
}

/// The most descriptors the kernel lets any process have (`fs.nr_open`,
/// 1,048,576 unless changed).
fn kernel_open_files_max() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1_048_576)
}

impl LimitOverrides {
    /// The limits set here that are out of their range, in field order.
    pub fn out_of_range(&self) -> Vec<OutOfRange> {
        let set = [
            ("readiness_ms", self.readiness_ms),
            ("test_ms", self.test_ms),
            ("submission_ms", self.submission_ms),
            ("build_ms", self.build_ms),
            ("cpu_seconds", self.cpu_seconds),
            ("memory_mb", self.memory_mb),
            ("cell_memory_mb", self.cell_memory_mb),
            ("processes", self.processes),
            ("file_size_mb", self.file_size_mb),
            ("disk_mb", self.disk_mb),
            ("open_files", self.open_files),
            ("output_kb", self.output_kb),
        ];
        set.into_iter()
            .filter_map(|(name, value)| {
                let value = value?;
                let range = range_of(name)?;
                (!range.contains(&value)).then_some(OutOfRange { name, value, range })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_out_of_their_range_are_named_with_it() {
        let wild = LimitOverrides {
            test_ms: Some(0),
            open_files: Some(u64::MAX),
            memory_mb: Some(256),
            ..LimitOverrides::default()
        };
        let refused = wild.out_of_range();
        let names: Vec<&str> = refused.iter().map(|limit| limit.name).collect();
        assert_eq!(names, ["test_ms", "open_files"]);
        assert!(
            refused[0].to_string().contains("from 1 to 600000"),
            "{}",
            refused[0]
        );
        let defaults = Limits::default();
        for (name, value) in [
            ("readiness_ms", defaults.readiness_ms),
            ("test_ms", defaults.test_ms),
            ("submission_ms", defaults.submission_ms),
            ("build_ms", defaults.build_ms),
            ("cpu_seconds", defaults.cpu_seconds),
            ("memory_mb", defaults.memory_mb),
            ("cell_memory_mb", defaults.cell_memory_mb),
            ("processes", defaults.processes),
            ("file_size_mb", defaults.file_size_mb),
            ("disk_mb", defaults.disk_mb),
            ("open_files", defaults.open_files),
            ("output_kb", defaults.output_kb),
        ] {
            assert!(range_of(name).unwrap().contains(&value), "default {name}");
        }
    }

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
