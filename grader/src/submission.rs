//! Deciding how to run a submission: the first of these that applies
//! wins — `--server`/`--client` commands, a `socklab.toml` manifest, the lab's
//! conventions (textbook file names run with `python3 -u`, a Cargo package's
//! lab binaries, programs in other languages: see [`crate::conventions`]).
//! The submission is copied to a scratch directory first, so grading never
//! changes it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::lab::Lab;
pub use crate::plan::{Plan, PlanError, ProgramPlan, python2_marker, python3};

pub mod copy;

/// What is being graded.
#[derive(Clone, Debug)]
pub enum Source {
    /// The reference implementation built into the grader.
    Reference,
    /// A submission directory; it is copied before anything runs.
    Directory(PathBuf),
    /// Only `--server`/`--client` commands, run where the grader was started:
    /// the commands name their own files, and nothing is copied.
    Commands(PathBuf),
}

/// `--server` and `--client` from the command line.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub server: Option<String>,
    pub client: Option<String>,
}

/// The hidden first argument that makes the grader binary run the reference.
pub const REFERENCE_ARG: &str = "__socklab-reference";

/// The `socklab.toml` a submission may carry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    build: Option<String>,
    server: Option<ManifestProgram>,
    client: Option<ManifestProgram>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestProgram {
    command: String,
}

/// Plans a run. `grader_binary` runs the reference (see [`REFERENCE_ARG`]);
/// `scratch` is an empty directory the submission is copied into.
pub fn plan(
    lab: &Lab,
    source: &Source,
    overrides: &Overrides,
    scratch: &Path,
    grader_binary: Option<&Path>,
) -> Result<Plan, PlanError> {
    // What the copy left out explains a submission that cannot run (its
    // only server was a link to a classmate's), so it goes with the reason.
    let mut copy_notes = Vec::new();
    plan_copied(
        lab,
        source,
        overrides,
        scratch,
        grader_binary,
        &mut copy_notes,
    )
    .map_err(|err| match err {
        PlanError::NotRunnable(reason) if !copy_notes.is_empty() => {
            PlanError::NotRunnable(format!("{reason}\n{}", copy_notes.join("\n")))
        }
        other => other,
    })
}

