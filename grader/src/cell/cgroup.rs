//! Bounds per cell, not per process: one control group per cell, holding
//! every process of the cell, with a memory limit and a process limit that
//! count the whole cell (and hold when the grader runs as root, where
//! `RLIMIT_NPROC` does nothing).
//!
//! cgroup v2 is used where the grader may create a group with the `memory`
//! and `pids` controllers (it sits in the root group, or its group already
//! hands them down); otherwise the v1 hierarchies of `memory` and `pids`
//! (and `cpu`, unbounded, so a cell of many processes competes for the CPU
//! as one). Where neither works, [`CellGroup::create`] says why and the
//! cell's memory is bounded by polling instead (see `watch`).
//!
//! Groups are named `socklab-<grader pid>-<grader start time>-<n>` in the
//! grader's own group, and removed with the cell. A SIGKILLed grader cannot
//! remove its own: the next grader to create a group removes those whose
//! grader is gone (no live process has that pid and start time), killing
//! whatever is left in them first.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::libc;

/// What a group bounds, or why it does not.
pub type Held = Result<String, String>;

/// The controllers a cell's group uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// A cell's group, in one hierarchy (v2) or one per controller (v1).
pub struct CellGroup {
    version: Version,
    dirs: Vec<(Controller, PathBuf)>,
    /// The membership file of each directory, opened before any fork: a
    /// child joins by writing `0` to each (async-signal-safe). That is
    /// `cgroup.procs` in v2 and `tasks` in v1 (see [`open_membership`]).
    membership: Vec<OwnedFd>,
}

/// A group (when one could be made) and what it bounds.
pub struct Bounds {
    pub group: Option<CellGroup>,
    pub memory: Held,
    pub processes: Held,
}

static NEXT_GROUP: AtomicU64 = AtomicU64::new(0);

impl CellGroup {
    /// A new group for one cell: at most `memory_bytes` of memory (no swap)
    /// and `processes` processes and threads.
    pub fn create(memory_bytes: u64, processes: u64) -> Bounds {
        static CLEANED: Once = Once::new();
        let name = format!(
            "socklab-{}-{}-{}",
            std::process::id(),
            start_time(std::process::id() as i32).unwrap_or(0),
            NEXT_GROUP.fetch_add(1, Ordering::Relaxed)
        );
        let v2 = create_v2(&name, memory_bytes, processes);
        let group = match v2 {
            Ok(group) => Ok(group),
            Err(v2_refused) => create_v1(&name, memory_bytes, processes)
                .map_err(|v1_refused| format!("cgroup v2: {v2_refused}; cgroup v1: {v1_refused}")),
        };
        CLEANED.call_once(|| {
            if let Ok(group) = &group {
                for (_, dir) in &group.dirs {
                    if let Some(parent) = dir.parent() {
                        remove_stale(parent);
                    }
                }
            }
        });
        match group {
            Ok(group) => {
                let version = match group.version {
                    Version::V1 => "cgroup v1",
                    Version::V2 => "cgroup v2",
                };
                let has = |controller| group.dirs.iter().any(|(c, _)| *c == controller);
                let memory = if has(Controller::Memory) {
                    Ok(format!(
                        "{} MiB for the whole cell ({version} memory controller)",
                        memory_bytes / (1024 * 1024)
                    ))
                } else {
                    Err(format!("no memory controller in {version}"))
                };
                let processes = if has(Controller::Pids) {
                    Ok(format!(
                        "{processes} processes and threads for the whole cell ({version} pids controller)"
                    ))
                } else {
                    Err(format!("no pids controller in {version}"))
                };
                Bounds {
                    group: Some(group),
                    memory,
                    processes,
                }
            }
            Err(why) => Bounds {
                group: None,
                memory: Err(why.clone()),
                processes: Err(why),
            },
        }
    }

    /// Descriptors a child writes to join the group ([`join`]).
    pub fn join_fds(&self) -> Vec<RawFd> {
        self.membership.iter().map(|fd| fd.as_raw_fd()).collect()
    }

    /// Whether the group bounds processes (so `RLIMIT_NPROC`, which counts
    /// a whole user, is not needed).
    pub fn bounds_processes(&self) -> bool {
        self.dirs.iter().any(|(c, _)| *c == Controller::Pids)
    }

    /// The most memory the cell used at once, where the kernel tells.
    pub fn memory_peak(&self) -> Option<u64> {
        let (_, dir) = self.dirs.iter().find(|(c, _)| *c == Controller::Memory)?;
        let file = match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
    }

