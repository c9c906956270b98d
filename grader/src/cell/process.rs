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

use nix::sys::signal::{SigSet, Signal, kill, killpg};
use nix::unistd::{ForkResult, Pid};

use super::ExitReport;
use super::landlock::Ruleset;
use super::limits::Rlimits;
use super::procfs;
use super::sandbox::{Confinement, Credentials};
use super::{Capture, CellProcess, ExitWatch, SpawnSpec};
use crate::limits::Limits;

/// `join`: the cell's control groups (the stand-in and the program join
/// them); `groups_bound_processes`: whether they bound the cell's processes.
pub fn spawn(
    spec: &SpawnSpec,
    limits: &Limits,
    confinement: Option<Confinement>,
    join: Vec<std::os::fd::RawFd>,
    groups_bound_processes: bool,
) -> std::io::Result<CellProcess> {
    super::harden_grader();
    let credentials = confinement
        .as_ref()
        .map(|confinement| confinement.credentials)
        .unwrap_or(Credentials::Unchanged);
    // A kernel without Landlock leaves the program unconfined; the result's
    // protections say so.
    let confined = confinement.is_some();
    let ruleset = confinement.and_then(|confinement| Ruleset::build(&confinement.policy).ok());
    // RLIMIT_NPROC counts every process of the real user: meaningful only
    // when that user is the grading's own, and not needed where the cell's
    // group bounds its processes. (Counting a user, it also counted the
    // processes of the grading's previous cell until they were reaped, so
    // a restarted server could fail to start on a loaded machine.)
    let rlimits = Rlimits::new(
        limits,
        !groups_bound_processes && matches!(credentials, Credentials::Become { .. }),
    );
    let (stdout_read, stdout_write) = super::cloexec_pipe()?;
    let (stderr_read, stderr_write) = super::cloexec_pipe()?;
    let grader = nix::unistd::getpid();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::from(stdout_write))
        .stderr(Stdio::from(stderr_write))
        // Standard input is a pipe either way: fed and closed for a client,
        // held open and idle for a server (a console that never gets a line
        // and never sees end of file, as at a terminal).
        .stdin(Stdio::piped());
    // SAFETY: the closure only makes async-signal-safe system calls (setsid,
    // prctl, sigprocmask, fork, setrlimit, waitpid, kill, open, read,
    // close_range, _exit) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // Into the cell's groups first, so everything below is counted.
            super::cgroup::join(&join)?;
            // A session of its own: no controlling terminal to type into
            // (TIOCSTI) or to read the instructor's keys from, and a process
            // group whose number is the stand-in's.
            nix::unistd::setsid()?;
            // Signals the stand-in acts on are blocked before the fork, so
            // none is lost before it waits for them; the program unblocks them.
            stand_in_signals().thread_block()?;
            let stand_in_pid = nix::unistd::getpid();
            match nix::unistd::fork()? {
                ForkResult::Child => {
                    SigSet::empty().thread_set_mask()?;
                    rlimits.apply()?;
                    credentials.apply()?;
                    // If the stand-in dies, so does the program. Set after the
                    // change of user, which clears it.
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                    if nix::unistd::getppid() != stand_in_pid {
                        return Err(std::io::Error::other("the stand-in is gone"));
                    }
                    super::lock_down(ruleset.as_ref(), confined)
                }
                ForkResult::Parent { child } => stand_in(child, grader),
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
    let mut idle_stdin = None;
    if let Some(input) = child.stdin.take() {
        match spec.stdin.clone() {
            Some(bytes) => helpers.push(feed_stdin(OwnedFd::from(input), bytes)?),
            None => idle_stdin = Some(OwnedFd::from(input)),
        }
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
        idle_stdin,
        watch: None,
    })
}

/// Sent to a stand-in to make it kill everything below it and exit: by the
/// kernel when the grader dies (`PR_SET_PDEATHSIG`), by the grader on stop.
pub(super) const SWEEP: Signal = Signal::SIGUSR2;

