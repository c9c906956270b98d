//! `grader batch` and `grader merge` end to end: a class graded in parallel
//! gets exactly the results each submission gets alone, leaves no process
//! behind, survives broken submissions and interrupts, skips what is already
//! graded, and shards merge back into the whole.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use grader::batch::seed_for;
use grader::gradebook::{Gradebook, Row, RowStatus};
use grader::report::{Audience, json};
use grader::runner::grade;
use grader::submission::Source;
use serde_json::Value;

use crate::support::{
    SEED, comparable, copy_dir, grader_binary, lab, options, processes_left_by, repo,
};

const LAB: &str = "tcp-uppercase";

/// A sample of `fixtures/submissions/tcp-uppercase/`.
fn sample(name: &str) -> PathBuf {
    repo().join("fixtures/submissions").join(LAB).join(name)
}

/// What a generated submission is made of.
#[derive(Clone, Copy)]
enum Kind {
    Sample(&'static str),
    /// The reference server and client through `socklab.toml`, on the
    /// textbook's hard-coded port 12000 (their commands have no `{port}`).
    HardCodedReference,
    /// A directory with nothing in it.
    Empty,
    /// A manifest that is not TOML.
    BadManifest,
}

/// Makes submission `name` of `kind` in `class`.
fn make(class: &Path, name: &str, kind: Kind) {
    let directory = class.join(name);
    match kind {
        Kind::Sample(sample_name) => copy_dir(&sample(sample_name), &directory),
        Kind::HardCodedReference => {
            std::fs::create_dir_all(&directory).unwrap();
            let grader = grader_binary();
            let reference = format!(
                "'{}' {}",
                grader.display(),
                grader::submission::REFERENCE_ARG
            );
            std::fs::write(
                directory.join("socklab.toml"),
                format!(
                    "[server]\ncommand = \"{reference} server {LAB}\"\n\
                     [client]\ncommand = \"{reference} client {LAB}\"\n"
                ),
            )
            .unwrap();
        }
        Kind::Empty => std::fs::create_dir_all(&directory).unwrap(),
        Kind::BadManifest => {
            std::fs::create_dir_all(&directory).unwrap();
            std::fs::write(directory.join("socklab.toml"), "[server\ncommand = 1\n").unwrap();
        }
    }
}

/// Runs the grader with `args`; returns its pid and what it printed.
fn grader(args: &[&str]) -> (u32, Output) {
    let child = Command::new(grader_binary())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the grader starts");
    let pid = child.id();
    (pid, child.wait_with_output().expect("the grader runs"))
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{:?}\n{stderr}", output.status);
    stderr
}

fn read_gradebook(path: &Path) -> Gradebook {
    Gradebook::from_json(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The rows with their durations set to zero, for comparing two runs.
fn timeless(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .map(|row| Row {
            duration_ms: 0,
            ..row.clone()
        })
        .collect()
}

#[test]
fn two_hundred_submissions_graded_in_parallel_match_grading_each_alone() {
    let temporary = tempfile::tempdir().unwrap();
    let class = temporary.path().join("class");
    let results = temporary.path().join("results");
    let gradebook_path = temporary.path().join("gradebook.json");
    let csv_path = temporary.path().join("gradebook.csv");
    // Mostly a fast buggy client (about 0.2 s each), with servers and
    // clients on the hard-coded port, a slower client, and broken ones. (The
    // textbook's server is left out: it dies on invalid UTF-8, and what that
    // test then reports depends on when it died, so two gradings of it need
    // not agree word for word.)
    let kind_of = |index: usize| match index {
        7 => Kind::Empty,
        8 => Kind::BadManifest,
        index if index % 25 == 0 => Kind::HardCodedReference,
        index if index % 25 == 1 => Kind::Sample("client-sends-newline"),
        _ => Kind::Sample("client-wrong-port"),
    };
    let names: Vec<String> = (0..200)
        .map(|index| format!("student-{index:03}"))
        .collect();
    for (index, name) in names.iter().enumerate() {
        make(&class, name, kind_of(index));
    }

    let started = Instant::now();
    let seed = SEED.to_string();
    let (pid, output) = grader(&[
        "batch",
        LAB,
        path_arg(&class),
        "--jobs",
        "4",
        "--seed",
        &seed,
        "--results-dir",
        path_arg(&results),
        "-o",
        path_arg(&gradebook_path),
        "--csv",
        path_arg(&csv_path),
    ]);
    let batch_time = started.elapsed();
    let stderr = succeeded(&output);
    assert_eq!(
        processes_left_by(pid),
        Vec::<i32>::new(),
        "processes of the batch survived it"
    );
    assert!(
        stderr.contains("200 submissions: 198 graded, 2 not runnable"),
        "{stderr}"
    );
    assert!(stderr.contains("could not run (2):"), "{stderr}");

    let gradebook = read_gradebook(&gradebook_path);
    assert!(gradebook.complete);
    assert_eq!(gradebook.seed, Some(SEED));
    let row_names: Vec<&str> = gradebook
        .submissions
        .iter()
        .map(|row| row.name.as_str())
        .collect();
    assert_eq!(row_names, names, "one row per submission, sorted by name");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(
        csv.lines().count(),
        201,
        "a header and a row per submission"
    );
    assert!(
        csv.starts_with("submission,status,one-client,"),
        "{}",
        csv.lines().next().unwrap()
    );

    // Every submission alone, four at a time, with the seed the batch gave it.
    let started = Instant::now();
    let lab = lab(LAB);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mismatches = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(row) = gradebook.submissions.get(index) else {
                        break;
                    };
                    let mut alone_options = options(grader::cell::IsolationRequest::Auto);
                    alone_options.seed = seed_for(SEED, &row.name);
                    let source = Source::Directory(class.join(&row.name));
                    let alone = grade(&lab, &source, &alone_options).expect("grading runs");
                    let mut expected =
                        serde_json::to_value(json::model(&alone, Audience::default())).unwrap();
                    comparable(&mut expected);
                    let mut stored = read_json(&results.join(format!("{}.json", row.name)));
                    comparable(&mut stored);
                    let alone_row = Row::graded(&row.name, &alone);
                    if stored != expected
                        || timeless(&[alone_row]) != timeless(std::slice::from_ref(row))
                    {
                        mismatches.lock().unwrap().push((
                            row.name.clone(),
                            format!("in the batch\n{stored:#}\nalone\n{expected:#}"),
                        ));
                    }
                }
            });
        }
    });
    let alone_time = started.elapsed();
    eprintln!(
        "200 submissions: batch with --jobs 4 in {batch_time:.1?}, each alone (4 threads) in {alone_time:.1?}"
    );
    let mut mismatches = mismatches.into_inner().unwrap();
    mismatches.sort();
    assert!(
        mismatches.is_empty(),
        "{} of 200 differ from grading alone: {:?}; the first, {}:\n{}",
        mismatches.len(),
        mismatches.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        mismatches[0].0,
        mismatches[0].1
    );
    let broken: Vec<(&str, RowStatus)> = gradebook
        .submissions
        .iter()
        .filter(|row| row.status != RowStatus::Graded)
        .map(|row| (row.name.as_str(), row.status))
        .collect();
    assert_eq!(
        broken,
        [
            ("student-007", RowStatus::NotRunnable),
            ("student-008", RowStatus::NotRunnable)
        ]
    );
}

