//! The keeper: the grader binary re-executed inside a cell's new user, network
//! and PID namespaces (see `namespace` for the side that starts it).
//!
//! The keeper brings the loopback interface up, forks the namespace's PID 1 (a
//! reaper that can also kill every process of the namespace at once), and then
//! serves requests from the grader over a `SOCK_SEQPACKET` socket on its
//! standard input: start a program, create a socket (sent back with
//! `SCM_RIGHTS`, so the grader's own exchanges happen inside the cell's network
//! namespace without the grader ever joining it), signal everything. It reports
//! each program's exit. When the grader closes the socket or dies, the keeper
//! kills PID 1 and the kernel kills every other process of the namespace.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::unistd::{ForkResult, Pid, fork};
use serde::{Deserialize, Serialize};

use super::limits::Rlimits;
use crate::transport::Transport;

/// The first argument that turns the grader binary into a keeper.
pub const KEEPER_ARG: &str = "__socklab-cell-keeper";

/// Given after [`KEEPER_ARG`] once an earlier cell of the same grader found
/// that the kernel grants private mount views: the keeper skips its probe.
pub(super) const VIEWS_HELD_ARG: &str = "--views-held";

/// Largest control message; requests carry a command line and environment.
pub(super) const MAX_MESSAGE: usize = 256 * 1024;

/// Most fds one message carries: a `Prepare`'s five, or a batch of sockets.
const MAX_FDS: usize = 8;

#[derive(Serialize, Deserialize, Debug)]
pub(super) enum Request {
    /// Start a program; its stdin, stdout and stderr arrive as three fds.
    Spawn { id: u64, launch: Launch },
    /// Fork a program and set it up as `Spawn` does, but leave it waiting
    /// before its exec (see `prepared`). Five fds: its stdin, stdout and
    /// stderr, the read end of the pipe whose byte starts it, and the write
    /// end of the pipe that reports its exec. Answered with `Spawned`.
    Prepare { id: u64, launch: Launch },
    /// Create [`MAX_FDS`] sockets in the cell's network namespace: the
    /// grader keeps the ones it does not need yet, so most of its sockets
    /// cost no round trip (see `Keeper::socket`).
    Sockets { id: u64, transport: Transport },
    /// Create a socket-diagnostics netlink socket in the cell's network
    /// namespace (answered like `Socket`): netlink answers for the namespace
    /// a socket was created in, so the grader reads the cell's sockets
    /// through it without joining the namespace (see `sock_diag`).
    DiagSocket { id: u64 },
    /// Send SIGTERM (`kill: false`) or SIGKILL to every process of the cell.
    SignalAll { kill: bool },
    /// Make every IPv4 address and name the cell's (see `network`), for
    /// the programs started afterwards.
    OpenNetwork { id: u64 },
}

/// A program to start: its command line, environment and directory, and
/// how it is bounded and confined.
#[derive(Serialize, Deserialize, Debug)]
pub(super) struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub env: Vec<(String, String)>,
    pub rlimits: Rlimits,
    pub confinement: Option<Box<Confinement>>,
}

/// How the keeper confines a program it starts.
#[derive(Serialize, Deserialize, Debug)]
pub(super) struct Confinement {
    pub policy: super::landlock::Policy,
    /// Who the program runs as, in the cell's user namespace.
    pub credentials: super::sandbox::Credentials,
    /// Its private view of the file system, where the kernel allows one.
    pub view: Option<super::mount::MountView>,
}

#[derive(Serialize, Deserialize, Debug)]
pub(super) enum Reply {
    Ready {
        init_pid: i32,
        /// Why this kernel refuses the keeper a private mount view, if it does.
        #[serde(default)]
        views_refused: Option<String>,
        /// The transports of the sockets attached, in order: the cell's first
        /// sockets, made before any program starts to compete for the CPU.
        #[serde(default)]
        sockets: Vec<Transport>,
    },
    Spawned {
        id: u64,
        pid: i32,
    },
    /// The sockets are attached, one fd each.
    Socket {
        id: u64,
    },
    Failed {
        id: u64,
        error: String,
    },
    NetworkOpened {
        id: u64,
        opened: super::network::Opened,
    },
    Exited {
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// Signals PID 1 waits for: a child changed state, or kill everything.
const TERM_ALL: Signal = Signal::SIGUSR1;
const KILL_ALL: Signal = Signal::SIGUSR2;

/// Entry point of the keeper process. Never returns.
pub fn run() -> ! {
    // SAFETY: the grader started us with the control socket as stdin.
    let control = unsafe { OwnedFd::from_raw_fd(0) };
    let status = match serve(control.as_fd()) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("socklab cell keeper: {err}");
            1
        }
    };
    std::process::exit(status)
}

