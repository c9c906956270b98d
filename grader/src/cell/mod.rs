//! Cells: where a submission's programs run, bounded and cleaned up.
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
//!
//! A namespace cell can also take clients that hard-code the handout's hosts
//! and ports ([`Cell::open_network`], see `network`): every IPv4 address and
//! every name is the cell's, and every port may be bound.

mod ahead;
mod capture;
mod cgroup;
mod exit;
pub mod keeper;
pub mod landlock;
mod limits;
mod mount;
mod namespace;
mod netlink;
mod network;
mod port_lock;
mod prepared;
mod process;
pub mod procfs;
mod protections;
mod resolver;
mod sandbox;
mod seccomp;
mod sock_diag;
mod spare;
mod watch;

pub use ahead::CellAhead;
pub use capture::{Capture, Captured};
pub use exit::{ExitReport, ExitWatch};
pub use network::{CELL_HOSTNAME, Opened as NetworkOpened, Refused as NetworkRefused};
pub use port_lock::PortLock;
pub use procfs::{Listener, SocketSource};
pub use protections::{Guard, Protection};
pub use resolver::MAX_NAMES;
pub use sandbox::{Confinement, Sandbox, Wanted, is_leased_uid};
pub use spare::KeepWarm;
pub(crate) use spare::{replenish as replenish_spare, take as take_spare};

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::limits::Limits;
use crate::transport::Transport;

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// What the grading's programs may reach; `None` leaves them the
    /// grader's own view and user (tests of the cells themselves).
    pub sandbox: Option<Sandbox>,
}

/// The address the grader reaches a cell's programs on.
pub const CELL_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Environment variable every process of a cell inherits, with a value unique
/// to the cell, so a sweep finds processes that left the process group.
pub const CELL_MARKER_VAR: &str = "SOCKLAB_CELL";

/// What to start in a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Bytes for standard input, closed after them; `None` for a standard
    /// input that stays open and idle, as at a terminal nobody types into.
    pub stdin: Option<Vec<u8>>,
    /// The program may bind any TCP port (a lab whose server chooses its
    /// port), so the process tier does not limit TCP to `SOCKLAB_PORT`.
    pub any_tcp_port: bool,
}

impl SpawnSpec {
    /// The same command with no standard input given: what a prepared
    /// program and a worked-out confinement are kept by.
    pub fn command(&self) -> SpawnSpec {
        SpawnSpec {
            stdin: None,
            ..self.clone()
        }
    }
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
    /// What polls the bounds the kernel does not hold for this cell.
    watch: Option<watch::Watch>,
}

impl CellProcess {
    pub fn exit(&self) -> Option<ExitReport> {
        self.exit.get()
    }

    /// Whether the program has ended, reported or not: its exit may still be
    /// on its way from the reaper (the keeper, or the exit watch) while the
    /// kernel already shows it dead. A daemon's parent that exits leaves its
    /// child waiting in `accept`; seen in that window, the cell looks like a
    /// server that started, and the verdict must be the exit.
    pub fn has_ended(&self) -> bool {
        self.exit().is_some() || procfs::is_zombie(self.pid)
    }

    pub fn wait_until(&self, deadline: Instant) -> Option<ExitReport> {
        self.exit.wait_until(deadline)
    }