/// A small class: six quick submissions and an empty one.
fn small_class(class: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for index in 0..6 {
        let name = format!("s{index}");
        make(class, &name, Kind::Sample("client-wrong-port"));
        names.push(name);
    }
    make(class, "s6-empty", Kind::Empty);
    names.push("s6-empty".into());
    names
}

#[test]
fn a_rerun_skips_what_is_graded_and_force_grades_it_again() {
    let temporary = tempfile::tempdir().unwrap();
    let class = temporary.path().join("class");
    small_class(&class);
    let results = temporary.path().join("results");
    let first = temporary.path().join("first.json");
    let batch = |output: &Path, extra: &[&str]| {
        let mut args = vec![
            "batch",
            LAB,
            path_arg(&class),
            "--results-dir",
            path_arg(&results),
            "-o",
            path_arg(output),
        ];
        args.extend(extra);
        let (pid, output) = grader(&args);
        assert_eq!(processes_left_by(pid), Vec::<i32>::new());
        succeeded(&output)
    };

    let stderr = batch(&first, &[]);
    assert!(stderr.contains("graded 7 submissions"), "{stderr}");
    let stored = |name: &str| std::fs::read(results.join(format!("{name}.json"))).unwrap();
    let before = stored("s3");

    let rerun = temporary.path().join("rerun.json");
    let stderr = batch(&rerun, &[]);
    assert!(stderr.contains("graded 0 submissions"), "{stderr}");
    assert!(
        stderr.contains("7 read from earlier result files"),
        "{stderr}"
    );
    assert_eq!(
        stored("s3"),
        before,
        "a skipped result file is left as it was"
    );
    let (first_book, rerun_book) = (read_gradebook(&first), read_gradebook(&rerun));
    assert_eq!(
        first_book.submissions, rerun_book.submissions,
        "rows read back from result files are the rows graded"
    );

    std::fs::remove_file(results.join("s1.json")).unwrap();
    let stderr = batch(&rerun, &[]);
    assert!(stderr.contains("graded 1 submission "), "{stderr}");

    let forced = temporary.path().join("forced.json");
    let stderr = batch(&forced, &["--force"]);
    assert!(stderr.contains("graded 7 submissions"), "{stderr}");
    assert_eq!(read_gradebook(&forced).submissions.len(), 7);
}