fn serve(control: BorrowedFd<'_>) -> std::io::Result<()> {
    bring_loopback_up()?;
    // SAFETY: the keeper is single-threaded at this point.
    let init_pid = match unsafe { fork() }? {
        ForkResult::Child => init_main(),
        ForkResult::Parent { child } => child,
    };
    // Tried in the cell's own namespaces, so the grader knows before the
    // first program whether its view holds. The answer depends on the kernel
    // alone, so once a cell has had a view the grader says so and later
    // keepers skip the probe (0.7-2.5 ms of the keeper's 4-6 ms set-up).
    let views_held = std::env::args().any(|arg| arg == VIEWS_HELD_ARG);
    let views_refused = if views_held {
        None
    } else {
        super::mount::probe().err()
    };
    let transports = [Transport::Udp, Transport::Tcp].repeat(MAX_FDS / 2);
    // None if one cannot be made: the grader asks for each socket then.
    let sockets = new_sockets(&transports).unwrap_or_default();
    let ready = Reply::Ready {
        init_pid: init_pid.as_raw(),
        views_refused,
        sockets: if sockets.is_empty() {
            Vec::new()
        } else {
            transports
        },
    };
    send(control, &ready, &raw_fds(&sockets))?;
    // The grader holds them now; the keeper's copies close here, not when
    // the cell ends.
    drop(sockets);
    let mut children: HashMap<i32, OwnedFd> = HashMap::new();
    let result = serve_requests(control, init_pid, &mut children);
    let _ = kill(init_pid, Signal::SIGKILL);
    for &pid in children.keys() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    }
    let _ = nix::sys::wait::waitpid(init_pid, None);
    result
}

fn serve_requests(
    control: BorrowedFd<'_>,
    init_pid: Pid,
    children: &mut HashMap<i32, OwnedFd>,
) -> std::io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        let pids: Vec<i32> = children.keys().copied().collect();
        let mut fds = vec![PollFd::new(control, PollFlags::POLLIN)];
        fds.extend(
            pids.iter()
                .map(|pid| PollFd::new(children[pid].as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err.into()),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
            .collect();
        drop(fds);
        for (index, pid) in pids.iter().enumerate() {
            if ready[index + 1] {
                report_exit(control, children, *pid)?;
            }
        }
        if ready[0] {
            let Some((request, fds)) = receive(control)? else {
                return Ok(()); // The grader closed the cell.
            };
            handle(control, init_pid, children, request, fds)?;
        }
    }
}

fn report_exit(
    control: BorrowedFd<'_>,
    children: &mut HashMap<i32, OwnedFd>,
    pid: i32,
) -> std::io::Result<()> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    if !children.contains_key(&pid) {
        return Ok(());
    }
    let (code, signal) = match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => (Some(code), None),
        Ok(WaitStatus::Signaled(_, signal, _)) => (None, Some(signal as i32)),
        // Not ended after all.
        Ok(_) => return Ok(()),
        // Not ours to wait for any more: reported as an exit of unknown
        // status, so its pidfd is polled no longer.
        Err(_) => (None, None),
    };
    children.remove(&pid);
    send(control, &Reply::Exited { pid, code, signal }, &[])
}