    /// What the kernel refused the cell for its bounds, as sentences for
    /// its program's stderr: the memory bound reached (and processes killed
    /// for it), forks refused at the process bound.
    pub fn notes(&self, memory_mb: u64, processes: u64) -> Vec<String> {
        let count = |controller: Controller, file: &str, key: &str| -> u64 {
            self.dirs
                .iter()
                .find(|(c, _)| *c == controller)
                .and_then(|(_, dir)| fs::read_to_string(dir.join(file)).ok())
                .and_then(|text| {
                    text.lines().find_map(|line| {
                        let (name, value) = line.split_once(' ')?;
                        (name == key).then(|| value.trim().parse().ok()).flatten()
                    })
                })
                .unwrap_or(0)
        };
        let oom_file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let mut notes = Vec::new();
        let killed = count(Controller::Memory, oom_file, "oom_kill");
        if killed > 0 {
            notes.push(format!(
                "socklab: the cell reached its memory bound of {memory_mb} MiB; the kernel killed {killed} of its processes"
            ));
        }
        let refused = count(Controller::Pids, "pids.events", "max");
        if refused > 0 {
            notes.push(format!(
                "socklab: the cell reached its bound of {processes} processes; {refused} forks were refused"
            ));
        }
        notes
    }

    /// Kills every process in the group until none is left: processes
    /// that left the tree or dropped the cell's marker are still members.
    /// Returns whether the group is empty.
    pub fn kill_all(&self) -> bool {
        let Some((_, dir)) = self.dirs.first() else {
            return true;
        };
        kill_members(dir)
    }
}

impl Drop for CellGroup {
    fn drop(&mut self) {
        self.kill_all();
        self.membership.clear();
        for (_, dir) in &self.dirs {
            remove_group(dir);
        }
    }
}

/// Joins the groups whose membership files are `fds`, between fork and
/// exec, while the child still has its one thread.
/// Async-signal-safe: one `write` each.
pub fn join(fds: &[RawFd]) -> std::io::Result<()> {
    for &fd in fds {
        // SAFETY: writing a static buffer to a descriptor we were given.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn create_v2(name: &str, memory_bytes: u64, processes: u64) -> Result<CellGroup, String> {
    let mount = mount_point("cgroup2", None).ok_or("not mounted")?;
    let own = own_group(None).ok_or("the grader's group is not listed")?;
    let parent = mount.join(own.trim_start_matches('/'));
    let wanted = ["memory", "pids"];
    let delegated = |parent: &Path| {
        fs::read_to_string(parent.join("cgroup.subtree_control")).is_ok_and(|text| {
            wanted
                .iter()
                .all(|c| text.split_whitespace().any(|have| have == *c))
        })
    };
    if !delegated(&parent) {
        // Allowed only where the grader's group holds no process (the root).
        let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids");
        if !delegated(&parent) {
            return Err(format!(
                "{} does not hand the memory and pids controllers down",
                parent.display()
            ));
        }
    }
    let dir = parent.join(name);
    fs::create_dir(&dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
    let set = || -> std::io::Result<()> {
        fs::write(dir.join("memory.max"), memory_bytes.to_string())?;
        if dir.join("memory.swap.max").exists() {
            fs::write(dir.join("memory.swap.max"), "0")?;
        }
        fs::write(dir.join("pids.max"), processes.to_string())
    };
    let opened = set().and_then(|()| open_membership(&dir, Version::V2));
    match opened {
        Ok(membership) => Ok(CellGroup {
            version: Version::V2,
            dirs: vec![(Controller::Memory, dir.clone()), (Controller::Pids, dir)],
            membership: vec![membership],
        }),
        Err(err) => {
            remove_group(&dir);
            Err(format!("setting up {}: {err}", dir.display()))
        }
    }
}

fn create_v1(name: &str, memory_bytes: u64, processes: u64) -> Result<CellGroup, String> {
    let mut group = CellGroup {
        version: Version::V1,
        dirs: Vec::new(),
        membership: Vec::new(),
    };
    let mut refused = Vec::new();
    for controller in [Controller::Memory, Controller::Pids, Controller::Cpu] {
        let made = (|| -> Result<PathBuf, String> {
            let mount =
                mount_point("cgroup", Some(controller.name())).ok_or("no hierarchy mounted")?;
            let own = own_group(Some(controller.name())).ok_or("the grader's group is unknown")?;
            let dir = mount.join(own.trim_start_matches('/')).join(name);
            fs::create_dir(&dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
            let set = || -> std::io::Result<()> {
                match controller {
                    Controller::Memory => {
                        fs::write(dir.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
                        // Memory and swap together: no swapping out of the bound.
                        let both = dir.join("memory.memsw.limit_in_bytes");
                        if both.exists() {
                            fs::write(both, memory_bytes.to_string())?;
                        }
                        Ok(())
                    }
                    Controller::Pids => fs::write(dir.join("pids.max"), processes.to_string()),
                    Controller::Cpu => Ok(()),
                }
            };
            match set() {
                Ok(()) => Ok(dir),
                Err(err) => {
                    remove_group(&dir);
                    Err(format!("setting up {}: {err}", dir.display()))
                }
            }
        })();
        match made.and_then(|dir| {
            open_membership(&dir, Version::V1)
                .map(|fd| (dir.clone(), fd))
                .map_err(|err| format!("opening {}: {err}", dir.display()))
        }) {
            Ok((dir, fd)) => {
                group.dirs.push((controller, dir));
                group.membership.push(fd);
            }
            Err(why) => refused.push(format!("{}: {why}", controller.name())),
        }
    }
    let bounds_something = group
        .dirs
        .iter()
        .any(|(c, _)| matches!(c, Controller::Memory | Controller::Pids));
    if bounds_something {
        Ok(group)
    } else {
        Err(refused.join("; "))
    }
}

/// The file a child writes `0` to, to join the group at `dir`.
///
/// In v1 that is `tasks`, which moves one thread: the child writing it has
/// just forked and has one thread, so the whole process moves. Moving a
/// whole process through `cgroup.procs` takes the kernel's global
/// thread-group lock for writing, which waits out an RCU grace period:
/// 4.8-7.1 ms a join on this project's 2-core machine (joins half a second
/// apart), against under 0.1 ms for `tasks`. v2 has no `tasks` (its
/// `cgroup.threads` is for threaded groups only), so it keeps `cgroup.procs`.
fn open_membership(dir: &Path, version: Version) -> std::io::Result<OwnedFd> {
    let file = match version {
        Version::V1 => "tasks",
        Version::V2 => "cgroup.procs",
    };
    Ok(fs::OpenOptions::new()
        .write(true)
        .open(dir.join(file))?
        .into())
}

/// Where the hierarchy of `fstype` (with `controller` among its options,
/// for v1) is mounted, from `/proc/self/mountinfo`. Only mounts of the
/// hierarchy's root are used, so the grader's group path applies as is.
fn mount_point(fstype: &str, controller: Option<&str>) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split_whitespace().collect();
        let (root, mount_point) = (fields.get(3)?, fields.get(4)?);
        let mut after = after.split_whitespace();
        let (kind, _source, options) = (after.next()?, after.next()?, after.next()?);
        let has_controller =
            controller.is_none_or(|wanted| options.split(',').any(|option| option == wanted));
        (kind == fstype && *root == "/" && has_controller).then(|| PathBuf::from(mount_point))
    })
}

/// The grader's own group in the v2 hierarchy (`None`) or the v1 hierarchy
/// holding `controller`, from `/proc/self/cgroup`.
fn own_group(controller: Option<&str>) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => controllers.is_empty(),
            Some(wanted) => controllers.split(',').any(|c| c == wanted),
        };
        matches.then(|| path.to_string())
    })
}

