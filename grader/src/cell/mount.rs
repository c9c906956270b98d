//! The namespace tier's private view of the file system, built the way
//! bubblewrap and nsjail build theirs: a mount namespace whose root is a
//! fresh tmpfs holding only what the program needs.
//!
//! - the system (`/usr`, `/bin`, `/lib*`, `/etc`, `/opt`, as present) and the
//!   toolchains of the command, bind-mounted read-only (and `nosuid`, `nodev`);
//!   a toolchain under a home directory only root may enter (a pyenv in
//!   `/root`) becomes reachable for an unprivileged user, since the parents
//!   of a mount point in the new root are the view's own directories;
//! - the scratch copy at its own path, read-write as an overlay whose upper
//!   layer is a tmpfs of `disk_mb`: what the cell writes is bounded, and
//!   gone with the cell (the copy itself is never changed from a cell);
//! - a private `/tmp` (on that same tmpfs), a minimal `/dev` (`null`, `zero`,
//!   `full`, `random`, `urandom`; no terminal), and a `/proc` of the cell's
//!   own PID namespace;
//! - nothing else: no home directory, no other submission, no lab file, no
//!   results, no `/run`, no host `/tmp`. The old root is detached and the new
//!   root made read-only before the program execs.
//!
//! Built between fork and exec in a child of the keeper, which is
//! single-threaded, so the child may allocate. Paths are resolved on the
//! grader's side first (`read_only` holds canonical sources), because after
//! `pivot_root` an absolute symbolic link would resolve inside the new root.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::libc;
use serde::{Deserialize, Serialize};

/// Where the old root is kept during set-up, inside the new one.
const OLD_ROOT: &str = "/.oldroot";
/// Where the cell's tmpfs (its `/tmp` and the scratch's upper layer) is
/// mounted during set-up, before it is moved out of sight.
const CELL_DISK: &str = "/.celldisk";

/// Device nodes every program gets, bound from the host's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// One thing the view shows besides the scratch copy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Entry {
    /// `at` shows the host's `source` (canonical), read-only.
    ReadOnly { at: PathBuf, source: PathBuf },
    /// A symbolic link, as on the host (`/bin -> usr/bin`).
    Link { at: PathBuf, target: PathBuf },
}

/// What one program's view holds. Serialisable: the grader computes it and
/// the keeper builds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountView {
    pub entries: Vec<Entry>,
    /// The scratch copy: where it appears and its canonical host path.
    pub scratch: PathBuf,
    pub scratch_source: PathBuf,
    /// The program's working directory, inside the scratch copy.
    pub workdir: PathBuf,
    /// Size of the cell's tmpfs: its `/tmp` and what it writes to its copy.
    pub disk_mb: u64,
}

