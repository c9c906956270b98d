//! The namespace tier, grader side: starting a keeper in new namespaces and
//! talking to it (the keeper's side is in `keeper`).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use socket2::Socket;

use super::ExitReport;
use super::keeper::{self, KEEPER_ARG, Reply, Request, VIEWS_HELD_ARG};
use super::limits::Rlimits;
use super::sandbox::Confinement;
use super::{Capture, CellProcess, ExitWatch, SpawnSpec};
use crate::limits::Limits;
use crate::transport::Transport;

/// Whether a keeper of this grader has already found that the kernel grants
/// its cells private mount views (see [`VIEWS_HELD_ARG`]).
static VIEWS_HELD: AtomicBool = AtomicBool::new(false);

/// How long a keeper may take to set its namespaces up.
const KEEPER_START: Duration = Duration::from_secs(5);

type Pending = Arc<Mutex<HashMap<u64, Sender<(Reply, Vec<OwnedFd>)>>>>;
type Exits = Arc<Mutex<HashMap<i32, ExitWatch>>>;

pub struct Keeper {
    process: Child,
    /// Why the kernel refused this cell a private mount view, if it did.
    views_refused: Option<String>,
    control: Arc<OwnedFd>,
    pending: Pending,
    exits: Exits,
    next_id: Mutex<u64>,
    /// Sockets the keeper created in the cell and no test has taken yet.
    sockets: Mutex<SocketStock>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Fresh sockets of the cell's network namespace, by transport: the keeper's
/// `Ready` brings the first, and each round trip to it after (0.1-0.4 ms,
/// more while a program starts) a batch, so most of a grading's sockets
/// are taken from here.
#[derive(Default)]
struct SocketStock {
    tcp: Vec<Socket>,
    udp: Vec<Socket>,
}

impl SocketStock {
    /// The sockets attached to the keeper's `Ready`, of the transports it names.
    fn of_ready(transports: &[Transport], fds: Vec<OwnedFd>) -> SocketStock {
        let mut stock = SocketStock::default();
        for (&transport, fd) in transports.iter().zip(fds) {
            stock.of(transport).push(Socket::from(fd));
        }
        stock
    }

