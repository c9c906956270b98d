//! Hostile submissions (`fixtures/submissions/adversarial/`), graded all at
//! once in each isolation tier. Whatever they do, the grader must return a
//! valid result within the deadline with exactly the expected score, and
//! leave none of their processes behind.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grader::cell::{IsolationRequest, Tier, procfs};
use grader::limits::LimitOverrides;
use grader::outcome::SubmissionResult;
use grader::runner::grade;
use grader::submission::Source;
use serde::Deserialize;

use crate::support::{self, SEED, repo, summary};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    lab: String,
    limits: LimitOverrides,
    submissions: BTreeMap<String, Expected>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    score: u32,
    #[serde(default = "graded")]
    status: String,
    /// Text some test's message must contain.
    message: Option<String>,
    /// Text the server's stdout tail must contain.
    stdout: Option<String>,
    namespace_stderr: Option<String>,
    process_stderr: Option<String>,
}

fn graded() -> String {
    "graded".into()
}

fn adversarial_dir() -> PathBuf {
    repo().join("fixtures/submissions/adversarial")
}

fn expectations() -> Expectations {
    let path = adversarial_dir().join("expected.toml");
    toml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Grades every hostile submission at once and checks each result.
fn run_suite(isolation: IsolationRequest, label: &str) {
    let expected = expectations();
    let on_disk: Vec<String> = std::fs::read_dir(adversarial_dir())
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry
                .file_type()
                .ok()?
                .is_dir()
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(
        on_disk.len(),
        expected.submissions.len(),
        "every submission has an expectation and vice versa"
    );
    assert!(expected.submissions.len() >= 20);
    let lab = support::lab(&expected.lab);
    let mut options = support::options(isolation);
    options.limits = expected.limits.clone();
    options.cell_label = Some(label.to_string());
    // What `looks-outside` must not reach: a canary file and a listening Unix
    // socket in the temporary directory, as a classmate's copy or a host
    // service would be.
    let canaries = tempfile::Builder::new()
        .prefix(&format!("canary-{label}-"))
        .tempdir()
        .unwrap();
    std::fs::write(canaries.path().join("secret.txt"), b"SOCKLAB-CANARY").unwrap();
    // And one in the grader's home, which no cell may list or read.
    let home_canary = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|home| home.is_dir())
        .map(|home| home.join(format!(".socklab-canary-{label}-{}", std::process::id())));
    if let Some(path) = &home_canary {
        std::fs::write(path, b"SOCKLAB-CANARY").unwrap();
    }
    // At a path `looks-outside` knows, as a host service's would be.
    let tier_name = match isolation {
        IsolationRequest::Namespace => "namespace",
        IsolationRequest::Process | IsolationRequest::Auto => "process",
    };
    let socket_path = PathBuf::from(format!("/tmp/socklab-canary-{tier_name}.sock"));
    let _ = std::fs::remove_file(&socket_path);
    let host_socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    host_socket.set_nonblocking(true).unwrap();
    let deadline = Duration::from_millis(
        expected
            .limits
            .submission_ms
            .expect("the suite sets a deadline"),
    );

    // Several at once, so they grade next to each other, but a bounded number:
    // two dozen hostile programs starting together on a small machine would
    // measure the machine, not the grader.
    const AT_ONCE: usize = 6;
    let queue = std::sync::Mutex::new(expected.submissions.keys());
    let next = || queue.lock().unwrap().next();
    let results: Vec<(String, SubmissionResult, Duration)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (lab, options, next) = (&lab, &options, &next);
                scope.spawn(move || {
                    let mut graded = Vec::new();
                    while let Some(name) = next() {
                        let started = Instant::now();
                        let source = Source::Directory(adversarial_dir().join(name));
                        let result = grade(lab, &source, options)
                            .unwrap_or_else(|err| panic!("{name}: {err}"));
                        graded.push((name.clone(), result, started.elapsed()));
                    }
                    graded
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("grading never panics"))
            .collect()
    });

    let prefix = format!("{}-{label}-", std::process::id());
    let survivors = procfs::processes_marked_with_prefix(&prefix);
    assert!(
        survivors.is_empty(),
        "processes survived their cells: {survivors:?}"
    );
    let escaped = escapees(&prefix);
    assert!(
        escaped.is_empty(),
        "processes that left the tree and dropped the marker survived: {escaped:?}"
    );
    assert!(
        host_socket.accept().is_err(),
        "a submission connected to a Unix socket outside its cell"
    );
    let _ = std::fs::remove_file(&socket_path);
    if let Some(path) = &home_canary {
        let _ = std::fs::remove_file(path);
    }

    for (name, result, took) in &results {
        let want = &expected.submissions[name];
        let context = format!("{name} ({label}, seed {SEED}):\n{}", summary(result));
        assert_eq!(result.status.as_str(), want.status, "{context}");
        assert_eq!(result.score(), want.score, "{context}");
        assert!(
            *took < deadline + Duration::from_secs(10),
            "{name} took {took:?}"
        );
        let tier = result.isolation.tier;
        if result.status.as_str() == "graded" {
            let expected_tier = match isolation {
                IsolationRequest::Namespace => Tier::Namespace,
                IsolationRequest::Process | IsolationRequest::Auto => Tier::Process,
            };
            assert_eq!(tier, Some(expected_tier), "{context}");
        }
        if let Some(text) = &want.message {
            let messages: Vec<&str> = result
                .tests
                .iter()
                .filter_map(|test| test.outcome.message())
                .collect();
            let status_message = result.status.message().unwrap_or("");
            assert!(
                status_message.contains(text.as_str())
                    || messages
                        .iter()
                        .any(|message| message.contains(text.as_str())),
                "{context}\nno message contains {text:?}:\n{}",
                messages.join("\n---\n")
            );
        }
        let server = result.server.as_ref();
        let tail = |bytes: fn(&grader::outcome::ProgramRun) -> &Vec<u8>| {
            server
                .map(|run| String::from_utf8_lossy(bytes(run)).into_owned())
                .unwrap_or_default()
        };
        if let Some(text) = &want.stdout {
            let stdout = tail(|run| &run.stdout_tail);
            assert!(
                stdout.contains(text.as_str()),
                "{context}\nstdout tail: {stdout}"
            );
            assert!(
                stdout.len() < 4096,
                "the kept tail is bounded: {} bytes",
                stdout.len()
            );
        }
        let stderr_wanted = match tier {
            Some(Tier::Namespace) => &want.namespace_stderr,
            Some(Tier::Process) | None => &want.process_stderr,
        };
        if let Some(text) = stderr_wanted {
            let stderr = tail(|run| &run.stderr_tail);
            assert!(
                stderr.contains(text.as_str()),
                "{context}\nstderr tail: {stderr}"
            );
        }
        // Whatever the submission printed, every report is well-formed.
        let json = grader::report::json::render(result, Default::default());
        let parsed: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed["score"], result.score());
    }
}