fn plan_copied(
    lab: &Lab,
    source: &Source,
    overrides: &Overrides,
    scratch: &Path,
    grader_binary: Option<&Path>,
    copy_notes: &mut Vec<String>,
) -> Result<Plan, PlanError> {
    let workdir = scratch.join("submission");
    std::fs::create_dir_all(&workdir)
        .map_err(|err| PlanError::BadInput(format!("creating {}: {err}", workdir.display())))?;
    let mut plan = Plan {
        workdir: workdir.clone(),
        tmp: scratch.join("tmp"),
        build: None,
        server: overrides.server.as_deref().map(ProgramPlan::shell),
        client: overrides.client.as_deref().map(ProgramPlan::shell),
        notes: Vec::new(),
    };
    let directory = match source {
        Source::Reference => {
            let binary = grader_binary.ok_or_else(|| {
                PlanError::BadInput("grading the reference needs the grader binary".into())
            })?;
            if socklab::Lab::from_name(&lab.name).is_none() {
                return Err(PlanError::BadInput(format!(
                    "lab `{}` has no reference implementation; name a submission to grade",
                    lab.name
                )));
            }
            let reference = |part: &str| ProgramPlan {
                argv: [
                    binary.to_string_lossy().as_ref(),
                    REFERENCE_ARG,
                    part,
                    &lab.name,
                    "--host",
                    "{host}",
                    "--port",
                    "{port}",
                ]
                .map(String::from)
                .to_vec(),
                display: format!("socklab {part} {} --port {{port}}", lab.name),
            };
            plan.server.get_or_insert_with(|| reference("server"));
            plan.client.get_or_insert_with(|| reference("client"));
            return Ok(plan);
        }
        Source::Commands(directory) => {
            if plan.server.is_none() && plan.client.is_none() {
                return Err(PlanError::BadInput(
                    "no submission directory, and no --server or --client command".into(),
                ));
            }
            plan.workdir = directory.clone();
            return Ok(plan);
        }
        Source::Directory(directory) => directory,
    };
    let metadata = std::fs::metadata(directory).map_err(|err| {
        PlanError::BadInput(format!("submission `{}`: {err}", directory.display()))
    })?;
    if !metadata.is_dir() {
        return Err(PlanError::BadInput(format!(
            "submission `{}` is not a directory",
            directory.display()
        )));
    }
    let copied = copy::copy_submission(directory, &workdir, &copy::BOUNDS).map_err(|err| {
        PlanError::BadInput(format!(
            "copying submission `{}`: {err}",
            directory.display()
        ))
    })?;
    copy_notes.extend(copied.notes.iter().cloned());
    plan.notes.extend(copied.notes);
    let commands_given = plan.server.is_some() || plan.client.is_some();
    if !commands_given && !copied.has_visible_file {
        return Err(PlanError::NotRunnable(
            "The submission is empty: there is no file to run.".into(),
        ));
    }

    // A manifest is read where the files are: at the top, or in the one
    // folder a zip put them all in; its commands run there.
    let (root, _) = crate::conventions::source_root(&workdir);
    let manifest_path = root.join("socklab.toml");
    if manifest_path.exists() {
        plan.workdir = root;
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|err| PlanError::NotRunnable(format!("socklab.toml cannot be read: {err}")))?;
        let manifest: Manifest = toml::from_str(&text).map_err(|err| {
            let line = err
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1);
            PlanError::NotRunnable(format!(
                "socklab.toml{}: {}",
                line.map(|line| format!(", line {line}"))
                    .unwrap_or_default(),
                err.message()
            ))
        })?;
        plan.build = manifest.build.as_deref().map(ProgramPlan::shell);
        if plan.server.is_none() {
            plan.server = manifest
                .server
                .map(|program| ProgramPlan::shell(&program.command));
        }
        if plan.client.is_none() {
            plan.client = manifest
                .client
                .map(|program| ProgramPlan::shell(&program.command));
        }
        return Ok(plan);
    }

    crate::conventions::apply(lab, &mut plan, scratch, directory)?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python2_is_recognised() {
        assert!(python2_marker("print \"hello\"\n").is_some());
        assert!(python2_marker("x = raw_input('> ')\n").is_some());
        assert!(python2_marker("print('hello')\n# print \"old\"\n").is_none());
    }

    #[test]
    fn a_lab_crate_named_by_a_relative_path_builds_from_its_absolute_manifest() {
        let lab = crate::lab::builtin("udp-uppercase").unwrap().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let source = Source::Directory("../labs/udp-uppercase".into());
        let plan = plan(&lab, &source, &Overrides::default(), scratch.path(), None).unwrap();
        let build = plan.build.expect("a Cargo package is built");
        let flag = build.argv.iter().position(|arg| arg == "--manifest-path");
        let manifest = Path::new(&build.argv[flag.expect("a manifest path") + 1]);
        assert!(manifest.is_absolute(), "{}", manifest.display());
        assert!(manifest.is_file(), "{}", manifest.display());
    }

    #[test]
    fn a_cargo_package_is_not_built_when_every_part_has_a_command() {
        // udp-count-s has no client part: a server command is all it needs.
        let lab = crate::lab::builtin("udp-count-s").unwrap().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let source = Source::Directory("../labs/udp-count-s".into());
        let overrides = Overrides {
            server: Some("./server --port {port}".into()),
            client: None,
        };
        let plan = plan(&lab, &source, &overrides, scratch.path(), None).unwrap();
        assert!(plan.build.is_none());
    }

    #[test]
    fn templates_fill_host_and_port() {
        let program = ProgramPlan::shell("./server --port {port} --host {host}");
        assert!(program.port_aware());
        let (binary, args) = program.render("127.0.0.1", 4242);
        assert_eq!(binary, PathBuf::from("/bin/sh"));
        assert_eq!(args[1], "./server --port 4242 --host 127.0.0.1");
        assert!(!ProgramPlan::shell("python3 -u TCPServer.py").port_aware());
    }
}
