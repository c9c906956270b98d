//! The `grader` command line: parses flags, calls the library, maps errors to
//! the exit codes in `exit_code`, and prints `grader: …` on failure.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use grader::cell::IsolationRequest;
use grader::exit_code;
use grader::lab::{self, BUILTIN_LABS, Lab, LabError};
use grader::limits::LimitOverrides;
use grader::report::{self, Audience, Format};
use grader::runner::{self, BadInput, GradeOptions};
use grader::submission::{Overrides, REFERENCE_ARG, Source};

/// `--isolation`: the command line's spelling of [`IsolationRequest`] (the
/// cells know nothing of `clap`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum IsolationArg {
    /// Namespaces where the kernel allows them, processes otherwise.
    Auto,
    Namespace,
    Process,
}

impl From<IsolationArg> for IsolationRequest {
    fn from(arg: IsolationArg) -> Self {
        match arg {
            IsolationArg::Auto => IsolationRequest::Auto,
            IsolationArg::Namespace => IsolationRequest::Namespace,
            IsolationArg::Process => IsolationRequest::Process,
        }
    }
}

/// `--color`: whether reports on a terminal are coloured. Only colour
/// follows the terminal; the format is always `--format`'s.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
enum ColorArg {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorArg {
    /// Whether to colour text going to standard output (`to_stdout`) or to a file.
    fn wanted(self, to_stdout: bool) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => to_stdout && report::human::color_wanted(),
        }
    }
}

/// `grader batch --format`: how the gradebook is written to standard output.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum BookFormat {
    /// A table of scores, for people.
    Table,
    /// The gradebook's JSON, as `-o FILE` writes it.
    Json,
}

/// `--hints`: the language a lab's hints are worded for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum HintsArg {
    Python,
    Rust,
}

impl From<HintsArg> for lab::HintLanguage {
    fn from(arg: HintsArg) -> Self {
        match arg {
            HintsArg::Python => lab::HintLanguage::Python,
            HintsArg::Rust => lab::HintLanguage::Rust,
        }
    }
}

/// `--part`: the command line's spelling of [`lab::Part`].
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PartArg {
    Server,
    Client,
}

impl From<PartArg> for lab::Part {
    fn from(arg: PartArg) -> Self {
        match arg {
            PartArg::Server => lab::Part::Server,
            PartArg::Client => lab::Part::Client,
        }
    }
}

/// The lab named on the command line, restricted to the `--part`s given
/// (none: the parts its lab file assigns).
fn assigned_lab(name_or_file: &str, parts: &[PartArg]) -> Result<Lab> {
    let lab = load_lab(name_or_file)?;
    let parts: Vec<lab::Part> = parts.iter().map(|&part| part.into()).collect();
    lab.restricted_to(&parts)
        .map_err(|err| BadInput(err.to_string()).into())
}

#[derive(Parser)]
#[command(
    name = "grader",
    version,
    about = "Grade socket-programming lab submissions written in any language"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in labs (or one lab, or a lab file), their tests and points.
    List(ListArgs),
    /// Grade one submission (or, with none, the reference implementation).
    Grade(GradeArgs),
    /// Grade every submission in a directory, in parallel, into a gradebook.
    Batch(BatchArgs),
    /// Join the gradebooks of a batch graded in shards.
    Merge(MergeArgs),
    /// Write the class report (one HTML file) of a gradebook or of a
    /// results directory, and with --pages a page per submission.
    Report(ReportArgs),
}

#[derive(Args)]
struct ListArgs {
    /// Only this lab: a built-in lab name or a lab file. Tests its
    /// assignment leaves out (`[lab] parts`) are marked `(not assigned)`.
    lab: Option<String>,
}

