//! Which interpreter a command's `python3` is, resolved once per grader
//! process and then run directly.
//!
//! On an instructor's machine `python3` is often a version manager's shim
//! (pyenv, asdf): a shell script that starts the manager, which reads its
//! version files and only then execs the real interpreter, 0.2 to 1 s per
//! start. Every program a grading starts would pay it, and asking the shim
//! once per grader (`python3 -c 'import sys; print(sys.executable)'`) still
//! pays it once per `grader grade`, which the LMS paths run per submission.
//! So the shim is read the way its manager reads it, from the same files,
//! without starting anything; only a shim of a manager not known here is
//! asked for `sys.executable`. The answer is taken in the grader's working
//! directory, never in a submission's: a `.python-version` a student ships
//! cannot pick another interpreter (Python 2, say) for their own programs.
//!
//! The resolved path is run as the program (no `PATH` search, no shim), and
//! each result records it (`ProgramRun::interpreter`). Landlock still allows
//! it: the sandbox adds the directory of a program given by path and the
//! root of each toolchain on the `PATH` (`cell::sandbox::toolchains`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a bare interpreter name turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The name commands use (`python3`).
    pub name: &'static str,
    /// What is run: absolute when it was found, the bare name otherwise.
    pub path: PathBuf,
    pub how: How,
}

/// How a name was resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// An executable on the `PATH` that is not a shim: run as found.
    OnPath,
    /// A version manager's shim, read the way the manager reads it.
    Shim {
        manager: Manager,
        shim: PathBuf,
        version: String,
        /// Where the version was chosen: an environment variable or a file.
        chosen_by: String,
    },
    /// A shim or wrapper script of an unknown kind: the interpreter it
    /// starts was asked for its own path, once.
    Asked { wrapper: PathBuf },
    /// Nowhere on the `PATH`: left to the `PATH` (and reported missing).
    NotFound,
}

/// The version managers whose shims are read without running them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    Pyenv,
    Asdf,
}

impl Manager {
    fn as_str(self) -> &'static str {
        match self {
            Manager::Pyenv => "pyenv",
            Manager::Asdf => "asdf",
        }
    }
}

impl Resolution {
    /// One line for a result: what the name was run as, and why.
    pub fn describe(&self) -> String {
        let path = self.path.display();
        let name = self.name;
        match &self.how {
            How::OnPath => format!("{name} = {path} (the first on the PATH)"),
            How::Shim {
                manager,
                shim,
                version,
                chosen_by,
            } => format!(
                "{name} = {path} ({} {version}, chosen by {chosen_by}; run directly instead of the shim {})",
                manager.as_str(),
                shim.display()
            ),
            How::Asked { wrapper } => format!(
                "{name} = {path} (the interpreter {} starts, asked once for its own path)",
                wrapper.display()
            ),
            How::NotFound => format!("{name} (not found on the PATH)"),
        }
    }
}

/// The grader's `python3`, resolved on first use.
pub fn python3() -> &'static Resolution {
    static PYTHON: OnceLock<Resolution> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let env = Environment::of_this_process();
        resolve_python3(&env)
    })
}

/// What a result says about the interpreter of a command whose program is
/// `argv[0]`: a line when it is an interpreter this module resolved.
pub fn described(argv: &[String]) -> Option<String> {
    let program = Path::new(argv.first()?);
    let python = python3();
    (program == python.path && python.how != How::NotFound).then(|| python.describe())
}

/// What resolution reads: passed in, so tests can build one.
struct Environment {
    path: String,
    home: Option<PathBuf>,
    cwd: PathBuf,
    vars: Vec<(String, String)>,
}