impl MountView {
    /// The view for a program that needs `read_only` (system directories,
    /// toolchains, files named on its command line) and works in `workdir`
    /// inside `scratch`. Paths that do not exist are left out.
    pub fn new(read_only: &[PathBuf], scratch: &Path, workdir: &Path, disk_mb: u64) -> MountView {
        let mut entries: Vec<Entry> = Vec::new();
        for at in read_only {
            if !at.is_absolute() || at == Path::new("/") {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(at) else {
                continue;
            };
            let parent_is_canonical = at
                .parent()
                .and_then(|parent| parent.canonicalize().ok())
                .is_some_and(|real| Some(real.as_path()) == at.parent());
            let entry = match std::fs::read_link(at) {
                // A link whose own place is real is recreated as a link, so a
                // merged `/usr` looks as it does on the host.
                Ok(target) if meta.file_type().is_symlink() && parent_is_canonical => Entry::Link {
                    at: at.clone(),
                    target,
                },
                _ => match at.canonicalize() {
                    Ok(source) => Entry::ReadOnly {
                        at: at.clone(),
                        source,
                    },
                    Err(_) => continue,
                },
            };
            let covered = entries.iter().any(|known| match (known, &entry) {
                (Entry::ReadOnly { at: outer, .. }, Entry::ReadOnly { at: inner, .. }) => {
                    inner.starts_with(outer)
                }
                (known, entry) => known == entry,
            });
            if !covered {
                entries.push(entry);
            }
        }
        // Shorter paths first, so a directory is mounted before what lies in it.
        entries.sort_by_key(|entry| match entry {
            Entry::ReadOnly { at, .. } | Entry::Link { at, .. } => at.components().count(),
        });
        MountView {
            entries,
            scratch: scratch.to_path_buf(),
            scratch_source: scratch
                .canonicalize()
                .unwrap_or_else(|_| scratch.to_path_buf()),
            workdir: workdir.to_path_buf(),
            disk_mb,
        }
    }

    /// Puts the calling process into a new mount namespace holding only
    /// this view, and changes into the working directory. Needs
    /// `CAP_SYS_ADMIN` in the process's user namespace (the keeper's child
    /// before it drops its capabilities).
    pub fn enter(&self) -> std::io::Result<()> {
        unshare_mounts()?;
        // A tmpfs over the old `/tmp` becomes the new root: the scratch copy
        // (often under the old /tmp) is still reached through the old root.
        let base = Path::new("/tmp");
        mount_tmpfs(base, "mode=0755,size=4m", 0).map_err(|err| step("the new root", err))?;
        let old_root = base.join(&OLD_ROOT[1..]);
        make_dir(&old_root)?;
        pivot_root(base, &old_root).map_err(|err| step("pivot_root", err))?;
        chdir(Path::new("/"))?;
        let old = Path::new(OLD_ROOT);
        // What lives under the host's /tmp (a grader built in a checkout
        // there, a toolchain) is bound after the cell's own /tmp, inside it,
        // instead of being hidden by it; everything else before, as the
        // scratch copy's overlay must cover what it holds.
        let (under_tmp, elsewhere): (Vec<&Entry>, Vec<&Entry>) = self
            .entries
            .iter()
            .partition(|entry| self.goes_in_cell_tmp(entry));
        self.bind_entries(old, &elsewhere)?;
        self.mount_devices(old)?;
        let proc_dir = Path::new("/proc");
        make_dir(proc_dir)?;
        mount(
            Some("proc"),
            proc_dir,
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )
        .map_err(|err| step("/proc", err))?;
        self.mount_disk(old)?;
        self.bind_entries(old, &under_tmp)?;
        detach(old).map_err(|err| step("detaching the old root", err))?;
        remove_dir(old)?;
        // Nothing may be created in the root itself.
        set_attributes(Path::new("/"), MOUNT_ATTR_RDONLY, false)
            .map_err(|err| step("the read-only root", err))?;
        chdir(&self.workdir)
    }

    /// Whether `entry` is under `/tmp` but neither inside the scratch copy
    /// (which its overlay shows) nor holding it.
    fn goes_in_cell_tmp(&self, entry: &Entry) -> bool {
        let at = match entry {
            Entry::Link { at, .. } | Entry::ReadOnly { at, .. } => at,
        };
        at.starts_with("/tmp")
            && at != Path::new("/tmp")
            && !at.starts_with(&self.scratch)
            && !self.scratch.starts_with(at)
    }

    fn bind_entries(&self, old: &Path, entries: &[&Entry]) -> std::io::Result<()> {
        for entry in entries {
            match entry {
                Entry::Link { at, target } => {
                    make_parents(at)?;
                    symlink(target, at).map_err(|err| step_at("a link", at, err))?;
                }
                Entry::ReadOnly { at, source } => {
                    bind_read_only(&under(old, source), at)
                        .map_err(|err| step_at("binding", at, err))?;
                }
            }
        }
        Ok(())
    }

    /// `/dev`: a small tmpfs with the device nodes bound from the host and
    /// the usual links into `/proc/self/fd`.
    fn mount_devices(&self, old: &Path) -> std::io::Result<()> {
        let dev = Path::new("/dev");
        make_dir(dev)?;
        mount_tmpfs(dev, "mode=0755,size=64k", libc::MS_NOSUID | libc::MS_NOEXEC)
            .map_err(|err| step("/dev", err))?;
        for name in DEVICES {
            let source = under(old, &Path::new("/dev").join(name));
            if std::fs::symlink_metadata(&source).is_ok() {
                let at = dev.join(name);
                std::fs::File::create(&at)?;
                bind(&source, &at, false).map_err(|err| step_at("binding", &at, err))?;
            }
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlink(Path::new(target), &dev.join(name))?;
        }
        make_dir(&dev.join("shm"))?;
        Ok(())
    }

    /// The cell's own disk: one tmpfs of `disk_mb` holding `/tmp`, `/dev/shm`
    /// and the upper layer of the scratch copy's overlay, so everything a
    /// cell can write is bounded together.
    fn mount_disk(&self, old: &Path) -> std::io::Result<()> {
        let disk = Path::new(CELL_DISK);
        make_dir(disk)?;
        let options = format!("mode=0755,size={}m", self.disk_mb.max(1));
        mount_tmpfs(disk, &options, libc::MS_NOSUID | libc::MS_NODEV)
            .map_err(|err| step("the cell's tmpfs", err))?;
        for dir in ["tmp", "shm", "upper", "work"] {
            make_dir(&disk.join(dir))?;
        }
        set_mode(&disk.join("tmp"), 0o1777)?;
        set_mode(&disk.join("shm"), 0o1777)?;
        make_dir(Path::new("/tmp"))?;
        bind(&disk.join("tmp"), Path::new("/tmp"), false).map_err(|err| step("/tmp", err))?;
        bind(&disk.join("shm"), Path::new("/dev/shm"), false)
            .map_err(|err| step("/dev/shm", err))?;
        // The overlay's root takes its owner and mode from the upper layer:
        // those of the copy, so the program owns its copy as before.
        let lower = under(old, &self.scratch_source);
        let upper = disk.join("upper");
        copy_owner_and_mode(&lower, &upper)?;
        make_parents(&self.scratch)?;
        make_dir(&self.scratch)?;
        let options = format!(
            "lowerdir={},upperdir={},workdir={},userxattr",
            lower.display(),
            upper.display(),
            disk.join("work").display()
        );
        mount(
            Some("overlay"),
            &self.scratch,
            Some("overlay"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&options),
        )
        .map_err(|err| step("the scratch copy's overlay", err))?;
        // The overlay and the binds keep what they use of the tmpfs alive;
        // its own mount point goes, so its layers cannot be reached directly.
        detach(disk).map_err(|err| step("hiding the cell's tmpfs", err))?;
        remove_dir(disk)
    }
}

/// Whether this kernel lets the keeper build a view: tried once in a child
/// of the keeper (inside the cell's namespaces). `Err` says which step was
/// refused. Runs in the single-threaded keeper.
pub fn probe() -> Result<(), String> {
    let (read, write) = nix::unistd::pipe().map_err(|err| err.to_string())?;
    // SAFETY: the keeper is single-threaded; the child only builds a view and exits.
    match unsafe { nix::unistd::fork() }.map_err(|err| err.to_string())? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            let view = MountView::new(
                &[PathBuf::from("/usr")],
                Path::new("/usr"),
                Path::new("/"),
                1,
            );
            let code = match view.enter() {
                Ok(()) => 0,
                Err(err) => {
                    let message = err.to_string();
                    let _ = nix::unistd::write(&write, message.as_bytes());
                    1
                }
            };
            // SAFETY: ends the probe without running the keeper's exit path.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write);
            let mut message = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut message);
            let status = nix::sys::wait::waitpid(child, None).map_err(|err| err.to_string())?;
            match status {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                _ if !message.is_empty() => Err(String::from_utf8_lossy(&message).into_owned()),
                other => Err(format!("the probe ended with {other:?}")),
            }
        }
    }
}