#[derive(Args)]
struct GradeArgs {
    /// A built-in lab name, or a lab file (`.toml`).
    lab: String,
    /// The submission directory. Without it (and without --server/--client),
    /// the reference implementation is graded.
    submission: Option<PathBuf>,
    /// Grade only this part of the lab (repeatable): the other part's tests
    /// are neither run nor counted. Default: the parts the lab file assigns.
    #[arg(long = "part", value_enum, value_name = "PART")]
    parts: Vec<PartArg>,
    /// Command that starts the server; `{host}` and `{port}` are filled in.
    #[arg(long, value_name = "CMD")]
    server: Option<String>,
    /// Command that starts the client; `{host}` and `{port}` are filled in.
    #[arg(long, value_name = "CMD")]
    client: Option<String>,
    /// Grade only this test of the lab (repeatable), by id.
    #[arg(long = "test", value_name = "ID")]
    tests: Vec<String>,
    /// The language the lab's hints are worded for, where its lab file gives
    /// them per language.
    #[arg(long, value_enum, value_name = "LANGUAGE", default_value = "python")]
    hints: HintsArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Colour in the human report.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    color: ColorArg,
    /// Print nothing on standard output or error but errors; the exit
    /// status (and -o FILE) still say how grading went.
    #[arg(short, long)]
    quiet: bool,
    /// Write the report to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Seed for the random sentences; printed in every report.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Hide the details of hidden tests (their scores still count).
    #[arg(long)]
    visible_only: bool,
    #[arg(long, value_enum, default_value_t = IsolationArg::Auto)]
    isolation: IsolationArg,
    /// Exit with status 1 when the score is below N points (or N%); says on
    /// standard error what was reached against what was required.
    #[arg(long, value_name = "N")]
    fail_under: Option<String>,
    /// Override a limit, as in a lab file's [limits] table (repeatable),
    /// e.g. --limit test_ms=5000 --limit memory_mb=256.
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    limits: Vec<String>,
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(first) if first == grader::cell::keeper::KEEPER_ARG => grader::cell::keeper::run(),
        Some(first) if first == REFERENCE_ARG => std::process::exit(run_reference(args.collect())),
        _ => {}
    }
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            say(&format!("grader: {err:#}\n"));
            if err.downcast_ref::<BadInput>().is_some() || err.downcast_ref::<LabError>().is_some()
            {
                exit_code::BAD_INPUT
            } else {
                exit_code::GRADER_FAILED
            }
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::List(args) => list(args),
        Command::Grade(args) => grade(args),
        Command::Batch(args) => batch(args),
        Command::Merge(args) => merge(args),
        Command::Report(args) => report_command(args),
    }
}