impl Environment {
    fn of_this_process() -> Environment {
        Environment {
            path: std::env::var("PATH").unwrap_or_default(),
            home: std::env::var_os("HOME").map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            vars: std::env::vars().collect(),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// The first executable `name` on the `PATH`, skipping `skip`.
    fn find(&self, name: &str, skip: Option<&Path>) -> Option<PathBuf> {
        self.path
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(Path::new)
            .filter(|dir| Some(*dir) != skip)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }
}

fn resolve_python3(env: &Environment) -> Resolution {
    const NAME: &str = "python3";
    let resolution = |path: PathBuf, how: How| Resolution {
        name: NAME,
        path,
        how,
    };
    let Some(found) = env.find(NAME, None) else {
        return resolution(PathBuf::from(NAME), How::NotFound);
    };
    if let Some(resolved) = read_shim(env, NAME, &found) {
        return resolved;
    }
    if !is_script(&found) {
        return resolution(found, How::OnPath);
    }
    // A wrapper of an unknown kind: the interpreter it starts knows its path.
    let asked = std::process::Command::new(&found)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|path| PathBuf::from(path.trim()))
        .filter(|path| path.is_absolute() && is_executable(path));
    match asked {
        Some(path) => resolution(path, How::Asked { wrapper: found }),
        // It cannot say: run it as it is, which is what its author meant.
        None => resolution(found, How::OnPath),
    }
}

/// `found` read as a pyenv or asdf shim (`<root>/shims/<name>` beside
/// `<root>/versions` or `<root>/installs`), the way the manager picks a
/// version. `None` when it is not one, or the choice is not plain (a version
/// not installed, a prefix to match): then the shim is asked instead.
fn read_shim(env: &Environment, name: &'static str, found: &Path) -> Option<Resolution> {
    let shims = found.parent()?;
    if shims.file_name()? != "shims" {
        return None;
    }
    let root = shims.parent()?;
    let (manager, versions, chosen_by) = if root.join("versions").is_dir() {
        let (versions, chosen_by) = pyenv_versions(env, root)?;
        (Manager::Pyenv, versions, chosen_by)
    } else if root.join("installs").is_dir() {
        let (versions, chosen_by) = asdf_versions(env)?;
        (Manager::Asdf, versions, chosen_by)
    } else {
        return None;
    };
    // As the managers do: the first listed version that has the program.
    for version in versions {
        let path = match (manager, version.as_str()) {
            (_, "system") => env.find(name, Some(shims))?,
            (Manager::Pyenv, _) => root.join("versions").join(&version).join("bin").join(name),
            (Manager::Asdf, _) => root
                .join("installs/python")
                .join(&version)
                .join("bin")
                .join(name),
        };
        if is_executable(&path) {
            return Some(Resolution {
                name,
                path,
                how: How::Shim {
                    manager,
                    shim: found.to_path_buf(),
                    version,
                    chosen_by,
                },
            });
        }
    }
    None
}

/// pyenv's choice: `PYENV_VERSION`, else the nearest `.python-version` from
/// the working directory up, else `<root>/version`, else `system`.
fn pyenv_versions(env: &Environment, root: &Path) -> Option<(Vec<String>, String)> {
    if let Some(versions) = env.var("PYENV_VERSION") {
        return Some((split_versions(versions), "PYENV_VERSION".into()));
    }
    let global = root.join("version");
    let file = env
        .cwd
        .ancestors()
        .map(|dir| dir.join(".python-version"))
        .find(|file| file.is_file())
        .or_else(|| global.is_file().then_some(global));
    match file {
        Some(file) => {
            let text = std::fs::read_to_string(&file).ok()?;
            let versions: Vec<String> = text
                .lines()
                .map(|line| line.split('#').next().unwrap_or_default())
                .flat_map(split_versions)
                .collect();
            (!versions.is_empty()).then(|| (versions, file.display().to_string()))
        }
        None => Some((
            vec!["system".into()],
            "no version file (pyenv's default)".into(),
        )),
    }
}

/// asdf's choice: `ASDF_PYTHON_VERSION`, else the `python` line of the
/// nearest `.tool-versions` from the working directory up, then the home
/// directory's.
fn asdf_versions(env: &Environment) -> Option<(Vec<String>, String)> {
    if let Some(versions) = env.var("ASDF_PYTHON_VERSION") {
        return Some((split_versions(versions), "ASDF_PYTHON_VERSION".into()));
    }
    let home = env.home.as_ref().map(|home| home.join(".tool-versions"));
    let files = env
        .cwd
        .ancestors()
        .map(|dir| dir.join(".tool-versions"))
        .chain(home);
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let line = text.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            (words.next() == Some("python")).then(|| words.map(String::from).collect::<Vec<_>>())
        });
        if let Some(versions) = line.filter(|versions| !versions.is_empty()) {
            return Some((versions, file.display().to_string()));
        }
    }
    None
}

fn split_versions(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ':')
        .filter(|word| !word.is_empty())
        .map(String::from)
        .collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Whether `path` is a script (`#!`) rather than a binary: a wrapper whose
