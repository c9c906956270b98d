//! The scratch directory of one grading: where the submission is copied,
//! built and run. It is removed however the grading ends:
//!
//! - when the grading returns or panics, by [`Scratch`]'s `Drop`;
//! - when the grader is killed (SIGKILL, a CI runner's timeout, a power cut),
//!   by the next grader that starts: every live scratch directory holds an
//!   advisory lock (`flock`) that the kernel drops when its grader dies, and
//!   a directory that carries the scratch marker but whose lock anyone can
//!   take belongs to a grader that is gone ([`remove_stale`]).
//!
//! Removal never follows a link and never holds a descriptor per level
//! ([`remove_tree`]): a submission can leave a tree thousands of directories
//! deep, or one that `chmod`s itself unreadable, and it still goes.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, fchmodat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// What scratch directories are called in the temporary directory.
pub const PREFIX: &str = "socklab-";

/// The file that marks a directory as a grader's scratch, so that cleaning
/// up after dead graders never touches a directory someone else made with a
/// similar name (or one an older grader, which took no lock, still uses).
const MARKER: &str = ".socklab-scratch";

/// A grading's scratch directory, locked while it lives and removed when it
/// is dropped.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    /// Held for the directory's whole life; the kernel releases it when the
    /// grader dies, however it dies.
    _lock: Flock<File>,
}

