//! The files a lab puts beside the student's program before it runs: the
//! web-server lab's document root (`[lab] files = "web-server-root"`).
//!
//! A lab file on disk names a folder beside it; a built-in lab carries its
//! files in the grader binary (`builtin.rs`), so `grader grade web-server`
//! works from any directory. Either way the files are read once, bounded,
//! and kept as an interned [`Site`] that the protocol judges with and that
//! the runner writes into every working copy.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use crate::protocol::http::{OUTSIDE_CONTENT, OUTSIDE_FILE, Site};

/// Where a lab's `files` folder is found.
#[derive(Clone, Copy, Debug)]
pub enum FilesBase<'a> {
    /// Beside the lab file, in this directory.
    Dir(&'a Path),
    /// Compiled into the grader: `(folder, [(path, bytes)])`.
    Embedded(&'static [EmbeddedFolder]),
}

/// A folder of files compiled into the grader.
pub type EmbeddedFolder = (&'static str, &'static [(&'static str, &'static [u8])]);

/// At most this many files: a document root is a handful of pages.
pub const MAX_FILES: usize = 64;

/// At most this many bytes in all: every working copy gets a copy.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A file of seeded bytes the lab adds to its folder (`[lab] filler`):
/// larger than any socket buffer, so that a client leaving mid-response
/// really leaves while the server is still sending.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filler {
    pub path: String,
    pub bytes: usize,
}

/// The largest filler: 32 MiB.
pub const MAX_FILLER_BYTES: usize = 32 * 1024 * 1024;

/// The bytes of a filler: the same on every machine, and not text (no
/// line of it is valid UTF-8), so that only a binary-safe server sends it.
pub fn filler_bytes(length: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_F491;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8 | 0x80
        })
        .collect()
}

/// Reads the folder `folder` of `base` into a site, with `filler` added.
/// Errors say what is wrong in a sentence that names the folder.
pub fn read_with(
    base: FilesBase<'_>,
    folder: &str,
    filler: Option<&Filler>,
) -> Result<&'static Site, String> {
    let mut files = read_folder(base, folder)?;
    if let Some(filler) = filler {
        if !is_plain_relative(Path::new(&filler.path)) || filler.bytes > MAX_FILLER_BYTES {
            return Err(format!(
                "`filler` must name a plain path inside the folder and at most {} MiB",
                MAX_FILLER_BYTES / 1024 / 1024
            ));
        }
        files.insert(filler.path.clone(), filler_bytes(filler.bytes));
    }
    // Interned once, whole: the folder alone is never a site of its own.
    Ok(Site::intern(Site::new(files)))
}

/// Reads the folder `folder` of `base` into a site. Errors say what is
/// wrong in a sentence that names the folder.
pub fn read(base: FilesBase<'_>, folder: &str) -> Result<&'static Site, String> {
    read_with(base, folder, None)
}

/// The files of the folder `folder` of `base`, by path.
fn read_folder(base: FilesBase<'_>, folder: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    if !is_plain_relative(Path::new(folder)) {
        return Err(format!(
            "`files` = \"{folder}\" must be a folder beside the lab file, without `..` or a leading `/`"
        ));
    }
    let files = match base {
        FilesBase::Dir(dir) => read_dir(&dir.join(folder), folder)?,
        FilesBase::Embedded(folders) => {
            let (_, files) = folders
                .iter()
                .find(|(name, _)| *name == folder)
                .ok_or_else(|| {
                    format!("`files` = \"{folder}\": no such folder ships with the grader")
                })?;
            files
                .iter()
                .map(|(path, bytes)| ((*path).to_owned(), bytes.to_vec()))
                .collect()
        }
    };
    if files.is_empty() {
        return Err(format!("`files` = \"{folder}\" holds no files"));
    }
    Ok(files)
}

/// Every regular file under `root`, by its path relative to `root` with
/// `/` separators; links and special files are refused, not followed.
fn read_dir(root: &Path, folder: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    let mut total = 0usize;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|err| {
            format!(
                "`files` = \"{folder}\": cannot read {}: {err}",
                dir.display()
            )
        })?;
        for entry in entries {
            let entry = entry.map_err(|err| format!("`files` = \"{folder}\": {err}"))?;
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("read under the root")
                .to_string_lossy()
                .replace('\\', "/");
            let kind = entry
                .file_type()
                .map_err(|err| format!("`files` = \"{folder}\": {relative}: {err}"))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !kind.is_file() {
                return Err(format!(
                    "`files` = \"{folder}\": {relative} is not a regular file (links are not followed)"
                ));
            }
            let bytes = std::fs::read(&path)
                .map_err(|err| format!("`files` = \"{folder}\": {relative}: {err}"))?;
            total += bytes.len();
            if files.len() >= MAX_FILES || total > MAX_BYTES {
                return Err(format!(
                    "`files` = \"{folder}\" holds more than {MAX_FILES} files or {} MiB",
                    MAX_BYTES / 1024 / 1024
                ));
            }
            files.insert(relative, bytes);
        }
    }
    Ok(files)
}

fn is_plain_relative(path: &Path) -> bool {
    path.components().count() > 0
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// Writes the site's files into `workdir` (replacing a student's file of
/// the same name: the tests ask for the lab's bytes), and [`OUTSIDE_FILE`]
/// into the folder above it.
pub fn place(site: &Site, workdir: &Path) -> std::io::Result<()> {
    for (path, bytes) in site.files() {
        let target = workdir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, bytes)?;
    }
    if let Some(above) = workdir.parent() {
        std::fs::write(above.join(OUTSIDE_FILE), OUTSIDE_CONTENT)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_folders_that_climb_out_and_reads_one_that_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/sub")).unwrap();
        std::fs::write(dir.path().join("root/a.html"), b"a").unwrap();
        std::fs::write(dir.path().join("root/sub/b.png"), b"\x89b").unwrap();
        for wrong in ["../root", "/etc", ""] {
            assert!(read(FilesBase::Dir(dir.path()), wrong).is_err(), "{wrong}");
        }
        let site = read(FilesBase::Dir(dir.path()), "root").unwrap();
        let paths: Vec<&str> = site.files().map(|(path, _)| path).collect();
        assert_eq!(paths, ["a.html", "sub/b.png"]);

        let work = dir.path().join("scratch/submission");
        std::fs::create_dir_all(&work).unwrap();
        place(site, &work).unwrap();
        assert_eq!(std::fs::read(work.join("sub/b.png")).unwrap(), b"\x89b");
        assert!(dir.path().join("scratch").join(OUTSIDE_FILE).is_file());
    }
}
