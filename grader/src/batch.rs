//! Grading a whole class (`grader batch`): every subdirectory of a
//! directory is a submission, graded by a bounded pool of worker threads that
//! each call [`run::grade`], into a [`Gradebook`].
//!
//! - **Isolation** comes from the cells: in the namespace tier every grading
//!   has its own loopback, so hard-coded port 12000 submissions run side by
//!   side; in the process tier they take turns on a machine-wide lock.
//! - **Memory stays flat**: a worker renders its full result (transcripts and
//!   all) to the submission's result file and hands back only a gradebook
//!   [`Row`]; nothing keeps every result.
//! - **One broken submission never stops the batch**: an input error or even
//!   a panic while grading one becomes an `error` row.
//! - **Reruns pick up where a batch stopped**: with a results directory, a
//!   submission whose result file is there (for this lab and these tests) is
//!   read back instead of graded, unless `force` is set. Rows of grader
//!   errors have no result file, so they are tried again.
//! - **Interrupts** (see [`Interrupt`]): no new grading starts; the gradings
//!   under way finish, so their cells are stopped and nothing is left
//!   running, but their results are discarded: a grading that ran while the
//!   batch was being stopped is not recorded as the student's. A rerun
//!   grades them.
//! - **Shards** ([`Shard`]) split a class over machines; `grader merge` joins
//!   their gradebooks.

pub mod progress;
pub mod resume;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::gradebook::{Column, Gradebook, Row, Shard};
use crate::lab::Lab;
use crate::report::{self, Audience};
use crate::run::{self, BadInput, GradeOptions};
use crate::submission::Source;

/// How to grade a class.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// Every subdirectory of it (but hidden ones such as `.git`) is a submission.
    pub directory: PathBuf,
    /// Gradings at once; at least 1.
    pub jobs: usize,
    /// Where each submission's full result goes, as `<name>.json`.
    pub results_dir: Option<PathBuf>,
    /// Grade again even what the results directory already holds.
    pub force: bool,
    pub shard: Option<Shard>,
    /// The batch's seed; each submission's is [`seed_for`] it.
    pub seed: u64,
    /// Isolation, limits and the grader binary for every grading; its `seed`
    /// is replaced by each submission's own.
    pub grade: GradeOptions,
}

/// The number of cores, the default for `jobs`.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A finished (or interrupted) batch.
#[derive(Debug)]
pub struct Batch {
    pub gradebook: Gradebook,
    /// Rows read back from earlier result files rather than graded.
    pub reused: usize,
    /// Submissions whose earlier result file was there but not trusted
    /// (see [`resume`]), and so were graded again.
    pub not_reused: Vec<String>,
    /// Submissions graded by this run.
    pub graded: usize,
    /// Gradings under way when an interrupt arrived, whose results were dropped.
    pub discarded: Vec<String>,
    /// Submissions never started because of an interrupt.
    pub not_started: usize,
    /// The signal that interrupted the batch.
    pub interrupted: Option<i32>,
    pub jobs: usize,
    pub elapsed: Duration,
}

/// What a batch tells its onlooker (a progress bar, a log) as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        lab: &'a str,
        /// Submissions in this batch (or shard).
        total: usize,
        /// Of those, read back from earlier result files.
        reused: usize,
        jobs: usize,
    },
    Finished {
        row: &'a Row,
        /// Gradings finished so far, this one included, out of `to_grade`.
        done: usize,
        to_grade: usize,
    },
    /// A result file was found for `name` but cannot be trusted; the
    /// submission is graded again.
    NotReused { name: &'a str, why: &'a str },
    Interrupted {
        signal: i32,
        /// Gradings still under way, whose results will be discarded.
        running: usize,
    },
}

/// Whether a stop was asked for, and by which signal. Cheap to clone; the
/// batch polls it between gradings.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicUsize>);

