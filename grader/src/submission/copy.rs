//! Copying a submission into its scratch directory, so that grading never
//! changes it — and so that nothing in it can make the grader read, block on
//! or fill more than it should. A submission is untrusted input:
//!
//! - **Links** stay inside the submission. A link whose target (resolved by
//!   the kernel, loops refused) is inside the submission is copied as a
//!   relative link to the same place in the copy; any other link (to a
//!   classmate's directory, to a hidden lab file, dangling, a loop) is left
//!   out. Nothing is ever read through a link while copying.
//! - **Special files** (named pipes, sockets, devices) are left out: opening
//!   one could block the grader or read a device.
//! - **Bounds**: [`BOUNDS`] caps the bytes copied (a file's apparent size
//!   counts, so a 2 GiB sparse file is left out rather than written out
//!   whole; the copy writes only the bytes it counts, so its real size on
//!   disk is bounded too), the number of entries, the depth and the time.
//!   What a bound leaves out is named in a note in the result.
//! - **No descriptor per level**: directories are visited breadth first from
//!   a queue of paths, each listed and closed before the next, so a tree
//!   1,500 levels deep copies (up to the depth bound) under any descriptor
//!   limit.
//!
//! Build output and version control (`target`, `.git`, `__pycache__`) are
//! skipped, as before. Entries are visited in name order, so what a bound
//! leaves out is the same on every run.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

use crate::escape::escape_shortened;

/// What a copy may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes of file content, counted by apparent size.
    pub bytes: u64,
    /// Files, links and directories.
    pub entries: usize,
    /// Directories below the submission's own.
    pub depth: usize,
    pub time: Duration,
}

/// The bounds every submission is copied within (documented in
/// `docs/FILES.md`).
pub const BOUNDS: Bounds = Bounds {
    bytes: 128 * 1024 * 1024,
    entries: 20_000,
    depth: 64,
    time: Duration::from_secs(30),
};

/// How many left-out entries a note names before it only counts the rest.
const NAMED_IN_NOTES: usize = 8;

/// What the copy did, beyond copying.
#[derive(Debug, Default)]
pub struct Copied {
    /// Remarks for the result: what was left out, and why.
    pub notes: Vec<String>,
    /// Whether anything but hidden files (`.gitkeep`, `.DS_Store`) was copied.
    pub has_visible_file: bool,
}

/// Why one entry was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeftOut {
    LinkOutside,
    LinkNowhere,
    NamedPipe,
    Socket,
    Device,
    TooLarge,
    TooDeep,
    Unreadable,
}

impl LeftOut {
    fn describe(self) -> String {
        match self {
            LeftOut::LinkOutside => "a link to something outside the submission".into(),
            LeftOut::LinkNowhere => "a link that leads nowhere, or round in a loop".into(),
            LeftOut::NamedPipe => "a named pipe".into(),
            LeftOut::Socket => "a socket".into(),
            LeftOut::Device => "a device".into(),
            LeftOut::TooLarge => format!(
                "it would take the copy over {} MiB",
                BOUNDS.bytes / (1024 * 1024)
            ),
            LeftOut::TooDeep => format!("deeper than {} directories", BOUNDS.depth),
            LeftOut::Unreadable => "it cannot be read".into(),
        }
    }
}

/// A bound that stopped the copy before it was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopped {
    Entries,
    Time,
}

/// Copies the submission `from` into the empty directory `to` within
/// `bounds`. An error is the grader's (the scratch directory cannot be
/// written, the submission itself cannot be listed); `to` is then emptied,
/// so a failed copy leaves nothing behind. Trouble with single entries is
/// not an error: they are left out and named in [`Copied::notes`].
pub fn copy_submission(from: &Path, to: &Path, bounds: &Bounds) -> std::io::Result<Copied> {
    let copied = Copy::new(from, to, bounds).and_then(Copy::run);
    if copied.is_err() {
        if let Ok(entries) = std::fs::read_dir(to) {
            for entry in entries.flatten() {
                let _ = crate::scratch::remove_tree(&entry.path());
            }
        }
    }
    copied
}

