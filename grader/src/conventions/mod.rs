//! How a submission without `socklab.toml` is run: the lab's conventions.
//!
//! In order, for each part (server, client) that has no command yet:
//! 1. the textbook's Python file names (`UDPServer.py`), run with `python3 -u`;
//! 2. a Cargo package, built with `cargo build --release`, its lab binaries run;
//! 3. a program in Python, Java, C, C++, Go or JavaScript named like the
//!    part: first a conventional name of the lab in any case (`UDPServer.java`,
//!    `server.c`), else a name containing `server` / `client` in any case
//!    (`UDPServerMulti.py`), when exactly one program plausibly is it.
//!
//! A submission whose files are all in one folder (students zip `lab2/`) is
//! looked for, and run, in that folder. A submission with nothing to run gets
//! a message naming what it holds, a rename when one file is close to a
//! conventional name, and the `socklab.toml` that would run it
//! ([`explain`]). Documented for students and instructors in
//! docs/SUBMISSIONS.md.

mod explain;
mod language;
pub mod tools;

use std::path::{Path, PathBuf};

pub use language::Language;

use crate::lab::{Lab, Part, Transport};
use crate::plan::{Plan, PlanError, ProgramPlan, python2_marker, python3};

/// How deep a chain of lone folders is followed (`submission/lab2/src/`).
const NESTING: usize = 3;

/// A source file of a known language in the folder programs run in.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    /// Its name in that folder.
    pub name: String,
    /// The name without its extension.
    pub stem: String,
    pub language: Language,
    /// Whether it is a program (has a `main`), not a helper.
    pub program: bool,
    pub text: String,
}

/// What the conventions found for one part.
#[derive(Clone, Debug)]
pub(crate) enum Choice {
    /// It already has a command (the command line, a textbook file, Cargo).
    Planned(String),
    /// This program is it.
    Chosen(SourceFile),
    /// Several programs could be it, so none is run.
    Ambiguous(Vec<SourceFile>),
    /// Nothing looks like it.
    Missing,
}

/// Fills in the commands of `plan`'s parts from the lab's conventions, and
/// the build they need. `original` is the submission directory the scratch
/// copy `plan.workdir` was made from. Fails when nothing can run, or when a
/// tool the submission needs is missing from the grading machine.
pub(crate) fn apply(
    lab: &Lab,
    plan: &mut Plan,
    scratch: &Path,
    original: &Path,
) -> Result<(), PlanError> {
    let top = plan.workdir.clone();
    let (root, nested) = source_root(&top);
    plan.workdir = root.clone();
    let parts: Vec<Part> = [Part::Server, Part::Client]
        .into_iter()
        .filter(|part| lab.has_part(*part))
        .collect();
    let mut notes = Vec::new();
    let mut builds: Vec<ProgramPlan> = Vec::new();

    textbook_python(lab, plan, &root, &parts, &mut notes)?;
    let original_root = match &nested {
        Some(folder) => original.join(folder),
        None => original.to_path_buf(),
    };
    builds.extend(cargo_package(lab, plan, scratch, &root, &original_root)?);

    let files = source_files(&root);
    let mut choices: Vec<(Part, Choice)> = Vec::new();
    for &part in &parts {
        let choice = match plan.program(part) {
            Some(program) => Choice::Planned(program.display.clone()),
            None => choose(lab, part, &files),
        };
        if let Choice::Chosen(file) = &choice {
            let helpers: Vec<String> = files
                .iter()
                .filter(|other| other.language == file.language && !other.program)
                .filter(|_| matches!(file.language, Language::Java | Language::C | Language::Cpp))
                .map(|other| other.name.clone())
                .collect();
            let recipe = language::recipe(
                file.language,
                &root,
                &file.name,
                &file.text,
                &helpers,
                python3(),
            );
            for tool in file.language.tools() {
                if tools::find(tool).is_none() {
                    let verb = if recipe.build.is_some() && *tool != "java" {
                        "build"
                    } else {
                        "run"
                    };
                    return Err(PlanError::MissingTool(tools::missing_message(
                        tool,
                        &format!("to {verb} your {} {}", part.as_str(), file.name),
                    )));
                }
            }
            if file.language == Language::Python {
                if let Some(marker) = python2_marker(&file.text) {
                    notes.push(python2_note(&file.name, marker));
                }
            }
            if let Some(note) = misnamed_note(lab, part, file) {
                notes.push(note);
            }
            builds.extend(recipe.build.as_deref().map(ProgramPlan::shell));
            match part {
                Part::Server => plan.server = Some(recipe.run),
                Part::Client => plan.client = Some(with_client_args(lab, part, recipe.run)),
            }
        }
        choices.push((part, choice));
    }

    let findings = explain::Findings {
        lab,
        top: &top,
        nested: nested.as_deref(),
        files: &files,
        choices: &choices,
    };
    if plan.server.is_none() && plan.client.is_none() {
        return Err(PlanError::NotRunnable(findings.not_runnable()));
    }
    if let Some(folder) = &nested {
        plan.notes.push(format!(
            "Your files are in the folder `{}/`: they were found and run there.",
            folder.display()
        ));
    }
    plan.notes.extend(notes);
    plan.notes.extend(findings.missing_parts());
    plan.build = match builds.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        // Several steps (a server and a client, or Cargo and C) run as one
        // shell command that stops at the first failure.
        several => Some(ProgramPlan {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                several
                    .iter()
                    .map(shell_command)
                    .collect::<Vec<_>>()
                    .join(" && "),
            ],
            display: several
                .iter()
                .map(|step| step.display.as_str())
                .collect::<Vec<_>>()
                .join(" && "),
        }),
    };
    Ok(())
}