impl Interrupt {
    /// An interrupt that only [`Interrupt::request`] triggers.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// An interrupt that SIGINT (Ctrl-C) and SIGTERM (a CI runner or Slurm
    /// cancelling the job) trigger. Installing it replaces those signals'
    /// default action for the rest of the process.
    pub fn on_signals() -> std::io::Result<Interrupt> {
        let interrupt = Interrupt::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_usize(signal, Arc::clone(&interrupt.0), signal as usize)?;
        }
        Ok(interrupt)
    }

    pub fn request(&self, signal: i32) {
        self.0.store(signal as usize, Ordering::SeqCst);
    }

    /// The signal that asked for a stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }
}

/// One submission of the class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The directory's name: the gradebook row's and the result file's name.
    pub name: String,
    pub path: PathBuf,
}

/// The submissions in `directory`, sorted by name: every subdirectory but
/// hidden ones and those in `exclude` (a results directory inside it).
pub fn submissions(directory: &Path, exclude: &[&Path]) -> Result<Vec<Submission>, BadInput> {
    let unreadable = |err: std::io::Error| {
        BadInput(format!(
            "reading the submissions directory `{}`: {err}",
            directory.display()
        ))
    };
    let excluded: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(name) = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
        else {
            continue;
        };
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        if path
            .canonicalize()
            .is_ok_and(|canonical| excluded.contains(&canonical))
        {
            continue;
        }
        found.push(Submission { name, path });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The seed of submission `name` in a batch seeded with `batch_seed`: stable
/// (the same batch seed and name always give the same sentences, on any
/// machine and in any shard) yet different for every submission, so that
/// students comparing transcripts cannot hard-code each other's answers.
pub fn seed_for(batch_seed: u64, name: &str) -> u64 {
    // The name's stable hash, mixed with the batch seed by SplitMix64's
    // finaliser: both fixed algorithms.
    let name_hash = crate::sentence::stable_hash(name);
    let mut z = (batch_seed ^ name_hash).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    // Kept within what every JSON reader reads exactly (see `MAX_SEED`).
    (z ^ (z >> 31)) & crate::outcome::MAX_SEED
}

/// Where the result of submission `name` is kept.
pub fn result_path(results_dir: &Path, name: &str) -> PathBuf {
    results_dir.join(format!("{name}.json"))
}

/// Grades the class in `options.directory` (or its shard) for `lab`.
/// Errors are about the batch as a whole (an unreadable directory, a results
/// directory that cannot be created); a submission's trouble is its row.
pub fn run(
    lab: &Lab,
    options: &BatchOptions,
    interrupt: &Interrupt,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Batch, BadInput> {
    let started = Instant::now();
    let columns = Column::for_lab(lab);
    if let Some(results_dir) = &options.results_dir {
        std::fs::create_dir_all(results_dir).map_err(|err| {
            BadInput(format!(
                "creating the results directory `{}`: {err}",
                results_dir.display()
            ))
        })?;
    }
    let exclude: Vec<&Path> = options.results_dir.iter().map(PathBuf::as_path).collect();
    let class: Vec<Submission> = submissions(&options.directory, &exclude)?
        .into_iter()
        .enumerate()
        .filter(|(position, _)| options.shard.is_none_or(|shard| shard.selects(*position)))
        .map(|(_, submission)| submission)
        .collect();

    let mut rows: Vec<Row> = Vec::with_capacity(class.len());
    let mut to_grade: Vec<Submission> = Vec::new();
    let mut not_reused = Vec::new();
    for submission in class.iter() {
        match earlier(lab, &columns, options, submission) {
            resume::Earlier::Reused(row) => rows.push(row),
            resume::Earlier::Absent => to_grade.push(submission.clone()),
            resume::Earlier::Rejected(why) => {
                on_event(Event::NotReused {
                    name: &submission.name,
                    why: &why,
                });
                not_reused.push(submission.name.clone());
                to_grade.push(submission.clone());
            }
        }
    }
    let reused = rows.len();
    let jobs = options.jobs.max(1).min(to_grade.len().max(1));
    on_event(Event::Started {
        lab: &lab.name,
        total: class.len(),
        reused,
        jobs,
    });

    // Each grading leaves a cell open for the next one to start in (the last
    // one's is closed unused when the batch ends).
    let _spare_cells = (to_grade.len() > 1).then(crate::cell::KeepWarm::start);
    let next = AtomicUsize::new(0);
    let mut discarded = Vec::new();
    let mut graded = 0;
    let mut announced = false;
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for worker in 0..jobs {
            let done_tx = done_tx.clone();
            let (next, to_grade) = (&next, &to_grade);
            std::thread::Builder::new()
                .name(format!("batch-worker-{worker}"))
                .spawn_scoped(scope, move || {
                    while interrupt.signal().is_none() {
                        let Some(submission) = to_grade.get(next.fetch_add(1, Ordering::SeqCst))
                        else {
                            break;
                        };
                        let done = grade_one(lab, options, submission, interrupt);
                        if done_tx.send(done).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawning a batch worker");
        }
        drop(done_tx);
        let mut finished = 0;
        loop {
            match done_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Done::Row(row)) => {
                    finished += 1;
                    graded += 1;
                    on_event(Event::Finished {
                        row: &row,
                        done: finished,
                        to_grade: to_grade.len(),
                    });
                    rows.push(row);
                }
                Ok(Done::Discarded(name)) => {
                    finished += 1;
                    discarded.push(name);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let (Some(signal), false) = (interrupt.signal(), announced) {
                announced = true;
                let taken = next.load(Ordering::SeqCst).min(to_grade.len());
                on_event(Event::Interrupted {
                    signal,
                    running: taken.saturating_sub(finished),
                });
            }
        }
    });

    let not_started = to_grade.len() - graded - discarded.len();
    let complete = rows.len() == class.len();
    Ok(Batch {
        gradebook: Gradebook::new(
            lab.name.clone(),
            columns,
            Some(options.seed),
            options.shard,
            complete,
            rows,
        ),
        reused,
        not_reused,
        graded,
        discarded,
        not_started,
        interrupted: interrupt.signal(),
        jobs,
        elapsed: started.elapsed(),
    })
}

/// What a worker hands back for one submission.
enum Done {
    Row(Row),
    /// Graded while an interrupt arrived: not to be trusted, not kept.
    Discarded(String),
}

/// What the results directory holds for `submission`; nothing is looked at
/// with `force`.
fn earlier(
    lab: &Lab,
    columns: &[Column],
    options: &BatchOptions,
    submission: &Submission,
) -> resume::Earlier {
    match (&options.results_dir, options.force) {
        (Some(results_dir), false) => resume::earlier(
            lab,
            columns,
            &result_path(results_dir, &submission.name),
            &submission.name,
        ),
        (None, _) | (_, true) => resume::Earlier::Absent,
    }
}

fn grade_one(
    lab: &Lab,
    options: &BatchOptions,
    submission: &Submission,
    interrupt: &Interrupt,
) -> Done {
    let mut grade_options = options.grade.clone();
    grade_options.seed = seed_for(options.seed, &submission.name);
    let source = Source::Directory(submission.path.clone());
    let graded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run::grade(lab, &source, &grade_options)
    }));
    if interrupt.signal().is_some() {
        return Done::Discarded(submission.name.clone());
    }
    let result = match graded {
        Ok(Ok(mut result)) => {
            result.notes.splice(0..0, lab.assignment_note());
            result
        }
        Ok(Err(BadInput(message))) => {
            return Done::Row(Row::error(&submission.name, lab.max_score(), message));
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            return Done::Row(Row::error(
                &submission.name,
                lab.max_score(),
                format!("grader error: grading stopped with a panic: {what}"),
            ));
        }
    };
    let row = Row::graded(&submission.name, &result);
    let Some(results_dir) = &options.results_dir else {
        return Done::Row(row);
    };
    let path = result_path(results_dir, &submission.name);
    let json = report::json::render(&result, Audience::default());
    drop(result);
    // Replaced whatever is there: the results directory is the grader's,
    // and a pipe or a link left in it is not written through.
    match crate::atomic_file::replace(&path, json.as_bytes()) {
        Ok(()) => Done::Row(row),
        Err(err) => Done::Row(Row::error(
            &submission.name,
            lab.max_score(),
            format!(
                "grader error: writing the result to `{}`: {err}",
                path.display()
            ),
        )),
    }
}