struct Copy<'a> {
    from: &'a Path,
    to: &'a Path,
    bounds: &'a Bounds,
    /// The submission's real path: where inside links must lead.
    root: PathBuf,
    started: Instant,
    bytes: u64,
    entries: usize,
    left_out: Vec<(PathBuf, LeftOut)>,
    stopped: Option<Stopped>,
    copied: Copied,
}

impl<'a> Copy<'a> {
    fn new(from: &'a Path, to: &'a Path, bounds: &'a Bounds) -> std::io::Result<Copy<'a>> {
        Ok(Copy {
            from,
            to,
            bounds,
            root: from.canonicalize()?,
            started: Instant::now(),
            bytes: 0,
            entries: 0,
            left_out: Vec::new(),
            stopped: None,
            copied: Copied::default(),
        })
    }

    fn run(mut self) -> std::io::Result<Copied> {
        // Directories still to copy, as paths relative to the submission,
        // with their depth.
        let mut pending: VecDeque<(PathBuf, usize)> = VecDeque::from([(PathBuf::new(), 0)]);
        'directories: while let Some((directory, depth)) = pending.pop_front() {
            let listed = match list(&self.from.join(&directory)) {
                Ok(listed) => listed,
                // The submission itself must be readable; a subdirectory
                // that is not is left out.
                Err(err) if directory.as_os_str().is_empty() => return Err(err),
                Err(_) => {
                    self.left_out.push((directory, LeftOut::Unreadable));
                    continue;
                }
            };
            for name in listed {
                if name == "target" || name == ".git" || name == "__pycache__" {
                    continue;
                }
                if self.started.elapsed() > self.bounds.time {
                    self.stopped = Some(Stopped::Time);
                    break 'directories;
                }
                self.entries += 1;
                if self.entries > self.bounds.entries {
                    self.stopped = Some(Stopped::Entries);
                    break 'directories;
                }
                let relative = directory.join(&name);
                if let Some(subdirectory) = self.entry(&relative, depth)? {
                    pending.push_back((subdirectory, depth + 1));
                }
            }
        }
        self.write_notes();
        Ok(self.copied)
    }