    /// See [`ExitWatch::wake_on_exit`].
    pub(crate) fn wake_on_exit(
        &self,
        socket: &impl std::os::fd::AsRawFd,
    ) -> crate::shut::Watched<'_> {
        self.exit.wake_on_exit(socket)
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

/// A program prepared in a cell, and the command it was prepared for.
struct ReadyToStart {
    spec: SpawnSpec,
    program: namespace::PreparedProgram,
    polled: watch::Polled,
}

enum Backend {
    Process,
    Namespace(namespace::Keeper),
}

pub struct Cell {
    /// The opened network's resolver, stopped before the keeper goes.
    network: Mutex<Option<network::Network>>,
    /// Whether a program was started: the network must be opened before.
    spawned: AtomicBool,
    /// A program forked and set up ahead of its start (see `prepared`).
    prepared: Mutex<Option<ReadyToStart>>,
    backend: Backend,
    reason: String,
    marker: String,
    limits: Limits,
    sandbox: Option<Sandbox>,
    /// Dropped after `backend`, so the keeper has taken its namespace down
    /// before the group is emptied and removed.
    bounds: cgroup::Bounds,
    /// Where the cell's bound sockets are read from.
    sockets: procfs::SocketView,
}

static NEXT_CELL: AtomicU64 = AtomicU64::new(0);

/// Why namespaces were refused the first time, so later cells skip the probe.
static NAMESPACES_REFUSED: OnceLock<String> = OnceLock::new();

impl Cell {
    pub fn open(options: &CellOptions) -> std::io::Result<Cell> {
        harden_grader();
        let limits = &options.limits;
        // The keeper, its init and its probe of the mount view count too
        // in the namespace tier; the stand-in in the process tier.
        let overhead = match options.isolation {
            IsolationRequest::Process => 1,
            IsolationRequest::Namespace | IsolationRequest::Auto => 3,
        };
        let bounds = cgroup::CellGroup::create(
            limits.cell_memory_mb.max(limits.memory_mb) << 20,
            limits.processes + overhead,
        );
        let join = bounds
            .group
            .as_ref()
            .map(cgroup::CellGroup::join_fds)
            .unwrap_or_default();
        let lease = options.sandbox.as_ref().and_then(Sandbox::uid);
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
                let keeper = namespace::Keeper::start(keeper_path, lease, join)?;
                (
                    Backend::Namespace(keeper),
                    "--isolation namespace was given".to_string(),
                )
            }
            IsolationRequest::Auto => Self::probe(options, lease, join),
        };
        let sockets = match &backend {
            Backend::Process => procfs::SocketView::own_namespace(),
            Backend::Namespace(keeper) => procfs::SocketView::new(
                keeper.diag_socket().map(sock_diag::DiagSocket::from_fd),
                keeper.net_dir(),
            ),
        };
        Ok(Cell {
            sockets,
            network: Mutex::new(None),
            spawned: AtomicBool::new(false),
            prepared: Mutex::new(None),
            backend,
            reason,
            marker,
            limits: options.limits.clone(),
            sandbox: options.sandbox.clone(),
            bounds,
        })
    }

    fn probe(
        options: &CellOptions,
        lease: Option<u32>,
        join: Vec<std::os::fd::RawFd>,
    ) -> (Backend, String) {
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
        match namespace::Keeper::start(keeper_path, lease, join) {
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

    /// Which protections this cell's programs run under.
    pub fn protections(&self) -> Vec<Protection> {
        let tier = self.tier();
        let abi = landlock::abi();
        let sandbox = self.sandbox.as_ref();
        let landlocked = sandbox.is_some() && abi > 0;
        let mut list = Vec::new();
        list.push(match (tier, harden_grader()) {
            (Tier::Namespace, _) => Protection::held(
                Guard::GraderMemory,
                "the grader is outside the cell's PID namespace: programs cannot name it",
            ),
            (Tier::Process, true) => Protection::held(
                Guard::GraderMemory,
                "the grader and the stand-ins are not dumpable: no ptrace, no /proc/<pid>/mem or environ",
            ),
            (Tier::Process, false) => Protection::missing(
                Guard::GraderMemory,
                "the grader could not make itself non-dumpable",
            ),
        });
        list.push(Protection::held(
            Guard::Terminal,
            "every program leads a session of its own, without a controlling terminal",
        ));
        list.push(Protection::held(
            Guard::Cleanup,
            match tier {
                Tier::Namespace => "a PID namespace: when its init dies, the kernel kills every process in it",
                Tier::Process => "a subreaper stand-in under every program kills all its descendants, and dies with the grader",
            },
        ));
        let root = nix::unistd::Uid::effective().is_root();
        let view = self.mount_view();
        list.push(match (tier, &view) {
            (Tier::Process, _) => Protection::missing(
                Guard::MountView,
                "the process tier has no mount namespace: Landlock alone limits what programs see",
            ),
            (Tier::Namespace, _) if sandbox.is_none() => {
                Protection::missing(Guard::MountView, "no sandbox: programs see the grader's files")
            }
            (Tier::Namespace, Ok(())) => Protection::held(
                Guard::MountView,
                "a mount namespace: the system and toolchains read-only, the scratch copy, a private /tmp, /dev and /proc; nothing else",
            ),
            (Tier::Namespace, Err(why)) => Protection::missing(
                Guard::MountView,
                format!("the kernel refused a private mount view ({why})"),
            ),
        });
        list.push(match (sandbox, tier) {
            (None, _) => Protection::missing(Guard::User, "no sandbox: programs run as the grader's user"),
            (Some(_), _) if !root => {
                Protection::held(Guard::User, "programs run as the grader's own user, which is not root")
            }
            (Some(sandbox), Tier::Process) => match sandbox.uid() {
                // The uid itself is left out: it differs from one grading
                // to the next, and a report must not.
                Some(_) => Protection::held(
                    Guard::User,
                    "programs run as an unprivileged uid leased to this grading (as root without \
                     any capability when their toolchain is not reachable by an unprivileged user)",
                ),
                None => Protection::missing(
                    Guard::User,
                    "no unprivileged uid was free: programs run as root without any capability",
                ),
            },
            (Some(sandbox), Tier::Namespace) => match (sandbox.uid(), view.is_ok()) {
                (Some(_), true) => Protection::held(
                    Guard::User,
                    "the cell's programs run as its uid 1, an unprivileged uid outside leased to this grading",
                ),
                (Some(_), false) => Protection::held(
                    Guard::User,
                    "the cell's programs run as its uid 1, an unprivileged uid outside (as root \
                     without any capability when their toolchain is not reachable by an unprivileged user)",
                ),
                (None, _) => Protection::missing(
                    Guard::User,
                    "no unprivileged uid was free: the cell's root is the grader's root on files, without any capability",
                ),
            },
        });
        list.push(if landlocked {
            Protection::held(
                Guard::Files,
                match (tier, view.is_ok()) {
                    (Tier::Namespace, true) => format!(
                        "a private mount view, and Landlock ABI {abi}: the scratch copy read-write, the system and toolchains read-only, nothing else"
                    ),
                    _ => format!(
                        "Landlock ABI {abi}: the scratch copy read-write, the system and toolchains read-only, nothing else"
                    ),
                },
            )
        } else if sandbox.is_none() {
            Protection::missing(Guard::Files, "no sandbox: programs see the grader's files")
        } else if tier == Tier::Namespace && view.is_ok() {
            Protection::held(
                Guard::Files,
                "a private mount view (the kernel has no Landlock): the scratch copy read-write, the system and toolchains read-only",
            )
        } else {
            Protection::missing(Guard::Files, "the kernel has no Landlock: programs see what their user can")
        });
        list.push(match tier {
            Tier::Namespace => Protection::held(
                Guard::TcpPorts,
                "a network namespace of its own, with only a loopback interface",
            ),
            Tier::Process if landlocked && abi >= 4 => Protection::held(
                Guard::TcpPorts,
                format!("Landlock ABI {abi}: TCP bind and connect only on the test's port"),
            ),
            Tier::Process => Protection::missing(
                Guard::TcpPorts,
                "TCP needs Landlock ABI 4: programs can bind and connect to any port",
            ),
        });
        list.push(match tier {
            Tier::Namespace => Protection::held(
                Guard::Signals,
                "a PID namespace: nothing outside the cell can be named",
            ),
            Tier::Process if landlocked && abi >= 6 => Protection::held(
                Guard::Signals,
                format!("Landlock ABI {abi}: signals and abstract Unix sockets scoped to the cell"),
            ),
            Tier::Process => Protection::missing(
                Guard::Signals,
                "scoping needs Landlock ABI 6: programs may signal other processes of their user",
            ),
        });
        list.push(match &self.bounds.memory {
            Ok(how) => Protection::held(Guard::Memory, how.clone()),
            Err(why) => Protection::held(
                Guard::Memory,
                format!(
                    "{} MiB for the whole cell, its processes' resident memory polled every {} ms \
                     (no cgroup: {why}); and {} MiB of data per process (RLIMIT_DATA)",
                    self.cell_memory_mb(),
                    watch::INTERVAL.as_millis(),
                    self.limits.memory_mb
                ),
            ),
        });
        list.push(match (&self.bounds.processes, tier, sandbox.and_then(Sandbox::uid)) {
            (Ok(how), _, _) => Protection::held(Guard::Processes, how.clone()),
            (Err(_), Tier::Namespace, _) => Protection::held(
                Guard::Processes,
                format!(
                    "{} processes (RLIMIT_NPROC in the cell's user namespace)",
                    self.limits.processes
                ),
            ),
            (Err(_), Tier::Process, Some(_)) => Protection::held(
                Guard::Processes,
                format!(
                    "{} processes for the leased uid (RLIMIT_NPROC)",
                    self.limits.processes
                ),
            ),
            (Err(why), Tier::Process, None) => Protection::missing(
                Guard::Processes,
                format!("no cgroup ({why}), and RLIMIT_NPROC would count every process of the grader's user"),
            ),
        });
        list.push(match (sandbox, tier, view.is_ok()) {
            (None, _, _) => Protection::missing(Guard::Disk, "no sandbox: nothing bounds what programs write"),
            (Some(_), Tier::Namespace, true) => Protection::held(
                Guard::Disk,
                format!(
                    "a tmpfs of {} MiB holds all the cell writes (its copy's changes, /tmp); the copy itself is left as it was",
                    self.limits.disk_mb
                ),
            ),
            (Some(_), _, _) => Protection::held(
                Guard::Disk,
                format!(
                    "the scratch copy's growth polled every {} ms: the cell is stopped over {} MiB",
                    watch::INTERVAL.as_millis(),
                    self.limits.disk_mb
                ),
            ),
        });
        list
    }

    /// The environment entry marking this cell's processes.
    pub fn marker(&self) -> String {
        format!("{CELL_MARKER_VAR}={}", self.marker)
    }

    /// Whether this cell's programs get a private mount view, or why not.
    fn mount_view(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Process => Err("the process tier".into()),
            Backend::Namespace(keeper) => match keeper.views_refused() {
                None => Ok(()),
                Some(why) => Err(why.to_string()),
            },
        }
    }

    /// The most memory the cell used at once, where a cgroup tells.
    pub fn memory_peak(&self) -> Option<u64> {
        self.bounds.group.as_ref()?.memory_peak()
    }

    fn cell_memory_mb(&self) -> u64 {
        self.limits.cell_memory_mb.max(self.limits.memory_mb)
    }

    /// Lets the cell's programs hard-code hosts and ports (namespace tier
    /// only; call it before the first [`Cell::spawn`]). Afterwards:
    ///
    /// - every IPv4 address is the cell's: a socket from [`Cell::socket`]
    ///   bound on `0.0.0.0:PORT` gets what a client sends to any address on
    ///   PORT (`10.0.0.1:12000`, `203.0.113.5:80`). Which address the client
    ///   dialled is, for TCP, the accepted socket's `local_addr()`; for UDP,
    ///   the destination of each datagram (`IP_PKTINFO`) or one socket bound
    ///   per address, since a more specific bind wins;
    /// - every port may be bound by anyone in the cell (25, 80, 587);
    /// - every name resolves to 127.0.0.1 (`localhost`, [`CELL_HOSTNAME`],
    ///   which is also what `gethostname()` says, `smtp.gmail.com`, a lab
    ///   machine's name), IPv4 only; the names asked are
    ///   [`Cell::names_asked`]. UDP port 53 is the cell's resolver's.
    ///
    /// `Err` says, in one sentence a report can show, why not. Opening an
    /// open network again returns what the first opening gave.
    pub fn open_network(&self) -> Result<NetworkOpened, NetworkRefused> {
        let keeper = match &self.backend {
            Backend::Process => {
                return Err(NetworkRefused::ProcessTier {
                    reason: self.reason.clone(),
                });
            }
            Backend::Namespace(keeper) => keeper,
        };
        let mut network = self.network.lock().expect("cell network");
        if let Some(open) = network.as_ref() {
            return Ok(open.opened.clone());
        }
        if self.spawned.load(Ordering::SeqCst) {
            return Err(NetworkRefused::AfterSpawn);
        }
        let mut opened = keeper
            .open_network()
            .map_err(|err| NetworkRefused::Kernel {
                error: err.to_string(),
            })?;
        let resolver = keeper
            .socket(Transport::Udp)
            .and_then(|socket| {
                // Every address of the cell, so a client that kept the host's
                // nameserver line (resolver files refused) reaches it too.
                socket.bind(
                    &std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, resolver::PORT)).into(),
                )?;
                resolver::Resolver::start(socket)
            })
            .map_err(|err| {
                opened.notes.push(format!(
                    "names do not resolve in the cell: its resolver could not bind UDP port 53 ({err})"
                ))
            })
            .ok();
        *network = Some(network::Network {
            opened: opened.clone(),
            resolver,
        });
        Ok(opened)
    }

    /// The names the cell's programs looked up, in the order first asked,
    /// each once, lower case, at most [`MAX_NAMES`]; empty unless the
    /// network was opened.
    pub fn names_asked(&self) -> Vec<String> {
        self.network
            .lock()
            .expect("cell network")
            .as_ref()
            .and_then(|network| network.resolver.as_ref())
            .map(resolver::Resolver::names)
            .unwrap_or_default()
    }

    pub fn spawn(&self, spec: &SpawnSpec) -> std::io::Result<CellProcess> {
        if let Some(started) = self.start_prepared(spec) {
            return started;
        }
        let (spec, confinement) = self.confine(spec)?;
        let polled = self.polled(confinement.as_ref());
        let bound_processes = self.bounds_processes();
        let mut process = match &self.backend {
            Backend::Process => {
                let join = self
                    .bounds
                    .group
                    .as_ref()
                    .map(cgroup::CellGroup::join_fds)
                    .unwrap_or_default();
                process::spawn(&spec, &self.limits, confinement, join, bound_processes)?
            }
            Backend::Namespace(keeper) => {
                keeper.spawn(&spec, &self.limits, confinement, !bound_processes)?
            }
        };
        self.watch(&mut process, polled)?;
        Ok(process)
    }

    /// Forks `spec`'s program and sets it up ahead of its start, in the
    /// namespace tier (see `prepared`): the [`Cell::spawn`] of the same
    /// command, directory and environment then only lets it exec, with the
    /// standard input it is given. The process tier has nothing to prepare.
    /// Like a spawn, it must follow [`Cell::open_network`].
    pub fn prepare(&self, spec: &SpawnSpec) -> std::io::Result<()> {
        let Backend::Namespace(keeper) = &self.backend else {
            return Ok(());
        };
        let (marked, confinement) = self.confine(spec)?;
        let polled = self.polled(confinement.as_ref());
        let program =
            keeper.prepare(&marked, &self.limits, confinement, !self.bounds_processes())?;
        *self.prepared.lock().expect("prepared program") = Some(ReadyToStart {
            spec: spec.command(),
            program,
            polled,
        });
        Ok(())
    }

    /// Starts the prepared program, if it is `spec`'s. One prepared for
    /// another command is let go of: it exits without running anything.
    fn start_prepared(&self, spec: &SpawnSpec) -> Option<std::io::Result<CellProcess>> {
        let Backend::Namespace(keeper) = &self.backend else {
            return None;
        };
        let ready = self.prepared.lock().expect("prepared program").take()?;
        if spec.command() != ready.spec {
            return None;
        }
        Some(
            keeper
                .start_prepared(ready.program, spec.stdin.clone(), &self.limits)
                .and_then(|mut process| {
                    self.watch(&mut process, ready.polled)?;
                    Ok(process)
                }),
        )
    }

    /// What `spec` runs as in this cell: the command with the cell's marker
    /// in its environment, and its confinement. Marks the cell as started.
    fn confine(
        &self,
        spec: &SpawnSpec,
    ) -> std::io::Result<(SpawnSpec, Option<sandbox::Confinement>)> {
        self.spawned.store(true, Ordering::SeqCst);
        let mut spec = spec.clone();
        let tier = self.tier();
        let confinement = match &self.sandbox {
            Some(sandbox) => {
                // Programs run as the leased user, who must own the copy.
                sandbox.hand_over().map_err(std::io::Error::other)?;
                let with_view = tier == Tier::Namespace && self.mount_view().is_ok();
                let wanted = sandbox::Wanted {
                    command: spec.command(),
                    tier,
                    with_view,
                    disk_mb: self.limits.disk_mb,
                };
                Some(sandbox.confinement_of(wanted, |wanted| work_out_confinement(sandbox, wanted)))
            }
            None => None,
        };
        spec.env
            .push((CELL_MARKER_VAR.to_string(), self.marker.clone()));
        Ok((spec, confinement))
    }

    /// Whether the cell's control group bounds its number of processes.
    fn bounds_processes(&self) -> bool {
        self.bounds
            .group
            .as_ref()
            .is_some_and(cgroup::CellGroup::bounds_processes)
    }

    /// Starts polling what `polled` names for a program just started.
    fn watch(&self, process: &mut CellProcess, polled: watch::Polled) -> std::io::Result<()> {
        if polled.is_empty() {
            return Ok(());
        }
        process.watch = Some(match &self.backend {
            Backend::Process => {
                let (pid, marker) = (process.pid, self.marker());
                watch::Watch::start(polled, move || {
                    process::members(pid, &marker, true).into_iter().collect()
                })?
            }
            Backend::Namespace(keeper) => {
                let keeper = keeper.pid();
                watch::Watch::start(polled, move || {
                    procfs::descendants(keeper)
                        .filter(|&pid| pid != keeper)
                        .collect()
                })?
            }
        });
        Ok(())
    }

    /// The bounds this cell's next program needs polled: its memory where
    /// no cgroup holds it, the copy's growth where no tmpfs does.
    fn polled(&self, confinement: Option<&sandbox::Confinement>) -> watch::Polled {
        let Some(sandbox) = &self.sandbox else {
            return watch::Polled::default();
        };
        watch::Polled {
            memory: self
                .bounds
                .memory
                .is_err()
                .then_some(self.cell_memory_mb() << 20),
            disk: (!sandbox.is_build() && confinement.is_none_or(|c| c.view.is_none()))
                .then(|| (sandbox.scratch().to_path_buf(), self.limits.disk_mb << 20)),
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
            Backend::Process => self.sockets.listeners_owned(main.pid),
            Backend::Namespace(_) => {
                let mut found = self.sockets.listeners(None);
                // The cell's resolver is the grader's, not a program's.
                if self.resolves_names() {
                    found.retain(|listener| {
                        (listener.transport, listener.port) != (Transport::Udp, resolver::PORT)
                    });
                }
                found
            }
        }
    }

    /// Whether the cell's resolver holds UDP port 53 of the cell.
    fn resolves_names(&self) -> bool {
        self.network
            .lock()
            .expect("cell network")
            .as_ref()
            .is_some_and(|network| network.resolver.is_some())
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
            Backend::Process => self.sockets.listening_on_owned(main.pid, transport, ports),
            Backend::Namespace(_) if transport == Transport::Udp && self.resolves_names() => {
                let ports: Vec<u16> = ports
                    .iter()
                    .copied()
                    .filter(|&port| port != resolver::PORT)
                    .collect();
                self.sockets.listening_on(transport, &ports)
            }
            Backend::Namespace(_) => self.sockets.listening_on(transport, ports),
        }
    }

    /// Whether every process of the cell is asleep in the kernel (waiting
    /// for a client, a child, a signal): a server that listens and waits,
    /// not one still running its start-up or about to exit (a daemon's
    /// parent between `listen` and its `fork` and exit). See `readiness`.
    pub fn settled(&self, main: &CellProcess) -> bool {
        let root = match &self.backend {
            Backend::Process => main.pid,
            Backend::Namespace(keeper) => keeper.pid(),
        };
        procfs::tree_is_waiting(root)
    }

    /// Whether every thread of every process of the cell is asleep in the
    /// kernel: a threaded server whose worker threads finished (or died,
    /// having printed why) and whose main thread waits for a client.
    pub fn threads_settled(&self, main: &CellProcess) -> bool {
        let root = match &self.backend {
            Backend::Process => main.pid,
            Backend::Namespace(keeper) => keeper.pid(),
        };
        procfs::threads_are_waiting(root)
    }

    /// Where this cell reads its bound sockets from (sock_diag, or the
    /// `/proc` tables when the kernel refused it).
    pub fn socket_source(&self) -> SocketSource {
        self.sockets.source()
    }

    /// Stops every process of the cell and returns how `main` ended. Programs
    /// get SIGTERM and a short grace to flush their output, then SIGKILL.
    pub fn stop_all(&self, main: CellProcess) -> ProgramEnd {
        const GRACE: Duration = Duration::from_millis(100);
        // An exit the kernel shows but the reaper has not reported yet is
        // waited for, so it is the program's own and not our SIGTERM.
        let exit_before = match main.exit() {
            None if main.has_ended() => main.wait_until(Instant::now() + GRACE),
            reported => reported,
        };
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
            watch,
            ..
        } = main;
        drop(idle_stdin);
        // Why the cell was cut short, if a bound was crossed, ends its
        // stderr, where the report shows it.
        let mut notes: Vec<String> = watch
            .as_ref()
            .and_then(watch::Watch::tripped)
            .into_iter()
            .collect();
        drop(watch);
        if let Some(group) = &self.bounds.group {
            notes.extend(group.notes(self.cell_memory_mb(), self.limits.processes));
        }
        let mut stderr = stderr.finish();
        for note in notes {
            let line = format!("\n{note}\n");
            stderr.tail.extend_from_slice(line.as_bytes());
            stderr.total += line.len() as u64;
        }
        let end = ProgramEnd {
            exit,
            stdout: stdout.finish(),
            stderr,
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
                process::kill_cell(main.pid, &self.marker(), main.exit().is_none());
                // The group holds every process of the cell, marked or not:
                // the cell is stopped when it is empty, not before.
                if let Some(group) = &self.bounds.group {
                    group.kill_all();
                }
            }
            Backend::Namespace(keeper) => keeper.kill_all(),
        }
        // Either way the main program is gone now; wait for its exit to be
        // recorded so its reaper thread has finished.
        main.wait_until(Instant::now() + Duration::from_secs(5));
    }
}

