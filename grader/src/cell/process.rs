//! The process tier: programs run as ordinary child processes.
//!
//! Each program leads a new process group and carries the cell marker in its
//! environment. Stopping a cell signals the group, then repeatedly kills every
//! descendant and every marked process until none is left, which catches
//! `setsid` daemons and double forks whose parent already exited. What this
//! tier cannot stop (a process that scrubs its environment and escapes the
//! tree) is listed in docs/ISOLATION.md.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{ForkResult, Pid};

use super::limits::Rlimits;
use super::procfs::{self, Listener};
use super::{Capture, CellProcess, ExitWatch, SpawnSpec};
use crate::lab::Transport;
use crate::limits::Limits;
use crate::outcome::ExitReport;
use std::path::Path;

pub fn spawn(spec: &SpawnSpec, limits: &Limits) -> std::io::Result<CellProcess> {
    let rlimits = Rlimits::new(limits, false);
    let (stdout_read, stdout_write) = super::cloexec_pipe()?;
    let (stderr_read, stderr_write) = super::cloexec_pipe()?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::from(stdout_write))
        .stderr(Stdio::from(stderr_write))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .process_group(0);
    // SAFETY: the closure only makes async-signal-safe system calls (prctl,
    // fork, setrlimit, waitpid, close_range, _exit) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // If the grader dies, its direct child dies with it.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // A stand-in parent between the grader and the program: a program
            // that signals its parent (getppid) reaches the stand-in, whose
            // death the grader reports as the program's, not the grader.
            match nix::unistd::fork()? {
                ForkResult::Child => {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                    rlimits.apply()
                }
                ForkResult::Parent { child } => stand_in(child),
            }
        });
    }
    let mut child = command.spawn()?;
    drop(command);
    let pid = child.id() as i32;
    let limit = (limits.output_kb as usize) * 1024;
    let stdout = Capture::start(stdout_read, limit, "stdout")?;
    let stderr = Capture::start(stderr_read, limit, "stderr")?;
    let mut helpers = Vec::new();
    if let (Some(input), Some(bytes)) = (child.stdin.take(), spec.stdin.clone()) {
        helpers.push(feed_stdin(OwnedFd::from(input), bytes)?);
    }
    let exit = ExitWatch::default();
    let recorder = exit.clone();
    helpers.push(
        std::thread::Builder::new()
            .name(format!("wait-{pid}"))
            .spawn(move || match child.wait() {
                Ok(status) => recorder.record(status.into()),
                Err(_) => recorder.record(ExitReport::Code(-1)),
            })?,
    );
    Ok(CellProcess {
        pid,
        exit,
        stdout,
        stderr,
        helpers,
    })
}

/// The stand-in parent: holds no file descriptor (so pipes and std's exec
/// error pipe close as if it were not there), waits for the program and ends
/// the way it ended. Runs between fork and exec: async-signal-safe calls only.
fn stand_in(program: Pid) -> ! {
    use nix::sys::wait::{WaitStatus, waitpid};
    // SAFETY: close_range(0, MAX, 0) only closes this process's descriptors.
    unsafe {
        nix::libc::syscall(nix::libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    }
    loop {
        match waitpid(program, None) {
            Ok(WaitStatus::Exited(_, code)) => exit_now(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                // SAFETY: restoring the default action is async-signal-safe.
                unsafe {
                    let _ = nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl);
                }
                let _ = nix::sys::signal::raise(signal);
                exit_now(128 + signal as i32)
            }
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => exit_now(127),
        }
    }
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process without running anything of the
    // grader's (no atexit handlers, no flushing of buffers copied by fork).
    unsafe { nix::libc::_exit(code) }
}

/// Writes `bytes` to a child's stdin on a thread, then closes it: a client
/// that never reads its input must not block the grader.
pub(super) fn feed_stdin(
    input: OwnedFd,
    bytes: Vec<u8>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            use std::io::Write;
            let mut input = std::fs::File::from(input);
            let _ = input.write_all(&bytes);
        })
}

/// The port among `ports` on which `pid` or a descendant listens over
/// `transport`. Cheap when nothing listens there yet: the machine's socket
/// table is read first, and the process tree only walked (breadth first,
/// stopping at the owner) when a candidate socket exists.
pub fn listening_on(pid: i32, transport: Transport, ports: &[u16]) -> Option<u16> {
    let candidates: Vec<Listener> = procfs::listeners(Path::new("/proc/self/net"))
        .into_iter()
        .filter(|listener| listener.transport == transport && ports.contains(&listener.port))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    procfs::descendants(pid).find_map(|member| {
        let inodes = procfs::socket_inodes(member);
        candidates
            .iter()
            .find(|listener| inodes.contains(&listener.inode))
            .map(|listener| listener.port)
    })
}

/// Every socket bound by `pid` or any of its descendants.
pub fn listeners_of(pid: i32) -> Vec<Listener> {
    let all = procfs::listeners(Path::new("/proc/self/net"));
    if all.is_empty() {
        return all;
    }
    let owned: HashSet<u64> = procfs::descendants(pid)
        .flat_map(procfs::socket_inodes)
        .collect();
    all.into_iter()
        .filter(|listener| owned.contains(&listener.inode))
        .collect()
}

/// `main_alive`: whether `pid` still names the cell's main program. Once it has
/// been reaped the number may belong to an unrelated process, so only the
/// process group (which keeps its number reserved) and the marker are used.
pub fn signal_cell(pid: i32, marker: &str, signal: Signal, main_alive: bool) {
    let _ = killpg(Pid::from_raw(pid), signal);
    for member in members(pid, marker, main_alive) {
        let _ = kill(Pid::from_raw(member), signal);
    }
}

/// Kills every process of the cell, again and again until none is left: a
/// fork loop may create new ones while the first are being killed.
pub fn kill_cell(pid: i32, marker: &str, main_alive: bool) {
    const ROUNDS: usize = 100;
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    for _ in 0..ROUNDS {
        let alive: Vec<i32> = members(pid, marker, main_alive)
            .into_iter()
            .filter(|&member| !procfs::is_zombie(member))
            .collect();
        if alive.is_empty() {
            return;
        }
        for member in alive {
            // Stopping first keeps a forking process from replacing itself
            // between our scan and our kill.
            let _ = kill(Pid::from_raw(member), Signal::SIGSTOP);
            let _ = kill(Pid::from_raw(member), Signal::SIGKILL);
        }
    }
}

fn members(pid: i32, marker: &str, main_alive: bool) -> HashSet<i32> {
    let mut found: HashSet<i32> = procfs::processes_marked(marker).into_iter().collect();
    if main_alive {
        found.extend(procfs::descendants(pid));
    }
    found.remove(&(std::process::id() as i32));
    found
}
