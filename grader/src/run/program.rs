//! Launching one of the submission's programs: its environment, its
//! command with `{host}` and `{port}` filled in, the port it gets, and the
//! whole TIME_WAIT policy.
//!
//! TIME_WAIT: whoever closes a TCP connection first keeps it in TIME_WAIT
//! for a minute, and a server without SO_REUSEADDR (the textbook's) cannot
//! bind its port again until then. Only in the process tier is the lab's
//! port the machine's, so only there does it matter. The grader
//! - resets a connection whose server closed first, so the TIME_WAIT is on
//!   neither side (`exchange/connection.rs`, `close_quietly`);
//! - as the grader-played server, lets the client close first
//!   ([`peer_lets_client_close_first`]);
//! - when a server started on a locked lab port says "in use", waits an
//!   earlier program's TIME_WAIT out once ([`wait_for_time_wait`]).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cell::{self, Cell, PortLock, ProgramEnd, SpawnSpec, Tier};
use crate::outcome::ProgramRun;
use crate::scratch::scrub_paths;
use crate::submission::{Plan, ProgramPlan};

/// The environment a submission's program runs with: a short allowlist of
/// the grader's own (no tokens or secrets a CI runner may hold), plus the
/// host and port it should use.
pub fn environment(plan: &Plan, port: u16) -> Vec<(String, String)> {
    const PASSED_ON: &[&str] = &[
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "USER",
        "LOGNAME",
        "PYENV_ROOT",
        "PYENV_VERSION",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ];
    let mut env: Vec<(String, String)> = PASSED_ON
        .iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect();
    if !env.iter().any(|(name, _)| name == "LANG") {
        env.push(("LANG".into(), "C.UTF-8".into()));
    }
    let _ = std::fs::create_dir_all(&plan.tmp);
    env.extend([
        ("SOCKLAB_HOST".into(), cell::CELL_HOST.to_string()),
        ("SOCKLAB_PORT".into(), port.to_string()),
        ("TMPDIR".into(), plan.tmp.to_string_lossy().into_owned()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
    ]);
    env
}

/// The client's command in a client test's cell after `cell`, where it is
/// sure to be the same: in the namespace tier every cell gives it the lab's
/// port (see [`choose_port`]), so that cell can prepare it. `None` in the
/// process tier, where each test gets a port of its own.
pub fn next_client_spec(
    cell: &Cell,
    plan: &Plan,
    client: &ProgramPlan,
    lab_port: u16,
) -> Option<SpawnSpec> {
    (cell.tier() == Tier::Namespace).then(|| spawn_spec(plan, client, lab_port, false))
}

/// How to start `program` told to use `port`, in the submission's copy,
/// with standard input left idle (a client test gives its own).
pub fn spawn_spec(plan: &Plan, program: &ProgramPlan, port: u16, any_port: bool) -> SpawnSpec {
    let (binary, args) = program.render(&cell::CELL_HOST.to_string(), port);
    SpawnSpec {
        program: binary,
        args,
        cwd: plan.workdir.clone(),
        env: environment(plan, port),
        stdin: None,
        any_tcp_port: any_port,
    }
}

/// The port a program gets in a cell, and the lock held while it runs.
pub struct Port {
    pub number: u16,
    /// Held while a possibly hard-coded lab port is in use (process tier).
    pub lock: Option<PortLock>,
}

/// The port `program` gets in `cell`.
pub fn choose_port(
    cell: &Cell,
    program: &ProgramPlan,
    lab_port: u16,
    any_port: bool,
) -> Result<Port, String> {
    match cell.tier() {
        // Every namespace cell has the whole port range to itself.
        Tier::Namespace => Ok(Port {
            number: lab_port,
            lock: None,
        }),
        // A server that chooses its own port may choose anyone's: such
        // gradings take turns on this machine, one at a time.
        Tier::Process if any_port => PortLock::acquire_any_port()
            .map(|lock| Port {
                number: lab_port,
                lock: Some(lock),
            })
            .map_err(|err| format!("grader error: {err}")),
        Tier::Process if program.port_aware() => cell::free_port()
            .map(|number| Port { number, lock: None })
            .map_err(|err| format!("grader error: finding a free port: {err}")),
        // A command without {port} may hard-code the lab's port: it runs
        // alone on this machine, holding that port's lock.
        Tier::Process => PortLock::acquire(lab_port)
            .map(|lock| Port {
                number: lab_port,
                lock: Some(lock),
            })
            .map_err(|err| format!("grader error: {err}")),
    }
}

/// Whether the grader-played server waits briefly for the client to close
/// first, so that the connection's TIME_WAIT lands on the client's
/// ephemeral port and not on the lab's port, which a later server without
/// SO_REUSEADDR must bind again: only where that port is the machine's.
pub fn peer_lets_client_close_first(cell: &Cell) -> bool {
    cell.tier() == Tier::Process
}

/// Whether a server that could not start should be started again once
/// TIME_WAIT is over: it held the lab port's lock (so nothing else of the
/// grader's is on that port), said the port was in use, and has not been
/// given that second chance yet.
pub fn may_wait_out_time_wait(port: &Port, stderr: &[u8], waited_already: bool) -> bool {
    port.lock.is_some() && !waited_already && String::from_utf8_lossy(stderr).contains("in use")
}

/// Waits until no TCP connection on `port` is in TIME_WAIT, or `deadline`.
/// Returns whether there had been any and they are gone.
pub fn wait_for_time_wait(port: u16, deadline: Instant) -> bool {
    const LONGEST: Duration = Duration::from_secs(65);
    let until = deadline.min(Instant::now() + LONGEST);
    if cell::procfs::time_waits(port) == 0 {
        return false;
    }
    while Instant::now() < until {
        if cell::procfs::time_waits(port) == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Keeps how a program's last run ended, and the tails of its output.
pub fn record_end(run: &mut ProgramRun, end: ProgramEnd, workdir: &Path) {
    run.exit = end.exit;
    run.stdout_tail = scrub_paths(&end.stdout.last(2048), workdir);
    run.stderr_tail = scrub_paths(&end.stderr.last(2048), workdir);
}