/// Live processes started by `escapes-the-tree` in a cell whose marker
/// starts with `prefix`: they carry no marker in their environment, only in
/// their command line.
fn escapees(prefix: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.iter().any(|arg| *arg == b"socklab-escapee")
                && args.iter().any(|arg| arg.starts_with(prefix.as_bytes()))
                && !procfs::is_zombie(*pid)
        })
        .collect()
}

#[test]
fn hostile_submissions_in_namespace_cells() {
    if !support::namespaces_available() {
        eprintln!(
            "skipped: this kernel refuses unprivileged namespaces; the process tier is tested below"
        );
        return;
    }
    run_suite(IsolationRequest::Namespace, "adversarial-namespace");
}

#[test]
fn hostile_submissions_in_process_cells() {
    run_suite(IsolationRequest::Process, "adversarial-process");
}

/// A neighbour that forks hundreds of processes does not change how the
/// textbook server is graded.
#[test]
fn a_fork_happy_neighbour_changes_nothing() {
    let lab = support::lab("tcp-uppercase");
    let textbook = Source::Directory(repo().join("fixtures/submissions/tcp-uppercase/textbook"));
    let forker = Source::Directory(adversarial_dir().join("forks-many-children"));
    let options = support::options(IsolationRequest::Auto);
    let alone = grade(&lab, &textbook, &options).unwrap();
    let beside = std::thread::scope(|scope| {
        let neighbour = scope.spawn(|| grade(&lab, &forker, &options).unwrap());
        let beside = grade(&lab, &textbook, &options).unwrap();
        neighbour.join().unwrap();
        beside
    });
    let statuses = |result: &SubmissionResult| -> Vec<(String, &'static str)> {
        result
            .tests
            .iter()
            .map(|test| (test.id.clone(), test.outcome.status()))
            .collect()
    };
    assert_eq!(
        statuses(&alone),
        statuses(&beside),
        "alone:\n{}\nbeside:\n{}",
        summary(&alone),
        summary(&beside)
    );
}