    /// Copies one entry; returns it when it is a directory to visit.
    fn entry(&mut self, relative: &Path, depth: usize) -> std::io::Result<Option<PathBuf>> {
        let source = self.from.join(relative);
        let destination = self.to.join(relative);
        let Ok(metadata) = std::fs::symlink_metadata(&source) else {
            self.left_out
                .push((relative.to_path_buf(), LeftOut::Unreadable));
            return Ok(None);
        };
        let kind = metadata.file_type();
        if kind.is_dir() {
            if depth + 1 > self.bounds.depth {
                self.left_out
                    .push((relative.to_path_buf(), LeftOut::TooDeep));
                return Ok(None);
            }
            std::fs::create_dir(&destination)?;
            return Ok(Some(relative.to_path_buf()));
        }
        if kind.is_symlink() {
            match self.inside_target(relative) {
                Ok(target) => {
                    std::os::unix::fs::symlink(target, &destination)?;
                    self.saw_visible(relative);
                }
                Err(why) => self.left_out.push((relative.to_path_buf(), why)),
            }
            return Ok(None);
        }
        if !kind.is_file() {
            let why = if kind.is_fifo() {
                LeftOut::NamedPipe
            } else if kind.is_socket() {
                LeftOut::Socket
            } else {
                LeftOut::Device
            };
            self.left_out.push((relative.to_path_buf(), why));
            return Ok(None);
        }
        if metadata.len() > self.bounds.bytes - self.bytes {
            self.left_out
                .push((relative.to_path_buf(), LeftOut::TooLarge));
            return Ok(None);
        }
        let Ok(mut input) = open_regular(&source) else {
            self.left_out
                .push((relative.to_path_buf(), LeftOut::Unreadable));
            return Ok(None);
        };
        let mode = metadata.mode() & 0o777;
        let mut output = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode | 0o600)
            .open(&destination)?;
        // At most the size it had when it was counted: a file that grows
        // while it is copied cannot take the copy over its bound.
        let budget = metadata.len();
        let written = copy_at_most(&mut input, &mut output, budget)?;
        self.bytes += written;
        output.set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.saw_visible(relative);
        Ok(None)
    }

    /// Where the link at `relative` should point in the copy: the same place
    /// inside the submission, as a relative path, or why it is left out.
    fn inside_target(&self, relative: &Path) -> Result<PathBuf, LeftOut> {
        // The kernel resolves the whole chain and refuses loops (ELOOP).
        let resolved = self
            .from
            .join(relative)
            .canonicalize()
            .map_err(|_| LeftOut::LinkNowhere)?;
        let inside = resolved
            .strip_prefix(&self.root)
            .map_err(|_| LeftOut::LinkOutside)?;
        // The link's own directory is a real directory of the copy (links
        // are never descended into), so `..` per level leads to its root.
        let levels = relative.components().count() - 1;
        let mut target: PathBuf = std::iter::repeat_n(Component::ParentDir, levels).collect();
        target.push(inside);
        if target.as_os_str().is_empty() {
            target.push(".");
        }
        Ok(target)
    }

    fn saw_visible(&mut self, relative: &Path) {
        let hidden = relative
            .components()
            .any(|part| part.as_os_str().as_encoded_bytes().starts_with(b"."));
        if !hidden {
            self.copied.has_visible_file = true;
        }
    }

    fn write_notes(&mut self) {
        if !self.left_out.is_empty() {
            let named: Vec<String> = self
                .left_out
                .iter()
                .take(NAMED_IN_NOTES)
                .map(|(path, why)| {
                    format!(
                        "`{}` ({})",
                        escape_shortened(path.as_os_str().as_encoded_bytes(), 120),
                        why.describe()
                    )
                })
                .collect();
            let more = self.left_out.len().saturating_sub(NAMED_IN_NOTES);
            let mut note = format!("Left out of the copy that was graded: {}", named.join(", "));
            if more > 0 {
                note.push_str(&format!(", and {more} more"));
            }
            note.push('.');
            self.copied.notes.push(note);
        }
        match self.stopped {
            None => {}
            Some(Stopped::Entries) => self.copied.notes.push(format!(
                "The submission has more than {} files and directories: only the first {} (shallowest first) were copied and graded.",
                self.bounds.entries, self.bounds.entries
            )),
            Some(Stopped::Time) => self.copied.notes.push(format!(
                "Copying the submission took longer than {} s: only what was copied by then was graded.",
                self.bounds.time.as_secs()
            )),
        }
    }
}

