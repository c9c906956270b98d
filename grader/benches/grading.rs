//! The grader's performance figures, measured and printed:
//!
//! ```sh
//! cargo bench -p grader --bench grading
//! ```
//!
//! 1. Readiness: how long after a server binds its socket the grader notices,
//!    and how long from spawning a server to noticing it listens.
//! 2. The grader's own time per test: the Rust reference graded on every lab,
//!    minus the pauses the lab scripts on purpose and the reference's start-up.
//! 3. A generated class (the Rust reference through `socklab.toml`, the
//!    textbook's Python programs, buggy ones) graded with `grader::batch` at
//!    several job counts: submissions per second, the speed-up, and the
//!    grader's peak memory (VmHWM), also for a class twice as large.
//! 4. The HTML reports of a class of 500 results (real gradings of the
//!    bundled samples, repeated): rebuilding the gradebook from the result
//!    files, rendering the class report, and rendering every student's page,
//!    with the time each takes and the files' sizes.
//!
//! Environment: `SOCKLAB_BENCH_CLASS` submissions per kind (default 8, so 24
//! per class), `SOCKLAB_BENCH_JOBS` the job counts (default `1,2,4`),
//! `SOCKLAB_BENCH_ISOLATION` `auto`, `namespace` or `process`,
//! `SOCKLAB_BENCH_REPORT` the results in the HTML report (default 500),
//! `SOCKLAB_BENCH_ONLY=report` for the HTML figures alone.
//!
//! It runs in-process, as `grader batch` does, so the figures are the grader
//! library's own; the keeper processes of namespace cells are not in VmHWM.

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
    let job_counts: Vec<usize> = std::env::var("SOCKLAB_BENCH_JOBS")
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 2, 4]);
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

    // SOCKLAB_BENCH_ONLY=report measures the HTML reports alone.
    if std::env::var("SOCKLAB_BENCH_ONLY").as_deref() == Ok("report") {
        report_figures(
            &grader_binary,
            isolation,
            env_number("SOCKLAB_BENCH_REPORT").unwrap_or(500),
        );
        return;
    }
    let startup = readiness_figures(&cell_options, &grader_binary, if quick { 2 } else { 20 });
    per_test_figures(
        &grader_binary,
        isolation,
        startup,
        if quick { 1 } else { 5 },
    );
    class_figures(&grader_binary, isolation, per_kind, &job_counts);
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
    let options = GradeOptions {
        seed: 9,
        isolation,
        grader_binary: Some(grader_binary.to_path_buf()),
        limits: Default::default(),
        overrides: Overrides::default(),
        cell_label: Some("bench".into()),
    };
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

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// A Python server that prints the wall-clock time (ns) at which it started
/// listening, then idles.
const TIMED_SERVER: &str = "\
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
print(time.time_ns(), flush=True)
time.sleep(60)
";

/// Readiness latency; returns the median spawn-to-listening time of the Rust
/// reference server, its own start-up as the grader sees it.
fn readiness_figures(options: &CellOptions, grader_binary: &Path, runs: usize) -> Duration {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let script = scratch.path().join("timed_server.py");
    std::fs::write(&script, TIMED_SERVER).expect("writing the timed server");
    let python = grader::submission::python3().to_path_buf();

    let mut python_spawn = Vec::new();
    let mut python_bound = Vec::new();
    let mut reference_spawn = Vec::new();
    for _ in 0..runs {
        let (spawn_to_ready, bound_to_ready) = time_readiness(options, scratch.path(), |port| {
            (
                python.clone(),
                vec![script.to_string_lossy().into_owned(), port.to_string()],
            )
        });
        python_spawn.push(spawn_to_ready);
        python_bound.extend(bound_to_ready);
        let (spawn_to_ready, _) = time_readiness(options, scratch.path(), |port| {
            (
                grader_binary.to_path_buf(),
                [
                    REFERENCE_ARG,
                    "server",
                    CLASS_LAB,
                    "--port",
                    &port.to_string(),
                ]
                .map(String::from)
                .to_vec(),
            )
        });
        reference_spawn.push(spawn_to_ready);
    }
    println!("readiness ({runs} servers of each kind; target: noticed within 2 ms of binding)");
    println!(
        "  bound -> noticed, Python server:    median {}, max {}",
        ms(median(&python_bound)),
        ms(max(&python_bound))
    );
    println!(
        "  spawn -> noticed, Python server:    median {}, max {}",
        ms(median(&python_spawn)),
        ms(max(&python_spawn))
    );
    println!(
        "  spawn -> noticed, Rust reference:   median {}, max {}",
        ms(median(&reference_spawn)),
        ms(max(&reference_spawn))
    );
    println!();
    median(&reference_spawn)
}

