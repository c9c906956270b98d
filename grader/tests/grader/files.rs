//! Untrusted files: what a submission's entries can make the grader do while
//! it copies them. Links out of the submission, link loops, named pipes,
//! sockets, sparse files and trees deeper than a descriptor limit are built
//! here (git cannot hold most of them) next to the textbook server; each
//! hostile submission must grade like the plain server, in every tier, with
//! a note naming what was left out, and leave no scratch directory behind.

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use grader::cell::IsolationRequest;
use grader::outcome::SubmissionResult;
use grader::runner::grade;
use grader::submission::Source;

use crate::support::{self, SEED, grader_binary, repo, summary};

fn textbook_server() -> PathBuf {
    repo().join("fixtures/submissions/tcp-uppercase/textbook/TCPServer.py")
}

/// A submission holding only the textbook server.
fn server_only(root: &Path, name: &str) -> PathBuf {
    let directory = root.join(name);
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::copy(textbook_server(), directory.join("TCPServer.py")).unwrap();
    directory
}

/// What each hostile submission must produce, beside its directory.
struct Case {
    name: &'static str,
    directory: PathBuf,
    /// Graded exactly like the plain server (`true`), or not runnable.
    like_plain: bool,
    /// Text a note (or the not-runnable reason) must contain.
    note: &'static str,
}

