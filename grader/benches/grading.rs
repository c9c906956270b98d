//! The grader's performance figures, measured and printed:
//!
//! ```sh
//! cargo bench -p grader --bench grading
//! ```
//!
//! 1. Readiness: how long after a server's `listen()` the grader notices
//!    (median, p90, max), against a bare harness that spawns the same server
//!    itself and asks sock_diag in a loop without pausing; and spawn to
//!    noticed for the Rust reference, its start-up measured, not assumed.
//! 2. The grader against a bare harness, side by side in the same run: the
//!    Rust reference of every built-in lab and the textbook's `UDPServer.py`
//!    and `TCPServer.py` graded, then the same server starts and exchanges
//!    replayed by a bare harness (the bytes from the grader's transcripts,
//!    the lab's pauses and silences kept, a reply that never comes waited for
//!    only until the server dies): both times, their ratio, and the grader's
//!    own time per test (grader - bare). Then servers that die as a
//!    request arrives: from their death to the grading's return.
//! 3. A generated class (the Rust reference through `socklab.toml`, the
//!    textbook's Python programs, bugs that fail at once) graded with
//!    `grader::batch` at several job counts: the share of scripted waits in
//!    it, submissions per second, the speed-up, the grader's peak memory
//!    (VmHWM) and the whole process tree's (sampled), also for classes of 51,
//!    150 and 501 at the most jobs; then every lab's reference as a class of its own
//!    at each job count, per submission and as a ratio to the bare limit.
//! 4. The HTML reports of a class of 500 results (real gradings of the
//!    bundled samples, repeated): rebuilding the gradebook from the result
//!    files, rendering the class report, and rendering every student's page,
//!    with the time each takes and the files' sizes.
//!
//! Environment: `SOCKLAB_BENCH_CLASS` submissions per kind (default 8, so 24
//! per class), `SOCKLAB_BENCH_JOBS` the job counts (default `1,2,4`),
//! `SOCKLAB_BENCH_SIZES` the larger classes graded at the most jobs for
//! memory (default `51,150,501`), `SOCKLAB_BENCH_LAB_CLASS` the copies of
//! each lab's reference (default the per-kind count, at least 2),
//! `SOCKLAB_BENCH_ISOLATION` `auto`, `namespace` or `process`,
//! `SOCKLAB_BENCH_REPORT` the results in the HTML report (default 500),
//! `SOCKLAB_BENCH_ONLY=report` for the HTML figures alone, `side` for
//! readiness and the side-by-side figures alone, `death` for the dying
//! servers alone.
//!
//! It runs in-process, as `grader batch` does, so the figures are the grader
//! library's own; VmHWM is the grader process's alone, the tree peak adds
//! the keepers and programs of its cells. The bare harness runs its servers
//! as plain processes on free ports (a hard-coded port under the machine-wide
//! port lock). `cargo bench -p grader --bench grading -- --test` runs
//! everything once, small.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use grader::batch::{self, BatchOptions, Interrupt};
use grader::cell::{self, Cell, CellOptions, IsolationRequest, SpawnSpec, Tier};
use grader::lab::{self, Lab, PeerBehaviour, Step, TestCase, Transport};
use grader::limits::Limits;
use grader::outcome::{TestResult, TranscriptEvent};
use grader::readiness::{self, Readiness};
use grader::runner::{self, GradeOptions};
use grader::submission::{Overrides, REFERENCE_ARG, Source};