/// What a stand-in waits for: a child changed state, a request to sweep, and
/// the stop signals it passes on to the program.
fn stand_in_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        SWEEP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(signal);
    }
    set
}

/// The stand-in parent: holds no file descriptor (so pipes and std's exec
/// error pipe close as if it were not there), is the *subreaper* of
/// everything the program starts (a daemon's double fork lands here, not at
/// the machine's init), and ends the way the program ended after killing
/// every process left below it. It dies with the grader and then takes the
/// whole cell with it. Runs between fork and exec: async-signal-safe calls only.
fn stand_in(program: Pid, grader: Pid) -> ! {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    // SAFETY: close_range(0, MAX, 0) only closes this process's descriptors.
    unsafe {
        nix::libc::syscall(nix::libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let _ = nix::sys::prctl::set_pdeathsig(SWEEP);
    if nix::unistd::getppid() != grader {
        // The grader died before the death signal was armed.
        sweep_children();
        exit_now(137);
    }
    let signals = stand_in_signals();
    loop {
        let Ok(signal) = signals.wait() else { continue };
        match signal {
            Signal::SIGCHLD => loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                        sweep_children();
                        exit_now(code)
                    }
                    Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                        sweep_children();
                        die_of(signal)
                    }
                    // An orphan of the program, reaped; look for more.
                    Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) | Err(_) => break,
                }
            },
            signal if signal == SWEEP => {
                sweep_children();
                exit_now(137)
            }
            // A stop request reaches the program even if it left the
            // group (the grader signals the group, so only then).
            other => {
                if nix::unistd::getpgid(Some(program)).ok() != Some(nix::unistd::getpid()) {
                    let _ = kill(program, other);
                }
            }
        }
    }
}

/// Kills every child of the calling process until it has none: killed
/// processes' own children are reparented here (subreaper), so the loop ends
/// only when the whole tree is gone. Async-signal-safe.
fn sweep_children() {
    use nix::sys::wait::waitpid;
    loop {
        for_each_child(|child| {
            let _ = kill(child, Signal::SIGKILL);
        });
        match waitpid(None, None) {
            Err(nix::errno::Errno::ECHILD) => return,
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return,
        }
    }
}

/// Calls `each` with every child listed in `/proc/thread-self/children`,
/// read into a buffer on the stack. Async-signal-safe.
fn for_each_child(mut each: impl FnMut(Pid)) {
    use nix::libc;
    let mut buffer = [0u8; 4096];
    // SAFETY: open/read/close on a static C string and a stack buffer.
    let length = unsafe {
        let fd = libc::open(
            c"/proc/thread-self/children".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        let mut filled = 0usize;
        while filled < buffer.len() {
            let got = libc::read(
                fd,
                buffer[filled..].as_mut_ptr().cast(),
                buffer.len() - filled,
            );
            if got <= 0 {
                break;
            }
            filled += got as usize;
        }
        libc::close(fd);
        filled
    };
    let mut number: i32 = 0;
    let mut digits = false;
    for &byte in &buffer[..length] {
        if byte.is_ascii_digit() {
            number = number
                .saturating_mul(10)
                .saturating_add((byte - b'0') as i32);
            digits = true;
        } else {
            if digits && number > 0 {
                each(Pid::from_raw(number));
            }
            number = 0;
            digits = false;
        }
    }
    // A number cut by the end of the buffer is left for the next round.
}

fn die_of(signal: Signal) -> ! {
    // SAFETY: restoring the default action and unblocking are async-signal-safe.
    unsafe {
        let _ = nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl);
    }
    let mut only = SigSet::empty();
    only.add(signal);
    let _ = only.thread_unblock();
    let _ = nix::sys::signal::raise(signal);
    exit_now(128 + signal as i32)
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

pub(super) fn members(pid: i32, marker: &str, main_alive: bool) -> HashSet<i32> {
    let mut found: HashSet<i32> = procfs::processes_marked(marker).into_iter().collect();
    if main_alive {
        found.extend(procfs::descendants(pid));
    }
    found.remove(&(std::process::id() as i32));
    found
}