/// The folder a submission's programs are in: the copy itself, or the one
/// folder it holds when it has no source file of its own (a zip of `lab2/`),
/// and that folder relative to the copy.
pub(crate) fn source_root(top: &Path) -> (PathBuf, Option<PathBuf>) {
    let mut root = top.to_path_buf();
    for _ in 0..NESTING {
        let Ok(entries) = std::fs::read_dir(&root) else {
            break;
        };
        let mut folders = Vec::new();
        let mut has_source = false;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__MACOSX" {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if Language::of(&path).is_some()
                || ["Cargo.toml", "socklab.toml", "Makefile"].contains(&name.as_str())
            {
                has_source = true;
            }
        }
        match (has_source, folders.as_slice()) {
            (false, [only]) => root = only.clone(),
            _ => break,
        }
    }
    let nested = root
        .strip_prefix(top)
        .ok()
        .filter(|relative| !relative.as_os_str().is_empty())
        .map(Path::to_path_buf);
    (root, nested)
}

/// Rule 1: the textbook's exact Python file names.
fn textbook_python(
    lab: &Lab,
    plan: &mut Plan,
    root: &Path,
    parts: &[Part],
    notes: &mut Vec<String>,
) -> Result<(), PlanError> {
    for &part in parts {
        if plan.program(part).is_some() {
            continue;
        }
        let files = lab.conventions.python_files(part);
        let Some(file) = files.iter().find(|file| root.join(file).is_file()) else {
            continue;
        };
        if python3().is_relative() && tools::find("python3").is_none() {
            return Err(PlanError::MissingTool(tools::missing_message(
                "python3",
                &format!("to run your {} {file}", part.as_str()),
            )));
        }
        let source_text = std::fs::read(root.join(file)).unwrap_or_default();
        if let Some(marker) = python2_marker(&String::from_utf8_lossy(&source_text)) {
            notes.push(python2_note(file, marker));
        }
        let program = with_client_args(
            lab,
            part,
            ProgramPlan {
                argv: vec![
                    python3().to_string_lossy().into_owned(),
                    "-u".into(),
                    file.clone(),
                ],
                display: format!("python3 -u {file}"),
            },
        );
        match part {
            Part::Server => plan.server = Some(program),
            Part::Client => plan.client = Some(program),
        }
    }
    Ok(())
}

/// A client found by its name, given the lab's `client_args`.
fn with_client_args(lab: &Lab, part: Part, mut program: ProgramPlan) -> ProgramPlan {
    if part == Part::Client {
        for arg in &lab.conventions.client_args {
            program.display.push(' ');
            program.display.push_str(&language::shell_word(arg));
            program.argv.push(arg.clone());
        }
    }
    program
}

fn python2_note(file: &str, marker: &str) -> String {
    format!(
        "{file} looks like Python 2 ({marker}). It is run with python3, as the lab requires: print needs parentheses, and raw_input is input."
    )
}

/// Rule 2: a Cargo package's lab binaries. Returns the build to run, and
/// sets the commands of the parts still missing one.
/// `original` is the folder the package came from.
fn cargo_package(
    lab: &Lab,
    plan: &mut Plan,
    scratch: &Path,
    root: &Path,
    original: &Path,
) -> Result<Option<ProgramPlan>, PlanError> {
    let lacks_program =
        |plan: &Plan, part: Part| plan.program(part).is_none() && lab.has_part(part);
    if !root.join("Cargo.toml").is_file()
        || !(lacks_program(plan, Part::Server) || lacks_program(plan, Part::Client))
    {
        return Ok(None);
    }
    if tools::find("cargo").is_none() {
        return Err(PlanError::MissingTool(tools::missing_message(
            "cargo",
            "to build your Cargo package",
        )));
    }
    let target = scratch.join("target");
    // A package that belongs to a workspace (a lab crate in this repository)
    // only builds where it stands; its sources are read, not changed, and the
    // build output goes to the scratch directory. The build runs in the
    // scratch directory, so its path is made absolute.
    let manifest = match workspace_member(original) {
        Some(directory) => directory.join("Cargo.toml"),
        None => root.join("Cargo.toml"),
    };
    let release = target.join("release");
    // A whole workspace (a student's fork of this repository): its default
    // members need not include the lab crate, so the lab's binaries are
    // asked for by name across every member.
    let whole_workspace = std::fs::read_to_string(&manifest)
        .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"));
    let mut wanted = Vec::new();
    for part in [Part::Server, Part::Client] {
        if !lacks_program(plan, part) {
            continue;
        }
        let Some(name) = lab.conventions.cargo_bins(part).first() else {
            continue;
        };
        wanted.push(name.clone());
        let mut argv = vec![release.join(name).to_string_lossy().into_owned()];
        if part == Part::Client {
            argv.extend(["--host".to_string(), "{host}".to_string()]);
        }
        argv.extend(["--port".to_string(), "{port}".to_string()]);
        let program = ProgramPlan {
            display: format!("{name} {}", argv[1..].join(" ")),
            argv,
        };
        match part {
            Part::Server => plan.server = Some(program),
            Part::Client => plan.client = Some(program),
        }
    }
    let mut argv: Vec<String> = vec!["cargo".into(), "build".into(), "--release".into()];
    let selection = if whole_workspace && !wanted.is_empty() {
        let mut selection = vec!["--workspace".to_string()];
        for name in &wanted {
            selection.extend(["--bin".to_string(), name.clone()]);
        }
        selection
    } else {
        vec!["--bins".to_string()]
    };
    argv.extend(selection.iter().cloned());
    argv.extend([
        "--quiet".into(),
        "--manifest-path".into(),
        manifest.to_string_lossy().into_owned(),
        // The binaries land here whatever the package's workspace says
        // (a workspace builds into its root's target/ otherwise).
        "--target-dir".into(),
        target.to_string_lossy().into_owned(),
    ]);
    Ok(Some(ProgramPlan {
        argv,
        // Shown without the scratch paths, which differ on every run.
        display: format!("cargo build --release {}", selection.join(" ")),
    }))
}