/// The lab the class is graded on: its textbook programs pass every core
/// test quickly, so the class measures the grader rather than timeouts.
const CLASS_LAB: &str = "tcp-uppercase";

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--test` from `cargo test
    // --benches` means "just check it runs".
    let quick = std::env::args().any(|arg| arg == "--test");
    let grader_binary = PathBuf::from(env!("CARGO_BIN_EXE_grader"));
    let isolation = match std::env::var("SOCKLAB_BENCH_ISOLATION").as_deref() {
        Ok("namespace") => IsolationRequest::Namespace,
        Ok("process") => IsolationRequest::Process,
        _ => IsolationRequest::Auto,
    };
    let per_kind: usize = env_number("SOCKLAB_BENCH_CLASS").unwrap_or(if quick { 1 } else { 8 });
    let job_counts = env_numbers("SOCKLAB_BENCH_JOBS").unwrap_or_else(|| vec![1, 2, 4]);
    let cell_options = CellOptions {
        isolation,
        keeper: Some(grader_binary.clone()),
        limits: Limits::default(),
        label: Some("bench".into()),
        sandbox: None,
    };
    let tier = Cell::open(&cell_options)
        .map(|cell| format!("{} ({})", cell.tier().as_str(), cell.reason()))
        .unwrap_or_else(|err| format!("none: {err}"));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("socklab grader benchmark");
    println!(
        "  {} cores, load average {} at the start, isolation {tier}",
        batch::default_jobs(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();

    // SOCKLAB_BENCH_ONLY=side: readiness and the grader against the bare
    // harness alone.
    if std::env::var("SOCKLAB_BENCH_ONLY").as_deref() == Ok("side") {
        readiness_figures(&cell_options, &grader_binary, if quick { 2 } else { 30 });
        side_by_side_figures(&grader_binary, isolation, if quick { 1 } else { 3 });
        web_server_figures(&grader_binary, isolation, if quick { 1 } else { 5 });
        death_figures(&grader_binary, isolation, if quick { 2 } else { 10 });
        return;
    }
    // SOCKLAB_BENCH_ONLY=death: the servers that die during a test alone.
    if std::env::var("SOCKLAB_BENCH_ONLY").as_deref() == Ok("death") {
        death_figures(&grader_binary, isolation, if quick { 2 } else { 10 });
        return;
    }
    // SOCKLAB_BENCH_ONLY=report measures the HTML reports alone.
    if std::env::var("SOCKLAB_BENCH_ONLY").as_deref() == Ok("report") {
        report_figures(
            &grader_binary,
            isolation,
            env_number("SOCKLAB_BENCH_REPORT").unwrap_or(500),
        );
        return;
    }
    readiness_figures(&cell_options, &grader_binary, if quick { 2 } else { 30 });
    side_by_side_figures(&grader_binary, isolation, if quick { 1 } else { 3 });
    web_server_figures(&grader_binary, isolation, if quick { 1 } else { 5 });
    death_figures(&grader_binary, isolation, if quick { 2 } else { 10 });
    let class_sizes = env_numbers("SOCKLAB_BENCH_SIZES")
        .unwrap_or_else(|| if quick { vec![6] } else { vec![51, 150, 501] });
    class_figures(
        &grader_binary,
        isolation,
        per_kind,
        &job_counts,
        &class_sizes,
    );
    println!();
    report_figures(
        &grader_binary,
        isolation,
        env_number("SOCKLAB_BENCH_REPORT").unwrap_or(if quick { 50 } else { 500 }),
    );
}

/// The samples whose results make the report's class: every verdict, many
/// hint kinds, and one that cannot run.
const REPORT_SAMPLES: [&str; 6] = [
    "textbook",
    "echo",
    "ascii-only-upper",
    "python2-print",
    "serves-one-then-exits",
    "keeps-connection-open",
];

fn report_figures(grader_binary: &Path, isolation: IsolationRequest, count: usize) {
    use grader::gradebook::{self, html as class_html};
    use grader::report::{Audience, html, json};

    let lab = builtin(CLASS_LAB);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/submissions")
        .join(CLASS_LAB);
    let empty = scratch.path().join("empty");
    std::fs::create_dir_all(&empty).expect("an empty submission");
    let mut sources: Vec<PathBuf> = REPORT_SAMPLES
        .iter()
        .map(|name| fixtures.join(name))
        .collect();
    sources.push(empty);
    let options = bench_options(grader_binary, isolation, 9);
    let results: Vec<String> = sources
        .iter()
        .map(|source| {
            let result = runner::grade(&lab, &Source::Directory(source.clone()), &options)
                .expect("grading runs");
            json::render(&result, Audience::default())
        })
        .collect();
    let dir = scratch.path().join("results");
    std::fs::create_dir_all(&dir).expect("a results directory");
    for index in 0..count {
        let name = format!("student-{index:04}.json");
        std::fs::write(dir.join(name), &results[index % results.len()]).expect("a result file");
    }
    println!(
        "HTML reports of {count} {CLASS_LAB} results ({} gradings repeated)",
        results.len()
    );
    let started = Instant::now();
    let (book, files) = gradebook::results::gradebook(&dir).expect("the results read back");
    let reading = started.elapsed();
    let started = Instant::now();
    let class = class_html::render(&class_html::ClassReport {
        gradebook: &book,
        pages: &Default::default(),
        notes: &[],
    });
    let rendering = started.elapsed();
    let started = Instant::now();
    let mut page_bytes = 0;
    for path in files.files.values() {
        let text = std::fs::read_to_string(path).expect("a result file");
        let stored = html::StoredResult::from_json(&text).expect("a result");
        page_bytes += html::render_stored(&stored, Audience::default(), None).len();
    }
    let pages = started.elapsed();
    println!(
        "  gradebook from {} result files: {:>7.1} ms",
        files.files.len(),
        reading.as_secs_f64() * 1000.0
    );
    println!(
        "  class report:                    {:>7.1} ms, {:.0} KiB",
        rendering.as_secs_f64() * 1000.0,
        class.len() as f64 / 1024.0
    );
    println!(
        "  {} student pages:               {:>7.1} ms, {:.1} KiB each on average",
        files.files.len(),
        pages.as_secs_f64() * 1000.0,
        page_bytes as f64 / 1024.0 / files.files.len().max(1) as f64
    );
}

/// A comma-separated list of numbers from the environment.
fn env_numbers(name: &str) -> Option<Vec<usize>> {
    let text = std::env::var(name).ok()?;
    Some(
        text.split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
    )
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// A Python server that prints the wall-clock time (ns) at which it started
/// listening, then waits for clients.
const TIMED_SERVER: &str = "\
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
print(time.time_ns(), flush=True)
s.accept()
";

/// Readiness latency, the grader's against a bare harness's: listen() to
/// noticed for a Python server that prints when it listened, and spawn to
/// noticed for the Rust reference.
fn readiness_figures(options: &CellOptions, grader_binary: &Path, runs: usize) {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let script = scratch.path().join("timed_server.py");
    std::fs::write(&script, TIMED_SERVER).expect("writing the timed server");
    let python = grader::submission::python3().to_path_buf();
    let python_command = |port: u16| {
        vec![
            python.display().to_string(),
            script.display().to_string(),
            port.to_string(),
        ]
    };
    let reference_command = |port: u16| reference_argv(grader_binary, "server", CLASS_LAB, port);
    let mut grader_bound = Vec::new();
    let mut bare_bound = Vec::new();
    let mut grader_spawn = Vec::new();
    let mut bare_spawn = Vec::new();
    for _ in 0..runs {
        let (_, bound) = time_readiness(options, scratch.path(), &python_command);
        grader_bound.extend(bound);
        let (spawn, _) = time_readiness(options, scratch.path(), &reference_command);
        grader_spawn.push(spawn);
        let port = cell::free_port().expect("a free port");
        let mut server =
            BareServer::start(&python_command(port), scratch.path(), Transport::Tcp, port)
                .expect("the bare harness starts the Python server");
        bare_bound.extend(server.bound_to_noticed());
        server.stop();
        let port = cell::free_port().expect("a free port");
        let server = BareServer::start(
            &reference_command(port),
            scratch.path(),
            Transport::Tcp,
            port,
        )
        .expect("the bare harness starts the reference");
        bare_spawn.push(server.started);
        server.stop();
    }
    println!(
        "readiness ({runs} servers of each kind; target: listen() -> noticed within 2 ms at the median, 5 ms at p90)"
    );
    println!("  {:<42} {:>10} {:>10} {:>10}", "", "median", "p90", "max");
    for (what, times) in [
        ("listen() -> noticed, grader (Python server)", &grader_bound),
        ("listen() -> noticed, bare harness", &bare_bound),
        ("spawn -> noticed, grader (Rust reference)", &grader_spawn),
        ("spawn -> noticed, bare harness (start-up)", &bare_spawn),
    ] {
        println!(
            "  {what:<42} {:>10} {:>10} {:>10}",
            ms(median(times)),
            ms(percentile(times, 90)),
            ms(max(times))
        );
    }
    println!(
        "  the bare harness spawns the server itself and asks sock_diag in a loop without pausing: the physical limit"
    );
    println!();
}

/// Starts a server in a fresh cell and waits for it as the runner does.
/// Returns spawn-to-noticed and, if the server printed when it bound, the
/// time from then to noticed.
fn time_readiness(
    options: &CellOptions,
    cwd: &Path,
    command: &dyn Fn(u16) -> Vec<String>,
) -> (Duration, Option<Duration>) {
    let cell = Cell::open(options).expect("opening a cell");
    let port = match cell.tier() {
        Tier::Namespace => 12000,
        Tier::Process => cell::free_port().expect("a free port"),
    };
    let mut argv = command(port);
    let program = PathBuf::from(argv.remove(0));
    let spec = SpawnSpec {
        program,
        args: argv,
        cwd: cwd.to_path_buf(),
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        stdin: None,
        any_tcp_port: false,
    };
    let spawned = Instant::now();
    let process = cell.spawn(&spec).expect("spawning a server");
    let readiness = readiness::wait(
        &cell,
        &process,
        Transport::Tcp,
        &[port],
        Instant::now() + Duration::from_secs(10),
    );
    let noticed_at = SystemTime::now();
    let spawn_to_ready = spawned.elapsed();
    assert!(
        matches!(readiness, Readiness::Listening { .. }),
        "the server did not start: {readiness:?}"
    );
    let bound_ns = printed_ns(|| process.stdout().joined());
    cell.stop_all(process);
    (
        spawn_to_ready,
        bound_ns.map(|bound| since_ns(bound, noticed_at)),
    )
}

/// The first line a server printed, as nanoseconds since 1970, waiting up
/// to 2 s for it (the print follows listen()).
fn printed_ns(output: impl Fn() -> Vec<u8>) -> Option<u128> {
    let printed_by = Instant::now() + Duration::from_secs(2);
    loop {
        let text = String::from_utf8_lossy(&output()).into_owned();
        if let Some(ns) = text
            .lines()
            .next()
            .and_then(|line| line.trim().parse::<u128>().ok())
        {
            return Some(ns);
        }
        if Instant::now() >= printed_by {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// From `bound_ns` to `noticed`; noticed before the print is possible (the
/// socket listens before the server reads the clock): that counts as zero.
fn since_ns(bound_ns: u128, noticed: SystemTime) -> Duration {
    let noticed_ns = noticed
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    Duration::from_nanos(noticed_ns.saturating_sub(bound_ns) as u64)
}

fn reference_argv(grader_binary: &Path, part: &str, lab: &str, port: u16) -> Vec<String> {
    [
        grader_binary.display().to_string(),
        REFERENCE_ARG.to_string(),
        part.to_string(),
        lab.to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
    ]
    .to_vec()
}

/// What is graded side by side with a bare harness: the Rust reference of
/// every built-in lab, and the textbook's Python programs.
struct Subject {
    lab: &'static str,
    label: String,
    source: Source,
    /// The server's and the client's command lines for the bare harness,
    /// `{port}` filled in; and the directory they run in.
    server: Option<Box<dyn Fn(u16) -> Vec<String>>>,
    client: Option<Box<dyn Fn(u16) -> Vec<String>>>,
    cwd: PathBuf,
    /// The port the server takes, if it hard-codes one.
    fixed_port: Option<u16>,
}

fn subjects(grader_binary: &Path) -> Vec<Subject> {
    let mut subjects: Vec<Subject> = grader::lab::BUILTIN_LABS
        .iter()
        // A proxy's server tests hold an origin too, which the bare harness
        // does not play: such a lab is left out of the side-by-side.
        .filter(|(name, _, _)| {
            let origin = builtin(name).tests.iter().any(|test| {
                test.part == lab::Part::Server
                    && test
                        .steps
                        .iter()
                        .any(|step| matches!(step, Step::Serve { .. }))
            });
            if origin {
                eprintln!(
                    "{name}: left out (its server tests play an origin the bare harness does not)"
                );
            }
            !origin
        })
        .map(|(name, _, _)| {
            let lab = builtin(name);
            let has = |part| lab.tests.iter().any(|test| test.part == part);
            let binary = grader_binary.to_path_buf();
            let server_binary = binary.clone();
            let name: &'static str = name;
            Subject {
                lab: name,
                label: format!("{name} reference"),
                source: Source::Reference,
                server: has(lab::Part::Server).then(|| -> Box<dyn Fn(u16) -> Vec<String>> {
                    Box::new(move |port| reference_argv(&server_binary, "server", name, port))
                }),
                client: has(lab::Part::Client).then(|| -> Box<dyn Fn(u16) -> Vec<String>> {
                    Box::new(move |port| reference_argv(&binary, "client", name, port))
                }),
                cwd: std::env::temp_dir(),
                fixed_port: None,
            }
        })
        .collect();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/submissions");
    let python = grader::submission::python3().display().to_string();
    let copies = std::env::temp_dir().join(format!("socklab-bench-{}", std::process::id()));
    for (lab, server) in [
        ("udp-uppercase", "UDPServer.py"),
        ("tcp-uppercase", "TCPServer.py"),
    ] {
        let dir = fixtures.join(lab).join("textbook");
        let text = std::fs::read_to_string(dir.join(server)).expect("the textbook server");
        let python = python.clone();
        let copies = copies.clone();
        subjects.push(Subject {
            lab,
            label: format!("{lab} {server}"),
            source: Source::Directory(dir.clone()),
            // The bare harness runs the same program on a free port: a copy
            // whose only change is the port line, so no other program on
            // this machine's port 12000 gets in the way.
            server: Some(Box::new(move |port| {
                std::fs::create_dir_all(&copies).expect("a directory for the copies");
                let copy = copies.join(format!("{port}-{server}"));
                let changed = text.replace("serverPort = 12000", &format!("serverPort = {port}"));
                std::fs::write(&copy, changed).expect("a copy of the textbook server");
                vec![python.clone(), "-u".into(), copy.display().to_string()]
            })),
            // The textbook client hard-codes its server's port: its tests
            // are left out of both sides (the reference's client tests
            // measure client tests).
            client: None,
            cwd: dir,
            fixed_port: None,
        });
    }
    subjects
}

/// Each subject graded `runs` times, and the same server starts and
/// exchanges run by a bare harness: the grader's time per test over the
/// bare harness's, and the ratio of the two per lab.
fn side_by_side_figures(grader_binary: &Path, isolation: IsolationRequest, runs: usize) {
    println!(
        "the grader against a bare harness (a lone grading, then {runs} as a batch grades them; target: the reference within 1.3x, the textbook servers within 1.5x, <= 3 ms of grader per test)"
    );
    println!(
        "  {:<30} {:>5} {:>11} {:>11} {:>7} {:>12} {:>14} {:>7}",
        "graded", "tests", "grader", "bare", "ratio", "grader/test", "scripted waits", "alone"
    );
    let mut overheads = Vec::new();
    for subject in subjects(grader_binary) {
        let lab = builtin(subject.lab);
        let mut gradings = Vec::new();
        let mut bares = Vec::new();
        let mut per_test: Vec<Vec<Duration>> = vec![Vec::new(); lab.tests.len()];
        let mut scripted = Duration::ZERO;
        let mut replay_failure = None;
        let mut alone = None;
        // The first grading has no spare cell to start in, as a lone `grader
        // grade` has none; each one after starts in the spare the one before
        // left, as in a batch.
        let _spare_cells = cell::KeepWarm::start();
        for run in 0..=runs {
            let options = bench_options(grader_binary, isolation, run as u64);
            let result = runner::grade(&lab, &subject.source, &options).expect("grading runs");
            if matches!(subject.source, Source::Reference) {
                assert_eq!(
                    result.score(),
                    result.max_score(),
                    "the reference loses points on {}",
                    subject.lab
                );
            }
            scripted = lab
                .tests
                .iter()
                .zip(&result.tests)
                .map(|(case, test)| scripted_wait(case, test))
                .sum();
            match bare_replay(&subject, &lab, &result.tests) {
                Ok(Replay { times, starts }) => {
                    let graded = result.server.as_ref().map_or(0, |server| server.starts);
                    if starts != graded {
                        replay_failure = Some(format!(
                            "it started the server {starts} times, the grader {graded}"
                        ));
                        break;
                    }
                    let replayed = || {
                        result
                            .tests
                            .iter()
                            .zip(&times)
                            .filter_map(|(test, bare)| bare.map(|bare| (test.duration, bare)))
                    };
                    let graded: Duration = replayed().map(|(graded, _)| graded).sum();
                    let bare: Duration = replayed().map(|(_, bare)| bare).sum();
                    if run == 0 {
                        alone = Some(graded.as_secs_f64() / bare.as_secs_f64().max(1e-9));
                        continue;
                    }
                    gradings.push(graded);
                    bares.push(bare);
                    for (index, bare) in times.iter().enumerate() {
                        if let Some(bare) = bare {
                            per_test[index]
                                .push(result.tests[index].duration.saturating_sub(*bare));
                        }
                    }
                }
                Err(err) => {
                    replay_failure = Some(err);
                    break;
                }
            }
        }
        if let Some(err) = replay_failure {
            println!(
                "  {:<30} the bare harness could not replay it: {err}",
                subject.label
            );
            continue;
        }
        let medians: Vec<Duration> = per_test
            .iter()
            .filter(|times| !times.is_empty())
            .map(|times| median(times))
            .collect();
        let (grading, bare) = (median(&gradings), median(&bares));
        println!(
            "  {:<30} {:>5} {:>11} {:>11} {:>6.2}x {:>12} {:>14} {:>6.2}x",
            subject.label,
            medians.len(),
            ms(grading),
            ms(bare),
            grading.as_secs_f64() / bare.as_secs_f64().max(1e-9),
            ms(median(&medians)),
            ms(scripted),
            alone.unwrap_or_default()
        );
        overheads.extend(medians);
    }
    println!(
        "  grader and bare: the sum of the tests' times (the grader's as each result records it); grader/test: the median over the tests of grader - bare"
    );
    println!(
        "  alone: the first grading's ratio, whose first cell opened while it started (as for one `grader grade`); the others started in the spare cell the grading before left open"
    );
    println!(
        "  over every test: grader's own time per test median {}, mean {}",
        ms(median(&overheads)),
        ms(overheads.iter().sum::<Duration>() / overheads.len().max(1) as u32)
    );
    println!();
}

/// A server started by the bare harness: a plain child process, noticed
/// listening by asking sock_diag in a loop without pausing.
struct BareServer {
    child: std::process::Child,
    /// Spawn to noticed listening.
    started: Duration,
    noticed_at: SystemTime,
    stdout: std::process::ChildStdout,
    /// The port it was started on and seen listening on.
    port: u16,
}

impl BareServer {
    fn start(
        argv: &[String],
        cwd: &Path,
        transport: Transport,
        port: u16,
    ) -> Result<BareServer, String> {
        let view = cell::procfs::SocketView::own_namespace();
        let spawned = Instant::now();
        let mut child = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|err| format!("spawning {}: {err}", argv[0]))?;
        let pid = child.id() as i32;
        loop {
            if view.listening_on_owned(pid, transport, &[port]).is_some() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the server ended before listening ({status})"));
            }
            if spawned.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                return Err("the server did not listen within 10 s".into());
            }
            // A look costs about 0.05 ms; spinning without a pause would
            // take the core the server needs to start on a busy machine.
            std::thread::sleep(Duration::from_micros(50));
        }
        let noticed_at = SystemTime::now();
        let stdout = child.stdout.take().expect("a piped stdout");
        Ok(BareServer {
            child,
            started: spawned.elapsed(),
            noticed_at,
            stdout,
            port,
        })
    }

    /// For the timed Python server: its printed listen() time to noticed.
    fn bound_to_noticed(&mut self) -> Option<Duration> {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(&mut self.stdout)
            .read_line(&mut line)
            .ok()?;
        let bound: u128 = line.trim().parse().ok()?;
        Some(since_ns(bound, self.noticed_at))
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One socket of a replayed server test.
enum BareSocket {
    Tcp(std::net::TcpStream),
    Udp(std::net::UdpSocket),
}

/// The grader's transcript of one channel, as the bytes it sent and
/// received, in order.
struct Script {
    events: Vec<(String, TranscriptEvent)>,
}

impl Script {
    fn of(result: &TestResult) -> Script {
        Script {
            events: result
                .transcript
                .iter()
                .filter(|entry| !matches!(entry.event, TranscriptEvent::Note(_)))
                .map(|entry| (entry.channel.clone(), entry.event.clone()))
                .collect(),
        }
    }

    /// Takes the consecutive events of `channel` of one kind (sent or
    /// received) at its front; empty when its next event is of the other kind.
    fn take(&mut self, channel: &str, sent: bool) -> Vec<Vec<u8>> {
        let mut taken = Vec::new();
        while let Some(at) = self.events.iter().position(|(name, _)| name == channel) {
            match (&self.events[at].1, sent) {
                (TranscriptEvent::Sent(bytes), true)
                | (TranscriptEvent::Received(bytes), false) => {
                    taken.push(bytes.clone());
                    self.events.remove(at);
                }
                _ => break,
            }
        }
        taken
    }
}

/// Runs the grader's tests again with a bare harness: the same server
/// starts (a fresh server whenever the last one ended, and wherever the
/// grader's notes say it started one afresh: after a failed test, and for
/// a test it ran again because the server died during it) and the same
/// exchanges, the bytes taken from the grader's transcripts, the lab's
/// pauses and silences kept; a reply the grader never got is waited for
/// until the server ends or its window passes.
fn bare_replay(subject: &Subject, lab: &Lab, results: &[TestResult]) -> Result<Replay, String> {
    let _lock = subject
        .fixed_port
        .map(|port| cell::PortLock::acquire(port).map_err(|err| err.to_string()))
        .transpose()?;
    let mut server: Option<BareServer> = None;
    let mut times = Vec::new();
    let mut starts = 0;
    for (case, result) in lab.tests.iter().zip(results) {
        if matches!(result.outcome, grader::outcome::Outcome::Skipped { .. }) {
            times.push(Some(Duration::ZERO));
            continue;
        }
        let started = Instant::now();
        let window = Duration::from_millis(case.timeout_ms.unwrap_or(2000));
        match case.part {
            lab::Part::Server => {
                let Some(command) = &subject.server else {
                    return Err("no server command".into());
                };
                let start = |server: &mut Option<BareServer>, starts: &mut u32| {
                    if let Some(old) = server.take() {
                        old.stop();
                    }
                    let port = subject
                        .fixed_port
                        .map_or_else(|| cell::free_port().map_err(|err| err.to_string()), Ok)?;
                    let argv = command(port);
                    *starts += 1;
                    *server = Some(BareServer::start(&argv, &subject.cwd, lab.transport, port)?);
                    Ok::<_, String>(())
                };
                let afresh = grader_noted(result, "the server was started afresh");
                if afresh || !server.as_mut().is_some_and(BareServer::alive) {
                    start(&mut server, &mut starts)?;
                }
                // The grader's first attempt, on the server that then died.
                if grader_noted(result, "the server had stopped serving during this test") {
                    let running = server.as_mut().expect("started");
                    replay_server_test(case, result, running.port, running, window)?;
                    start(&mut server, &mut starts)?;
                }
                let running = server.as_mut().expect("started");
                replay_server_test(case, result, running.port, running, window)?;
            }
            lab::Part::Client => {
                let Some(command) = &subject.client else {
                    times.push(None);
                    continue;
                };
                replay_client_test(
                    case,
                    result,
                    lab.transport,
                    command.as_ref(),
                    &subject.cwd,
                    window,
                )?;
            }
        }
        times.push(Some(started.elapsed()));
    }
    if let Some(server) = server {
        server.stop();
    }
    Ok(Replay { times, starts })
}

/// What the bare harness measured of one grading.
struct Replay {
    /// Each test's time; `None` for a test it has no program for.
    times: Vec<Option<Duration>>,
    /// The servers it started: as many as the grader did, or the two did
    /// not do the same work.
    starts: u32,
}

/// Whether the grader's transcript of `result` has a note of its own
/// beginning with `text`.
fn grader_noted(result: &TestResult, text: &str) -> bool {
    result.transcript.iter().any(|entry| {
        entry.channel == "grader"
            && matches!(&entry.event, TranscriptEvent::Note(note) if note.starts_with(text))
    })
}

fn replay_server_test(
    case: &TestCase,
    result: &TestResult,
    port: u16,
    server: &mut BareServer,
    window: Duration,
) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut script = Script::of(result);
    let mut sockets: std::collections::HashMap<String, BareSocket> = Default::default();
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for step in &case.steps {
        match step {
            Step::Open { socket, transport } => {
                let opened = match transport {
                    Transport::Tcp => std::net::TcpStream::connect(target).map(BareSocket::Tcp),
                    Transport::Udp => std::net::UdpSocket::bind("127.0.0.1:0").map(BareSocket::Udp),
                };
                match opened {
                    Ok(opened) => {
                        sockets.insert(socket.clone(), opened);
                    }
                    // The grader met a server that refused: so does this.
                    Err(_) => return Ok(()),
                }
            }
            Step::Send(send) => {
                for (index, bytes) in script.take(&send.socket, true).into_iter().enumerate() {
                    if index > 0 {
                        std::thread::sleep(Duration::from_millis(send.pause_ms));
                    }
                    let _ = match sockets.get_mut(&send.socket) {
                        Some(BareSocket::Tcp(stream)) => stream.write_all(&bytes),
                        Some(BareSocket::Udp(udp)) => udp.send_to(&bytes, target).map(drop),
                        None => Ok(()),
                    };
                }
            }
            Step::ShutdownWrite { socket } => {
                if let Some(BareSocket::Tcp(stream)) = sockets.get(socket) {
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                }
            }
            Step::Reset { socket } => {
                if let Some(BareSocket::Tcp(stream)) = sockets.remove(socket) {
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                }
            }
            Step::Close { socket } => {
                sockets.remove(socket);
            }
            Step::Expect {
                socket, within_ms, ..
            } => {
                let wanted = script.take(socket, false);
                let limit = within_ms.map_or(window, Duration::from_millis);
                let until = Instant::now() + limit;
                match sockets.get_mut(socket) {
                    Some(BareSocket::Tcp(stream)) => {
                        let mut left: usize = wanted.iter().map(Vec::len).sum();
                        let mut buffer = [0u8; 65536];
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(1)));
                        while (left > 0 || wanted.is_empty()) && Instant::now() < until {
                            match stream.read(&mut buffer) {
                                Ok(0) => break,
                                Ok(got) => left = left.saturating_sub(got),
                                Err(_) if !server.alive() && wanted.is_empty() => break,
                                Err(_) => {}
                            }
                        }
                    }
                    Some(BareSocket::Udp(udp)) => {
                        let _ = udp.set_read_timeout(Some(Duration::from_millis(1)));
                        let mut buffer = [0u8; 65536];
                        let mut left = wanted.len();
                        while (left > 0 || wanted.is_empty()) && Instant::now() < until {
                            match udp.recv_from(&mut buffer) {
                                Ok(_) => left = left.saturating_sub(1),
                                // The physical limit of a reply that never
                                // comes from a dead server: its death.
                                Err(_) if !server.alive() => break,
                                Err(_) => {}
                            }
                        }
                    }
                    None => {}
                }
            }
            Step::ExpectSilence { ms, .. } | Step::Pause { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
            }
            Step::ExpectClosed { socket } => {
                if let Some(BareSocket::Tcp(stream)) = sockets.get_mut(socket) {
                    let _ = stream.set_read_timeout(Some(window));
                    let mut buffer = [0u8; 4096];
                    while matches!(stream.read(&mut buffer), Ok(got) if got > 0) {}
                }
            }
            Step::Serve { .. }
            | Step::RunClient { .. }
            | Step::ExpectOutput { .. }
            | Step::ExpectSent(_)
            | Step::ExpectDialogue(_)
            | Step::ExpectExit { .. }
            | Step::ExpectNoCrash
            | Step::Check(_) => return Err("a client step in a server test".into()),
            // A proxy's origin: the bare harness plays none (see `subjects`).
            Step::ExpectHits { .. } => return Err("an origin's hit count".into()),
        }
    }
    Ok(())
}

/// A client test: a bare peer where the grader's was (answering with the
/// bytes the grader's peer sent), the client started with the same input,
/// waited for until it ends.
fn replay_client_test(
    case: &TestCase,
    result: &TestResult,
    transport: Transport,
    command: &dyn Fn(u16) -> Vec<String>,
    cwd: &Path,
    window: Duration,
) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut behaviour = PeerBehaviour::Reference;
    let mut smtp = None;
    let mut stdin = Vec::new();
    for step in &case.steps {
        match step {
            Step::Serve {
                behaviour: chosen,
                smtp: plan,
                ..
            } => {
                behaviour = *chosen;
                smtp = *plan;
            }
            Step::RunClient { stdin: input } => stdin = input.clone(),
            _ => {}
        }
    }
    let mut script = Script::of(result);
    let channel = result
        .transcript
        .iter()
        .find(|entry| !matches!(entry.event, TranscriptEvent::Note(_)))
        .map(|entry| entry.channel.clone())
        .unwrap_or_default();
    let mut turns: Vec<(bool, Vec<Vec<u8>>)> = Vec::new();
    loop {
        let received = script.take(&channel, false);
        let sent = script.take(&channel, true);
        if received.is_empty() && sent.is_empty() {
            break;
        }
        turns.push((false, received));
        turns.push((true, sent));
    }
    let late = match behaviour {
        PeerBehaviour::Late(ms) => Duration::from_millis(ms),
        _ => Duration::ZERO,
    };
    // The mail server's holds, as the grader's peer keeps them: before the
    // greeting, before every later reply, and between the lines of a reply
    // sent line by line.
    let hold_before = move |turn: usize, chunk: usize| -> Duration {
        let Some(plan) = &smtp else {
            return if chunk == 0 { late } else { Duration::ZERO };
        };
        Duration::from_millis(match (turn, chunk) {
            (0, 0) => plan.greeting_ms,
            (_, 0) => plan.reply_ms,
            _ => plan.line_ms,
        })
    };
    let (port, peer) = match (transport, &behaviour) {
        (_, PeerBehaviour::Absent) => (cell::free_port().map_err(|err| err.to_string())?, None),
        (Transport::Tcp, _) => {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
            let port = listener.local_addr().map_err(|err| err.to_string())?.port();
            let peer = std::thread::spawn(move || {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let _ = stream.set_read_timeout(Some(window));
                let mut buffer = [0u8; 65536];
                let mut replies = 0;
                for (sending, chunks) in turns {
                    if sending {
                        if chunks.is_empty() {
                            continue;
                        }
                        for (index, chunk) in chunks.iter().enumerate() {
                            std::thread::sleep(hold_before(replies, index));
                            let _ = stream.write_all(chunk);
                        }
                        replies += 1;
                    } else {
                        let mut left: usize = chunks.iter().map(Vec::len).sum();
                        while left > 0 {
                            match stream.read(&mut buffer) {
                                Ok(0) | Err(_) => return,
                                Ok(got) => left = left.saturating_sub(got),
                            }
                        }
                    }
                }
                // Done answering, as the grader's peer is: a client that
                // reads until the server closes sees it close.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                while matches!(stream.read(&mut buffer), Ok(got) if got > 0) {}
            });
            (port, Some(peer))
        }
        (Transport::Udp, PeerBehaviour::Plan) => {
            let plan = socklab::udp_pinger::graded_plan(plan_seed(result)?);
            let replies: Vec<Vec<u8>> = sent_events(result)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            let (socket, port) = bare_udp_socket(window)?;
            let peer = std::thread::spawn(move || play_plan(&socket, &plan, replies));
            (port, Some(peer))
        }
        (Transport::Udp, _) => {
            let (socket, port) = bare_udp_socket(window)?;
            let peer = std::thread::spawn(move || {
                let mut buffer = [0u8; 65536];
                let mut from = None;
                for (sending, chunks) in turns {
                    for chunk in chunks {
                        if sending {
                            std::thread::sleep(late);
                            if let Some(to) = from {
                                let _ = socket.send_to(&chunk, to);
                            }
                        } else {
                            match socket.recv_from(&mut buffer) {
                                Ok((_, sender)) => from = Some(sender),
                                Err(_) => return,
                            }
                        }
                    }
                }
            });
            (port, Some(peer))
        }
    };
    let argv = command(port);
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| format!("spawning {}: {err}", argv[0]))?;
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(&stdin);
    }
    let until = Instant::now() + window;
    // The client's exit is waited for in a blocking wait: the physical limit.
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        (child, status)
    });
    while !waiter.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_micros(200));
    }
    if !waiter.is_finished() {
        return Err("the client did not end in its window".into());
    }
    let _ = waiter.join();
    if let Some(peer) = peer {
        let _ = peer.join();
    }
    Ok(())
}

