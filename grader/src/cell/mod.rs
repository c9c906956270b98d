//! Cells: where a submission's programs run, bounded and cleaned up (SPEC §6).
//!
//! A cell gives the rest of the grader four things, whatever its tier:
//! starting a program ([`Cell::spawn`]), opening sockets that reach the
//! program ([`Cell::socket`]), seeing what the programs listen on
//! ([`Cell::listeners`]) and stopping everything in it ([`Cell::stop_all`]).
//!
//! - Tier `namespace` runs the programs in fresh user, network and PID
//!   namespaces, held by a small keeper process (see `keeper`). The textbook's
//!   hard-coded port 12000 is free in every cell, there is no route out, and
//!   when the cell's init dies every process in it dies with it.
//! - Tier `process` runs them as ordinary processes in a process group of
//!   their own, gives them a free port, and sweeps descendants on stop.

mod capture;
mod exit;
pub mod keeper;
mod limits;
mod namespace;
mod port_lock;
mod process;
pub mod procfs;

pub use capture::{Capture, Captured};
pub use exit::ExitWatch;
pub use port_lock::PortLock;
pub use procfs::Listener;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::Transport;
use crate::limits::Limits;
use crate::outcome::ExitReport;

/// How strongly a cell isolates what runs in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    Namespace,
    Process,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Namespace => "namespace",
            Tier::Process => "process",
        }
    }
}

/// What `--isolation` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationRequest {
    /// Namespaces where the kernel allows them, processes otherwise.
    #[default]
    Auto,
    Namespace,
    Process,
}

/// Everything needed to open a cell.
#[derive(Clone, Debug)]
pub struct CellOptions {
    pub isolation: IsolationRequest,
    /// A binary that runs [`keeper::run`] when given [`keeper::KEEPER_ARG`]
    /// (the grader binary itself). Without one, namespace cells are unavailable.
    pub keeper: Option<PathBuf>,
    pub limits: Limits,
    /// Put into every cell's marker after the grader's pid, so that the
    /// processes of one batch or one test can be told from any other's.
    pub label: Option<String>,
}

/// The address the grader reaches a cell's programs on.
pub const CELL_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Environment variable every process of a cell inherits, with a value unique
/// to the cell, so a sweep finds processes that left the process group.
pub const CELL_MARKER_VAR: &str = "SOCKLAB_CELL";

/// What to start in a cell.
#[derive(Clone, Debug)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Bytes for standard input, closed after them; `None` for a standard
    /// input that stays open and idle, as at a terminal nobody types into.
    pub stdin: Option<Vec<u8>>,
}

/// A program running in a cell.
pub struct CellProcess {
    pub pid: i32,
    exit: ExitWatch,
    stdout: Capture,
    stderr: Capture,
    helpers: Vec<std::thread::JoinHandle<()>>,
    /// The write end of an idle standard input (servers), held open until
    /// the program is stopped so it never reads end of file.
    idle_stdin: Option<std::os::fd::OwnedFd>,
}

impl CellProcess {
    pub fn exit(&self) -> Option<ExitReport> {
        self.exit.get()
    }

    pub fn wait_until(&self, deadline: Instant) -> Option<ExitReport> {
        self.exit.wait_until(deadline)
    }

    pub fn stdout(&self) -> Captured {
        self.stdout.snapshot()
    }

    pub fn stderr(&self) -> Captured {
        self.stderr.snapshot()
    }
}

/// How a program ended, with what it printed.
#[derive(Clone, Debug)]
pub struct ProgramEnd {
    /// `None` when it was still running and the grader stopped it.
    pub exit: Option<ExitReport>,
    pub stdout: Captured,
    pub stderr: Captured,
}

enum Backend {
    Process,
    Namespace(namespace::Keeper),
}

pub struct Cell {
    backend: Backend,
    reason: String,
    marker: String,
    limits: Limits,
}

static NEXT_CELL: AtomicU64 = AtomicU64::new(0);

/// Why namespaces were refused the first time, so later cells skip the probe.
static NAMESPACES_REFUSED: OnceLock<String> = OnceLock::new();

impl Cell {
    pub fn open(options: &CellOptions) -> std::io::Result<Cell> {
        harden_grader();
        let marker = format!(
            "{}-{}{}",
            std::process::id(),
            options
                .label
                .as_deref()
                .map(|label| format!("{label}-"))
                .unwrap_or_default(),
            NEXT_CELL.fetch_add(1, Ordering::Relaxed)
        );
        let (backend, reason) = match options.isolation {
            IsolationRequest::Process => (
                Backend::Process,
                "--isolation process was given".to_string(),
            ),
            IsolationRequest::Namespace => {
                let keeper_path = options.keeper.as_deref().ok_or_else(|| {
                    std::io::Error::other("namespace cells need the grader binary as keeper")
                })?;
                let keeper = namespace::Keeper::start(keeper_path)?;
                (
                    Backend::Namespace(keeper),
                    "--isolation namespace was given".to_string(),
                )
            }
            IsolationRequest::Auto => Self::probe(options),
        };
        Ok(Cell {
            backend,
            reason,
            marker,
            limits: options.limits.clone(),
        })
    }

    fn probe(options: &CellOptions) -> (Backend, String) {
        if let Some(refused) = NAMESPACES_REFUSED.get() {
            return (Backend::Process, refused.clone());
        }
        let Some(keeper_path) = options.keeper.as_deref() else {
            return (
                Backend::Process,
                "running inside a test harness, without the grader binary to keep namespaces"
                    .into(),
            );
        };
        match namespace::Keeper::start(keeper_path) {
            Ok(keeper) => (
                Backend::Namespace(keeper),
                "the kernel allows unprivileged user, network and PID namespaces".into(),
            ),
            Err(err) => {
                let reason =
                    format!("the kernel refused namespaces ({err}); processes are used instead");
                let reason = NAMESPACES_REFUSED.get_or_init(|| reason).clone();
                (Backend::Process, reason)
            }
        }
    }

