//! The labs that ship inside the grader binary, read from `fixtures/labs/` at
//! build time so `grader grade udp-uppercase` works from any directory.

use super::files::{EmbeddedFolder, FilesBase};
use super::{Lab, LabError, load_str_with};

macro_rules! builtin_lab {
    ($name:literal) => {
        (
            $name,
            concat!("fixtures/labs/", $name, ".toml"),
            include_str!(concat!("../../../fixtures/labs/", $name, ".toml")),
        )
    };
}

/// `(name, path shown in messages, TOML text)` of every built-in lab.
pub const BUILTIN_LABS: &[(&str, &str, &str)] = &[
    builtin_lab!("udp-uppercase"),
    builtin_lab!("tcp-uppercase"),
    builtin_lab!("udp-count-s"),
    builtin_lab!("tcp-lines"),
    builtin_lab!("web-server"),
    builtin_lab!("smtp-client"),
    builtin_lab!("web-proxy"),
    builtin_lab!("udp-pinger"),
];

macro_rules! embedded_file {
    ($folder:literal, $path:literal) => {
        (
            $path,
            include_bytes!(concat!("../../../fixtures/labs/", $folder, "/", $path)).as_slice(),
        )
    };
}

/// The `files` folders of the built-in labs, compiled in like the labs.
/// A test checks that each lists exactly the files of its folder.
pub const BUILTIN_FILES: &[EmbeddedFolder] = &[(
    "web-server-root",
    &[
        embedded_file!("web-server-root", "HelloWorld.html"),
        embedded_file!("web-server-root", "images/logo.png"),
        embedded_file!("web-server-root", "international.html"),
        embedded_file!("web-server-root", "large.html"),
        embedded_file!("web-server-root", "notes/lab.txt"),
    ],
)];

/// The built-in lab called `name`, if there is one.
pub fn builtin(name: &str) -> Option<Result<Lab, LabError>> {
    BUILTIN_LABS
        .iter()
        .find(|(lab_name, _, _)| *lab_name == name)
        .map(|(_, path, text)| load_str_with(text, path, FilesBase::Embedded(BUILTIN_FILES)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_lab_loads_and_is_named_for_its_file() {
        for (name, path, text) in BUILTIN_LABS {
            let lab = load_str_with(text, path, FilesBase::Embedded(BUILTIN_FILES))
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(lab.name, *name);
            assert!(lab.max_score() > 0);
        }
    }

    #[test]
    fn embedded_folders_hold_exactly_the_files_on_disk() {
        let labs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/labs");
        for (folder, files) in BUILTIN_FILES {
            let on_disk = super::super::files::read(FilesBase::Dir(&labs), folder).unwrap();
            let embedded: Vec<(&str, &[u8])> = files.to_vec();
            let read: Vec<(&str, &[u8])> = on_disk.files().collect();
            assert_eq!(
                read, embedded,
                "{folder}: update BUILTIN_FILES in builtin.rs"
            );
        }
    }
}
