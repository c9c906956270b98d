//! The web-server lab's strict reading of a response agrees with a real
//! client's: curl fetches `/HelloWorld.html` from the reference and from
//! samples whose status line is broken, and accepts the response exactly
//! when the grader's `hello-page` test passes. Each server runs in a
//! namespace cell of its own (the samples hard-code their ports), and curl
//! runs in the same cell.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grader::cell::{Cell, CellOptions, CellProcess, IsolationRequest, SpawnSpec};
use grader::lab::Lab;
use grader::protocol::Protocol;
use grader::readiness::{self, Readiness};
use grader::scratch::Scratch;
use grader::submission::{REFERENCE_ARG, Source};
use grader::transport::Transport;

use crate::support::{self, repo};

/// A bound against a hang, never a pause.
const AT_MOST: Duration = Duration::from_secs(60);

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts `argv` in a fresh namespace cell, in a working copy holding the
/// lab's files and `sample` (if any), and returns the cell, the server and
/// the port it listens on.
fn serve(
    lab: &Lab,
    scratch: &Scratch,
    sample: Option<&Path>,
    argv: &[String],
) -> (Cell, CellProcess, u16) {
    let workdir = scratch.path().join("submission");
    std::fs::create_dir_all(&workdir).unwrap();
    let Protocol::Http { site, .. } = lab.protocol else {
        panic!("web-server speaks HTTP");
    };
    grader::lab::files::place(site, &workdir).unwrap();
    if let Some(sample) = sample {
        for entry in std::fs::read_dir(sample).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "py") {
                std::fs::copy(&path, workdir.join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let cell = Cell::open(&CellOptions {
        isolation: IsolationRequest::Namespace,
        keeper: Some(support::grader_binary()),
        limits: grader::limits::Limits::default(),
        label: Some("http-clients".into()),
        sandbox: None,
    })
    .expect("a namespace cell");
    let process = cell
        .spawn(&spec(&workdir, argv))
        .expect("the server starts");
    let ready =
        readiness::wait_for_any_port(&cell, &process, Transport::Tcp, Instant::now() + AT_MOST);
    let Readiness::Listening { port } = ready else {
        panic!("{argv:?} did not listen: {ready:?}");
    };
    (cell, process, port)
}

fn spec(cwd: &Path, argv: &[String]) -> SpawnSpec {
    SpawnSpec {
        program: PathBuf::from(&argv[0]),
        args: argv[1..].to_vec(),
        cwd: cwd.to_path_buf(),
        env: ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION"]
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect(),
        stdin: None,
        any_tcp_port: true,
    }
}

/// Whether curl, in `cell`, accepts the response to GET /HelloWorld.html.
fn curl_accepts(cell: &Cell, curl: &Path, port: u16) -> (bool, String) {
    let argv = [
        curl.to_string_lossy().into_owned(),
        "--silent".into(),
        "--show-error".into(),
        "--max-time".into(),
        "20".into(),
        "--output".into(),
        "/dev/null".into(),
        format!("http://127.0.0.1:{port}/HelloWorld.html"),
    ];
    let process = cell
        .spawn(&spec(Path::new("/"), &argv))
        .expect("curl starts");
    let exit = process.wait_until(Instant::now() + AT_MOST);
    let end = cell.stop_all(process);
    let stderr = String::from_utf8_lossy(&end.stderr.joined()).into_owned();
    (
        exit.is_some_and(|exit| exit.to_string() == "exit status 0"),
        stderr,
    )
}

#[test]
fn curl_and_the_grader_agree_on_well_formed_responses() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    let Some(curl) = which("curl") else {
        eprintln!("skipped: curl is not installed on this machine");
        return;
    };
    let Some(python) = which("python3") else {
        eprintln!("skipped: no python3 on the PATH");
        return;
    };
    let lab = support::lab("web-server")
        .only_tests(&["hello-page".to_string()])
        .unwrap();
    let samples = repo().join("fixtures/submissions/web-server");
    let reference = vec![
        support::grader_binary().to_string_lossy().into_owned(),
        REFERENCE_ARG.into(),
        "server".into(),
        "web-server".into(),
        "--port".into(),
        "6789".into(),
    ];
    let cases: Vec<(&str, Option<PathBuf>, Vec<String>)> = vec![
        ("reference", None, reference),
        (
            "status-leading-space",
            Some(samples.join("status-leading-space")),
            vec![
                python.to_string_lossy().into_owned(),
                "-u".into(),
                "webserver.py".into(),
            ],
        ),
        (
            "blank-line-first",
            Some(samples.join("blank-line-first")),
            vec![
                python.to_string_lossy().into_owned(),
                "-u".into(),
                "webserver.py".into(),
            ],
        ),
    ];
    for (name, sample, argv) in cases {
        let scratch = Scratch::create().unwrap();
        let (cell, server, port) = serve(&lab, &scratch, sample.as_deref(), &argv);
        let (accepted, curl_said) = curl_accepts(&cell, &curl, port);
        cell.stop_all(server);
        let source = match &sample {
            Some(dir) => Source::Directory(dir.clone()),
            None => Source::Reference,
        };
        let result = grader::runner::grade(
            &lab,
            &source,
            &support::options(IsolationRequest::Namespace),
        )
        .expect("grading runs");
        let passed = result.tests[0].outcome == grader::outcome::Outcome::Pass;
        println!("{name}: curl accepted: {accepted} ({curl_said:?}); grader passed: {passed}");
        assert_eq!(
            accepted,
            passed,
            "{name}: curl {} the response ({curl_said}) but the grader's hello-page {}",
            if accepted { "accepted" } else { "refused" },
            if passed { "passed" } else { "failed" }
        );
        if name == "reference" {
            assert!(passed, "the reference is well formed");
        } else {
            assert!(!passed, "{name} breaks the form of a response");
        }
    }
}
