//! What a grading's programs may reach: their scratch copy (read-write), the
//! system and the toolchains their commands need (read-only), and, when the
//! grader runs as root, which unprivileged user they run as.
//!
//! One [`Sandbox`] serves every cell of one grading (build, server, client),
//! since they all work in the same scratch copy.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::fcntl::Flock;
use nix::unistd::{Gid, Uid};

use super::landlock::{Access, Policy};

/// Users programs run as when the grader is root: a block of ids no account
/// on an ordinary machine uses. Each grading leases one for its lifetime
/// (a lock file per id, machine-wide), so its processes, and only they, run
/// under it: `RLIMIT_NPROC` then bounds exactly one submission, and a
/// submission cannot read another's copy.
pub const FIRST_CELL_UID: u32 = 2_100_000_000;
pub const CELL_UIDS: u32 = 4096;

/// Whether `uid` is one of the ids leased to gradings.
pub fn is_leased_uid(uid: u32) -> bool {
    (FIRST_CELL_UID..FIRST_CELL_UID + CELL_UIDS).contains(&uid)
}

/// Directories every program may read and execute from.
pub const SYSTEM_READ_EXECUTE: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Read-only, without execute: what runtimes look at about themselves and
/// the machine.
pub const SYSTEM_READ: &[&str] = &["/proc", "/sys", "/dev/random", "/dev/urandom"];

/// Devices a program may read and write.
pub const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// A leased user id; released (its lock dropped) with the sandbox.
pub struct UidLease {
    pub uid: u32,
    _lock: Flock<File>,
}

impl UidLease {
    fn take() -> Option<UidLease> {
        let dir = super::port_lock::lock_dir();
        let start = (std::process::id().wrapping_mul(2_654_435_761)) % CELL_UIDS;
        (0..CELL_UIDS)
            .map(|offset| FIRST_CELL_UID + (start + offset) % CELL_UIDS)
            .find_map(|uid| {
                let path = dir.join(format!("socklab-uid-{uid}.lock"));
                let lock = super::port_lock::lock_file(&path, Duration::ZERO).ok()??;
                Some(UidLease { uid, _lock: lock })
            })
    }
}

/// The confinement of one grading: cheap to clone, every cell of the
/// grading shares the scratch copy and the leased user.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    /// A build step: it reads what the grader can (a workspace, Cargo's
    /// registry) and may write Cargo's home besides its scratch copy.
    build: bool,
}

struct Shared {
    scratch: PathBuf,
    lease: Option<Arc<UidLease>>,
    /// Whether the scratch copy has been handed to the leased user (done
    /// once, at the first program, after the submission was copied in).
    handed_over: OnceLock<Result<(), String>>,
    /// The confinements worked out so far, by what they were worked out
    /// from. A grading starts the same programs again and again (its client
    /// in every client test, its server after each failed test), and working
    /// one out reads a few dozen paths: 0.4-1.5 ms of every start. Kept
    /// with whether they are a build step's (which shares this).
    confinements: Mutex<Vec<(bool, Wanted, Confinement)>>,
}

/// Everything a program's confinement is worked out from, but the
/// sandbox: what starts, where, in which tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The command, without its standard input (see `SpawnSpec::command`).
    pub command: super::SpawnSpec,
    pub tier: super::Tier,
    /// The program gets a mount view of its own.
    pub with_view: bool,
    pub disk_mb: u64,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("scratch", &self.shared.scratch)
            .field("uid", &self.uid())
            .field("build", &self.build)
            .finish()
    }
}

impl Sandbox {
    /// A sandbox for the grading whose scratch directory is `scratch`.
    pub fn new(scratch: &Path) -> Sandbox {
        Sandbox::unplaced().moved_to(scratch)
    }

    /// A sandbox with a leased user but no scratch directory yet: a spare
    /// cell's, until a grading takes the cell and [`Sandbox::moved_to`]
    /// gives it one.
    pub fn unplaced() -> Sandbox {
        let lease = if Uid::effective().is_root() {
            UidLease::take().map(Arc::new)
        } else {
            None
        };
        Sandbox {
            shared: Arc::new(Shared {
                scratch: PathBuf::new(),
                lease,
                handed_over: OnceLock::new(),
                confinements: Mutex::default(),
            }),
            build: false,
        }
    }

    /// The same leased user, for the grading whose scratch directory is
    /// `scratch`.
    pub fn moved_to(&self, scratch: &Path) -> Sandbox {
        Sandbox {
            shared: Arc::new(Shared {
                scratch: scratch.to_path_buf(),
                lease: self.shared.lease.clone(),
                handed_over: OnceLock::new(),
                confinements: Mutex::default(),
            }),
            build: self.build,
        }
    }