/// Starts a server in a fresh cell and waits for it as the runner does.
/// Returns spawn-to-noticed and, if the server printed when it bound, the
/// time from then to noticed.
fn time_readiness(
    options: &CellOptions,
    cwd: &Path,
    command: impl Fn(u16) -> (PathBuf, Vec<String>),
) -> (Duration, Option<Duration>) {
    let cell = Cell::open(options).expect("opening a cell");
    let port = match cell.tier() {
        Tier::Namespace => 12000,
        Tier::Process => cell::free_port().expect("a free port"),
    };
    let (program, args) = command(port);
    let spec = SpawnSpec {
        program,
        args,
        cwd: cwd.to_path_buf(),
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        stdin: None,
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
    // The server prints its binding time just after listen(); wait for it.
    let printed_by = Instant::now() + Duration::from_secs(2);
    let bound_ns = loop {
        let text = String::from_utf8_lossy(&process.stdout().joined()).into_owned();
        if let Some(ns) = text
            .lines()
            .next()
            .and_then(|line| line.trim().parse::<u128>().ok())
        {
            break Some(ns);
        }
        if Instant::now() >= printed_by {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    cell.stop_all(process);
    let noticed_ns = noticed_at
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    // Noticed before the print is possible (the socket listens before the
    // server reads the clock): that counts as zero.
    let bound_to_ready =
        bound_ns.map(|bound| Duration::from_nanos(noticed_ns.saturating_sub(bound) as u64));
    (spawn_to_ready, bound_to_ready)
}

/// The grader's own time per test: the reference graded on every lab. A
/// test's grader time is its duration less the waits its steps script and
/// the reference's start-up when the test started a program (the first
/// server test, every client test).
fn per_test_figures(
    grader_binary: &Path,
    isolation: IsolationRequest,
    startup: Duration,
    runs: usize,
) {
    println!(
        "grading the Rust reference ({runs} runs per lab; target: a few ms per test, a lab well under a second)"
    );
    println!(
        "  {:<14} {:>5} {:>11} {:>15} {:>15}  slowest test",
        "lab", "tests", "grading", "scripted waits", "grader/test"
    );
    let mut every_test = Vec::new();
    // Every built-in lab, so a new lab is measured without editing this.
    for (name, _, _) in grader::lab::BUILTIN_LABS {
        let lab = builtin(name);
        let mut gradings = Vec::new();
        let mut per_test: Vec<Vec<Duration>> = vec![Vec::new(); lab.tests.len()];
        let mut scripted_total = Duration::ZERO;
        for run in 0..runs {
            let options = GradeOptions {
                seed: run as u64,
                isolation,
                grader_binary: Some(grader_binary.to_path_buf()),
                limits: Default::default(),
                overrides: Overrides::default(),
                cell_label: Some("bench".into()),
            };
            let result = runner::grade(&lab, &Source::Reference, &options).expect("grading runs");
            assert_eq!(
                result.score(),
                result.max_score(),
                "the reference loses points on {name}"
            );
            gradings.push(result.duration);
            let first_server_test = result
                .tests
                .iter()
                .position(|test| test.part == lab::Part::Server);
            scripted_total = Duration::ZERO;
            for (index, (test, case)) in result.tests.iter().zip(&lab.tests).enumerate() {
                let scripted = scripted_wait(case, test);
                scripted_total += scripted;
                let started_a_program =
                    test.part == lab::Part::Client || Some(index) == first_server_test;
                let own = scripted
                    + if started_a_program {
                        startup
                    } else {
                        Duration::ZERO
                    };
                per_test[index].push(test.duration.saturating_sub(own));
            }
        }
        let medians: Vec<Duration> = per_test.iter().map(|times| median(times)).collect();
        let (slowest, slowest_time) = medians
            .iter()
            .enumerate()
            .max_by_key(|(_, time)| **time)
            .map(|(index, time)| (lab.tests[index].id.as_str(), *time))
            .unwrap_or(("-", Duration::ZERO));
        println!(
            "  {:<14} {:>5} {:>11} {:>15} {:>15}  {slowest} {}",
            name,
            lab.tests.len(),
            ms(median(&gradings)),
            ms(scripted_total),
            ms(median(&medians)),
            ms(slowest_time)
        );
        every_test.extend(medians);
    }
    println!(
        "  grader/test: the median over the lab's tests of (test time - scripted waits - {} reference start-up if it started one);",
        ms(startup)
    );
    println!(
        "  over every test of every lab: median {}, mean {}",
        ms(median(&every_test)),
        ms(every_test.iter().sum::<Duration>() / every_test.len().max(1) as u32)
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

/// The class at several job counts, then twice the class at the most jobs.
fn class_figures(
    grader_binary: &Path,
    isolation: IsolationRequest,
    per_kind: usize,
    job_counts: &[usize],
) {
    let lab = builtin(CLASS_LAB);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let class = scratch.path().join("class");
    let kinds = make_class(&class, grader_binary, per_kind, 0);
    println!(
        "a class of {} {CLASS_LAB} submissions: {kinds}",
        3 * per_kind
    );
    println!(
        "  {:>5} {:>9} {:>14} {:>9} {:>12}",
        "jobs", "wall", "submissions/s", "speed-up", "peak memory"
    );
    let mut first_rate = None;
    for &jobs in job_counts {
        let (elapsed, count, peak) = grade_class(&lab, &class, grader_binary, isolation, jobs);
        let rate = count as f64 / elapsed.as_secs_f64();
        let base = *first_rate.get_or_insert(rate);
        println!(
            "  {:>5} {:>8.1}s {:>14.1} {:>8.2}x {:>12}",
            jobs,
            elapsed.as_secs_f64(),
            rate,
            rate / base,
            peak
        );
    }
    // Larger classes at the most jobs: memory must not grow with the class.
    let most = job_counts.iter().copied().max().unwrap_or(1);
    let mut made = per_kind;
    for times in [2, 4] {
        make_class(&class, grader_binary, per_kind * times - made, made);
        made = per_kind * times;
        let (elapsed, count, peak) = grade_class(&lab, &class, grader_binary, isolation, most);
        println!(
            "  {:>5} {:>8.1}s {:>14.1} {:>9} {:>12}  <- {count} submissions ({times} times the class)",
            most,
            elapsed.as_secs_f64(),
            count as f64 / elapsed.as_secs_f64(),
            "",
            peak
        );
    }
    println!(
        "  speed-up is against {} job{}; peak memory is the grader's VmHWM for that run",
        job_counts[0],
        if job_counts[0] == 1 { "" } else { "s" }
    );
}

/// Adds `per_kind` submissions of each kind to `class`, numbered from
/// `first`; returns what the kinds are.
fn make_class(class: &Path, grader_binary: &Path, per_kind: usize, first: usize) -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/submissions")
        .join(CLASS_LAB);
    const BUGGY: [&str; 4] = [
        "client-wrong-port",
        "client-sends-newline",
        "client-prints-sent",
        "client-exits-nonzero",
    ];
    let grader = grader_binary.display();
    let manifest = format!(
        "[server]\ncommand = \"'{grader}' {REFERENCE_ARG} server {CLASS_LAB} --port {{port}}\"\n\
         [client]\ncommand = \"'{grader}' {REFERENCE_ARG} client {CLASS_LAB} --host {{host}} --port {{port}}\"\n"
    );
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
        "the Rust reference (socklab.toml), the textbook's Python, and buggy clients ({})",
        BUGGY.join(", ")
    )
}

/// Grades the class once; returns the time, the count, and the peak memory.
fn grade_class(
    lab: &Lab,
    class: &Path,
    grader_binary: &Path,
    isolation: IsolationRequest,
    jobs: usize,
) -> (Duration, usize, String) {
    reset_peak_memory();
    let options = BatchOptions {
        directory: class.to_path_buf(),
        jobs,
        results_dir: None,
        force: false,
        shard: None,
        seed: 1,
        grade: GradeOptions {
            seed: 0,
            isolation,
            grader_binary: Some(grader_binary.to_path_buf()),
            limits: Default::default(),
            overrides: Overrides::default(),
            cell_label: Some("bench".into()),
        },
    };
    let started = Instant::now();
    let done = batch::run(lab, &options, &Interrupt::new(), &mut |_| {}).expect("the batch runs");
    let elapsed = started.elapsed();
    let summary = &done.gradebook.summary;
    assert_eq!(
        summary.errors, 0,
        "grader errors in the class: {:?}",
        summary.could_not_run
    );
    (elapsed, summary.submissions, peak_memory())
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

fn max(values: &[Duration]) -> Duration {
    values.iter().copied().max().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