/// The bare peer's UDP socket on a free port of 127.0.0.1, its reads
/// bounded by the test's window; with that port.
fn bare_udp_socket(window: Duration) -> Result<(std::net::UdpSocket, u16), String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
    let port = socket.local_addr().map_err(|err| err.to_string())?.port();
    let _ = socket.set_read_timeout(Some(window));
    Ok((socket, port))
}

/// What the grader's side sent in a test, an entry per send, in order.
fn sent_events(result: &TestResult) -> Vec<&[u8]> {
    result
        .transcript
        .iter()
        .filter_map(|entry| match &entry.event {
            TranscriptEvent::Sent(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .collect()
}

/// The seed of the plan the grader's server played in a test, from its note.
fn plan_seed(result: &TestResult) -> Result<u64, String> {
    result
        .transcript
        .iter()
        .find_map(|entry| match &entry.event {
            TranscriptEvent::Note(note) => note
                .strip_prefix("the grader's server plays the plan of seed ")
                .and_then(|seed| seed.trim().parse().ok()),
            _ => None,
        })
        .ok_or_else(|| format!("test `{}` names no plan seed", result.id))
}

/// Answers a ping client as the grader's planned server does, one ping at
/// a time: a lost ping gets nothing, a delayed one its reply after the
/// delay, a late one its reply when the next ping arrives. `replies` are the
/// grader's, in the order it sent them.
fn play_plan(
    socket: &std::net::UdpSocket,
    plan: &[socklab::udp_pinger::Fate],
    replies: Vec<Vec<u8>>,
) {
    use socklab::udp_pinger::Fate;
    let mut replies = replies.into_iter();
    let mut buffer = [0u8; 65536];
    let mut late = false;
    // Done once every reply the grader sent has gone.
    for index in 0.. {
        if replies.len() == 0 {
            return;
        }
        let Ok((_, from)) = socket.recv_from(&mut buffer) else {
            return;
        };
        let send = |replies: &mut std::vec::IntoIter<Vec<u8>>| {
            if let Some(reply) = replies.next() {
                let _ = socket.send_to(&reply, from);
            }
        };
        // The late reply goes as the next ping arrives, before its own.
        if std::mem::take(&mut late) {
            send(&mut replies);
        }
        match plan.get(index).copied() {
            Some(Fate::Drop) => {}
            Some(Fate::Late { .. }) => late = true,
            Some(Fate::Reply { delay }) => {
                std::thread::sleep(delay);
                send(&mut replies);
            }
            None => send(&mut replies),
        }
    }
}

/// Python servers that die the moment a request arrives, graded `runs`
/// times on the lab's first server test: from the death (the server prints
/// the clock as it exits) to the grading's return. The test expects a reply
/// it will never get, so only noticing the death ends it before its window.
fn death_figures(grader_binary: &Path, isolation: IsolationRequest, runs: usize) {
    // Written as students write them, the port hard-coded.
    const UDP_SERVER: &str = "import os, time\nfrom socket import *\nserverSocket = socket(AF_INET, SOCK_DGRAM)\nserverSocket.bind(('', 12000))\nserverSocket.recvfrom(2048)\nprint(time.time_ns(), flush=True)\nos._exit(3)\n";
    const TCP_SERVER: &str = "import os, time\nfrom socket import *\nserverSocket = socket(AF_INET, SOCK_STREAM)\nserverSocket.bind(('', 12000))\nserverSocket.listen(1)\nconnectionSocket, addr = serverSocket.accept()\nconnectionSocket.recv(1024)\nprint(time.time_ns(), flush=True)\nos._exit(3)\n";
    println!(
        "a server that dies during a test ({runs} runs each; target: the test ends within 10 ms of the death)"
    );
    println!(
        "  {:<30} {:>8} {:>8} {:>8} {:>16}",
        "graded", "median", "p90", "max", "reply window"
    );
    let scratch = tempfile::tempdir().expect("a scratch directory");
    for (lab_name, file, text) in [
        ("udp-uppercase", "UDPServer.py", UDP_SERVER),
        ("tcp-uppercase", "TCPServer.py", TCP_SERVER),
    ] {
        let mut lab = builtin(lab_name);
        let Some(first) = lab
            .tests
            .iter()
            .position(|test| test.part == lab::Part::Server)
        else {
            continue;
        };
        let test = lab.tests.swap_remove(first);
        let window = Duration::from_millis(test.timeout_ms.unwrap_or(2000));
        lab.tests = vec![test];
        let dir = scratch.path().join(lab_name);
        std::fs::create_dir_all(&dir).expect("a submission directory");
        std::fs::write(dir.join(file), text).expect("the dying server");
        let options = bench_options(grader_binary, isolation, 0);
        let mut after_death = Vec::new();
        for _ in 0..runs {
            let result = runner::grade(&lab, &Source::Directory(dir.clone()), &options)
                .expect("grading runs");
            let returned = SystemTime::now();
            assert!(
                !result.tests[0].outcome.is_pass(),
                "a dead server passed {}",
                result.tests[0].id
            );
            let printed = result
                .server
                .as_ref()
                .map(|server| String::from_utf8_lossy(&server.stdout_tail).into_owned())
                .unwrap_or_default();
            let died_ns: u128 = printed
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("the dying server printed {printed:?}"));
            after_death.push(since_ns(died_ns, returned));
        }
        println!(
            "  {:<30} {:>8} {:>8} {:>8} {:>16}",
            format!("{lab_name} {file}"),
            ms(median(&after_death)),
            ms(percentile(&after_death, 90)),
            ms(max(&after_death)),
            ms(window)
        );
    }
    println!(
        "  from the server's last print, as it exits, to the return of the grading: an upper bound of the test's end, which stopping the cell and assembling the result follow"
    );
    println!();
}

/// A correct Python web server (the sample `web-server/correct`) graded
/// `runs` times: the whole grading, the first test (the interpreter's
/// start-up, readiness and one exchange), the lab's scripted waits, and the
/// slowest of the other tests, which no test should spend waiting on a
/// timeout.
fn web_server_figures(grader_binary: &Path, isolation: IsolationRequest, runs: usize) {
    let lab = builtin("web-server");
    let source = Source::Directory(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/submissions/web-server/correct"),
    );
    let options = GradeOptions {
        cell_label: None,
        ..bench_options(grader_binary, isolation, 7)
    };
    let mut totals = Vec::new();
    let mut firsts = Vec::new();
    let mut slowest_others = Vec::new();
    let mut scripted = Duration::ZERO;
    let mut slowest_id = String::new();
    let mut passed = (0, 0);
    for _ in 0..runs {
        let started = Instant::now();
        let result = runner::grade(&lab, &source, &options).expect("the web server is graded");
        totals.push(started.elapsed());
        passed = (
            result
                .tests
                .iter()
                .filter(|test| test.outcome.is_pass())
                .count(),
            result.tests.len(),
        );
        firsts.push(
            result
                .tests
                .first()
                .map_or(Duration::ZERO, |test| test.duration),
        );
        scripted = lab
            .tests
            .iter()
            .zip(&result.tests)
            .map(|(case, test)| scripted_wait(case, test))
            .sum();
        let slowest = result.tests.iter().skip(1).max_by_key(|test| test.duration);
        if let Some(test) = slowest {
            slowest_others.push(test.duration);
            slowest_id.clone_from(&test.id);
        }
    }
    println!(
        "a correct Python web server graded ({runs} runs, {}/{} tests pass): {} in all (median); the first test {} (start-up, readiness, one exchange); the lab's scripted waits {}; the slowest other test {} (`{slowest_id}`)",
        passed.0,
        passed.1,
        ms(median(&totals)),
        ms(median(&firsts)),
        ms(scripted),
        ms(median(&slowest_others)),
    );
    println!();
}

/// The time a test spends waiting on purpose: pauses, silences it listens
/// for, segments it spaces out, replies it holds back, and, when nothing
/// listens for a client, the client's own wait for its timeout (from the
/// transcript: from the client's start to its last event).
fn scripted_wait(case: &TestCase, result: &TestResult) -> Duration {
    let mut ms: u64 = 0;
    let mut no_server = false;
    for step in &case.steps {
        ms += match step {
            Step::Pause { ms } | Step::ExpectSilence { ms, .. } => *ms,
            Step::Send(send) => send.pause_ms * send.segments.len() as u64,
            Step::Serve {
                behaviour: PeerBehaviour::Late(ms),
                ..
            } => *ms,
            Step::Serve {
                behaviour: PeerBehaviour::Absent,
                ..
            } => {
                no_server = true;
                0
            }
            // The mail server's holds: before its greeting, before each
            // reply sent after it, between the lines of each reply.
            Step::Serve {
                smtp: Some(plan), ..
            } => {
                let sent = sent_events(result);
                // Sent line by line, a reply's every line but its last has
                // a dash after the code and is followed by a hold.
                let continued = sent
                    .iter()
                    .filter(|bytes| bytes.get(3) == Some(&b'-'))
                    .count() as u64;
                let (replies, line_holds) = if plan.line_ms > 0 {
                    (sent.len() as u64 - continued, continued)
                } else {
                    (sent.len() as u64, 0)
                };
                plan.greeting_ms
                    + plan.reply_ms * replies.saturating_sub(1)
                    + plan.line_ms * line_holds
            }
            // The pinger's plan: two lost pings and a late reply (a second
            // of the client's wait each) and the seven known delays.
            Step::Serve {
                behaviour: PeerBehaviour::Plan,
                ..
            } => 3000 + socklab::udp_pinger::GRADED_DELAYS_MS.iter().sum::<u64>(),
            _ => 0,
        };
    }
    let mut waited = Duration::from_millis(ms);
    if no_server {
        let started = result
            .transcript
            .iter()
            .find_map(|entry| match &entry.event {
                TranscriptEvent::Note(note) if note.starts_with("started the client") => {
                    Some(entry.at)
                }
                _ => None,
            });
        if let (Some(started), Some(last)) = (started, result.transcript.last()) {
            waited += last.at.saturating_sub(started);
        }
    }
    waited
}

/// The class at several job counts, then larger classes at the most jobs;
/// then every lab's reference as a class of its own at each job count,
/// against the bare harness's time for one submission.
fn class_figures(
    grader_binary: &Path,
    isolation: IsolationRequest,
    per_kind: usize,
    job_counts: &[usize],
    class_sizes: &[usize],
) {
    let lab = builtin(CLASS_LAB);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let class = scratch.path().join("class");
    let kinds = make_class(&class, grader_binary, per_kind, 0);
    let waits = scripted_share(&lab, &class, grader_binary, isolation);
    println!(
        "a class of {} {CLASS_LAB} submissions: {kinds}",
        3 * per_kind
    );
    println!("  scripted waits (pauses, silences, late replies): {waits:.0}% of its test time");
    println!(
        "  {:>5} {:>9} {:>14} {:>9} {:>14} {:>16}",
        "jobs", "wall", "submissions/s", "speed-up", "grader VmHWM", "process tree peak"
    );
    let mut first_rate = None;
    for &jobs in job_counts {
        let run = grade_class(&lab, &class, grader_binary, isolation, jobs);
        let rate = run.count as f64 / run.elapsed.as_secs_f64();
        let base = *first_rate.get_or_insert(rate);
        println!(
            "  {:>5} {:>8.1}s {:>14.1} {:>8.2}x {:>14} {:>16}",
            jobs,
            run.elapsed.as_secs_f64(),
            rate,
            rate / base,
            run.peak,
            mib(run.tree_peak)
        );
    }
    // Larger classes at the most jobs: memory must not grow with the class.
    let most = job_counts.iter().copied().max().unwrap_or(1);
    let mut made = per_kind;
    for size in class_sizes {
        let wanted = size.div_ceil(3);
        if wanted > made {
            make_class(&class, grader_binary, wanted - made, made);
            made = wanted;
        }
        let run = grade_class(&lab, &class, grader_binary, isolation, most);
        println!(
            "  {:>5} {:>8.1}s {:>14.1} {:>9} {:>14} {:>16}  <- {} submissions",
            most,
            run.elapsed.as_secs_f64(),
            run.count as f64 / run.elapsed.as_secs_f64(),
            "",
            run.peak,
            mib(run.tree_peak),
            run.count
        );
    }
    println!(
        "  speed-up is against {} job{}; the tree peak sums the resident memory of the grader and every process below it (keepers, programs), sampled every 10 ms",
        job_counts[0],
        if job_counts[0] == 1 { "" } else { "s" }
    );
    println!();

    let copies = env_number("SOCKLAB_BENCH_LAB_CLASS").unwrap_or(per_kind.max(2));
    println!(
        "every lab's reference as a class of {copies} (socklab.toml), per submission, and its ratio to the limit (the bare harness's time for one grading, divided by min(jobs, cores))"
    );
    let mut header = format!("  {:<14} {:>10}", "lab", "bare");
    for jobs in job_counts {
        header.push_str(&format!(" {:>19}", format!("jobs {jobs}")));
    }
    println!("{header}");
    let cores = batch::default_jobs();
    for subject in subjects(grader_binary) {
        if !matches!(subject.source, Source::Reference) {
            continue;
        }
        let lab = builtin(subject.lab);
        let options = bench_options(grader_binary, isolation, 0);
        let result = runner::grade(&lab, &Source::Reference, &options).expect("grading runs");
        let Ok(bare) = bare_replay(&subject, &lab, &result.tests) else {
            continue;
        };
        let bare: Duration = bare.times.iter().flatten().sum();
        let dir = scratch.path().join(format!("lab-{}", subject.lab));
        for index in 0..copies {
            let submission = dir.join(format!("ref-{index:03}"));
            std::fs::create_dir_all(&submission).expect("a submission");
            std::fs::write(
                submission.join("socklab.toml"),
                manifest(grader_binary, subject.lab),
            )
            .expect("socklab.toml");
        }
        let mut line = format!("  {:<14} {:>10}", subject.lab, ms(bare));
        for &jobs in job_counts {
            let run = grade_class(&lab, &dir, grader_binary, isolation, jobs);
            let each = run.elapsed / run.count.max(1) as u32;
            let limit = bare / jobs.min(cores).max(1) as u32;
            line.push_str(&format!(
                " {:>11} {:>6.2}x",
                ms(each),
                each.as_secs_f64() / limit.as_secs_f64().max(1e-9)
            ));
        }
        println!("{line}");
    }
    println!();
}

/// The share of a class's test time that its labs script as waits, from
/// one grading of one submission of each kind.
fn scripted_share(
    lab: &Lab,
    class: &Path,
    grader_binary: &Path,
    isolation: IsolationRequest,
) -> f64 {
    let options = bench_options(grader_binary, isolation, 0);
    let (mut waits, mut total) = (Duration::ZERO, Duration::ZERO);
    for kind in ["rust-0000", "textbook-0000", "buggy-0000"] {
        let source = Source::Directory(class.join(kind));
        let result = runner::grade(lab, &source, &options).expect("grading runs");
        for (case, test) in lab.tests.iter().zip(&result.tests) {
            waits += scripted_wait(case, test).min(test.duration);
            total += test.duration;
        }
    }
    100.0 * waits.as_secs_f64() / total.as_secs_f64().max(1e-9)
}

fn manifest(grader_binary: &Path, lab: &str) -> String {
    let grader = grader_binary.display();
    format!(
        "[server]\ncommand = \"'{grader}' {REFERENCE_ARG} server {lab} --port {{port}}\"\n\
         [client]\ncommand = \"'{grader}' {REFERENCE_ARG} client {lab} --host {{host}} --port {{port}}\"\n"
    )
}

/// Adds `per_kind` submissions of each kind to `class`, numbered from
/// `first`; returns what the kinds are.
fn make_class(class: &Path, grader_binary: &Path, per_kind: usize, first: usize) -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/submissions")
        .join(CLASS_LAB);
    // Bugs that fail at once (a wrong reply, a wrong print, a failing
    // exit), so the class's time is the grader's, not timeouts it sits out.
    const BUGGY: [&str; 4] = [
        "echo",
        "ascii-only-upper",
        "client-prints-sent",
        "client-exits-nonzero",
    ];
    let manifest = manifest(grader_binary, CLASS_LAB);
    for index in first..first + per_kind {
        let rust = class.join(format!("rust-{index:04}"));
        std::fs::create_dir_all(&rust).expect("creating a submission");
        std::fs::write(rust.join("socklab.toml"), &manifest).expect("writing socklab.toml");
        copy_dir(
            &fixtures.join("textbook"),
            &class.join(format!("textbook-{index:04}")),
        );
        copy_dir(
            &fixtures.join(BUGGY[index % BUGGY.len()]),
            &class.join(format!("buggy-{index:04}")),
        );
    }
    format!(
        "the Rust reference (socklab.toml), the textbook's Python, and buggy ones ({})",
        BUGGY.join(", ")
    )
}

struct ClassRun {
    elapsed: Duration,
    count: usize,
    /// The grader's VmHWM.
    peak: String,
    /// The most the whole process tree held at once, in KiB.
    tree_peak: u64,
}

/// Grades the class once, sampling the process tree's memory meanwhile.
fn grade_class(
    lab: &Lab,
    class: &Path,
    grader_binary: &Path,
    isolation: IsolationRequest,
    jobs: usize,
) -> ClassRun {
    reset_peak_memory();
    let options = BatchOptions {
        directory: class.to_path_buf(),
        jobs,
        results_dir: None,
        force: false,
        shard: None,
        seed: 1,
        grade: bench_options(grader_binary, isolation, 0),
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(tree_rss_kb());
                std::thread::sleep(Duration::from_millis(10));
            }
            most
        })
    };
    let started = Instant::now();
    let finished =
        batch::run(lab, &options, &Interrupt::new(), &mut |_| {}).expect("the batch runs");
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let tree_peak = sampler.join().unwrap_or(0);
    let summary = &finished.gradebook.summary;
    assert_eq!(
        summary.errors, 0,
        "grader errors in the class: {:?}",
        summary.could_not_run
    );
    ClassRun {
        elapsed,
        count: summary.submissions,
        peak: peak_memory(),
        tree_peak,
    }
}

/// Resident memory of this process and every process below it, in KiB.
fn tree_rss_kb() -> u64 {
    cell::procfs::descendants(std::process::id() as i32)
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
        })
        .sum()
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

/// Resets VmHWM to the current RSS, where the kernel allows it.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} MiB", kb as f64 / 1024.0))
        .unwrap_or_else(|| "unknown".into())
}

fn builtin(name: &str) -> Lab {
    lab::builtin(name)
        .expect("a built-in lab")
        .expect("built-in labs load")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a submission");
    for entry in std::fs::read_dir(from).expect("reading a sample") {
        let entry = entry.expect("reading a sample");
        let destination = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &destination);
        } else {
            std::fs::copy(entry.path(), &destination).expect("copying a sample");
        }
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn percentile(values: &[Duration], percent: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let at = (sorted.len() * percent / 100).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied().unwrap_or_default()
}

fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// How the benchmark grades: the cells labelled `bench`.
fn bench_options(grader_binary: &Path, isolation: IsolationRequest, seed: u64) -> GradeOptions {
    GradeOptions {
        seed,
        isolation,
        grader_binary: Some(grader_binary.to_path_buf()),
        limits: Default::default(),
        overrides: Overrides::default(),
        cell_label: Some("bench".into()),
    }
}