    /// The same sandbox for a build step.
    pub fn for_build(&self) -> Sandbox {
        Sandbox {
            shared: Arc::clone(&self.shared),
            build: true,
        }
    }

    pub fn is_build(&self) -> bool {
        self.build
    }

    pub fn scratch(&self) -> &Path {
        &self.shared.scratch
    }

    /// The unprivileged user programs run as, when the grader is root.
    pub fn uid(&self) -> Option<u32> {
        self.shared.lease.as_ref().map(|lease| lease.uid)
    }

    /// Makes the leased user own the scratch copy, so its programs can work
    /// there and nowhere else a user without an account could.
    pub fn hand_over(&self) -> Result<(), String> {
        self.shared
            .handed_over
            .get_or_init(|| match self.uid() {
                Some(uid) => chown_tree(self.scratch(), uid)
                    .map_err(|err| format!("giving the scratch copy to uid {uid}: {err}")),
                None => Ok(()),
            })
            .clone()
    }

    /// The confinement of the program `wanted` describes, worked out by
    /// `work_out` the first time this grading starts it. The paths it reads
    /// lie outside the scratch copy, or are the copy's own as the build left
    /// them, so a later start would work out the same.
    pub fn confinement_of(
        &self,
        wanted: Wanted,
        work_out: impl FnOnce(&Wanted) -> Confinement,
    ) -> Confinement {
        let known = self.shared.confinements.lock().expect("confinements");
        if let Some((_, _, confinement)) = known
            .iter()
            .find(|(build, key, _)| *build == self.build && *key == wanted)
        {
            return confinement.clone();
        }
        drop(known);
        let confinement = work_out(&wanted);
        self.shared
            .confinements
            .lock()
            .expect("confinements")
            .push((self.build, wanted, confinement.clone()));
        confinement
    }

    /// How a program started as `program` with `env` runs: as which user,
    /// under which Landlock policy. `tcp_ports`: the ports it may bind and
    /// connect to, where the network is shared (process tier).
    pub fn confinement(
        &self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        tcp_ports: Option<Vec<u16>>,
    ) -> Confinement {
        let root = Uid::effective().is_root();
        if self.build {
            let mut paths = vec![
                (PathBuf::from("/"), Access::ReadExecute),
                (self.scratch().to_path_buf(), Access::Full),
            ];
            paths.extend(
                DEVICES
                    .iter()
                    .map(|dev| (PathBuf::from(dev), Access::Device)),
            );
            let cargo_home = env
                .iter()
                .find(|(key, _)| key == "CARGO_HOME")
                .map(|(_, value)| PathBuf::from(value))
                .or_else(|| {
                    env.iter()
                        .find(|(key, _)| key == "HOME")
                        .map(|(_, home)| Path::new(home).join(".cargo"))
                });
            paths.extend(cargo_home.map(|dir| (dir, Access::Full)));
            return Confinement {
                policy: Policy {
                    paths,
                    tcp_ports: None,
                    scoped: true,
                },
                credentials: if root {
                    Credentials::RootWithoutCapabilities {
                        file_override: super::landlock::abi() > 0,
                    }
                } else {
                    Credentials::Unchanged
                },
                view: None,
            };
        }
        let named = executables_named(args);
        let mut policy = self.policy(program, env, tcp_ports);
        policy
            .paths
            .extend(named.iter().map(|file| (file.clone(), Access::ReadExecute)));
        let credentials = match self.uid() {
            Some(uid)
                if self.scratch().parent().is_some_and(others_may_enter)
                    && reachable_by_others(&resolve(program, env))
                    && named.iter().all(|file| reachable_by_others(file)) =>
            {
                Credentials::Become { uid }
            }
            _ if root => Credentials::RootWithoutCapabilities {
                file_override: super::landlock::abi() > 0,
            },
            _ => Credentials::Unchanged,
        };
        Confinement {
            policy,
            credentials,
            view: None,
        }
    }

    /// The private mount view of a program started as `program` with `args`
    /// and `env` in `workdir` (namespace tier): the same system directories,
    /// toolchains and named files its Landlock policy allows, read-only, and
    /// the scratch copy. `None` for a build, which reads what the grader can.
    pub fn mount_view(
        &self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        workdir: &Path,
        disk_mb: u64,
    ) -> Option<super::mount::MountView> {
        if self.build {
            return None;
        }
        let mut read_only: Vec<PathBuf> = SYSTEM_READ_EXECUTE.iter().map(PathBuf::from).collect();
        read_only.extend(toolchains(program, env));
        read_only.extend(executables_named(args));
        // What lies in the copy is shown by the copy itself.
        read_only.retain(|path| !path.starts_with(self.scratch()));
        Some(super::mount::MountView::new(
            &read_only,
            self.scratch(),
            workdir,
            disk_mb,
        ))
    }