/// How a program is confined in a cell of `wanted.tier`: its Landlock
/// policy, its user, and in the namespace tier its mount view.
fn work_out_confinement(sandbox: &Sandbox, wanted: &sandbox::Wanted) -> sandbox::Confinement {
    let spec = &wanted.command;
    // Where the network is shared, TCP is limited to the port the program
    // was given; a namespace cell's network is its own.
    let tcp_ports = match wanted.tier {
        Tier::Process if spec.any_tcp_port => None,
        Tier::Process => Some(
            spec.env
                .iter()
                .filter(|(key, _)| key == "SOCKLAB_PORT")
                .filter_map(|(_, port)| port.parse().ok())
                .collect(),
        ),
        Tier::Namespace => None,
    };
    let mut confinement = sandbox.confinement(&spec.program, &spec.args, &spec.env, tcp_ports);
    if wanted.tier == Tier::Namespace {
        if wanted.with_view {
            confinement.view = sandbox.mount_view(
                &spec.program,
                &spec.args,
                &spec.env,
                &spec.cwd,
                wanted.disk_mb,
            );
        }
        confinement.credentials = in_the_cell(
            confinement.credentials,
            confinement.view.is_some() && sandbox.uid().is_some(),
        );
    }
    confinement
}

/// Who a program runs as inside a namespace cell, from who it would run as
/// in the process tier: the leased uid is the cell's uid 1, root stays root
/// without capabilities. `view`: with a private mount view every toolchain
/// is reachable by an unprivileged user, so the leased uid always serves.
fn in_the_cell(credentials: sandbox::Credentials, view: bool) -> sandbox::Credentials {
    use sandbox::Credentials;
    const CELL_UID: u32 = 1;
    match credentials {
        _ if view => Credentials::Become { uid: CELL_UID },
        Credentials::Become { .. } => Credentials::Become { uid: CELL_UID },
        Credentials::RootWithoutCapabilities { file_override } => {
            Credentials::RootWithoutCapabilities { file_override }
        }
        // Root inside the cell keeps no capability either: it needs none to
        // serve, and without them it cannot remount, unshare or reconfigure
        // the cell's network.
        Credentials::Unchanged => Credentials::RootWithoutCapabilities {
            file_override: false,
        },
    }
}

/// Makes the grader itself non-dumpable, once: no process of the grader's
/// user can then read or write its memory (`/proc/<pid>/mem`, ptrace) or
/// read its environment (`/proc/<pid>/environ`), and neither can they for the
/// stand-ins forked from it, which inherit the flag (a program gets its own
/// back when it execs).
pub(crate) fn harden_grader() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| nix::sys::prctl::set_dumpable(false).is_ok())
}

/// The last step before a program execs: `no_new_privs`, its Landlock
/// ruleset when there is one, and for a sandboxed program the filter that
/// keeps it off Unix sockets. Async-signal-safe.
pub(crate) fn lock_down(
    ruleset: Option<&landlock::Ruleset>,
    confined: bool,
) -> std::io::Result<()> {
    match ruleset {
        Some(ruleset) => ruleset.restrict_self()?,
        None => nix::sys::prctl::set_no_new_privs()?,
    }
    if confined {
        seccomp::forbid_unix_sockets()?;
    }
    Ok(())
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