fn handle(
    control: BorrowedFd<'_>,
    init_pid: Pid,
    children: &mut HashMap<i32, OwnedFd>,
    request: Request,
    fds: Vec<OwnedFd>,
) -> std::io::Result<()> {
    match request {
        Request::Spawn { id, launch } => {
            let Ok([stdin, stdout, stderr]) = <[OwnedFd; 3]>::try_from(fds) else {
                let error = "spawn needs three fds".to_string();
                return send(control, &Reply::Failed { id, error }, &[]);
            };
            let mut command = Command::new(&launch.program);
            command
                .args(&launch.args)
                .current_dir(&launch.cwd)
                .env_clear()
                .envs(launch.env)
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::from(stderr));
            let set_up = ChildSetUp::new(launch.rlimits, launch.confinement);
            // SAFETY: the keeper is single-threaded; the child runs only
            // the set-up below before it execs.
            unsafe {
                command.pre_exec(move || set_up.apply());
            }
            // Waited for by pid from now on (see `report_exit`).
            let started = command.spawn().map(|child| child.id() as i32);
            reply_started(control, children, id, started)
        }
        Request::Prepare { id, launch } => {
            let Ok([stdin, stdout, stderr, go, started]) = <[OwnedFd; 5]>::try_from(fds) else {
                let error = "prepare needs five fds".to_string();
                return send(control, &Reply::Failed { id, error }, &[]);
            };
            let set_up = ChildSetUp::new(launch.rlimits, launch.confinement);
            let stdio = [stdin, stdout, stderr];
            let forked = super::prepared::Start::new(
                &launch.program,
                &launch.args,
                &launch.cwd,
                launch.env,
                stdio,
            )
            .and_then(|start| start.fork(&set_up, go, started));
            reply_started(control, children, id, forked)
        }
        Request::Sockets { id, transport } => match new_sockets(&[transport; MAX_FDS]) {
            Ok(sockets) => send(control, &Reply::Socket { id }, &raw_fds(&sockets)),
            Err(err) => send(
                control,
                &Reply::Failed {
                    id,
                    error: err.to_string(),
                },
                &[],
            ),
        },
        Request::DiagSocket { id } => match super::sock_diag::open_fd() {
            Ok(fd) => send(control, &Reply::Socket { id }, &[fd.as_raw_fd()]),
            Err(err) => send(
                control,
                &Reply::Failed {
                    id,
                    error: err.to_string(),
                },
                &[],
            ),
        },
        Request::OpenNetwork { id } => match super::network::open_in_keeper() {
            Ok(opened) => send(control, &Reply::NetworkOpened { id, opened }, &[]),
            Err(error) => send(control, &Reply::Failed { id, error }, &[]),
        },
        Request::SignalAll { kill: kill_them } => {
            let _ = kill(init_pid, if kill_them { KILL_ALL } else { TERM_ALL });
            Ok(())
        }
    }
}

/// New sockets of the keeper's network namespace, of `transports`.
fn new_sockets(transports: &[Transport]) -> std::io::Result<Vec<OwnedFd>> {
    transports
        .iter()
        .map(|&transport| super::new_socket(transport).map(OwnedFd::from))
        .collect()
}