/// The names in a directory, sorted; the listing is closed before any of
/// them is visited.
fn list(directory: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = std::fs::read_dir(directory)?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Opens a file for reading only if it is (still) a regular file: never
/// through a link, and without blocking should it have become a named pipe
/// since it was looked at.
fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

fn copy_at_most(input: &mut File, output: &mut File, budget: u64) -> std::io::Result<u64> {
    let mut limited = input.take(budget);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0;
    loop {
        let read = match limited.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        output.write_all(&buffer[..read])?;
        written += read as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn copy(from: &Path, bounds: &Bounds) -> (tempfile::TempDir, Copied) {
        let to = tempfile::tempdir().unwrap();
        let copied = copy_submission(from, to.path(), bounds).unwrap();
        (to, copied)
    }

    #[test]
    fn links_inside_stay_links_and_links_out_are_left_out_with_a_note() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("classmate.py"), "print('theirs')").unwrap();
        let from = tempfile::tempdir().unwrap();
        let root = from.path();
        std::fs::create_dir_all(root.join("lib/deep")).unwrap();
        std::fs::write(root.join("lib/util.py"), "X = 1").unwrap();
        symlink("../util.py", root.join("lib/deep/up.py")).unwrap();
        symlink(root.join("lib/util.py"), root.join("absolute-inside.py")).unwrap();
        symlink(
            outside.path().join("classmate.py"),
            root.join("TCPServer.py"),
        )
        .unwrap();
        symlink("../../etc/passwd", root.join("escape")).unwrap();
        symlink(".", root.join(".a")).unwrap();
        symlink(".", root.join(".b")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();

        let (to, copied) = copy(root, &BOUNDS);
        let to = to.path();
        assert_eq!(
            std::fs::read_to_string(to.join("lib/deep/up.py")).unwrap(),
            "X = 1"
        );
        assert_eq!(
            std::fs::read_link(to.join("absolute-inside.py")).unwrap(),
            Path::new("lib/util.py"),
            "an absolute link into the submission leads into the copy"
        );
        assert_eq!(std::fs::read_link(to.join(".a")).unwrap(), Path::new("."));
        for left_out in ["TCPServer.py", "escape", "loop1", "loop2"] {
            assert!(
                std::fs::symlink_metadata(to.join(left_out)).is_err(),
                "{left_out}"
            );
        }
        let note = copied.notes.join("\n");
        assert!(
            note.contains("`TCPServer.py` (a link to something outside the submission)"),
            "{note}"
        );
        assert!(
            note.contains("`loop1` (a link that leads nowhere"),
            "{note}"
        );
    }

    #[test]
    fn special_files_are_left_out_and_never_opened() {
        let from = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&from.path().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(from.path().join("socket")).unwrap();
        std::fs::write(from.path().join("server.py"), "pass").unwrap();
        let (to, copied) = copy(from.path(), &BOUNDS);
        assert!(to.path().join("server.py").is_file());
        assert!(!to.path().join("pipe").exists());
        assert!(!to.path().join("socket").exists());
        let note = copied.notes.join("\n");
        assert!(note.contains("`pipe` (a named pipe)"), "{note}");
        assert!(note.contains("`socket` (a socket)"), "{note}");
    }

    #[test]
    fn bytes_entries_and_depth_are_bounded() {
        let from = tempfile::tempdir().unwrap();
        let root = from.path();
        std::fs::write(root.join("a-small.py"), "x".repeat(100)).unwrap();
        // Sparse: 2 GiB apparent, almost nothing real.
        File::create(root.join("b-sparse.bin"))
            .unwrap()
            .set_len(2 << 30)
            .unwrap();
        let mut deep = root.to_path_buf();
        for _ in 0..5 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let bounds = Bounds {
            bytes: 1000,
            entries: 100,
            depth: 3,
            time: Duration::from_secs(30),
        };
        let (to, copied) = copy(root, &bounds);
        assert!(to.path().join("a-small.py").is_file());
        assert!(!to.path().join("b-sparse.bin").exists());
        assert!(to.path().join("d/d/d").is_dir());
        assert!(!to.path().join("d/d/d/d").exists());
        let note = copied.notes.join("\n");
        assert!(
            note.contains("`b-sparse.bin` (it would take the copy over"),
            "{note}"
        );
        assert!(note.contains("`d/d/d/d` (deeper than"), "{note}");

        let few = Bounds {
            entries: 2,
            ..bounds
        };
        let (_, copied) = copy(root, &few);
        assert!(copied.notes.join("\n").contains("more than 2 files"));
    }

    #[test]
    fn hidden_files_alone_are_an_empty_submission() {
        let from = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join(".gitkeep"), "").unwrap();
        symlink(".", from.path().join(".a")).unwrap();
        let (_, copied) = copy(from.path(), &BOUNDS);
        assert!(!copied.has_visible_file);
        std::fs::write(from.path().join("x.py"), "").unwrap();
        let (_, copied) = copy(from.path(), &BOUNDS);
        assert!(copied.has_visible_file);
    }

    #[test]
    fn a_failed_copy_leaves_nothing_behind() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir(from.path().join("dir")).unwrap();
        std::fs::write(from.path().join("dir/file"), "x").unwrap();
        let to = tempfile::tempdir().unwrap();
        // The destination already has `dir`: creating it fails mid-copy.
        std::fs::create_dir(to.path().join("dir")).unwrap();
        std::fs::write(to.path().join("aaa"), "x").unwrap();
        assert!(copy_submission(from.path(), to.path(), &BOUNDS).is_err());
        assert_eq!(std::fs::read_dir(to.path()).unwrap().count(), 0);
    }

    #[test]
    fn modes_are_kept() {
        let from = tempfile::tempdir().unwrap();
        let script = from.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (to, _) = copy(from.path(), &BOUNDS);
        let mode = std::fs::metadata(to.path().join("run.sh")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
