//! The namespace tier, grader side: starting a keeper in new namespaces and
//! talking to it (the keeper's side is in `keeper`).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use socket2::Socket;

use super::ExitReport;
use super::keeper::{self, KEEPER_ARG, Reply, Request};
use super::limits::Rlimits;
use super::sandbox::Confinement;
use super::{Capture, CellProcess, ExitWatch, SpawnSpec};
use crate::limits::Limits;
use crate::transport::Transport;

/// How long a keeper may take to set its namespaces up.
const KEEPER_START: Duration = Duration::from_secs(5);

type Pending = Arc<Mutex<HashMap<u64, Sender<(Reply, Vec<OwnedFd>)>>>>;
type Exits = Arc<Mutex<HashMap<i32, ExitWatch>>>;

pub struct Keeper {
    process: Child,
    control: Arc<OwnedFd>,
    pending: Pending,
    exits: Exits,
    next_id: Mutex<u64>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Keeper {
    pub fn start(keeper_binary: &Path) -> std::io::Result<Keeper> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let id_maps = IdMaps::for_current_user();
        let mut command = Command::new(keeper_binary);
        command
            .arg(KEEPER_ARG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Out of the terminal's process group: Ctrl-C reaches the grader,
            // which lets the gradings under way finish, not the cells.
            .process_group(0);
        // SAFETY: only system calls on pre-built data between fork and exec.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                unshare(
                    CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID,
                )?;
                id_maps.write()
            });
        }
        let process = command.spawn()?;
        drop(command);
        let control = Arc::new(ours);
        let (ready_tx, ready_rx) = channel();
        let pending: Pending = Arc::default();
        let exits: Exits = Arc::default();
        let reader = {
            let control = Arc::clone(&control);
            let pending = Arc::clone(&pending);
            let exits = Arc::clone(&exits);
            std::thread::Builder::new()
                .name("cell-keeper".into())
                .spawn(move || read_replies(&control, &pending, &exits, ready_tx))?
        };
        let mut keeper = Keeper {
            process,
            control,
            pending,
            exits,
            next_id: Mutex::new(0),
            reader: Some(reader),
        };
        match ready_rx.recv_timeout(KEEPER_START) {
            Ok(()) => Ok(keeper),
            Err(_) => {
                let status = keeper.process.try_wait().ok().flatten();
                Err(std::io::Error::other(match status {
                    Some(status) => format!("the cell keeper exited during set-up ({status})"),
                    None => "the cell keeper did not report ready".to_string(),
                }))
            }
        }
    }

    pub fn net_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/net", self.process.id()))
    }

    fn request(
        &self,
        request: &Request,
        fds: &[OwnedFd],
    ) -> std::io::Result<(Reply, Vec<OwnedFd>)> {
        let id = match request {
            Request::Spawn { id, .. } | Request::Socket { id, .. } => *id,
            Request::SignalAll { .. } => unreachable!("signals get no reply"),
        };
        let (tx, rx) = channel();
        self.pending.lock().expect("keeper table").insert(id, tx);
        let raw: Vec<_> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        keeper::send(self.control.as_fd(), request, &raw)?;
        rx.recv_timeout(KEEPER_START)
            .map_err(|_| std::io::Error::other("the cell keeper stopped answering"))
    }

    fn next_id(&self) -> u64 {
        let mut next = self.next_id.lock().expect("keeper id");
        *next += 1;
        *next
    }

    pub fn spawn(
        &self,
        spec: &SpawnSpec,
        limits: &Limits,
        confinement: Option<Confinement>,
    ) -> std::io::Result<CellProcess> {
        let (stdout_read, stdout_write) = super::cloexec_pipe()?;
        let (stderr_read, stderr_write) = super::cloexec_pipe()?;
        // A pipe either way: fed then closed for a client, idle and open for
        // a server (see `process::spawn`).
        let (stdin_read, stdin_write) = super::cloexec_pipe()?;
        let request = Request::Spawn {
            id: self.next_id(),
            program: spec.program.to_string_lossy().into_owned(),
            args: spec.args.clone(),
            cwd: spec.cwd.to_string_lossy().into_owned(),
            env: spec.env.clone(),
            rlimits: Rlimits::new(limits, true),
            confinement: confinement.map(|confinement| {
                Box::new(keeper::Confinement {
                    policy: confinement.policy,
                    // Root inside the cell keeps no capability either: it needs
                    // none to serve, and without them it cannot remount, unshare
                    // or reconfigure the cell's network.
                    drop_capabilities: true,
                })
            }),
        };
        let (reply, _) = self.request(&request, &[stdin_read, stdout_write, stderr_write])?;
        let pid = match reply {
            Reply::Spawned { pid, .. } => pid,
            Reply::Failed { error, .. } => return Err(std::io::Error::other(error)),
            other => {
                return Err(std::io::Error::other(format!(
                    "unexpected keeper reply {other:?}"
                )));
            }
        };
        let limit = (limits.output_kb as usize) * 1024;
        let mut helpers = Vec::new();
        let mut idle_stdin = None;
        match spec.stdin.clone() {
            Some(bytes) => helpers.push(super::process::feed_stdin(stdin_write, bytes)?),
            None => idle_stdin = Some(stdin_write),
        }
        let exit = self
            .exits
            .lock()
            .expect("exit table")
            .entry(pid)
            .or_default()
            .clone();
        Ok(CellProcess {
            pid,
            exit,
            stdout: Capture::start(stdout_read, limit, "stdout")?,
            stderr: Capture::start(stderr_read, limit, "stderr")?,
            helpers,
            idle_stdin,
        })
    }

    pub fn socket(&self, transport: Transport) -> std::io::Result<Socket> {
        let (reply, mut fds) = self.request(
            &Request::Socket {
                id: self.next_id(),
                transport,
            },
            &[],
        )?;
        match reply {
            Reply::Socket { .. } if fds.len() == 1 => Ok(Socket::from(fds.remove(0))),
            Reply::Failed { error, .. } => Err(std::io::Error::other(error)),
            other => Err(std::io::Error::other(format!(
                "unexpected keeper reply {other:?}"
            ))),
        }
    }

    pub fn signal_all(&self, signal: Signal) {
        let request = Request::SignalAll {
            kill: signal == Signal::SIGKILL,
        };
        let _ = keeper::send(self.control.as_fd(), &request, &[]);
    }

    pub fn kill_all(&self) {
        self.signal_all(Signal::SIGKILL);
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Closing our end tells the keeper to kill the namespace's PID 1, which
        // takes every process of the cell with it. Killing the keeper too makes
        // sure, and waiting for it leaves no zombie behind.
        let _ =
            nix::sys::socket::shutdown(self.control.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = self.process.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn read_replies(control: &OwnedFd, pending: &Pending, exits: &Exits, ready: Sender<()>) {
    loop {
        let Ok(Some((reply, fds))) = keeper::receive::<Reply>(control.as_fd()) else {
            break;
        };
        match reply {
            Reply::Ready { .. } => {
                let _ = ready.send(());
            }
            Reply::Exited { pid, code, signal } => {
                let exit = match (code, signal) {
                    (Some(code), _) => ExitReport::Code(code),
                    (None, Some(signal)) => ExitReport::Signal(signal),
                    (None, None) => ExitReport::Code(-1),
                };
                exits
                    .lock()
                    .expect("exit table")
                    .entry(pid)
                    .or_default()
                    .record(exit);
            }
            Reply::Spawned { id, pid } => {
                // Registered here, before the spawner sees the pid, so an exit
                // that follows at once has a watch to land in.
                exits.lock().expect("exit table").entry(pid).or_default();
                if let Some(waiter) = pending.lock().expect("keeper table").remove(&id) {
                    let _ = waiter.send((Reply::Spawned { id, pid }, fds));
                }
            }
            Reply::Socket { id } | Reply::Failed { id, .. } => {
                if let Some(waiter) = pending.lock().expect("keeper table").remove(&id) {
                    let _ = waiter.send((reply, fds));
                }
            }
        }
    }
    // The keeper is gone: every process it ran is gone with it.
    for watch in exits.lock().expect("exit table").values() {
        watch.record(ExitReport::Signal(Signal::SIGKILL as i32));
    }
    pending.lock().expect("keeper table").clear();
}

/// The uid and gid maps a new user namespace gets: our own ids become root
/// inside it, which is what lets the keeper configure its network namespace.
/// Everything is formatted before the fork.
struct IdMaps {
    uid_map: String,
    gid_map: String,
}

impl IdMaps {
    fn for_current_user() -> IdMaps {
        IdMaps {
            uid_map: format!("0 {} 1", nix::unistd::getuid()),
            gid_map: format!("0 {} 1", nix::unistd::getgid()),
        }
    }

    /// Runs in the child between fork and exec: plain open and write calls.
    fn write(&self) -> std::io::Result<()> {
        write_proc(c"/proc/self/setgroups", b"deny")?;
        write_proc(c"/proc/self/uid_map", self.uid_map.as_bytes())?;
        write_proc(c"/proc/self/gid_map", self.gid_map.as_bytes())
    }
}

fn write_proc(path: &std::ffi::CStr, contents: &[u8]) -> std::io::Result<()> {
    use nix::libc;
    // SAFETY: open/write/close on a valid C string and buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, contents.as_ptr().cast(), contents.len());
        libc::close(fd);
        if written < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