    /// The Landlock policy of a program started as `program` with `env`:
    /// the scratch copy in full, the system and the toolchains read-only,
    /// `tcp_ports` for TCP when given.
    fn policy(
        &self,
        program: &Path,
        env: &[(String, String)],
        tcp_ports: Option<Vec<u16>>,
    ) -> Policy {
        let mut paths: Vec<(PathBuf, Access)> = vec![(self.scratch().to_path_buf(), Access::Full)];
        paths.extend(
            SYSTEM_READ_EXECUTE
                .iter()
                .map(|dir| (PathBuf::from(dir), Access::ReadExecute)),
        );
        paths.extend(
            SYSTEM_READ
                .iter()
                .map(|dir| (PathBuf::from(dir), Access::Read)),
        );
        paths.extend(
            DEVICES
                .iter()
                .map(|dev| (PathBuf::from(dev), Access::Device)),
        );
        paths.extend(
            toolchains(program, env)
                .into_iter()
                .map(|dir| (dir, Access::ReadExecute)),
        );
        Policy {
            paths,
            tcp_ports,
            scoped: true,
        }
    }
}

/// How one program is confined.
#[derive(Clone, Debug)]
pub struct Confinement {
    pub policy: Policy,
    pub credentials: Credentials,
    /// The private mount view (namespace tier, where the kernel allows it).
    pub view: Option<super::mount::MountView>,
}

/// The file `program` names: itself when it has a slash, else the first
/// match on the `PATH` it runs with.
fn resolve(program: &Path, env: &[(String, String)]) -> PathBuf {
    if program.components().count() > 1 || program.is_absolute() {
        return program.to_path_buf();
    }
    let path = env
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value.as_str())
        .unwrap_or("/usr/bin:/bin");
    path.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| program.to_path_buf())
}

/// Whether a user without an account can run `program`: every directory on
/// the way to it, and to the file it links to, is searchable by others (a
/// pyenv under a home directory only its owner may enter is not).
fn reachable_by_others(program: &Path) -> bool {
    if program.is_relative() {
        // In the scratch copy, or nowhere: either way not a toolchain's.
        return true;
    }
    let real = program
        .canonicalize()
        .unwrap_or_else(|_| program.to_path_buf());
    others_may_enter(program) && others_may_enter(&real)
}

/// Whether a user with no special rights can reach `path`: every directory
/// on the way is searchable by others.
fn others_may_enter(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mut current = PathBuf::new();
    for component in path.components() {
        current.push(component);
        let Ok(meta) = std::fs::metadata(&current) else {
            return false;
        };
        if meta.is_dir() && meta.permissions().mode() & 0o001 == 0 {
            return false;
        }
    }
    true
}