impl Batch {
    /// The closing summary for standard error: what was done, how fast, the
    /// class's figures, and what an interrupt left undone.
    pub fn report(&self) -> String {
        let book = &self.gradebook;
        let shard = book
            .shard
            .map(|shard| format!(" (shard {shard})"))
            .unwrap_or_default();
        let seconds = self.elapsed.as_secs_f64();
        let mut text = format!(
            "{}{shard}: graded {} submission{} in {seconds:.1} s with {} job{}",
            book.lab,
            self.graded,
            if self.graded == 1 { "" } else { "s" },
            self.jobs,
            if self.jobs == 1 { "" } else { "s" },
        );
        if self.graded > 0 && seconds > 0.0 {
            text.push_str(&format!(
                " ({:.1} per second)",
                self.graded as f64 / seconds
            ));
        }
        if self.reused > 0 {
            text.push_str(&format!(
                "; {} read from earlier result files (--force grades them again)",
                self.reused
            ));
        }
        if !self.not_reused.is_empty() {
            text.push_str(&format!(
                "; {} earlier result file{} not trusted and graded again (why is said above)",
                self.not_reused.len(),
                if self.not_reused.len() == 1 { "" } else { "s" }
            ));
        }
        text.push('\n');
        text.push_str(&book.summary.describe(book.max_score));
        if let Some(signal) = self.interrupted {
            text.push_str(&format!(
                "interrupted by {}: {} grading{} under way discarded, {} not started; run the same command again to grade them\n",
                signal_name(signal),
                self.discarded.len(),
                if self.discarded.len() == 1 { "" } else { "s" },
                self.not_started
            ));
        }
        text
    }
}