/// `program` as one shell command.
fn shell_command(program: &ProgramPlan) -> String {
    match program.argv.as_slice() {
        [shell, flag, script] if shell == "/bin/sh" && flag == "-c" => format!("( {script} )"),
        argv => argv
            .iter()
            .map(|word| language::shell_word(word))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The absolute path of `directory` when it is inside a Cargo workspace.
fn workspace_member(directory: &Path) -> Option<PathBuf> {
    let directory = directory.canonicalize().ok()?;
    let inside = directory.ancestors().skip(1).any(|parent| {
        std::fs::read_to_string(parent.join("Cargo.toml"))
            .is_ok_and(|text| text.contains("[workspace]"))
    });
    inside.then_some(directory)
}

/// The source files of known languages directly in `root`, by name.
fn source_files(root: &Path) -> Vec<SourceFile> {
    /// Larger files are not lab programs; they are not read.
    const LARGEST: u64 = 1 << 20;
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut files: Vec<SourceFile> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = entry.file_name().to_str()?.to_string();
            let language = Language::of(&path)?;
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if name.starts_with('.') || !meta.is_file() || meta.len() > LARGEST {
                return None;
            }
            let text = String::from_utf8_lossy(&std::fs::read(&path).ok()?).into_owned();
            Some(SourceFile {
                stem: Path::new(&name).file_stem()?.to_str()?.to_string(),
                program: language.is_program(&text),
                name,
                language,
                text,
            })
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Rule 3: the one program that plausibly is `part`.
fn choose(lab: &Lab, part: Part, files: &[SourceFile]) -> Choice {
    let names = lab.conventions.names(part);
    let programs = files.iter().filter(|file| file.program);
    // A conventional name in any case: the best-ranked name found wins.
    let rank = |file: &SourceFile| {
        names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(&file.stem))
    };
    let best = programs.clone().filter_map(rank).min();
    let pool: Vec<&SourceFile> = match best {
        Some(best) => programs.filter(|file| rank(file) == Some(best)).collect(),
        None => programs
            .filter(|file| names_role(part, &file.stem))
            .collect(),
    };
    // `TCPServer.py` beside `UDPServer2.py` in a UDP lab is another lab's.
    let other_transport = match lab.transport {
        Transport::Udp => "tcp",
        Transport::Tcp => "udp",
    };
    let this_lab: Vec<&SourceFile> = pool
        .iter()
        .copied()
        .filter(|file| !file.stem.to_lowercase().contains(other_transport))
        .collect();
    let pool = if this_lab.is_empty() { pool } else { this_lab };
    match pool.as_slice() {
        [] => Choice::Missing,
        [one] => Choice::Chosen((*one).clone()),
        several => Choice::Ambiguous(several.iter().map(|file| (*file).clone()).collect()),
    }
}

/// Whether `stem` says it is `part`'s program: it contains `server` or
/// `client`, in any case.
fn names_role(part: Part, stem: &str) -> bool {
    stem.to_lowercase().contains(part.as_str())
}

/// What to tell a student whose program was run under a name the handout
/// does not use.
fn misnamed_note(lab: &Lab, part: Part, file: &SourceFile) -> Option<String> {
    let names = lab.conventions.names(part);
    if names.contains(&file.stem) {
        return None;
    }
    let role = part.as_str();
    Some(match names.first() {
        Some(name) => format!(
            "Ran {} as your {role}; the handout's name is {name}.{}.",
            file.name,
            file.language.extension()
        ),
        None => format!("Ran {} as your {role}.", file.name),
    })
}

#[cfg(test)]
mod tests;