/// interpreter may be elsewhere.
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok_and(|()| &head == b"#!")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn environment(path: &[&Path], cwd: &Path, vars: &[(&str, &str)]) -> Environment {
        Environment {
            path: path
                .iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
            home: None,
            cwd: cwd.to_path_buf(),
            vars: vars
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }

    /// A pyenv tree: its shim, two installed versions, a global version file.
    fn pyenv(root: &Path) {
        // The shim would fail if run: resolution must not run it.
        executable(&root.join("shims/python3"), "#!/bin/sh\nexit 97\n");
        for version in ["3.11.7", "3.12.1"] {
            executable(
                &root.join("versions").join(version).join("bin/python3"),
                "#!/bin/sh\n",
            );
        }
        std::fs::write(root.join("version"), "3.11.7\n").unwrap();
    }

    #[test]
    fn a_pyenv_shim_is_read_from_pyenv_s_files_without_running_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pyenv");
        pyenv(&root);
        let shims = root.join("shims");
        let env = environment(&[&shims], dir.path(), &[]);
        let resolved = resolve_python3(&env);
        assert_eq!(resolved.path, root.join("versions/3.11.7/bin/python3"));
        assert!(
            matches!(&resolved.how, How::Shim { manager: Manager::Pyenv, version, .. } if version == "3.11.7"),
            "{resolved:?}"
        );
        assert!(
            resolved
                .describe()
                .contains("run directly instead of the shim")
        );

        // A nearer .python-version wins over the global file, and
        // PYENV_VERSION over both, as in pyenv.
        let project = dir.path().join("course/lab");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            dir.path().join("course/.python-version"),
            "3.12.1 # newest\n",
        )
        .unwrap();
        let env = environment(&[&shims], &project, &[]);
        assert_eq!(
            resolve_python3(&env).path,
            root.join("versions/3.12.1/bin/python3")
        );
        let env = environment(&[&shims], &project, &[("PYENV_VERSION", "3.11.7")]);
        assert_eq!(
            resolve_python3(&env).path,
            root.join("versions/3.11.7/bin/python3")
        );
    }

    #[test]
    fn pyenv_s_system_version_is_the_next_python3_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pyenv");
        pyenv(&root);
        let system = dir.path().join("usr/bin");
        executable(&system.join("python3"), "\x7fELF");
        let env = environment(
            &[&root.join("shims"), &system],
            dir.path(),
            &[("PYENV_VERSION", "system")],
        );
        assert_eq!(resolve_python3(&env).path, system.join("python3"));
    }

    #[test]
    fn an_asdf_shim_is_read_from_tool_versions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("asdf");
        executable(&root.join("shims/python3"), "#!/bin/sh\nexit 97\n");
        let real = root.join("installs/python/3.12.1/bin/python3");
        executable(&real, "#!/bin/sh\n");
        std::fs::write(
            dir.path().join(".tool-versions"),
            "nodejs 20.1.0\npython 3.12.1\n",
        )
        .unwrap();
        let env = environment(&[&root.join("shims")], dir.path(), &[]);
        let resolved = resolve_python3(&env);
        assert_eq!(resolved.path, real);
        assert!(matches!(
            resolved.how,
            How::Shim {
                manager: Manager::Asdf,
                ..
            }
        ));
    }

    #[test]
    fn a_plain_interpreter_is_run_as_found_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        executable(&bin.join("python3"), "\x7fELF");
        let env = environment(&[&bin], dir.path(), &[]);
        let resolved = resolve_python3(&env);
        assert_eq!(
            (resolved.path, resolved.how),
            (bin.join("python3"), How::OnPath)
        );
        let env = environment(&[&dir.path().join("empty")], dir.path(), &[]);
        assert_eq!(resolve_python3(&env).how, How::NotFound);
    }

    #[test]
    fn this_machine_s_python3_resolves_to_an_interpreter_that_runs() {
        let python = python3();
        if python.how == How::NotFound {
            eprintln!("skipped: no python3 on this machine");
            return;
        }
        let output = std::process::Command::new(&python.path)
            .args(["-c", "import sys; print(sys.version_info[0])"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "3",
            "{python:?}"
        );
        let argv = vec![python.path.display().to_string(), "-u".into()];
        assert_eq!(described(&argv), Some(python.describe()));
        assert_eq!(described(&["/bin/sh".into()]), None);
    }
}
