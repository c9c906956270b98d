//! Programs prepared ahead of their start (namespace tier, `Cell::prepare`):
//! a prepared start must be indistinguishable from a plain one: the same
//! output for the same input, the same error for a command that cannot
//! run, and a prepared program that is not the one asked for never runs.
//! Real namespaces, real processes (`/bin/sh`), each in its mount view.

use std::time::{Duration, Instant};

use grader::cell::{Cell, Sandbox, SpawnSpec};
use grader::scratch::Scratch;

use crate::support;

/// A bound against a hang, never a pause.
const AT_MOST: Duration = Duration::from_secs(60);

/// A grading's namespace cell (its sandbox, its view), its network opened
/// as a client test's is; `None` where the kernel refuses.
fn open_cell(sandbox: &Sandbox) -> Option<Cell> {
    let cell = support::namespace_cell("prepared", Some(sandbox.clone()))?;
    cell.open_network().expect("the cell's network opens");
    Some(cell)
}

fn shell(scratch: &Scratch, script: &str, stdin: &[u8]) -> SpawnSpec {
    SpawnSpec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: scratch.path().to_path_buf(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        stdin: Some(stdin.to_vec()),
        any_tcp_port: false,
    }
}

/// Runs `spec` in `cell` to its end: its exit and what it printed.
fn run(cell: &Cell, spec: &SpawnSpec) -> (String, String) {
    let process = cell.spawn(spec).expect("the program starts");
    let exit = process.wait_until(Instant::now() + AT_MOST);
    let end = cell.stop_all(process);
    let exit = exit.map_or("still running".to_string(), |exit| exit.to_string());
    (
        exit,
        String::from_utf8_lossy(&end.stdout.joined()).into_owned(),
    )
}

#[test]
fn a_prepared_client_runs_as_a_plain_one_with_the_input_its_start_gives() {
    let scratch = Scratch::create().unwrap();
    let sandbox = Sandbox::new(scratch.path());
    let (Some(plain), Some(prepared)) = (open_cell(&sandbox), open_cell(&sandbox)) else {
        return;
    };
    // Its input, its directory, its user, its environment and its signal
    // state are the ones its start gives, not the keeper's.
    let script = "read line; echo \"got $line\"; pwd; id -u; echo \"$PATH\"; trap; exit 3";
    let started = shell(&scratch, script, b"hello\n");
    prepared
        .prepare(&shell(&scratch, script, b"not this input\n"))
        .expect("the client is prepared");
    let from_plain = run(&plain, &started);
    let from_prepared = run(&prepared, &started);
    eprintln!("plain: {from_plain:?}\nprepared: {from_prepared:?}");
    assert_eq!(from_plain.0, "exit status 3");
    assert!(from_plain.1.starts_with("got hello\n"), "{from_plain:?}");
    assert_eq!(from_prepared, from_plain);
}

#[test]
fn a_prepared_command_that_cannot_run_fails_its_start_as_a_plain_one_does() {
    let scratch = Scratch::create().unwrap();
    let sandbox = Sandbox::new(scratch.path());
    let (Some(plain), Some(prepared)) = (open_cell(&sandbox), open_cell(&sandbox)) else {
        return;
    };
    let missing = SpawnSpec {
        program: "no-such-client-program".into(),
        ..shell(&scratch, "", b"")
    };
    prepared.prepare(&missing).expect("the set-up itself works");
    let plain_error = plain.spawn(&missing).err().expect("nothing to run");
    let prepared_error = prepared.spawn(&missing).err().expect("nothing to run");
    assert!(
        plain_error.to_string().contains("No such file"),
        "{plain_error}"
    );
    assert_eq!(prepared_error.to_string(), plain_error.to_string());
    assert_eq!(prepared_error.kind(), plain_error.kind());
}

#[test]
fn a_prepared_program_that_is_not_the_one_started_never_runs() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell(&Sandbox::new(scratch.path())) else {
        return;
    };
    // Each program has a view of its own, so what the other would leave is
    // looked for in the cell's shared /proc: the next program watches every
    // other process of the cell but PID 1 until it is gone (and reaped),
    // and says whether it was ever seen running the other's command, which
    // would run for seconds. Let go, the other ends at once.
    cell.prepare(&shell(&scratch, "sleep 5; echo ran-by-mistake", b""))
        .expect("prepared");
    let alone_then_look = "for dir in /proc/[0-9]*; do pid=${dir#/proc/}; \
        if [ \"$pid\" != 1 ] && [ \"$pid\" != $$ ]; then while [ -e \"$dir\" ]; do \
        if grep -q ran-by-mistake \"$dir/cmdline\" 2>/dev/null; then echo ran; exit 0; fi; \
        done; fi; done; echo clean";
    let (exit, stdout) = run(&cell, &shell(&scratch, alone_then_look, b""));
    assert_eq!(exit, "exit status 0");
    assert_eq!(stdout, "clean\n", "the prepared program ran");
}