impl Scratch {
    /// A fresh scratch directory in the system's temporary directory. The
    /// first one a process creates also removes what dead graders left.
    pub fn create() -> std::io::Result<Scratch> {
        static CLEANED: Once = Once::new();
        CLEANED.call_once(|| {
            remove_stale(&std::env::temp_dir());
        });
        let path = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()?
            // Removed by `Drop` below, which copes with any tree.
            .keep();
        let created = (|| {
            let directory = File::open(&path)?;
            let lock = Flock::lock(directory, FlockArg::LockExclusive)
                .map_err(|(_, errno)| std::io::Error::from(errno))?;
            std::fs::write(path.join(MARKER), b"")?;
            Ok(lock)
        })();
        match created {
            Ok(lock) => Ok(Scratch { path, _lock: lock }),
            Err(err) => {
                let _ = remove_tree(&path);
                Err(err)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Removed while the lock is still held, so that no other grader's
        // clean-up takes it for a dead one's half way through.
        let _ = remove_tree(&self.path);
    }
}

/// Removes the scratch directories in `directory` whose grader is gone:
/// those that carry the marker and whose lock nobody holds. Returns how many
/// were removed. Anything else (another user's, a live grader's, an older
/// grader's without a marker, a link) is left alone; a root grader's
/// directories count as its own when a leased user owns them.
pub fn remove_stale(directory: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    let me = nix::unistd::getuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().as_bytes().starts_with(PREFIX.as_bytes()) {
            continue;
        }
        let path = entry.path();
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // A root grader hands its copy, this directory included, to the
        // user it leased: such a directory is still a grader's of this user.
        let owner = metadata.uid();
        let ours = owner == me || (me == 0 && crate::cell::is_leased_uid(owner));
        if !metadata.is_dir() || !ours {
            continue;
        }
        let Ok(opened) = open_directory(&path) else {
            continue;
        };
        // A live grader holds this lock; taking it means nobody does.
        let Ok(lock) = Flock::lock(opened, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        if std::fs::symlink_metadata(path.join(MARKER)).is_ok_and(|marker| marker.is_file())
            && remove_tree(&path).is_ok()
        {
            removed += 1;
        }
        drop(lock);
    }
    removed
}

fn open_directory(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(path)
}

/// Removes `path` and everything under it without following links and with
/// a constant number of open descriptors, however deep the tree: it walks
/// down one directory at a time (`openat` from the one above, which is then
/// closed) and back up through `..`, emptying each directory before it
/// removes it. Directories a program made unreadable are made readable
/// first. A `path` that is not a directory (or a link) is simply unlinked.
pub fn remove_tree(path: &Path) -> std::io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !metadata.is_dir() {
        return std::fs::remove_file(path);
    }
    // The root may itself be unreadable (`chmod 0` by a program).
    let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let mut current: OwnedFd = open_directory(path)?.into();
    let mut depth = 0usize;
    loop {
        match empty_one_level(&current)? {
            Level::Emptied if depth == 0 => break,
            Level::Emptied => {
                // Back up: the directory just emptied is removed on the
                // parent's next pass.
                current = openat(
                    current.as_fd(),
                    "..",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                depth -= 1;
            }
            Level::Descend(name) => {
                current = openat(
                    current.as_fd(),
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                depth += 1;
            }
        }
    }
    drop(current);
    std::fs::remove_dir(path)
}

enum Level {
    /// Everything in the directory is gone.
    Emptied,
    /// This subdirectory is not empty: go down into it.
    Descend(PathBuf),
}

/// Removes what can be removed in the directory `directory` at once: files,
/// links and empty subdirectories; names the first subdirectory that is not
/// empty.
fn empty_one_level(directory: &OwnedFd) -> std::io::Result<Level> {
    // Listing through /proc reopens the directory itself, whatever the
    // length of its path.
    let listing = PathBuf::from(format!("/proc/self/fd/{}", directory.as_raw_fd()));
    loop {
        let names: Vec<(PathBuf, bool)> = std::fs::read_dir(&listing)?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let is_dir = entry.file_type().ok()?.is_dir();
                Some((PathBuf::from(entry.file_name()), is_dir))
            })
            .collect();
        if names.is_empty() {
            return Ok(Level::Emptied);
        }
        let mut removed_any = false;
        for (name, is_dir) in names {
            let name: &OsStr = name.as_os_str();
            if !is_dir {
                match unlinkat(directory.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => removed_any = true,
                    Err(errno) => return Err(errno.into()),
                }
                continue;
            }
            match unlinkat(directory.as_fd(), name, UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => removed_any = true,
                Err(Errno::ENOTEMPTY | Errno::EEXIST) => {
                    // Its owner may have taken away the right to list or
                    // change it; the directory is ours to give it back.
                    let _ = fchmodat(
                        directory.as_fd(),
                        name,
                        Mode::S_IRWXU,
                        FchmodatFlags::NoFollowSymlink,
                    );
                    return Ok(Level::Descend(PathBuf::from(name)));
                }
                Err(errno) => return Err(errno.into()),
            }
        }
        if !removed_any {
            return Err(std::io::Error::other("a directory that cannot be emptied"));
        }
    }
}

/// Removes the scratch directory from a program's output: Python prints
/// absolute paths in tracebacks, and `/tmp/socklab-x1y2z3/submission/` would
/// make every report different and tell the student nothing.
pub fn scrub_paths(bytes: &[u8], workdir: &Path) -> Vec<u8> {
    let prefix = format!("{}/", workdir.display());
    let prefix = prefix.as_bytes();
    let mut scrubbed = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest
        .windows(prefix.len())
        .position(|window| window == prefix)
    {
        scrubbed.extend_from_slice(&rest[..at]);
        rest = &rest[at + prefix.len()..];
    }
    scrubbed.extend_from_slice(rest);
    scrubbed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `depth` directories under `root`, built with relative
    /// paths so that its full path may be longer than the system allows.
    fn deep_tree(root: &Path, depth: usize) {
        let mut current: OwnedFd = open_directory(root).unwrap().into();
        for _ in 0..depth {
            nix::sys::stat::mkdirat(current.as_fd(), "d", Mode::S_IRWXU).unwrap();
            let file = openat(
                current.as_fd(),
                "f",
                OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::S_IRUSR,
            )
            .unwrap();
            drop(file);
            current = openat(
                current.as_fd(),
                "d",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
        }
    }

    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn a_tree_deeper_than_a_path_can_name_is_removed() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("root");
        std::fs::create_dir(&root).unwrap();
        // 3,000 levels of `d/`: 6,000 bytes of path, past PATH_MAX.
        deep_tree(&root, 3_000);
        let before = open_descriptors();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert!(open_descriptors() <= before, "no descriptor is left open");
    }

    #[test]
    fn links_are_removed_not_followed_and_locked_out_directories_go_too() {
        let parent = tempfile::tempdir().unwrap();
        let precious = parent.path().join("precious");
        std::fs::create_dir(&precious).unwrap();
        std::fs::write(precious.join("keep.txt"), "mine").unwrap();
        let root = parent.path().join("root");
        std::fs::create_dir_all(root.join("locked/inner")).unwrap();
        std::fs::write(root.join("locked/inner/file"), "x").unwrap();
        std::os::unix::fs::symlink(&precious, root.join("link")).unwrap();
        std::os::unix::fs::symlink(".", root.join(".loop")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("locked/inner"),
            std::fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read(precious.join("keep.txt")).unwrap(), b"mine");
    }

    #[test]
    fn only_unlocked_marked_directories_are_stale() {
        let temp = tempfile::tempdir().unwrap();
        let dead = temp.path().join("socklab-dead01");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(MARKER), "").unwrap();
        std::fs::create_dir(dead.join("submission")).unwrap();
        let unmarked = temp.path().join("socklab-older1");
        std::fs::create_dir(&unmarked).unwrap();
        let live = temp.path().join("socklab-live01");
        std::fs::create_dir(&live).unwrap();
        std::fs::write(live.join(MARKER), "").unwrap();
        let held = Flock::lock(File::open(&live).unwrap(), FlockArg::LockExclusive).unwrap();
        let other = temp.path().join("not-socklab");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(MARKER), "").unwrap();

        assert_eq!(remove_stale(temp.path()), 1);
        assert!(!dead.exists(), "a dead grader's scratch is removed");
        assert!(
            unmarked.exists(),
            "an unmarked directory is not ours to judge"
        );
        assert!(live.exists(), "a live grader's scratch stays");
        assert!(other.exists());
        drop(held);
    }

    #[test]
    fn a_scratch_directory_is_locked_marked_and_removed_on_drop() {
        let scratch = Scratch::create().unwrap();
        let path = scratch.path().to_path_buf();
        assert!(path.join(MARKER).is_file());
        assert!(
            Flock::lock(File::open(&path).unwrap(), FlockArg::LockExclusiveNonblock).is_err(),
            "its grader holds the lock"
        );
        std::fs::create_dir_all(path.join("submission/a/b")).unwrap();
        drop(scratch);
        assert!(!path.exists());
    }
}
