//! The files the grader writes: checked before grading (exit 2 naming the
//! path), never blocking on a named pipe, written with the umask, and
//! written even when the grader's standard output and error are closed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{grader_binary, repo};

fn textbook_server() -> PathBuf {
    repo().join("fixtures/submissions/tcp-uppercase/textbook/TCPServer.py")
}

/// A class of `names`, each handing in the textbook server alone.
fn class(root: &Path, names: &[&str]) -> PathBuf {
    let class = root.join("class");
    for name in names {
        std::fs::create_dir_all(class.join(name)).unwrap();
        std::fs::copy(textbook_server(), class.join(name).join("TCPServer.py")).unwrap();
    }
    class
}

fn run(args: &[&str]) -> Output {
    Command::new(grader_binary())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

#[test]
fn a_pipe_or_a_missing_directory_as_an_output_is_refused_before_grading() {
    let root = tempfile::tempdir().unwrap();
    let class = class(root.path(), &["alice"]);
    let pipe = root.path().join("gradebook.fifo");
    fifo(&pipe);
    let link = root.path().join("link.json");
    std::os::unix::fs::symlink(&pipe, &link).unwrap();
    let results = root.path().join("results");
    let nowhere = root.path().join("no/such/dir/out.json");
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["-o", arg(&pipe)], &pipe),
        (vec!["-o", arg(&link)], &link),
        (vec!["--csv", arg(&pipe)], &pipe),
        (vec!["-o", arg(&nowhere)], &nowhere),
        (vec!["-o", "/dev/zero"], Path::new("/dev/zero")),
    ];
    for (flags, named) in cases {
        let mut args = vec!["batch", "tcp-uppercase", arg(&class), "--results-dir"];
        args.push(arg(&results));
        args.extend(flags.iter().copied());
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(
            stderr.contains(&format!("`{}`", named.display())),
            "{stderr}"
        );
        // Refused before grading: nothing was graded into the results.
        let graded = std::fs::read_dir(&results).map_or(0, |entries| entries.count());
        assert_eq!(graded, 0, "{flags:?}: {stderr}");
    }

    // `grade -o` is checked before grading as well.
    let output = run(&["grade", "tcp-uppercase", "-o", arg(&pipe)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("named pipe"), "{stderr}");
    assert!(output.stdout.is_empty());

    // A results directory that is a file is refused too.
    let file = root.path().join("results-file");
    std::fs::write(&file, "").unwrap();
    let output = run(&[
        "batch",
        "tcp-uppercase",
        arg(&class),
        "--results-dir",
        arg(&file),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("results directory"));
}

#[test]
fn the_null_device_and_the_own_standard_output_are_written_in_place() {
    let output = run(&[
        "grade",
        "udp-count-s",
        "--server",
        "false",
        "--format",
        "json",
        "-o",
        "/dev/stdout",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["lab"], "udp-count-s");
    let output = run(&[
        "grade",
        "udp-count-s",
        "--server",
        "false",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(output.status.code(), Some(0));
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn result_files_that_are_pipes_are_regraded_not_waited_on_and_outputs_follow_the_umask() {
    let root = tempfile::tempdir().unwrap();
    let class = class(root.path(), &["alice", "bob"]);
    let results = root.path().join("results");
    std::fs::create_dir(&results).unwrap();
    // Nobody will ever read or write this pipe.
    fifo(&results.join("alice.json"));
    let gradebook = root.path().join("gradebook.json");
    let csv = root.path().join("gradebook.csv");
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"umask 027 && exec "$0" "$@""#)
        .arg(grader_binary())
        .args(["batch", "tcp-uppercase", arg(&class), "--results-dir"])
        .args([arg(&results), "-o", arg(&gradebook), "--csv", arg(&csv)])
        .args(["--isolation", "process"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        std::fs::symlink_metadata(results.join("alice.json"))
            .unwrap()
            .is_file(),
        "the pipe was replaced by alice's result"
    );
    for file in [
        gradebook.clone(),
        csv,
        results.join("alice.json"),
        results.join("bob.json"),
    ] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{} under umask 027", file.display());
    }
    let book: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gradebook).unwrap()).unwrap();
    assert_eq!(book["submissions"].as_array().unwrap().len(), 2);
}

#[test]
fn a_batch_whose_standard_output_and_error_are_closed_still_writes_its_gradebook() {
    let root = tempfile::tempdir().unwrap();
    let class = class(root.path(), &["alice", "bob"]);
    let gradebook = root.path().join("gradebook.json");
    // Both streams are pipes whose reader is gone, as after `|& head -1`.
    let (out_read, out_write) = nix::unistd::pipe().unwrap();
    let (err_read, err_write) = nix::unistd::pipe().unwrap();
    drop(out_read);
    drop(err_read);
    let status = Command::new(grader_binary())
        .args(["batch", "tcp-uppercase", arg(&class), "-o", arg(&gradebook)])
        .args(["--isolation", "process"])
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::from(err_write))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "no panic (101), no failure");
    let book: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gradebook).unwrap()).unwrap();
    assert_eq!(book["submissions"].as_array().unwrap().len(), 2);

    // Without -o the gradebook goes to the closed standard output: the
    // batch still ends cleanly.
    let (out_read, out_write) = nix::unistd::pipe().unwrap();
    drop(out_read);
    let status = Command::new(grader_binary())
        .args([
            "batch",
            "tcp-uppercase",
            arg(&class),
            "--isolation",
            "process",
        ])
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
