//! Writing the grader's output files: reports (`-o`), gradebooks, CSV and
//! per-submission results.
//!
//! - **Whole or not at all**: a file is written to a temporary file beside
//!   it, flushed and renamed into place, so a batch killed in the middle of
//!   a write leaves the old file or the new one, never a torn result that a
//!   rerun would mistake for a grading.
//! - **Like other tools write them**: new files are created with mode 0666
//!   less the umask (0644 under the usual 022), so co-graders and web
//!   servers can read them when the umask says so.
//! - **Never blocking, never replacing a device**: [`check`] decides, before
//!   grading begins, what a path is. A regular file, a link to one or a new
//!   name is replaced by renaming. The null device (`/dev/null`) and the
//!   grader's own standard output or error (`/dev/stdout`, `/dev/stderr`,
//!   `/dev/fd/1`, whatever they are: a terminal, a pipe, a file) are
//!   written to as they are: renaming over them would replace the device
//!   itself. Any other named pipe, device or socket, or a link to one, is
//!   refused: a named pipe nobody reads blocks its writer forever.
//!   [`write`] checks again when it writes, so a path swapped for a pipe
//!   during grading is refused, not waited on.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What an output path is, and so how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A regular file, a link to one, or nothing yet: replaced by renaming.
    Replace,
    /// The null device: written to and discarded.
    NullDevice,
    /// The grader's own standard output, under another name.
    Stdout,
    /// The grader's own standard error, under another name.
    Stderr,
}

/// Why a path cannot take the grader's output. Displayed after the path,
/// as in ``writing `out.json`: it is a named pipe …``.
#[derive(Debug)]
pub struct Refused {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write `{}`: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for Refused {}

/// Decides what `path` is and whether the grader may write its output
/// there, without writing anything but a probe file beside it (created and
/// removed, to learn that its directory is writable).
pub fn check(path: &Path) -> Result<Target, Refused> {
    let refuse = |reason: String| Refused {
        path: path.to_path_buf(),
        reason,
    };
    // Following links: a link is judged by what it leads to.
    match std::fs::metadata(path) {
        Ok(metadata) => {
            let kind = metadata.file_type();
            if kind.is_char_device() && is_null_device(&metadata) {
                return Ok(Target::NullDevice);
            }
            if let Some(stream) = own_stream(&metadata) {
                return Ok(stream);
            }
            if kind.is_file() {
            } else if kind.is_dir() {
                return Err(refuse("it is a directory".into()));
            } else if kind.is_fifo() {
                return Err(refuse(
                    "it is a named pipe: writing to it would wait until something reads it".into(),
                ));
            } else if kind.is_socket() {
                return Err(refuse("it is a socket".into()));
            } else {
                return Err(refuse(
                    "it is a device (only /dev/null and the grader's own standard output and error are written to in place)"
                        .into(),
                ));
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(refuse(err.to_string())),
    }
    let directory = directory_of(path);
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(refuse(format!(
                "`{}` is not a directory",
                directory.display()
            )));
        }
        Err(err) => return Err(refuse(format!("`{}`: {err}", directory.display()))),
    }
    tempfile::NamedTempFile::new_in(directory).map_err(|err| {
        refuse(format!(
            "cannot create files in `{}`: {err}",
            directory.display()
        ))
    })?;
    Ok(Target::Replace)
}

/// Writes `bytes` to `path` as [`check`] says: renamed into place, or
/// written to the null device or the grader's own stream.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match check(path).map_err(std::io::Error::other)? {
        Target::Replace => replace(path, bytes),
        Target::NullDevice => Ok(()),
        Target::Stdout => write_stream(&mut std::io::stdout().lock(), bytes),
        Target::Stderr => write_stream(&mut std::io::stderr().lock(), bytes),
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and
/// renames it into place, whatever `path` was (but a directory): for files
/// only the grader writes, such as a batch's result files, where a pipe or
/// a link somebody left is replaced rather than written to.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(".socklab-")
        // 0666 less the umask, as the kernel applies it on creation.
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(directory_of(path))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Writes to one of the grader's own streams; a reader that went away
/// (`| head`) is not an error the grader can do anything about.
fn write_stream(stream: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    match stream.write_all(bytes).and_then(|()| stream.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The null device is character device 1:3 on Linux, whatever it is called.
fn is_null_device(metadata: &std::fs::Metadata) -> bool {
    let rdev = metadata.rdev();
    nix::sys::stat::major(rdev) == 1 && nix::sys::stat::minor(rdev) == 3
}

/// Whether `metadata` is of the very file the grader's standard output or
/// error is open on (a terminal, a pipe, a file: `/proc/self/fd/N` leads
/// to it whatever it is).
fn own_stream(metadata: &std::fs::Metadata) -> Option<Target> {
    let same = |fd: u32| {
        std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|stream| stream.dev() == metadata.dev() && stream.ino() == metadata.ino())
    };
    if same(1) {
        Some(Target::Stdout)
    } else if same(2) {
        Some(Target::Stderr)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_replaced_whole() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("result.json");
        std::fs::write(&path, "old and longer").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(directory.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn new_files_honour_the_umask() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("gradebook.json");
        write(&path, b"{}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        // The umask of this process, read without changing it.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .map(|value| u32::from_str_radix(value.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o} under umask {umask:o}");
    }

    #[test]
    fn the_null_device_is_written_to_not_replaced() {
        assert_eq!(check(Path::new("/dev/null")).unwrap(), Target::NullDevice);
        write(Path::new("/dev/null"), b"discarded").unwrap();
        let kind = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(
            kind.is_char_device(),
            "/dev/null must still be the null device"
        );
    }

    #[test]
    fn pipes_devices_and_directories_are_refused_before_anything_is_written() {
        let directory = tempfile::tempdir().unwrap();
        let fifo = directory.path().join("out.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let link = directory.path().join("link-to-fifo");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for path in [&fifo, &link] {
            let refused = check(path).unwrap_err();
            assert!(refused.reason.contains("named pipe"), "{refused}");
            // Refused, not waited on: nobody reads this pipe.
            assert!(write(path, b"x").is_err());
        }
        assert!(
            check(Path::new("/dev/zero"))
                .unwrap_err()
                .reason
                .contains("device")
        );
        assert!(
            check(directory.path())
                .unwrap_err()
                .reason
                .contains("directory")
        );
        let nowhere = directory.path().join("missing/out.json");
        assert!(check(&nowhere).is_err());
    }

    #[test]
    fn replace_puts_a_file_where_a_pipe_was() {
        let directory = tempfile::tempdir().unwrap();
        let fifo = directory.path().join("alice.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        replace(&fifo, b"{}").unwrap();
        assert!(std::fs::symlink_metadata(&fifo).unwrap().is_file());
    }
}