#[test]
fn shards_merged_equal_the_whole_class_and_bad_merges_are_refused() {
    let temporary = tempfile::tempdir().unwrap();
    let class = temporary.path().join("class");
    small_class(&class);
    let seed = SEED.to_string();
    let whole = temporary.path().join("whole.json");
    let whole_csv = temporary.path().join("whole.csv");
    let batch = |output: &Path, extra: &[&str]| {
        let mut args = vec![
            "batch",
            LAB,
            path_arg(&class),
            "--seed",
            &seed,
            "--jobs",
            "2",
            "-o",
            path_arg(output),
        ];
        args.extend(extra);
        succeeded(&grader(&args).1)
    };
    batch(&whole, &["--csv", path_arg(&whole_csv)]);
    let mut shards = Vec::new();
    for index in 1..=3 {
        let shard = temporary.path().join(format!("shard-{index}.json"));
        batch(&shard, &["--shard", &format!("{index}/3")]);
        let book = read_gradebook(&shard);
        assert_eq!(book.shard.map(|shard| shard.index), Some(index));
        // Every third submission, counting from the shard's index.
        let names: Vec<&str> = book.submissions.iter().map(|r| r.name.as_str()).collect();
        let expected: Vec<String> = (index - 1..7)
            .step_by(3)
            .map(|position| match position {
                6 => "s6-empty".to_string(),
                position => format!("s{position}"),
            })
            .collect();
        assert_eq!(names, expected, "shard {index}/3");
        shards.push(shard);
    }

    let merged = temporary.path().join("merged.json");
    let merged_csv = temporary.path().join("merged.csv");
    let mut args = vec!["merge"];
    args.extend(shards.iter().rev().map(|path| path_arg(path)));
    args.extend(["-o", path_arg(&merged), "--csv", path_arg(&merged_csv)]);
    let stderr = succeeded(&grader(&args).1);
    assert!(!stderr.contains("warning"), "{stderr}");
    let (whole_book, merged_book) = (read_gradebook(&whole), read_gradebook(&merged));
    assert_eq!(
        timeless(&merged_book.submissions),
        timeless(&whole_book.submissions)
    );
    assert_eq!(merged_book.summary, whole_book.summary);
    assert_eq!(
        (merged_book.seed, merged_book.shard, merged_book.complete),
        (Some(SEED), None, true)
    );
    assert_eq!(
        std::fs::read_to_string(&merged_csv).unwrap(),
        std::fs::read_to_string(&whole_csv).unwrap()
    );

    // The same shard twice: a submission appears twice.
    let (_, output) = grader(&[
        "merge",
        path_arg(&shards[0]),
        path_arg(&shards[0]),
        "-o",
        path_arg(&temporary.path().join("twice.json")),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is in both"));

    // Another lab's gradebook (of an empty class).
    let empty_class = temporary.path().join("empty-class");
    std::fs::create_dir(&empty_class).unwrap();
    let other_lab = temporary.path().join("other-lab.json");
    succeeded(
        &grader(&[
            "batch",
            "udp-uppercase",
            path_arg(&empty_class),
            "-o",
            path_arg(&other_lab),
        ])
        .1,
    );
    let (_, output) = grader(&[
        "merge",
        path_arg(&shards[0]),
        path_arg(&other_lab),
        "-o",
        path_arg(&temporary.path().join("mixed.json")),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("grades lab `udp-uppercase`"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_interrupted_batch_keeps_finished_results_leaves_no_process_and_resumes() {
    let temporary = tempfile::tempdir().unwrap();
    let class = temporary.path().join("class");
    let names: Vec<String> = (0..12).map(|index| format!("t{index:02}")).collect();
    for name in &names {
        make(&class, name, Kind::Sample("textbook"));
    }
    let results = temporary.path().join("results");
    let gradebook_path = temporary.path().join("gradebook.json");
    let args = [
        "batch",
        LAB,
        path_arg(&class),
        "--jobs",
        "2",
        "--results-dir",
        path_arg(&results),
        "-o",
        path_arg(&gradebook_path),
    ];
    let mut child = Command::new(grader_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Stop it as a CI runner would, once the first submission is graded.
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the batch ended before it could be interrupted:\n{seen}"
        );
        seen.push_str(&line);
        if line.starts_with("[ 1/12]") {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            break;
        }
    }
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{seen}");
    assert!(seen.contains("interrupted by SIGTERM"), "{seen}");
    assert_eq!(processes_left_by(pid), Vec::<i32>::new());

    let interrupted = read_gradebook(&gradebook_path);
    assert!(!interrupted.complete);
    let kept = interrupted.submissions.len();
    assert!((1..12).contains(&kept), "{kept} graded\n{seen}");
    let files = std::fs::read_dir(&results).unwrap().count();
    assert_eq!(files, kept, "a result file for each row, and only those");

    let (pid, output) = grader(&args);
    let stderr = succeeded(&output);
    assert_eq!(processes_left_by(pid), Vec::<i32>::new());
    assert!(
        stderr.contains(&format!("graded {} submission", 12 - kept)),
        "{stderr}"
    );
    let resumed = read_gradebook(&gradebook_path);
    assert!(resumed.complete);
    assert_eq!(resumed.submissions.len(), 12);
    for row in &interrupted.submissions {
        assert!(resumed.submissions.contains(row), "{} changed", row.name);
    }
}

/// A batch with a submission that forks hundreds of processes grades every
/// other submission exactly as a batch without it does.
#[test]
fn a_fork_happy_submission_leaves_its_neighbours_graded_as_without_it() {
    let neighbours = [
        "echo",
        "trailing-newline",
        "client-prints-sent",
        "keeps-connection-open",
    ];
    let grade_class = |with_forker: bool| -> Vec<Row> {
        let temporary = tempfile::tempdir().unwrap();
        let class = temporary.path().join("class");
        for name in neighbours {
            make(&class, name, Kind::Sample(name));
        }
        if with_forker {
            copy_dir(
                &repo().join("fixtures/submissions/adversarial/forks-many-children"),
                &class.join("forker"),
            );
        }
        let gradebook_path = temporary.path().join("gradebook.json");
        let (_, output) = grader(&[
            "batch",
            LAB,
            path_arg(&class),
            "--jobs",
            "3",
            "--seed",
            &SEED.to_string(),
            "-o",
            path_arg(&gradebook_path),
        ]);
        succeeded(&output);
        let rows = read_gradebook(&gradebook_path).submissions;
        assert_eq!(rows.len(), neighbours.len() + usize::from(with_forker));
        timeless(&rows)
            .into_iter()
            .filter(|row| row.name != "forker")
            .collect()
    };
    let without = grade_class(false);
    let with = grade_class(true);
    assert_eq!(with, without);
}