    pub fn tier(&self) -> Tier {
        match self.backend {
            Backend::Process => Tier::Process,
            Backend::Namespace(_) => Tier::Namespace,
        }
    }

    /// Why this tier was chosen.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The environment entry marking this cell's processes.
    pub fn marker(&self) -> String {
        format!("{CELL_MARKER_VAR}={}", self.marker)
    }

    pub fn spawn(&self, spec: &SpawnSpec) -> std::io::Result<CellProcess> {
        let mut spec = spec.clone();
        spec.env
            .push((CELL_MARKER_VAR.to_string(), self.marker.clone()));
        match &self.backend {
            Backend::Process => process::spawn(&spec, &self.limits),
            Backend::Namespace(keeper) => keeper.spawn(&spec, &self.limits),
        }
    }

    /// A fresh socket whose traffic reaches the cell's programs. For TCP it is
    /// not yet connected; for UDP not yet bound.
    pub fn socket(&self, transport: Transport) -> std::io::Result<Socket> {
        match &self.backend {
            Backend::Process => new_socket(transport),
            Backend::Namespace(keeper) => keeper.socket(transport),
        }
    }

    /// Sockets the cell's programs have bound. `main` is the program whose
    /// sockets count in the process tier, where the network is shared.
    pub fn listeners(&self, main: &CellProcess) -> Vec<Listener> {
        match &self.backend {
            Backend::Process => process::listeners_of(main.pid),
            Backend::Namespace(keeper) => procfs::listeners(&keeper.net_dir()),
        }
    }

    /// The port among `ports` on which the cell's programs listen over
    /// `transport`, if any: what readiness polls, so it is kept cheap.
    pub fn listening_on(
        &self,
        main: &CellProcess,
        transport: Transport,
        ports: &[u16],
    ) -> Option<u16> {
        match &self.backend {
            Backend::Process => process::listening_on(main.pid, transport, ports),
            Backend::Namespace(keeper) => procfs::listeners(&keeper.net_dir())
                .into_iter()
                .find(|listener| listener.transport == transport && ports.contains(&listener.port))
                .map(|listener| listener.port),
        }
    }

    /// Stops every process of the cell and returns how `main` ended. Programs
    /// get SIGTERM and a short grace to flush their output, then SIGKILL.
    pub fn stop_all(&self, main: CellProcess) -> ProgramEnd {
        const GRACE: Duration = Duration::from_millis(100);
        let exit_before = main.exit();
        if exit_before.is_none() {
            self.signal_all(nix::sys::signal::Signal::SIGTERM, &main);
            main.wait_until(Instant::now() + GRACE);
        }
        self.kill_all(&main);
        // The exit reported is the one the program chose, never our own signal.
        let exit = exit_before;
        let CellProcess {
            stdout,
            stderr,
            helpers,
            idle_stdin,
            ..
        } = main;
        drop(idle_stdin);
        let end = ProgramEnd {
            exit,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
        };
        for helper in helpers {
            let _ = helper.join();
        }
        end
    }

    fn signal_all(&self, signal: nix::sys::signal::Signal, main: &CellProcess) {
        match &self.backend {
            Backend::Process => {
                process::signal_cell(main.pid, &self.marker(), signal, main.exit().is_none())
            }
            Backend::Namespace(keeper) => keeper.signal_all(signal),
        }
    }

    fn kill_all(&self, main: &CellProcess) {
        match &self.backend {
            Backend::Process => {
                if main.exit().is_none() {
                    // The stand-in kills everything below it and exits; what
                    // it may have missed (a process that escaped while the
                    // grader ran unconfined) the sweep below still finds.
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(main.pid),
                        process::SWEEP,
                    );
                    main.wait_until(Instant::now() + Duration::from_secs(2));
                }
                process::kill_cell(main.pid, &self.marker(), main.exit().is_none())
            }
            Backend::Namespace(keeper) => keeper.kill_all(),
        }
        // Either way the main program is gone now; wait for its exit to be
        // recorded so its reaper thread has finished.
        main.wait_until(Instant::now() + Duration::from_secs(5));
    }
}

/// Makes the grader itself non-dumpable, once: no process of the grader's
/// user can then read or write its memory (`/proc/<pid>/mem`, ptrace) or
/// read its environment (`/proc/<pid>/environ`), and neither can they for the
/// stand-ins forked from it, which inherit the flag (a program gets its own
/// back when it execs).
pub(crate) fn harden_grader() {
    static DONE: OnceLock<bool> = OnceLock::new();
    DONE.get_or_init(|| nix::sys::prctl::set_dumpable(false).is_ok());
}

/// A pipe whose ends close on exec. The grader starts programs from many
/// threads at once: an end without close-on-exec would be inherited by every
/// program started meanwhile, which could then hold another program's input
/// open or read what was meant for someone else. The ends a program should
/// have are given to it explicitly, as its stdin, stdout or stderr.
pub(crate) fn cloexec_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

pub(crate) fn new_socket(transport: Transport) -> std::io::Result<Socket> {
    match transport {
        Transport::Tcp => Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)),
        Transport::Udp => Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)),
    }
}

/// A port that is free for both TCP and UDP right now, for a submission that
/// takes its port from `{port}` in the process tier.
pub fn free_port() -> std::io::Result<u16> {
    for _ in 0..32 {
        let tcp = std::net::TcpListener::bind((CELL_HOST, 0))?;
        let port = tcp.local_addr()?.port();
        if std::net::UdpSocket::bind((CELL_HOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no port free for both TCP and UDP"))
}