/// A fork bomb and a memory bomb (many processes, each under the
/// per-process limit, together over the cell's bound), graded at the same
/// time as a correct classmate, fail their own tests and leave the
/// classmate's score exactly what it is alone, in each tier.
#[test]
fn bombs_beside_a_classmate_change_nothing() {
    let lab = support::lab("tcp-uppercase");
    let classmate = Source::Directory(repo().join("fixtures/submissions/tcp-uppercase/c-threaded"));
    let bombs = ["fork-bomb", "memory-bomb"];
    let mut tiers = vec![IsolationRequest::Process];
    if support::namespaces_available() {
        tiers.insert(0, IsolationRequest::Namespace);
    } else {
        eprintln!("skipped the namespace tier: this kernel refuses unprivileged namespaces");
    }
    for isolation in tiers {
        let mut options = support::options(isolation);
        options.limits = expectations().limits;
        let alone = grade(&lab, &classmate, &options).unwrap();
        let (beside, bombed) = std::thread::scope(|scope| {
            let bombers: Vec<_> = bombs
                .iter()
                .map(|name| {
                    let (lab, options) = (&lab, &options);
                    let source = Source::Directory(adversarial_dir().join(name));
                    scope.spawn(move || grade(lab, &source, options).unwrap())
                })
                .collect();
            let beside = grade(&lab, &classmate, &options).unwrap();
            let bombed: Vec<SubmissionResult> = bombers
                .into_iter()
                .map(|bomber| bomber.join().unwrap())
                .collect();
            (beside, bombed)
        });
        for (name, result) in bombs.iter().zip(&bombed) {
            assert_eq!(result.score(), 0, "{name}:\n{}", summary(result));
            for guard in ["memory", "processes"] {
                let protection = result
                    .isolation
                    .protections
                    .iter()
                    .find(|p| p.guard.as_str() == guard)
                    .expect("listed");
                eprintln!(
                    "{isolation:?} {name}: {guard}: in force {}: {}",
                    protection.in_force, protection.detail
                );
            }
        }
        eprintln!(
            "{isolation:?}: the classmate scored {} alone and {} beside the bombs",
            alone.score(),
            beside.score()
        );
        assert!(alone.score() > 0, "{}", summary(&alone));
        assert_eq!(
            beside.score(),
            alone.score(),
            "alone:\n{}\nbeside:\n{}",
            summary(&alone),
            summary(&beside)
        );
    }
}

/// A correct server that daemonises (its original process exits once the
/// grandchild serves) gets the same score in both tiers.
#[test]
fn a_daemonising_server_grades_the_same_in_both_tiers() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces, so there is one tier");
        return;
    }
    let lab = support::lab("tcp-uppercase");
    let source = Source::Directory(adversarial_dir().join("daemonises-correctly"));
    let statuses = |isolation| -> Vec<(String, &'static str)> {
        let result = grade(&lab, &source, &support::options(isolation)).unwrap();
        result
            .tests
            .iter()
            .map(|test| (test.id.clone(), test.outcome.status()))
            .collect()
    };
    assert_eq!(
        statuses(IsolationRequest::Namespace),
        statuses(IsolationRequest::Process)
    );
}

/// After grading hostile submissions, the grader's own threads and file
/// descriptors are back where they were. Counted in a process of its own:
/// other tests of this binary run in parallel and open their own.
#[test]
fn the_grader_releases_its_threads_and_fds() {
    const ALONE: &str = "SOCKLAB_TEST_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "adversarial::the_grader_releases_its_threads_and_fds",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(ALONE, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the counting run failed");
        return;
    }
    let count = |dir: &str| std::fs::read_dir(dir).unwrap().count();
    let lab = support::lab("tcp-uppercase");
    let mut options = support::options(IsolationRequest::Auto);
    options.limits = expectations().limits;
    let nasty = [
        "grandchild-holds-stdout",
        "forks-many-children",
        "floods-output",
        "ignores-sigterm",
    ];
    let grade_all = |options: &grader::runner::GradeOptions| {
        for name in nasty {
            grade(
                &lab,
                &Source::Directory(adversarial_dir().join(name)),
                options,
            )
            .unwrap();
        }
    };
    // A first round warms up what is created once per process.
    grade_all(&options);
    for isolation in [IsolationRequest::Auto, IsolationRequest::Process] {
        options.isolation = isolation;
        let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
        grade_all(&options);
        assert_eq!(
            count("/proc/self/task"),
            threads,
            "threads after {isolation:?}"
        );
        assert_eq!(
            count("/proc/self/fd"),
            fds,
            "file descriptors after {isolation:?}"
        );
    }
}