/// A process's start time (clock ticks since boot): with its pid, it names
/// a grader even after the pid is reused.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from
    // the last ')'. Field 22 is the start time; after ')' it is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Removes the groups in `parent` left by graders that are gone.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("socklab-") else {
            continue;
        };
        let mut fields = rest.split('-');
        let (Some(Ok(pid)), Some(Ok(started))) = (
            fields.next().map(str::parse::<i32>),
            fields.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        if start_time(pid) != Some(started) {
            remove_group(&entry.path());
        }
    }
}

/// SIGKILLs the members of the group at `dir` until it has none (a fork
/// loop adds members while the first are killed; its process bound ends
/// that). Returns whether it emptied.
fn kill_members(dir: &Path) -> bool {
    const ROUNDS: usize = 200;
    let me = std::process::id() as i32;
    for _ in 0..ROUNDS {
        let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) else {
            return true;
        };
        let members: Vec<i32> = text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .filter(|&pid| pid != me)
            .collect();
        if members.is_empty() {
            return true;
        }
        for pid in members {
            // SAFETY: plain kill.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::yield_now();
    }
    false
}

/// Removes a group: kills what is left in it, then `rmdir` (a group
/// directory holds only the kernel's files, which go with it). A group
/// whose last processes are still exiting is retried a few times.
fn remove_group(dir: &Path) {
    kill_members(dir);
    for _ in 0..100 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {
                kill_members(dir);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real group: a child that joins it is counted in it, and the
    /// group is gone after the drop.
    #[test]
    fn a_cell_group_holds_its_child_and_goes_with_the_cell() {
        let bounds = CellGroup::create(64 * 1024 * 1024, 8);
        let Some(group) = bounds.group else {
            eprintln!("skipped: no cgroup on this machine: {:?}", bounds.memory);
            return;
        };
        let fds = group.join_fds();
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "cat /proc/self/cgroup; exec sleep 30"]);
        command.stdout(std::process::Stdio::piped());
        // SAFETY: join only writes to descriptors.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(move || join(&fds));
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        // Up to the line naming the group: the child then sleeps with
        // its stdout open, until the drop below kills it.
        while !seen.contains("socklab-") && reader.read_line(&mut line).unwrap() > 0 {
            seen.push_str(&line);
            line.clear();
        }
        assert!(seen.contains("socklab-"), "{seen}");
        let dirs: Vec<PathBuf> = group.dirs.iter().map(|(_, dir)| dir.clone()).collect();
        drop(group);
        let _ = child.wait();
        for dir in dirs {
            assert!(!dir.exists(), "{} is left", dir.display());
        }
    }

    #[test]
    fn start_times_name_a_live_process() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert_eq!(start_time(me), start_time(me));
    }
}