fn raw_fds(fds: &[OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(AsRawFd::as_raw_fd).collect()
}

/// Answers a `Spawn` or `Prepare` with the pid it started, which the keeper
/// then watches, or with why it could not.
fn reply_started(
    control: BorrowedFd<'_>,
    children: &mut HashMap<i32, OwnedFd>,
    id: u64,
    started: std::io::Result<i32>,
) -> std::io::Result<()> {
    match started {
        Ok(pid) => {
            children.insert(pid, pidfd_open(pid)?);
            send(control, &Reply::Spawned { id, pid }, &[])
        }
        Err(err) => {
            let error = err.to_string();
            send(control, &Reply::Failed { id, error }, &[])
        }
    }
}

/// What a program's child does between fork and exec: its session, its
/// limits, its mount view, its Landlock ruleset, its user, and the lock-down.
/// Worked out before the fork; the keeper is single-threaded, so the child
/// may allocate (with a mount view the ruleset is built inside the view: its
/// /tmp, /proc and the copy's overlay are new inodes the host's paths do not
/// name; without one, before the fork, and only applied in the child).
pub(super) struct ChildSetUp {
    rlimits: Rlimits,
    credentials: super::sandbox::Credentials,
    view: Option<super::mount::MountView>,
    /// The policy to build inside the view.
    in_view: Option<super::landlock::Policy>,
    /// The ruleset built before the fork, without a view.
    prebuilt: Option<super::landlock::Ruleset>,
    confined: bool,
}

impl ChildSetUp {
    fn new(rlimits: Rlimits, confinement: Option<Box<Confinement>>) -> ChildSetUp {
        let confined = confinement.is_some();
        let (credentials, view, policy) = match confinement {
            Some(confinement) => {
                let Confinement {
                    policy,
                    credentials,
                    view,
                } = *confinement;
                (credentials, view, Some(policy))
            }
            None => (super::sandbox::Credentials::Unchanged, None, None),
        };
        let prebuilt = match (&view, &policy) {
            (None, Some(policy)) => super::landlock::Ruleset::build(policy).ok(),
            _ => None,
        };
        let in_view = view.as_ref().and(policy).map(|mut policy| {
            for dir in ["/tmp", "/dev/shm"] {
                policy
                    .paths
                    .push((dir.into(), super::landlock::Access::Full));
            }
            policy
        });
        ChildSetUp {
            rlimits,
            credentials,
            view,
            in_view,
            prebuilt,
            confined,
        }
    }

    /// Runs in the child, after its stdio and working directory are set.
    pub(super) fn apply(&self) -> std::io::Result<()> {
        nix::unistd::setsid()?;
        self.rlimits.apply()?;
        if let Some(view) = &self.view {
            view.enter()?;
        }
        let built = self
            .in_view
            .as_ref()
            .and_then(|policy| super::landlock::Ruleset::build(policy).ok());
        self.credentials.apply()?;
        // After the change of user, which clears it.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        super::lock_down(built.as_ref().or(self.prebuilt.as_ref()), self.confined)
    }
}

/// PID 1 of the cell: reaps orphans and, on request, signals every process
/// of the namespace. It has no way out of the namespace and dies with the keeper.
fn init_main() -> ! {
    extern "C" fn ignore(_: nix::libc::c_int) {}
    // Dies with the keeper. (Its parent lives outside this PID namespace, so
    // getppid() reads 0 here and cannot be used to check for a race.)
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let mut wanted = SigSet::empty();
    for signal in [Signal::SIGCHLD, TERM_ALL, KILL_ALL] {
        wanted.add(signal);
        // PID 1 only receives signals it handles, even blocked ones, so each
        // gets a handler that does nothing; sigwait below picks them up.
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(ignore),
            nix::sys::signal::SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing.
        let _ = unsafe { nix::sys::signal::sigaction(signal, &action) };
    }
    let _ = wanted.thread_block();
    loop {
        let Ok(signal) = wanted.wait() else { continue };
        match signal {
            Signal::SIGCHLD => {
                while let Ok(status) = nix::sys::wait::waitpid(
                    Pid::from_raw(-1),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                ) {
                    if status == nix::sys::wait::WaitStatus::StillAlive {
                        break;
                    }
                }
            }
            // kill(-1) from PID 1 reaches every process of the namespace but itself.
            signal if signal == TERM_ALL => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
            }
            _ => {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
            }
        }
    }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain system call; the returned fd is owned by us.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A fresh network namespace has its loopback interface down.
fn bring_loopback_up() -> std::io::Result<()> {
    use nix::libc;
    let socket = super::new_socket(Transport::Udp)?;
    // SAFETY: ifreq is plain data; the ioctls read and write only it.
    unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends one message with optional fds attached.
pub(super) fn send<T: Serialize>(
    control: BorrowedFd<'_>,
    message: &T,
    fds: &[RawFd],
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        control.as_raw_fd(),
        &[IoSlice::new(&bytes)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Receives one message and the fds attached to it; `None` at end of stream.
pub(super) fn receive<T: for<'de> Deserialize<'de>>(
    control: BorrowedFd<'_>,
) -> std::io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (length, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        match recvmsg::<()>(
            control.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err.into()),
            Ok(message) => {
                let mut fds = Vec::new();
                for cmsg in message.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(raw) = cmsg {
                        // SAFETY: the kernel just installed these fds for us.
                        fds.extend(
                            raw.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                break (message.bytes, fds);
            }
        }
    };
    if length == 0 {
        return Ok(None);
    }
    let message = serde_json::from_slice(&buffer[..length]).map_err(std::io::Error::other)?;
    Ok(Some((message, fds)))
}
