//! The compilers and interpreters a submission needs, and what to say when
//! the grading machine lacks one. A missing `javac` is the grading machine's
//! environment, not the student's bug: it is reported as a grader error
//! naming the tool and how to install it, never charged to the code.

use std::path::{Path, PathBuf};

/// Where `tool` is on the grader's `PATH` (the cells' programs get the same
/// `PATH`), if anywhere.
pub fn find(tool: &str) -> Option<PathBuf> {
    find_in(tool, &std::env::var_os("PATH").unwrap_or_default())
}

/// Where `tool` is on `path` (a `PATH` value), if anywhere.
pub fn find_in(tool: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    if tool.contains('/') {
        return is_executable(Path::new(tool)).then(|| PathBuf::from(tool));
    }
    std::env::split_paths(path)
        .map(|directory| directory.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// How to install `tool` on a Debian or Ubuntu grading machine.
pub fn install_advice(tool: &str) -> String {
    let package = match tool {
        "javac" | "java" => Some("default-jdk-headless"),
        "cc" | "gcc" | "c++" | "g++" | "make" => Some("build-essential"),
        "go" => Some("golang-go"),
        "node" => Some("nodejs"),
        "python3" => Some("python3"),
        _ => None,
    };
    match (package, tool) {
        (Some(package), _) => format!("`apt-get install {package}` on Debian or Ubuntu"),
        (None, "cargo" | "rustc") => "rustup (https://rustup.rs)".to_string(),
        (None, _) => format!(
            "install `{tool}` on the grading machine; if `{tool}` is not a program you meant to run, fix the command"
        ),
    }
}

/// The message for a submission that needs `tool` for `purpose` (e.g.
/// "to build UDPServer.java") on a machine without it.
pub fn missing_message(tool: &str, purpose: &str) -> String {
    format!(
        "The grading machine has no `{tool}`, needed {purpose}: this is the grader's environment, not your code.\n\
         Whoever runs the grader: install it ({}), then grade again.",
        install_advice(tool)
    )
}

/// The program a shell could not find or execute, from a command's stderr
/// after it exited with status 126 or 127 (`sh: 1: javac: not found`,
/// `bash: go: command not found`). Only a bare program name counts: a path
/// (`./build.sh: not found`, `./server: Permission denied`) names a file of
/// the submission, which is the student's to fix.
pub fn missing_from_output(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let before = line
            .strip_suffix(": not found")
            .or_else(|| line.strip_suffix(": command not found"))
            .or_else(|| line.strip_suffix(": No such file or directory"))?;
        let program = before.rsplit(": ").next()?.trim();
        let bare = !program.is_empty()
            && !program.contains(['/', ' '])
            && program
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c));
        bare.then(|| program.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_on_the_path_given() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("fakec");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let path = std::ffi::OsString::from(format!("/nonexistent:{}", dir.path().display()));
        assert_eq!(find_in("fakec", &path), None, "not executable yet");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in("fakec", &path), Some(tool));
        assert_eq!(find_in("fakec", std::ffi::OsStr::new("/nonexistent")), None);
    }

    #[test]
    fn a_missing_program_is_read_from_a_shell_message() {
        assert_eq!(
            missing_from_output(b"sh: 1: javac: not found\n").as_deref(),
            Some("javac")
        );
        assert_eq!(
            missing_from_output(b"bash: line 1: go: command not found\n").as_deref(),
            Some("go")
        );
        assert_eq!(
            missing_from_output(b"/bin/sh: 1: c++: not found\n").as_deref(),
            Some("c++")
        );
        // A file of the submission is the student's to fix.
        assert_eq!(missing_from_output(b"sh: 1: ./build.sh: not found\n"), None);
        assert_eq!(
            missing_from_output(b"sh: 1: ./server: Permission denied\n"),
            None
        );
        assert_eq!(missing_from_output(b"error: expected ';'\n"), None);
    }

    #[test]
    fn the_message_names_the_tool_and_the_package() {
        let message = missing_message("javac", "to build UDPServer.java");
        assert!(message.contains("no `javac`"), "{message}");
        assert!(message.contains("default-jdk-headless"), "{message}");
        assert!(message.contains("not your code"), "{message}");
    }
}