/// Executable files a command line names by absolute path, as in
/// `sh -c "/path/to/server --port 5"` (an instructor's `--server`): each is
/// allowed by itself, never its directory, so naming a file cannot open
/// anything else to the program.
fn executables_named(args: &[String]) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    args.iter()
        .flat_map(|arg| arg.split_whitespace())
        .map(|word| word.trim_matches(|c| c == '\'' || c == '"'))
        .filter(|word| word.starts_with('/'))
        .map(PathBuf::from)
        .filter(|path| {
            std::fs::metadata(path)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .collect()
}

/// Directories outside the system that `program` needs: its own directory
/// when it is given by path, and the toolchains on the `PATH` it runs with
/// (a pyenv under a home directory, a rustup toolchain), each from its root
/// (`~/.pyenv`, not only `~/.pyenv/shims`, whose scripts run what is beside).
pub fn toolchains(program: &Path, env: &[(String, String)]) -> Vec<PathBuf> {
    let value = |name: &str| {
        env.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let home = value("HOME").map(PathBuf::from);
    let is_system = |path: &Path| SYSTEM_READ_EXECUTE.iter().any(|dir| path.starts_with(dir));
    let mut found: Vec<PathBuf> = Vec::new();
    let mut add = |dir: PathBuf| {
        if !is_system(&dir) && dir != Path::new("/") && !found.contains(&dir) {
            found.push(dir);
        }
    };
    let root_of = |dir: &Path| -> PathBuf {
        // `<root>/bin` or `<root>/shims` belongs to the toolchain at <root>,
        // unless <root> is a home directory itself (`~/bin`).
        match (dir.file_name().and_then(|name| name.to_str()), dir.parent()) {
            (Some("bin" | "shims"), Some(parent)) if Some(parent) != home.as_deref() => {
                parent.to_path_buf()
            }
            _ => dir.to_path_buf(),
        }
    };
    for dir in value("PATH").unwrap_or_default().split(':') {
        let dir = Path::new(dir);
        if dir.is_absolute() && dir.is_dir() {
            add(root_of(dir));
            if let Ok(real) = dir.canonicalize() {
                add(root_of(&real));
            }
        }
    }
    for name in ["PYENV_ROOT", "RUSTUP_HOME", "CARGO_HOME"] {
        if let Some(dir) = value(name) {
            add(PathBuf::from(dir));
        }
    }
    if program.is_absolute() {
        if let Some(parent) = program.parent() {
            add(parent.to_path_buf());
        }
        if let Ok(real) = program.canonicalize() {
            if let Some(parent) = real.parent() {
                add(parent.to_path_buf());
            }
        }
    }
    found.retain(|dir| dir.exists());
    found
}

/// Gives `root` and everything below it to `uid` (its group too), without
/// following links.
fn chown_tree(root: &Path, uid: u32) -> std::io::Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid))?;
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// The user a program switches to between fork and exec, prepared before the
/// fork. Async-signal-safe to apply.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub enum Credentials {
    /// Keep the grader's user (it is not root): nothing to drop.
    Unchanged,
    /// Become this unprivileged user and group, with no supplementary groups.
    Become { uid: u32 },
    /// Stay root but without any capability, now or after exec, except,
    /// with `file_override`, `CAP_DAC_OVERRIDE`: a root program must still
    /// write a scratch copy the leased user owns, and Landlock (required for
    /// it) keeps that override inside the paths it allows.
    RootWithoutCapabilities { file_override: bool },
}

impl Credentials {
    pub fn apply(self) -> std::io::Result<()> {
        use nix::libc;
        match self {
            Credentials::Unchanged => Ok(()),
            Credentials::Become { uid } => {
                nix::unistd::setgroups(&[])?;
                let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(uid));
                nix::unistd::setresgid(gid, gid, gid)?;
                nix::unistd::setresuid(uid, uid, uid)?;
                Ok(())
            }
            Credentials::RootWithoutCapabilities { file_override } => {
                let kept = Self::kept(file_override);
                // No capability can come back at exec once the bounding set
                // is empty, and none stays inheritable or ambient.
                const LAST_CAPABILITY: libc::c_ulong = 63;
                for capability in 0..=LAST_CAPABILITY {
                    if capability < 32 && kept & (1 << capability) != 0 {
                        continue;
                    }
                    // SAFETY: plain prctl; EINVAL past the kernel's last one.
                    unsafe {
                        libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0);
                    }
                }
                // SAFETY: plain prctl.
                unsafe {
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                        0,
                        0,
                        0,
                    );
                }
                #[repr(C)]
                struct Header {
                    version: u32,
                    pid: i32,
                }
                #[repr(C)]
                struct Data {
                    effective: u32,
                    permitted: u32,
                    inheritable: u32,
                }
                const VERSION_3: u32 = 0x2008_0522;
                let header = Header {
                    version: VERSION_3,
                    pid: 0,
                };
                let data = [
                    Data {
                        effective: kept,
                        permitted: kept,
                        inheritable: 0,
                    },
                    Data {
                        effective: 0,
                        permitted: 0,
                        inheritable: 0,
                    },
                ];
                // SAFETY: capset with a version-3 header and two data words.
                let result = unsafe {
                    libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr())
                };
                if result < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            }
        }
    }

    /// What `apply` keeps.
    fn kept(file_override: bool) -> u32 {
        const CAP_DAC_OVERRIDE: u32 = 1;
        if file_override {
            1 << CAP_DAC_OVERRIDE
        } else {
            0
        }
    }

    pub fn describe(self) -> String {
        match self {
            Credentials::Unchanged => {
                "programs run as the grader's own user, which is not root".into()
            }
            Credentials::Become { uid } => {
                format!("programs run as uid {uid}, an unprivileged user leased to this grading")
            }
            Credentials::RootWithoutCapabilities { .. } => "programs run as root without any \
                capability but file access, which Landlock bounds (a toolchain they need is not \
                reachable by an unprivileged user)"
                .into(),
        }
    }
}