fn step(what: &str, err: std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("mount view, {what}: {err}"))
}

fn step_at(what: &str, at: &Path, err: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        err.kind(),
        format!("mount view, {what} {}: {err}", at.display()),
    )
}

/// `path` as seen under `root` (`/usr` under `/.oldroot` is `/.oldroot/usr`).
fn under(root: &Path, path: &Path) -> PathBuf {
    let mut joined = root.to_path_buf();
    joined.extend(
        path.components()
            .filter(|component| matches!(component, Component::Normal(_))),
    );
    joined
}

/// A read-only bind of `source` (a directory or a file) at `at`, with its
/// submounts, none of which may be written, run set-user-ID or hold devices.
pub(super) fn bind_read_only(source: &Path, at: &Path) -> std::io::Result<()> {
    let is_dir = std::fs::metadata(source)?.is_dir();
    make_parents(at)?;
    if is_dir {
        make_dir(at)?;
    } else if std::fs::symlink_metadata(at).is_err() {
        std::fs::File::create(at)?;
    }
    bind(source, at, true)?;
    set_attributes(
        at,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        true,
    )
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `mount_setattr` (Linux 5.12+): adds attributes to a mount, and with
/// `recursive` to every mount below it. Unlike a remount it needs no
/// knowledge of the flags the kernel locked on mounts copied from the host.
fn set_attributes(at: &Path, attributes: u64, recursive: bool) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: attributes,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let path = c_path(at)?;
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a valid path and attribute of the size given.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(result as libc::c_int)
}