pub(crate) fn signal_name(signal: i32) -> String {
    match signal {
        signal_hook::consts::SIGINT => "SIGINT".into(),
        signal_hook::consts::SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::MAX_SEED;

    #[test]
    fn seeds_differ_per_submission_and_are_stable() {
        assert_eq!(seed_for(7, "alice"), seed_for(7, "alice"));
        assert_ne!(seed_for(7, "alice"), seed_for(7, "bob"));
        assert_ne!(seed_for(7, "alice"), seed_for(8, "alice"));
        // Fixed algorithms: a change here changes every batch's sentences.
        assert_eq!(
            seed_for(20261125, "alice"),
            0xd280_cdc5_18ef_8396 & MAX_SEED
        );
        assert!((0..1000).all(|n| seed_for(u64::MAX, &n.to_string()) <= MAX_SEED));
    }

    #[test]
    fn shards_cover_the_class_once() {
        let shards: Vec<Shard> = (1..=3).map(|index| Shard { index, count: 3 }).collect();
        for position in 0..10 {
            let owners = shards
                .iter()
                .filter(|shard| shard.selects(position))
                .count();
            assert_eq!(owners, 1, "position {position}");
        }
        assert!(Shard { index: 1, count: 3 }.selects(0));
        assert!(Shard { index: 2, count: 3 }.selects(4));
    }

    #[test]
    fn shards_parse_one_based() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("2".parse::<Shard>().is_err());
    }

    #[test]
    fn submissions_are_sorted_subdirectories_without_hidden_or_excluded_ones() {
        let root = tempfile::tempdir().unwrap();
        for name in ["bob", "alice", ".git", "results"] {
            std::fs::create_dir(root.path().join(name)).unwrap();
        }
        std::fs::write(root.path().join("notes.txt"), "not a submission").unwrap();
        let results = root.path().join("results");
        let found = submissions(root.path(), &[&results]).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
    }
}