/// Two submissions that both hard-code port 12000 grade at the same time in
/// namespace cells exactly as they do alone.
#[test]
fn hard_coded_ports_grade_side_by_side_in_namespaces() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    let lab = support::lab("tcp-uppercase");
    let textbook = Source::Directory(repo().join("fixtures/submissions/tcp-uppercase/textbook"));
    let options = support::options(IsolationRequest::Namespace);
    let alone = grade(&lab, &textbook, &options).unwrap();
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| grade(&lab, &textbook, &options).unwrap());
        let second = grade(&lab, &textbook, &options).unwrap();
        (first.join().unwrap(), second)
    });
    let statuses = |result: &SubmissionResult| -> Vec<&'static str> {
        result
            .tests
            .iter()
            .map(|test| test.outcome.status())
            .collect()
    };
    for together in [&first, &second] {
        assert_eq!(
            statuses(together),
            statuses(&alone),
            "alone:\n{}\ntogether:\n{}",
            summary(&alone),
            summary(together)
        );
    }
}

/// When the grader is killed outright, its cells die with it, in either
/// tier, and so does a process that left the tree and dropped its marker.
#[test]
fn killing_the_grader_kills_its_cells() {
    if support::namespaces_available() {
        kill_the_grader_mid_grading("namespace");
    } else {
        eprintln!("skipped the namespace tier: this kernel refuses unprivileged namespaces");
    }
    kill_the_grader_mid_grading("process");
}

fn kill_the_grader_mid_grading(isolation: &str) {
    let submission = adversarial_dir().join("escapes-the-tree");
    let mut grader = std::process::Command::new(support::grader_binary())
        .args([
            "grade",
            "tcp-uppercase",
            submission.to_str().unwrap(),
            "--format",
            "json",
            "--isolation",
            isolation,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("{}-", grader.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    // Wait until the escaped process runs: it names the grader's marker.
    while escapees(&prefix).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{isolation}: the submission never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    grader.kill().unwrap();
    grader.wait().unwrap();
    while !procfs::processes_marked_with_prefix(&prefix).is_empty() || !escapees(&prefix).is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "{isolation}: cell processes outlived the grader: {:?} {:?}",
            procfs::processes_marked_with_prefix(&prefix),
            escapees(&prefix)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The textbook UDP client waits forever when no server answers: it is
/// stopped at its test's deadline, and nothing of it survives.
#[test]
fn a_hanging_client_is_stopped_at_its_deadline() {
    let lab = support::lab("udp-uppercase");
    let mut options = support::options(IsolationRequest::Auto);
    options.cell_label = Some("hanging-client".into());
    let textbook = Source::Directory(repo().join("fixtures/submissions/udp-uppercase/textbook"));
    let result = grade(&lab, &textbook, &options).unwrap();
    let test = result
        .tests
        .iter()
        .find(|test| test.id == "client-no-server")
        .expect("the lab has it");
    let deadline = Duration::from_millis(
        lab.tests
            .iter()
            .find(|t| t.id == test.id)
            .unwrap()
            .timeout_ms
            .expect("set in the lab"),
    );
    assert_eq!(test.outcome.status(), "timeout", "{}", summary(&result));
    assert!(
        test.duration >= deadline,
        "stopped early: {:?}",
        test.duration
    );
    assert!(
        test.duration < deadline + Duration::from_secs(2),
        "stopped late: {:?}",
        test.duration
    );
    let survivors =
        procfs::processes_marked_with_prefix(&format!("{}-hanging-client-", std::process::id()));
    assert!(survivors.is_empty(), "{survivors:?}");
}

/// A correct Java UDP server (`fixtures/runtimes/java-udp-server`, built
/// with `javac` in its cell) passes every server test under the default
/// limits in each tier: the JVM's threads, its reserved address space and
/// its start-up time all fit.
#[test]
fn a_jvm_starts_and_serves_under_the_default_limits() {
    let has_javac = std::process::Command::new("javac")
        .arg("-version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_javac {
        eprintln!("skipped: no javac on this machine (.ci/run installs a JDK)");
        return;
    }
    let lab = support::lab("udp-uppercase");
    let server_points: u32 = lab
        .tests
        .iter()
        .filter(|test| test.part == grader::lab::Part::Server)
        .map(|test| test.points)
        .sum();
    let source = Source::Directory(repo().join("fixtures/runtimes/java-udp-server"));
    let mut tiers = vec![IsolationRequest::Process];
    if support::namespaces_available() {
        tiers.push(IsolationRequest::Namespace);
    } else {
        eprintln!("skipped the namespace tier: this kernel refuses unprivileged namespaces");
    }
    for isolation in tiers {
        let result = grade(&lab, &source, &support::options(isolation)).unwrap();
        assert_eq!(result.status.as_str(), "graded", "{}", summary(&result));
        assert_eq!(
            result.score(),
            server_points,
            "{isolation:?}:\n{}",
            summary(&result)
        );
    }
}