fn list(args: ListArgs) -> Result<i32> {
    let labs = match &args.lab {
        Some(name_or_file) => vec![load_lab(name_or_file)?],
        None => BUILTIN_LABS
            .iter()
            .map(|(name, path, _)| {
                lab::builtin(name)
                    .expect("listed")
                    .with_context(|| format!("built-in lab {path}"))
            })
            .collect::<Result<_>>()?,
    };
    let mut out = String::new();
    for lab in labs {
        out.push_str(&format!(
            "{}  {} ({} points)\n",
            lab.name,
            lab.title,
            lab.max_score()
        ));
        // In the lab's order, as the handout lists them; a lab crate's
        // `cargo test` reads these lines (the id is the second column).
        let mut tests: Vec<(&lab::TestCase, bool)> = lab
            .tests
            .iter()
            .map(|test| (test, true))
            .chain(lab.left_out.iter().map(|test| (test, false)))
            .collect();
        tests.sort_by_key(|(test, _)| test.line);
        for (test, assigned) in tests {
            let line = format!(
                "  {:<7} {:<26} {:>2} pts  {:<11} {}{}",
                test.part.as_str(),
                test.id,
                test.points,
                format!("{:?}", test.kind).to_lowercase(),
                test.name,
                if assigned { "" } else { "  (not assigned)" }
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    to_stdout(out.as_bytes())?;
    Ok(exit_code::GRADED)
}

/// A built-in lab by name, or a lab file by path. Only a file is read as a
/// lab file: a directory named like a lab (`udp-uppercase/`, the class's
/// submissions) leaves the name to mean the built-in lab.
fn load_lab(name_or_file: &str) -> Result<Lab> {
    let path = Path::new(name_or_file);
    if name_or_file.ends_with(".toml") || path.is_file() {
        return Ok(lab::load_file(path)?);
    }
    match lab::builtin(name_or_file) {
        Some(lab) => Ok(lab?),
        None => {
            let known: Vec<&str> = BUILTIN_LABS.iter().map(|(name, _, _)| *name).collect();
            Err(BadInput(format!(
                "unknown lab `{name_or_file}`; the built-in labs are {}",
                known.join(", ")
            ))
            .into())
        }
    }
}

fn parse_limits(pairs: &[String]) -> Result<LimitOverrides> {
    let mut table = toml::Table::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(BadInput(format!("--limit `{pair}`: expected NAME=VALUE")).into());
        };
        let value: i64 = value.trim().parse().map_err(|_| {
            BadInput(format!(
                "--limit `{pair}`: the value must be a whole number"
            ))
        })?;
        table.insert(name.trim().to_string(), toml::Value::Integer(value));
    }
    let limits: LimitOverrides = toml::Value::Table(table)
        .try_into()
        .map_err(|err: toml::de::Error| BadInput(format!("--limit: {}", err.message())))?;
    if let Some(wrong) = limits.out_of_range().first() {
        return Err(BadInput(format!("--limit {wrong}")).into());
    }
    Ok(limits)
}

fn grade(args: GradeArgs) -> Result<i32> {
    let lab = assigned_lab(&args.lab, &args.parts)?
        .only_tests(&args.tests)
        .map_err(BadInput)?
        .with_hints(args.hints.into());
    check_outputs(&[args.output.as_deref()])?;
    let overrides = Overrides {
        server: args.server.clone(),
        client: args.client.clone(),
    };
    let source = match (
        &args.submission,
        overrides.server.is_some() || overrides.client.is_some(),
    ) {
        (Some(path), _) => Source::Directory(path.clone()),
        (None, true) => Source::Commands(std::env::current_dir()?),
        (None, false) => Source::Reference,
    };
    let options = GradeOptions {
        seed: args.seed.unwrap_or_else(grader::sentence::fresh_seed),
        isolation: args.isolation.into(),
        grader_binary: std::env::current_exe().ok(),
        limits: parse_limits(&args.limits)?,
        overrides,
        cell_label: None,
    };
    let threshold = args
        .fail_under
        .as_deref()
        .map(|text| parse_threshold(text, lab.max_score()))
        .transpose()?;
    if lab.tests.is_empty() {
        // `--test` named only tests of a part the assignment leaves out: a
        // lab crate's `cargo test` of such a test passes, saying why.
        if !args.quiet {
            say(&format!(
                "grader: nothing to grade: {}\n",
                lab.assignment_note().unwrap_or_default()
            ));
        }
        return Ok(exit_code::GRADED);
    }
    let mut result = runner::grade(&lab, &source, &options)?;
    result.notes.splice(0..0, lab.assignment_note());
    let audience = Audience {
        visible_only: args.visible_only,
    };
    let format = args.format;
    let color = args.color.wanted(args.output.is_none());
    let rendered = report::render(&result, format, audience, color);
    match &args.output {
        Some(path) => write_atomically(path, rendered.as_bytes())?,
        None if args.quiet => {}
        None => to_stdout(rendered.as_bytes())?,
    }
    if let (Format::Github, Some(path)) = (format, std::env::var_os("GITHUB_OUTPUT")) {
        append_step_output(
            Path::new(&path),
            &report::github::step_output(&result, audience),
        )?;
    }
    let Some(threshold) = threshold else {
        return Ok(exit_code::GRADED);
    };
    let (score, max_score) = (result.score(), result.max_score());
    let below = threshold.is_below(score, max_score);
    if !args.quiet {
        say(&format!(
            "grader: {score}/{max_score} points ({}), {} the required {}\n",
            percent_text(score, max_score),
            if below { "below" } else { "at or above" },
            threshold
        ));
    }
    Ok(if below {
        exit_code::BELOW_THRESHOLD
    } else {
        exit_code::GRADED
    })
}

/// `--fail-under`: a number of points, or a percentage of the lab's points.
enum Threshold {
    Points(u32),
    Percent(f64),
}

impl Threshold {
    fn is_below(&self, score: u32, max_score: u32) -> bool {
        match self {
            Threshold::Points(points) => score < *points,
            Threshold::Percent(percent) => {
                max_score > 0 && (f64::from(score) * 100.0 / f64::from(max_score)) < *percent
            }
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Points(points) => write!(f, "{points} points"),
            Threshold::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

fn percent_text(score: u32, max_score: u32) -> String {
    if max_score == 0 {
        return "no points to score".into();
    }
    let percent = f64::from(score) * 100.0 / f64::from(max_score);
    format!("{}%", (percent * 10.0).floor() / 10.0)
}

/// Reads `--fail-under`: whole points from 0 to the lab's `max_score`, or a
/// percentage from 0% to 100%. Anything else can never, or always, be
/// reached, so it is refused (exit 2) rather than silently passing or
/// failing every submission.
fn parse_threshold(text: &str, max_score: u32) -> Result<Threshold> {
    let refuse =
        |why: String| -> anyhow::Error { BadInput(format!("--fail-under `{text}`: {why}")).into() };
    match text.trim().strip_suffix('%') {
        Some(percent) => {
            let percent: f64 = percent.trim().parse().map_err(|_| {
                refuse("expected points (e.g. 10) or a percentage (e.g. 80%)".into())
            })?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(refuse("a percentage must be from 0% to 100%".into()));
            }
            Ok(Threshold::Percent(percent))
        }
        None => {
            let points: i64 = text.trim().parse().map_err(|_| {
                refuse("expected points (e.g. 10) or a percentage (e.g. 80%)".into())
            })?;
            match u32::try_from(points) {
                Ok(points) if points <= max_score => Ok(Threshold::Points(points)),
                _ => Err(refuse(format!(
                    "points must be from 0 to {max_score}, the most this lab can score"
                ))),
            }
        }
    }
}

/// Checks, before anything is graded, that every path a command will write
/// can take its output (see `grader::atomic_file::check`): a bad `-o` is
/// exit 2 naming it, not a class graded for nothing.
fn check_outputs(paths: &[Option<&Path>]) -> Result<()> {
    for path in paths.iter().flatten() {
        grader::atomic_file::check(path).map_err(|refused| BadInput(refused.to_string()))?;
    }
    Ok(())
}

/// A results directory must be a directory the grader can create files in;
/// it is created (with its parents) when missing.
fn check_results_dir(path: &Path) -> Result<()> {
    let refuse =
        |reason: String| BadInput(format!("results directory `{}`: {reason}", path.display()));
    if std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_dir()) {
        return Err(refuse("it is not a directory".into()).into());
    }
    std::fs::create_dir_all(path).map_err(|err| refuse(err.to_string()))?;
    tempfile::NamedTempFile::new_in(path)
        .map_err(|err| refuse(format!("cannot create files in it: {err}")))?;
    Ok(())
}

/// `--seed`: at most 2^53 - 1, so that every JSON reader (`jq`, JavaScript)
/// reads the seed in a result exactly and a regrade uses the same sentences.
fn parse_seed(text: &str) -> std::result::Result<u64, String> {
    let seed: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if seed > grader::outcome::MAX_SEED {
        return Err(format!(
            "{seed} is above {} (2^53 - 1), the largest seed every JSON reader reads exactly",
            grader::outcome::MAX_SEED
        ));
    }
    Ok(seed)
}

/// Writes to standard output; a reader that went away (`| head`) ends the
/// output, not the command.
fn to_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("writing to standard output")?),
    }
}