fn hostile_cases(root: &Path, outside: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut case = |name: &'static str, like_plain: bool, note: &'static str| {
        let directory = if like_plain {
            server_only(root, name)
        } else {
            let directory = root.join(name);
            std::fs::create_dir_all(&directory).unwrap();
            directory
        };
        cases.push(Case {
            name,
            directory: directory.clone(),
            like_plain,
            note,
        });
        directory
    };

    // Hidden links to the submission itself: a walk that follows links
    // never ends.
    let loops = case("hidden-link-loop", true, "");
    symlink(".", loops.join(".a")).unwrap();
    symlink(".", loops.join(".b")).unwrap();
    symlink("cycle-b", loops.join("cycle-a")).unwrap();
    symlink("cycle-a", loops.join("cycle-b")).unwrap();

    let pipes = case("named-pipe-and-socket", true, "(a named pipe)");
    nix::unistd::mkfifo(&pipes.join("input.fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::create_dir(pipes.join(".cache")).unwrap();
    nix::unistd::mkfifo(
        &pipes.join(".cache/hidden.fifo"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    // Bound and closed: a socket file with nobody behind it.
    drop(std::os::unix::net::UnixListener::bind(pipes.join("control.sock")).unwrap());

    let sparse = case("sparse-2-gib", true, "(it would take the copy over");
    std::fs::File::create(sparse.join("data.bin"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();

    // A classmate's server, linked by absolute path: not this student's.
    let classmate = case(
        "links-to-a-classmate",
        false,
        "`TCPServer.py` (a link to something outside the submission)",
    );
    symlink(textbook_server(), classmate.join("TCPServer.py")).unwrap();

    // A manifest that is a link to a file outside (here, one that would run
    // the textbook server): the grader must not read it.
    std::fs::write(
        outside.join("hidden-manifest.toml"),
        format!(
            "[server]\ncommand = \"python3 -u {}\"\n",
            textbook_server().display()
        ),
    )
    .unwrap();
    let manifest = case(
        "manifest-links-outside",
        false,
        "`socklab.toml` (a link to something outside the submission)",
    );
    symlink(
        outside.join("hidden-manifest.toml"),
        manifest.join("socklab.toml"),
    )
    .unwrap();
    std::fs::write(manifest.join("README.md"), "see socklab.toml\n").unwrap();
    cases
}

fn notes_and_reason(result: &SubmissionResult) -> String {
    let mut text = result.notes.join("\n");
    text.push('\n');
    text.push_str(result.status.message().unwrap_or(""));
    text
}

fn check_tier(isolation: IsolationRequest, label: &str) {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let lab = support::lab("tcp-uppercase");
    let mut options = support::options(isolation);
    options.cell_label = Some(label.to_string());
    let plain = grade(
        &lab,
        &Source::Directory(server_only(root.path(), "plain")),
        &options,
    )
    .unwrap();
    assert!(plain.score() > 0, "{}", summary(&plain));

    let cases = hostile_cases(root.path(), outside.path());
    let results: Vec<(&Case, SubmissionResult, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|case| {
                let (lab, options) = (&lab, &options);
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = grade(lab, &Source::Directory(case.directory.clone()), options)
                        .unwrap_or_else(|err| panic!("{}: {err}", case.name));
                    (case, result, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for (case, result, took) in results {
        let context = format!(
            "{} ({label}, seed {SEED}) in {took:?}:\n{}\nnotes: {:?}",
            case.name,
            summary(&result),
            result.notes
        );
        if case.like_plain {
            assert_eq!(result.status.as_str(), "graded", "{context}");
            assert_eq!(result.score(), plain.score(), "{context}");
        } else {
            assert_eq!(result.status.as_str(), "not_runnable", "{context}");
            assert_eq!(result.score(), 0, "{context}");
        }
        assert!(notes_and_reason(&result).contains(case.note), "{context}");
        // Names from the submission are escaped in notes like any of its bytes.
        assert!(!result.notes.iter().any(|note| note.contains('\u{1b}')));
    }
}

#[test]
fn hostile_entries_are_left_out_in_process_cells() {
    check_tier(IsolationRequest::Process, "files-process");
}

#[test]
fn hostile_entries_are_left_out_in_namespace_cells() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    check_tier(IsolationRequest::Namespace, "files-namespace");
}

/// The `socklab-*` directories in `temp` (the process tier's port locks,
/// `socklab-port-N.lock`, are files).
fn scratch_left(temp: &Path) -> Vec<String> {
    std::fs::read_dir(temp)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.starts_with("socklab-") && entry.file_type().ok()?.is_dir()).then_some(name)
        })
        .collect()
}

/// A chain of `depth` directories `d/d/…/d` under `root`, each with a file.
fn deep_tree(root: &Path, depth: usize) {
    let mut path = root.to_path_buf();
    for _ in 0..depth {
        path.push("d");
    }
    std::fs::create_dir_all(&path).unwrap();
    let mut level = path.as_path();
    while level != root {
        std::fs::write(level.join("f"), "x").unwrap();
        level = level.parent().unwrap();
    }
}

#[test]
fn a_tree_1500_deep_grades_under_a_1024_descriptor_limit_and_leaves_no_scratch() {
    let root = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let submission = server_only(root.path(), "deep");
    deep_tree(&submission.join("tree"), 1_500);
    let started = Instant::now();
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ulimit -n 1024 && exec "$0" grade tcp-uppercase "$1" --format json --seed 7"#)
        .arg(grader_binary())
        .arg(&submission)
        .env("TMPDIR", temp.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let notes = result["notes"].to_string();
    assert!(notes.contains("deeper than 64 directories"), "{notes}");
    assert!(result["score"].as_u64().unwrap() > 0, "{result:#}");
    assert_eq!(scratch_left(temp.path()), Vec::<String>::new());
    eprintln!("1,500-deep tree under ulimit -n 1024: graded in {took:?}");
}

#[test]
fn scratch_of_a_grader_killed_with_sigkill_is_removed_by_the_next_one() {
    let temp = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    // A server that never listens, so the grader is still at work when it
    // is killed, and one that leaves nothing listening if it outlives it.
    let submission = root.path().join("killed");
    std::fs::create_dir(&submission).unwrap();
    std::fs::write(
        submission.join("socklab.toml"),
        "[server]\ncommand = \"sleep 5\"\n",
    )
    .unwrap();
    let mut victim = Command::new(grader_binary())
        .args(["grade", "tcp-uppercase"])
        .arg(&submission)
        .args(["--format", "json", "--isolation", "auto"])
        .env("TMPDIR", temp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Waits for the grader to have copied the submission and, when it is
    // root, handed the copy to the user it leased (the directory is then
    // not owned by the grader's user, which the clean-up must allow for),
    // then kills it the way nothing can clean up after.
    let as_root = nix::unistd::Uid::effective().is_root();
    let copied = Instant::now();
    loop {
        let ready = scratch_left(temp.path()).iter().any(|name| {
            let directory = temp.path().join(name);
            directory.join("submission/socklab.toml").exists()
                && (!as_root
                    || std::fs::metadata(&directory)
                        .is_ok_and(|metadata| grader::cell::is_leased_uid(metadata.uid())))
        });
        if ready {
            break;
        }
        assert!(
            copied.elapsed() < Duration::from_secs(60),
            "the grader never copied the submission"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let left = scratch_left(temp.path());
    assert_eq!(left.len(), 1, "SIGKILL leaves its scratch: {left:?}");

    let next = Command::new(grader_binary())
        .args([
            "grade",
            "tcp-uppercase",
            "--server",
            "true",
            "--format",
            "json",
        ])
        .env("TMPDIR", temp.path())
        .output()
        .unwrap();
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert_eq!(scratch_left(temp.path()), Vec::<String>::new());
}