    fn of(&mut self, transport: Transport) -> &mut Vec<Socket> {
        match transport {
            Transport::Tcp => &mut self.tcp,
            Transport::Udp => &mut self.udp,
        }
    }
}

impl Keeper {
    /// Starts a keeper in new namespaces. `lease`: the unprivileged uid the
    /// cell's programs run as when the grader is root (uid 1 in the cell);
    /// `join`: the cell's control groups, which the keeper joins first.
    pub fn start(
        keeper_binary: &Path,
        lease: Option<u32>,
        join: Vec<std::os::fd::RawFd>,
    ) -> std::io::Result<Keeper> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let mapping = match lease {
            Some(uid) => Mapping::ByGrader(ParentMap::new(uid)?),
            None => Mapping::Own(IdMaps::for_current_user()),
        };
        let child_side = mapping.child_side();
        let mut command = Command::new(keeper_binary);
        command
            .arg(KEEPER_ARG)
            .args(VIEWS_HELD.load(Ordering::Relaxed).then_some(VIEWS_HELD_ARG))
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
                super::cgroup::join(&join)?;
                unshare(
                    CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID,
                )?;
                child_side.map_ids()
            });
        }
        let writer = mapping.start_writer()?;
        let spawned = command.spawn();
        drop(command);
        // The keeper has exec'd (or failed): the writer has done its part.
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let process = spawned?;
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
            views_refused: None,
            control,
            pending,
            exits,
            next_id: Mutex::new(0),
            sockets: Mutex::default(),
            reader: Some(reader),
        };
        match ready_rx.recv_timeout(KEEPER_START) {
            Ok((views_refused, stock)) => {
                if views_refused.is_none() {
                    VIEWS_HELD.store(true, Ordering::Relaxed);
                }
                keeper.views_refused = views_refused;
                keeper.sockets = Mutex::new(stock);
                Ok(keeper)
            }
            Err(_) => {
                let status = keeper.process.try_wait().ok().flatten();
                Err(std::io::Error::other(match status {
                    Some(status) => format!("the cell keeper exited during set-up ({status})"),
                    None => "the cell keeper did not report ready".to_string(),
                }))
            }
        }
    }

    /// Why this cell's programs get no private mount view, if they do not.
    pub fn views_refused(&self) -> Option<&str> {
        self.views_refused.as_deref()
    }

    /// The keeper's pid, as the grader sees it.
    pub fn pid(&self) -> i32 {
        self.process.id() as i32
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
            Request::Spawn { id, .. }
            | Request::Prepare { id, .. }
            | Request::Sockets { id, .. }
            | Request::DiagSocket { id }
            | Request::OpenNetwork { id } => *id,
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
        count_processes: bool,
    ) -> std::io::Result<CellProcess> {
        let pipes = ProgramPipes::new()?;
        let request = Request::Spawn {
            id: self.next_id(),
            launch: launch(spec, limits, confinement, count_processes),
        };
        let (theirs, ours) = pipes.split();
        let pid = self.spawned_pid(&request, theirs)?;
        self.process(pid, ours, spec.stdin.clone(), limits)
    }

    /// Has the keeper fork `spec`'s program and set it up as [`Keeper::spawn`]
    /// would, leaving it waiting before its exec (see `prepared`);
    /// [`Keeper::start_prepared`] lets it run.
    pub fn prepare(
        &self,
        spec: &SpawnSpec,
        limits: &Limits,
        confinement: Option<Confinement>,
        count_processes: bool,
    ) -> std::io::Result<PreparedProgram> {
        let pipes = ProgramPipes::new()?;
        let (go_read, go_write) = super::cloexec_pipe()?;
        let (started_read, started_write) = super::cloexec_pipe()?;
        let request = Request::Prepare {
            id: self.next_id(),
            launch: launch(spec, limits, confinement, count_processes),
        };
        let ([stdin, stdout, stderr], ours) = pipes.split();
        let pid = self.spawned_pid(&request, [stdin, stdout, stderr, go_read, started_write])?;
        Ok(PreparedProgram {
            program: super::prepared::Prepared::new(pid, go_write, started_read),
            pipes: ours,
        })
    }

    /// Lets a prepared program exec, with `stdin` as [`SpawnSpec::stdin`].
    pub fn start_prepared(
        &self,
        prepared: PreparedProgram,
        stdin: Option<Vec<u8>>,
        limits: &Limits,
    ) -> std::io::Result<CellProcess> {
        // As the keeper reports a spawn's error: by its text.
        let pid = prepared
            .program
            .release()
            .map_err(|err| std::io::Error::other(err.to_string()))?;
        self.process(pid, prepared.pipes, stdin, limits)
    }

    /// Sends a `Spawn` or `Prepare` request with its fds; the pid it started.
    fn spawned_pid<const N: usize>(
        &self,
        request: &Request,
        fds: [OwnedFd; N],
    ) -> std::io::Result<i32> {
        let (reply, _) = self.request(request, &fds)?;
        // Our copies of the child's ends close here: its exec or exit is
        // then what ends those pipes.
        drop(fds);
        match reply {
            Reply::Spawned { pid, .. } => Ok(pid),
            Reply::Failed { error, .. } => Err(std::io::Error::other(error)),
            other => Err(std::io::Error::other(format!(
                "unexpected keeper reply {other:?}"
            ))),
        }
    }

    /// The grader's handle on the program `pid`, its output captured.
    fn process(
        &self,
        pid: i32,
        (stdin_write, stdout_read, stderr_read): (OwnedFd, OwnedFd, OwnedFd),
        stdin: Option<Vec<u8>>,
        limits: &Limits,
    ) -> std::io::Result<CellProcess> {
        let limit = (limits.output_kb as usize) * 1024;
        let mut helpers = Vec::new();
        let mut idle_stdin = None;
        match stdin {
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
            watch: None,
        })
    }

    /// A fresh socket of the cell's network namespace, from the stock when
    /// it holds one, else with a new batch for the stock.
    pub fn socket(&self, transport: Transport) -> std::io::Result<Socket> {
        let mut stock = self.sockets.lock().expect("socket stock");
        if stock.of(transport).is_empty() {
            *stock.of(transport) = self.new_sockets(transport)?;
        }
        stock
            .of(transport)
            .pop()
            .ok_or_else(|| std::io::Error::other("the cell keeper sent no socket"))
    }

    /// A batch of new sockets from the keeper.
    fn new_sockets(&self, transport: Transport) -> std::io::Result<Vec<Socket>> {
        let request = Request::Sockets {
            id: self.next_id(),
            transport,
        };
        let (reply, fds) = self.request(&request, &[])?;
        match reply {
            Reply::Socket { .. } if !fds.is_empty() => {
                Ok(fds.into_iter().map(Socket::from).collect())
            }
            Reply::Failed { error, .. } => Err(std::io::Error::other(error)),
            other => Err(std::io::Error::other(format!(
                "unexpected keeper reply {other:?}"
            ))),
        }
    }

    /// A sock_diag netlink socket created in the cell's network namespace.
    pub fn diag_socket(&self) -> std::io::Result<OwnedFd> {
        let (reply, mut fds) = self.request(&Request::DiagSocket { id: self.next_id() }, &[])?;
        match reply {
            Reply::Socket { .. } if fds.len() == 1 => Ok(fds.remove(0)),
            Reply::Failed { error, .. } => Err(std::io::Error::other(error)),
            other => Err(std::io::Error::other(format!(
                "unexpected keeper reply {other:?}"
            ))),
        }
    }

    /// Opens the cell's network (see `network`); `Err` says what the
    /// kernel refused.
    pub fn open_network(&self) -> std::io::Result<super::network::Opened> {
        let (reply, _) = self.request(&Request::OpenNetwork { id: self.next_id() }, &[])?;
        match reply {
            Reply::NetworkOpened { opened, .. } => Ok(opened),
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

fn read_replies(
    control: &OwnedFd,
    pending: &Pending,
    exits: &Exits,
    ready: Sender<(Option<String>, SocketStock)>,
) {
    loop {
        let Ok(Some((reply, fds))) = keeper::receive::<Reply>(control.as_fd()) else {
            break;
        };
        match reply {
            Reply::Ready {
                views_refused,
                sockets,
                ..
            } => {
                let stock = SocketStock::of_ready(&sockets, fds);
                let _ = ready.send((views_refused, stock));
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
            Reply::Socket { id } | Reply::Failed { id, .. } | Reply::NetworkOpened { id, .. } => {
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

/// How the keeper's user namespace gets its uid and gid maps.
enum Mapping {
    /// Written by the keeper itself: only its own ids, as root inside.
    Own(IdMaps),
    /// Written by the grader (root, so it may map more): its own ids as root
    /// inside, and the leased uid as uid 1, which the programs run as.
    ByGrader(ParentMap),
}

/// What the keeper does about its maps between fork and exec.
enum ChildSide {
    Own(IdMaps),
    /// Tell the grader its pid once it has unshared, and wait until the
    /// grader has written the maps.
    Wait {
        notify: OwnedFd,
        written: OwnedFd,
    },
}

impl Mapping {
    fn child_side(&self) -> ChildSide {
        match self {
            Mapping::Own(maps) => ChildSide::Own(IdMaps {
                uid_map: maps.uid_map.clone(),
                gid_map: maps.gid_map.clone(),
            }),
            Mapping::ByGrader(parent) => ChildSide::Wait {
                notify: parent.notify_write.try_clone().expect("dup"),
                written: parent.written_read.try_clone().expect("dup"),
            },
        }
    }

    /// For a map the grader writes: a thread that waits for the keeper's
    /// pid, writes its maps and lets it go on.
    fn start_writer(self) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
        match self {
            Mapping::Own(_) => Ok(None),
            Mapping::ByGrader(parent) => {
                let ParentMap {
                    uid,
                    notify_read,
                    notify_write,
                    written_read,
                    written_write,
                } = parent;
                // Only the child holds these ends now, so a keeper that dies
                // early ends the writer's read.
                drop((notify_write, written_read));
                Ok(Some(
                    std::thread::Builder::new()
                        .name("cell-id-maps".into())
                        .spawn(move || write_maps_for(uid, notify_read, written_write))?,
                ))
            }
        }
    }
}

struct ParentMap {
    uid: u32,
    notify_read: OwnedFd,
    notify_write: OwnedFd,
    written_read: OwnedFd,
    written_write: OwnedFd,
}

impl ParentMap {
    fn new(uid: u32) -> std::io::Result<ParentMap> {
        let (notify_read, notify_write) = super::cloexec_pipe()?;
        let (written_read, written_write) = super::cloexec_pipe()?;
        Ok(ParentMap {
            uid,
            notify_read,
            notify_write,
            written_read,
            written_write,
        })
    }
}

fn write_maps_for(uid: u32, notify: OwnedFd, written: OwnedFd) {
    use std::io::{Read, Write};
    let mut pid = [0u8; 4];
    if std::fs::File::from(notify).read_exact(&mut pid).is_err() {
        return;
    }
    let pid = i32::from_ne_bytes(pid);
    let (own_uid, own_gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let wrote = std::fs::write(
        format!("/proc/{pid}/uid_map"),
        format!("0 {own_uid} 1\n1 {uid} 1\n"),
    )
    .and_then(|()| {
        std::fs::write(
            format!("/proc/{pid}/gid_map"),
            format!("0 {own_gid} 1\n1 {uid} 1\n"),
        )
    });
    if wrote.is_ok() {
        let _ = std::fs::File::from(written).write_all(b"1");
    }
    // Otherwise dropping `written` unblocks the keeper, which then fails.
}

impl ChildSide {
    /// Between fork and exec, after unshare: plain reads and writes.
    fn map_ids(&self) -> std::io::Result<()> {
        use nix::libc;
        match self {
            ChildSide::Own(maps) => maps.write(),
            ChildSide::Wait { notify, written } => {
                // SAFETY: getpid, write and read on our own descriptors.
                unsafe {
                    let pid = libc::getpid().to_ne_bytes();
                    if libc::write(notify.as_raw_fd(), pid.as_ptr().cast(), 4) != 4 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let mut byte = [0u8; 1];
                    if libc::read(written.as_raw_fd(), byte.as_mut_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::other(
                            "the grader could not map the cell's users",
                        ));
                    }
                }
                Ok(())
            }
        }
    }
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

/// The three pipes of a program's standard streams, before the keeper gets
/// the child's ends. A pipe for stdin either way: fed then closed for a
/// client, idle and open for a server (see `process::spawn`).
struct ProgramPipes {
    stdin: (OwnedFd, OwnedFd),
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
}

impl ProgramPipes {
    fn new() -> std::io::Result<ProgramPipes> {
        Ok(ProgramPipes {
            stdin: super::cloexec_pipe()?,
            stdout: super::cloexec_pipe()?,
            stderr: super::cloexec_pipe()?,
        })
    }

    /// Splits them: the child's ends (stdin, stdout, stderr) and ours.
    fn split(self) -> ([OwnedFd; 3], (OwnedFd, OwnedFd, OwnedFd)) {
        let ProgramPipes {
            stdin: (stdin_read, stdin_write),
            stdout: (stdout_read, stdout_write),
            stderr: (stderr_read, stderr_write),
        } = self;
        (
            [stdin_read, stdout_write, stderr_write],
            (stdin_write, stdout_read, stderr_read),
        )
    }
}

/// A program forked and set up in a cell, waiting to exec, with our ends
/// of its standard streams.
pub struct PreparedProgram {
    program: super::prepared::Prepared,
    pipes: (OwnedFd, OwnedFd, OwnedFd),
}

/// What the keeper is asked to start for `spec`.
fn launch(
    spec: &SpawnSpec,
    limits: &Limits,
    confinement: Option<Confinement>,
    count_processes: bool,
) -> keeper::Launch {
    keeper::Launch {
        program: spec.program.to_string_lossy().into_owned(),
        args: spec.args.clone(),
        cwd: spec.cwd.to_string_lossy().into_owned(),
        env: spec.env.clone(),
        // RLIMIT_NPROC counts the cell's user namespace: needed only where
        // no pids group bounds the cell.
        rlimits: Rlimits::new(limits, count_processes),
        confinement: confinement.map(|confinement| {
            Box::new(keeper::Confinement {
                policy: confinement.policy,
                credentials: confinement.credentials,
                view: confinement.view,
            })
        }),
    }
}