/// Writes to standard error, ignoring failure: a closed standard error
/// (`2>&-`, `|& head`) must not stop a batch before its gradebook is
/// written, as `eprintln!` would by panicking.
fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Writes `bytes` to `path` atomically (see `grader::atomic_file`).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    grader::atomic_file::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Inside a GitHub Actions step, `--format github` also sets the step output
/// `result` (the base64 JSON Classroom's grading reporter decodes) by
/// appending a line to the file the runner names in `$GITHUB_OUTPUT`.
fn append_step_output(path: &Path, line: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("writing the step output to {}", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("writing the step output to {}", path.display()))?;
    Ok(())
}

/// `grader __socklab-reference server|client LAB --host H --port P`: the
/// reference implementation, run as a submission would be.
fn run_reference(args: Vec<std::ffi::OsString>) -> i32 {
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let result = (|| -> Result<()> {
        let (Some(part), Some(name)) = (args.first(), args.get(1)) else {
            bail!("usage: {REFERENCE_ARG} server|client LAB --host H --port P");
        };
        let lab = socklab::Lab::from_name(name)
            .with_context(|| format!("no reference for lab `{name}`"))?;
        let host = value("--host").unwrap_or_else(|| "127.0.0.1".into());
        let port: u16 = value("--port")
            .map_or(Ok(socklab::DEFAULT_PORT), |port| port.parse())
            .context("--port")?;
        match part.as_str() {
            "server" => socklab::serve(lab, std::net::Ipv4Addr::UNSPECIFIED.into(), port)?,
            "client" => {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                socklab::run_client(lab, &host, port, &mut input, &mut std::io::stdout())?;
            }
            other => bail!("unknown part `{other}`"),
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(err) => {
            say(&format!("socklab: {err:#}\n"));
            1
        }
    }
}

// `grader batch` and `grader merge`: the work is in `grader::batch` and
// `grader::gradebook`; these parse flags and write the outputs.

#[derive(Args)]
struct BatchArgs {
    /// A built-in lab name, or a lab file (`.toml`).
    lab: String,
    /// A directory whose subdirectories are the submissions (hidden ones,
    /// such as `.git`, are not).
    directory: PathBuf,
    /// Grade only this part of the lab (repeatable): the other part's tests
    /// are neither run nor counted. Default: the parts the lab file assigns.
    #[arg(long = "part", value_enum, value_name = "PART")]
    parts: Vec<PartArg>,
    /// Gradings at once [default: the number of cores].
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// No progress or summary on standard error; errors only.
    #[arg(short, long)]
    quiet: bool,
    /// Write the gradebook (JSON) to FILE, atomically. Without it the
    /// gradebook goes to standard output, as --format says.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// How the gradebook goes to standard output without -o.
    #[arg(long, value_enum, default_value = "table")]
    format: BookFormat,
    /// Also write the gradebook as CSV: a row per submission, a column per test.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write the class report: one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Keep each submission's full JSON result in DIR as `<name>.json`; a
    /// rerun skips the submissions already there.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
    /// Grade only shard I of N: the sorted submissions at positions I, I+N,
    /// I+2N, … counting from 1.
    #[arg(long, value_name = "I/N")]
    shard: Option<grader::gradebook::Shard>,
    /// Grade again the submissions whose result is already in --results-dir.
    #[arg(long)]
    force: bool,
    /// Seed of the batch; each submission's seed is derived from it and its
    /// name, and printed in its result.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = IsolationArg::Auto)]
    isolation: IsolationArg,
    /// Override a limit, as in a lab file's [limits] table (repeatable).
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    limits: Vec<String>,
}

#[derive(Args)]
struct MergeArgs {
    /// The gradebooks of the shards (`grader batch --shard I/N -o FILE`).
    #[arg(required = true, value_name = "GRADEBOOK")]
    gradebooks: Vec<PathBuf>,
    /// Write the merged gradebook (JSON) to FILE.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write the merged gradebook as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write the class report of the merged gradebook (HTML).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// A gradebook (`grader batch -o`, `grader merge -o`) or a results
    /// directory (`grader batch --results-dir`).
    #[arg(value_name = "GRADEBOOK|RESULTS-DIR")]
    source: PathBuf,
    /// Write the class report (HTML) to FILE.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write each submission's page into DIR as `<name>.html`, linked
    /// from the class report. Needs the result files: the results directory
    /// given as the source, or --results.
    #[arg(long, value_name = "DIR")]
    pages: Option<PathBuf>,
    /// Where the result files are, when the source is a gradebook.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
}

fn batch(args: BatchArgs) -> Result<i32> {
    use grader::batch::{self, BatchOptions, Interrupt, progress::Progress};

    let lab = assigned_lab(&args.lab, &args.parts)?;
    check_outputs(&[
        args.output.as_deref(),
        args.csv.as_deref(),
        args.html.as_deref(),
    ])?;
    if let Some(results_dir) = &args.results_dir {
        check_results_dir(results_dir)?;
    }
    if !args.directory.is_dir() {
        return Err(BadInput(format!(
            "`{}` is not a directory of submissions",
            args.directory.display()
        ))
        .into());
    }
    let options = BatchOptions {
        directory: args.directory,
        jobs: args.jobs.unwrap_or_else(batch::default_jobs),
        results_dir: args.results_dir,
        force: args.force,
        shard: args.shard,
        seed: args.seed.unwrap_or_else(grader::sentence::fresh_seed),
        grade: GradeOptions {
            seed: 0,
            isolation: args.isolation.into(),
            grader_binary: std::env::current_exe().ok(),
            limits: parse_limits(&args.limits)?,
            overrides: Overrides::default(),
            cell_label: None,
        },
    };
    let interrupt = Interrupt::on_signals().context("installing the Ctrl-C handler")?;
    let mut progress = (!args.quiet).then(Progress::on_stderr);
    let finished = batch::run(&lab, &options, &interrupt, &mut |event| {
        if let Some(progress) = progress.as_mut() {
            progress.show(&event)
        }
    });
    if let Some(progress) = progress.as_mut() {
        progress.finish();
    }
    let finished = finished?;
    write_gradebook(
        &finished.gradebook,
        args.output.as_deref(),
        args.csv.as_deref(),
        args.format,
    )?;
    if let Some(path) = &args.html {
        write_class_report(path, &finished.gradebook, &Default::default(), &[])?;
    }
    if !args.quiet {
        say(&finished.report());
    }
    // As a shell reports a process its signal ended: 128 + the signal.
    Ok(finished
        .interrupted
        .map_or(exit_code::GRADED, exit_code::interrupted_by))
}

fn merge(args: MergeArgs) -> Result<i32> {
    use grader::gradebook::{Gradebook, merge};

    check_outputs(&[
        Some(&args.output),
        args.csv.as_deref(),
        args.html.as_deref(),
    ])?;
    let mut books = Vec::new();
    for path in &args.gradebooks {
        let text = std::fs::read_to_string(path)
            .map_err(|err| BadInput(format!("reading `{}`: {err}", path.display())))?;
        let book = Gradebook::from_json(&text)
            .map_err(|err| BadInput(format!("`{}`: {err}", path.display())))?;
        books.push((format!("`{}`", path.display()), book));
    }
    let merged = merge(books).map_err(|err| BadInput(err.to_string()))?;
    for warning in &merged.warnings {
        say(&format!("grader: warning: {warning}\n"));
    }
    write_gradebook(
        &merged.gradebook,
        Some(&args.output),
        args.csv.as_deref(),
        BookFormat::Json,
    )?;
    if let Some(path) = &args.html {
        write_class_report(
            path,
            &merged.gradebook,
            &Default::default(),
            &merged.warnings,
        )?;
    }
    say(&merged
        .gradebook
        .summary
        .describe(merged.gradebook.max_score));
    Ok(exit_code::GRADED)
}

fn write_gradebook(
    book: &grader::gradebook::Gradebook,
    output: Option<&Path>,
    csv: Option<&Path>,
    format: BookFormat,
) -> Result<()> {
    match (output, format) {
        (Some(path), _) => write_atomically(path, book.to_json().as_bytes())?,
        (None, BookFormat::Table) => to_stdout(grader::gradebook::table::render(book).as_bytes())?,
        (None, BookFormat::Json) => to_stdout(book.to_json().as_bytes())?,
    }
    if let Some(path) = csv {
        write_atomically(path, grader::gradebook::csv::render(book).as_bytes())?;
    }
    Ok(())
}

fn report_command(args: ReportArgs) -> Result<i32> {
    use grader::gradebook::{Gradebook, results};

    let bad = |err: String| anyhow::Error::from(BadInput(err));
    let (book, files) = if args.source.is_dir() {
        let (book, files) = results::gradebook(&args.source).map_err(bad)?;
        (book, Some(files))
    } else {
        let text = std::fs::read_to_string(&args.source)
            .map_err(|err| bad(format!("reading `{}`: {err}", args.source.display())))?;
        let book = Gradebook::from_json(&text)
            .map_err(|err| bad(format!("`{}`: {err}", args.source.display())))?;
        let files = args
            .results
            .as_deref()
            .map(results::list)
            .transpose()
            .map_err(bad)?;
        (book, files)
    };
    if let Some(files) = &files {
        for skipped in &files.skipped {
            say(&format!("grader: warning: passed over {skipped}\n"));
        }
    }
    let mut pages = std::collections::BTreeMap::new();
    if let Some(dir) = &args.pages {
        let Some(files) = &files else {
            return Err(bad(
                "--pages needs the result files: give the results directory, or --results DIR"
                    .into(),
            ));
        };
        // Only the submissions of this gradebook get a page.
        let wanted = files
            .files
            .iter()
            .filter(|(name, _)| book.submissions.iter().any(|row| &row.name == *name))
            .map(|(name, path)| (name.clone(), path.clone()))
            .collect();
        pages = grader::gradebook::html::write_pages(&wanted, dir, &args.output)
            .map_err(|err| anyhow::anyhow!(err))?;
        say(&format!(
            "grader: wrote {} pages into {}\n",
            pages.len(),
            dir.display()
        ));
    }
    write_class_report(&args.output, &book, &pages, &[])?;
    say(&book.summary.describe(book.max_score));
    Ok(exit_code::GRADED)
}

fn write_class_report(
    path: &Path,
    book: &grader::gradebook::Gradebook,
    pages: &std::collections::BTreeMap<String, String>,
    notes: &[String],
) -> Result<()> {
    let page = grader::gradebook::html::render(&grader::gradebook::html::ClassReport {
        gradebook: book,
        pages,
        notes,
    });
    write_atomically(path, page.as_bytes())
}