pub(super) fn unshare_mounts() -> std::io::Result<()> {
    // SAFETY: plain system calls.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }).map_err(|err| step("unshare", err))?;
    // Nothing mounted here reaches the host, nor the other way round.
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(|err| step("making / private", err))
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let source = source.map(CString::new).transpose()?;
    let fstype = fstype.map(CString::new).transpose()?;
    let data = data.map(CString::new).transpose()?;
    let target = c_path(target)?;
    let ptr = |value: &Option<CString>| value.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: valid C strings or null, as mount(2) accepts.
    check(unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    })
}

pub(super) fn mount_tmpfs(at: &Path, options: &str, flags: libc::c_ulong) -> std::io::Result<()> {
    mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some(options))
}

fn bind(source: &Path, at: &Path, recursive: bool) -> std::io::Result<()> {
    let source = source.to_string_lossy();
    let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
    mount(Some(&source), at, None, flags, None)
}

pub(super) fn detach(at: &Path) -> std::io::Result<()> {
    let path = c_path(at)?;
    // SAFETY: a valid path.
    check(unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) })
}

fn pivot_root(new_root: &Path, put_old: &Path) -> std::io::Result<()> {
    let (new_root, put_old) = (c_path(new_root)?, c_path(put_old)?);
    // SAFETY: valid paths; libc has no wrapper for pivot_root.
    let result =
        unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(result as libc::c_int)
}

fn chdir(path: &Path) -> std::io::Result<()> {
    std::env::set_current_dir(path).map_err(|err| step_at("changing into", path, err))
}

fn make_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(|err| step_at("creating", path, err)),
    }
}

fn make_parents(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(|err| step_at("creating", parent, err))
        }
        None => Ok(()),
    }
}

fn remove_dir(path: &Path) -> std::io::Result<()> {
    std::fs::remove_dir(path).map_err(|err| step_at("removing", path, err))
}

fn symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn copy_owner_and_mode(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(from).map_err(|err| step_at("reading", from, err))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|err| step_at("owning", to, err))?;
    set_mode(to, meta.mode() & 0o7777)
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

fn check(result: libc::c_int) -> std::io::Result<()> {
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
