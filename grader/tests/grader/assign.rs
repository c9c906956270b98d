//! Assignments as instructors give them: a lab with one part assigned
//! (`--part`, `[lab] parts`), scored out of that part's points in every
//! format and in the gradebook.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{SEED, grader_binary, lab, repo};

/// The textbook's `TCPServer.py` alone, as a student hands in a server-only
/// assignment.
fn server_only_submission(root: &Path) -> std::path::PathBuf {
    let submission = root.join("alice");
    std::fs::create_dir_all(&submission).unwrap();
    std::fs::copy(
        repo().join("fixtures/submissions/tcp-uppercase/textbook/TCPServer.py"),
        submission.join("TCPServer.py"),
    )
    .unwrap();
    submission
}

fn run(args: &[&str]) -> Output {
    let output = Command::new(grader_binary())
        .args(args)
        .output()
        .expect("grader runs");
    assert!(
        output.status.success(),
        "grader {}: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The server's tests and points in the built-in lab, and the points the
/// textbook server earns there: every server test but the two it dies on.
fn server_tests() -> (Vec<String>, u32, u32) {
    let lab = lab("tcp-uppercase");
    let server: Vec<_> = lab
        .tests
        .iter()
        .filter(|test| test.part == grader::lab::Part::Server)
        .collect();
    let points = server.iter().map(|test| test.points).sum();
    let earned = server
        .iter()
        .filter(|test| !["reset-client", "invalid-utf8"].contains(&test.id.as_str()))
        .map(|test| test.points)
        .sum();
    assert!(
        lab.max_score() > points,
        "the lab has client points to leave out"
    );
    (
        server.iter().map(|test| test.id.clone()).collect(),
        points,
        earned,
    )
}

#[test]
fn a_server_only_submission_scores_out_of_the_servers_points_in_every_format() {
    let (ids, points, earned) = server_tests();
    let scratch = tempfile::tempdir().unwrap();
    let submission = server_only_submission(scratch.path());
    let submission = submission.to_str().unwrap();
    let seed = SEED.to_string();
    let render = |format: &str| {
        let output = run(&[
            "grade",
            "tcp-uppercase",
            submission,
            "--part",
            "server",
            "--seed",
            &seed,
            "--format",
            format,
        ]);
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let note = "Assigned: the server only.";

    let json: Value = serde_json::from_str(&render("json")).unwrap();
    let listed: Vec<&str> = json["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|test| test["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "only the server's tests: {json:#}");
    assert_eq!(json["score"], earned, "{json:#}");
    assert_eq!(json["max_score"], points, "{json:#}");
    assert!(
        json["notes"][0].as_str().unwrap().starts_with(note),
        "{json:#}"
    );

    let gradescope: Value = serde_json::from_str(&render("gradescope")).unwrap();
    assert_eq!(gradescope["score"], earned);
    assert_eq!(gradescope["extra_data"]["max_score"], points);
    assert_eq!(gradescope["tests"].as_array().unwrap().len(), ids.len());
    assert!(gradescope["output"].as_str().unwrap().contains(note));

    let github: Value = serde_json::from_str(&render("github")).unwrap();
    assert_eq!(github["max_score"], points);
    let sum: u64 = github["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|test| test["score"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, u64::from(earned));
    assert_eq!(github["tests"].as_array().unwrap().len(), ids.len());

    let junit = render("junit");
    assert!(
        junit.contains(&format!("tests=\"{}\"", ids.len())),
        "{junit}"
    );
    assert!(!junit.contains("tcp-uppercase.client"), "{junit}");
    assert!(
        junit.contains(&format!(
            "<property name=\"max_score\" value=\"{points}\"/>"
        )),
        "{junit}"
    );

    let autolab = render("autolab");
    assert!(
        autolab.starts_with(&format!("tcp-uppercase: {earned}/{points} points;")),
        "{autolab}"
    );
    assert!(!autolab.contains("client-"), "{autolab}");

    let human = render("human");
    assert!(
        human.contains(&format!("score: {earned}/{points}")),
        "{human}"
    );
    assert!(human.contains(note), "{human}");

    let html = render("html");
    assert!(
        html.contains(&format!(">{earned} / {points}<")),
        "no score in the page"
    );
    assert!(
        !html.contains("client-one-sentence"),
        "a client test in the page"
    );
}

/// `[lab] parts = ["server"]` in a lab file does what `--part server` does,
/// down to the gradebook's CSV columns and totals.
#[test]
fn a_lab_file_that_assigns_the_server_only_grades_a_class_out_of_its_points() {
    let (ids, points, earned) = server_tests();
    let scratch = tempfile::tempdir().unwrap();
    let class = scratch.path().join("class");
    server_only_submission(&class);
    let text = std::fs::read_to_string(repo().join("fixtures/labs/tcp-uppercase.toml")).unwrap();
    let assigned = text.replacen("port = 12000", "port = 12000\nparts = [\"server\"]", 1);
    assert_ne!(assigned, text, "the lab file has a port line");
    let lab_file = scratch.path().join("server-only.toml");
    std::fs::write(&lab_file, assigned).unwrap();
    let csv = scratch.path().join("grades.csv");
    let book = scratch.path().join("gradebook.json");
    for lab_args in [
        vec![lab_file.to_str().unwrap()],
        vec!["tcp-uppercase", "--part", "server"],
    ] {
        let mut args = vec!["batch"];
        args.extend(&lab_args[..1]);
        args.push(class.to_str().unwrap());
        args.extend(&lab_args[1..]);
        args.extend([
            "--seed",
            "7",
            "--jobs",
            "1",
            "--csv",
            csv.to_str().unwrap(),
            "-o",
            book.to_str().unwrap(),
        ]);
        run(&args);
        let csv = std::fs::read_to_string(&csv).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("submission,status,{},total,max_score", ids.join(",")),
            "{lab_args:?}"
        );
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("alice,graded,") && row.ends_with(&format!(",{earned},{points}")),
            "{lab_args:?}: {row}"
        );
        let book: Value = serde_json::from_str(&std::fs::read_to_string(&book).unwrap()).unwrap();
        assert_eq!(book["max_score"], points, "{lab_args:?}");
    }
}

#[test]
fn a_part_the_lab_does_not_assign_is_refused_before_grading() {
    let output = Command::new(grader_binary())
        .args(["grade", "udp-count-s", "--part", "client"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--part client: lab `udp-count-s` cannot grade that part"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Command-line conventions, as cargo and ripgrep have them.

fn grader_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(grader_binary())
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("grader runs")
}

#[test]
fn a_piped_report_is_the_human_one_and_only_colour_follows_the_terminal() {
    let seed = SEED.to_string();
    // The test's stdout is a pipe, as in `grader grade … | cat`.
    let piped = grader_in(&repo(), &["grade", "udp-count-s", "--seed", &seed]);
    assert!(piped.status.success());
    let text = String::from_utf8(piped.stdout).unwrap();
    assert!(text.contains("score: 14/14"), "{text}");
    assert!(!text.contains('\x1b'), "no colour into a pipe: {text}");
    let coloured = grader_in(
        &repo(),
        &["grade", "udp-count-s", "--seed", &seed, "--color", "always"],
    );
    let text = String::from_utf8(coloured.stdout).unwrap();
    assert!(text.contains("\x1b[32mPASS\x1b[0m"), "{text}");
    let json = grader_in(&repo(), &["grade", "udp-count-s", "--format", "json"]);
    let _: Value = serde_json::from_slice(&json.stdout).expect("--format json is JSON");
    let quiet = grader_in(&repo(), &["grade", "udp-count-s", "-q"]);
    assert!(quiet.status.success());
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
}

#[test]
fn fail_under_says_what_was_reached_and_refuses_what_cannot_be() {
    let textbook = "fixtures/submissions/udp-uppercase/textbook";
    let below = grader_in(
        &repo(),
        &["grade", "udp-uppercase", textbook, "--fail-under", "100%"],
    );
    assert_eq!(below.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&below.stderr);
    assert!(
        stderr.contains("points (") && stderr.contains("below the required 100%"),
        "{stderr}"
    );
    let max = lab("udp-count-s").max_score();
    let too_many = (max + 1).to_string();
    for (value, why) in [
        ("101%", "a percentage must be from 0% to 100%"),
        ("-5%", "a percentage must be from 0% to 100%"),
        ("-1", "points must be from 0 to"),
        (too_many.as_str(), "points must be from 0 to"),
        ("lots", "expected points"),
    ] {
        let output = grader_in(
            &repo(),
            &["grade", "udp-count-s", &format!("--fail-under={value}")],
        );
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{value}: {stderr}");
    }
}

#[test]
fn a_directory_named_like_a_lab_is_not_a_lab_file() {
    let scratch = tempfile::tempdir().unwrap();
    let submission = scratch.path().join("udp-count-s/alice");
    std::fs::create_dir_all(&submission).unwrap();
    std::fs::copy(
        repo().join("fixtures/submissions/udp-count-s/textbook/UDPServer.py"),
        submission.join("UDPServer.py"),
    )
    .unwrap();
    let output = grader_in(
        scratch.path(),
        &[
            "grade",
            "udp-count-s",
            "udp-count-s/alice",
            "--format",
            "json",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["lab"], "udp-count-s");
    assert_eq!(result["status"], "graded", "{result:#}");
}

#[test]
fn batch_takes_short_jobs_and_quiet_and_prints_a_table_into_a_pipe() {
    let scratch = tempfile::tempdir().unwrap();
    let class = scratch.path().join("class");
    server_only_submission(&class);
    let class = class.to_str().unwrap();
    let output = grader_in(
        &repo(),
        &[
            "batch",
            "tcp-uppercase",
            class,
            "-j",
            "1",
            "-q",
            "--part",
            "server",
        ],
    );
    assert!(output.status.success());
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with("submission"), "{table}");
    assert!(table.contains("alice"), "{table}");
}

#[test]
fn list_marks_the_tests_an_assignment_leaves_out() {
    let scratch = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("fixtures/labs/tcp-uppercase.toml")).unwrap();
    let lab_file = scratch.path().join("server-only.toml");
    std::fs::write(
        &lab_file,
        text.replacen("port = 12000", "port = 12000\nparts = [\"server\"]", 1),
    )
    .unwrap();
    let output = grader_in(&repo(), &["list", lab_file.to_str().unwrap()]);
    assert!(output.status.success());
    let listed = String::from_utf8(output.stdout).unwrap();
    for test in &lab("tcp-uppercase").tests {
        let line = listed
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(test.id.as_str()))
            .unwrap_or_else(|| panic!("{} not listed:\n{listed}", test.id));
        assert_eq!(
            line.ends_with("(not assigned)"),
            test.part == grader::lab::Part::Client,
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------
// Rust hand-ins: a lab crate on its own, a fork of the repository, and the
// Gradescope kit.

fn json_result(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not JSON ({err}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn assert_full_marks(result: &Value) {
    assert_eq!(result["status"], "graded", "{result:#}");
    assert_eq!(result["score"], result["max_score"], "{result:#}");
    assert!(result["max_score"].as_u64().unwrap() > 0);
}

#[test]
fn a_completed_lab_crate_copied_out_of_the_repository_grades_to_full_marks() {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("my-lab");
    crate::labs::complete_lab_crate("tcp-uppercase", &copy);
    let seed = SEED.to_string();
    let output = grader_in(
        scratch.path(),
        &[
            "grade",
            "tcp-uppercase",
            "my-lab",
            "--format",
            "json",
            "--seed",
            &seed,
        ],
    );
    assert!(output.status.success());
    let result = json_result(&output);
    assert_full_marks(&result);
    assert!(
        result["server"]["command"]
            .as_str()
            .unwrap()
            .starts_with("tcp-uppercase-server"),
        "{result:#}"
    );
}

/// The files of the repository a fork needs to be a Cargo workspace (not
/// `fixtures/`, nor any build output).
fn fork_of_the_repository(destination: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            if entry.file_type().unwrap().is_dir() {
                if name != "target" {
                    copy(&path, &to.join(&name));
                }
            } else if entry.file_type().unwrap().is_file() {
                std::fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::create_dir_all(destination).unwrap();
        std::fs::copy(repo().join(file), destination.join(file)).unwrap();
    }
    for directory in ["src", "grader", "labs"] {
        copy(&repo().join(directory), &destination.join(directory));
    }
}

#[test]
fn a_students_fork_of_the_repository_grades_to_full_marks() {
    let scratch = tempfile::tempdir().unwrap();
    let fork = scratch.path().join("fork");
    fork_of_the_repository(&fork);
    crate::labs::complete_lab_crate("tcp-uppercase", &fork.join("labs/tcp-uppercase"));
    let seed = SEED.to_string();
    let output = grader_in(
        scratch.path(),
        &[
            "grade",
            "tcp-uppercase",
            "fork",
            "--format",
            "json",
            "--seed",
            &seed,
        ],
    );
    assert!(output.status.success());
    let result = json_result(&output);
    assert_full_marks(&result);
}

/// A fake Gradescope root: `source/` as setup.sh finds the unpacked zip,
/// with the grader shipped in `bin/`, and an `apt-get` that only records
/// what it was asked to install.
fn gradescope_root(root: &Path) -> std::path::PathBuf {
    let bin = root.join("source/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(grader_binary(), bin.join("grader")).unwrap();
    let apt = root.join("fake-apt-get");
    std::fs::write(
        &apt,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n",
            root.join("apt.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&apt, std::fs::Permissions::from_mode(0o755)).unwrap();
    apt
}

fn kit(script: &str, root: &Path, settings: &[(&str, &str)]) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(repo().join("docs/templates/gradescope").join(script))
        .current_dir(root)
        .env("AUTOGRADER_ROOT", root)
        .env_remove("SOCKLAB_LAB")
        .env_remove("SOCKLAB_LANGUAGES");
    for (name, value) in settings {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn the_gradescope_kit_sets_up_and_grades_a_rust_submission_end_to_end() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let apt = gradescope_root(root);
    let apt = apt.to_str().unwrap();

    // A Python-only assignment with the grader shipped installs no compiler.
    let setup = kit("setup.sh", root, &[("APT_GET", apt)]);
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let installed = std::fs::read_to_string(root.join("apt.log")).unwrap();
    assert!(installed.contains("python3"), "{installed}");
    for toolchain in ["cargo", "rustc", "gcc", "build-essential", "git"] {
        assert!(!installed.contains(toolchain), "{toolchain}: {installed}");
    }
    std::fs::remove_file(root.join("apt.log")).unwrap();
    let setup = kit(
        "setup.sh",
        root,
        &[("APT_GET", apt), ("SOCKLAB_LANGUAGES", "python rust")],
    );
    assert!(setup.status.success());
    let installed = std::fs::read_to_string(root.join("apt.log")).unwrap();
    assert!(installed.contains("gcc"), "Rust links with cc: {installed}");
    let setup = kit(
        "setup.sh",
        root,
        &[("APT_GET", apt), ("SOCKLAB_LANGUAGES", "cobol")],
    );
    assert_eq!(setup.status.code(), Some(2));

    // Students zip their crate: the files arrive in a folder.
    crate::labs::complete_lab_crate("tcp-uppercase", &root.join("submission/lab2"));
    std::fs::create_dir_all(root.join("results")).unwrap();

    let unset = kit("run_autograder", root, &[]);
    assert_eq!(unset.status.code(), Some(2), "no lab is no grading");
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("no lab set"),
        "{}",
        String::from_utf8_lossy(&unset.stderr)
    );
    assert!(!root.join("results/results.json").exists());

    let graded = kit(
        "run_autograder",
        root,
        &[
            ("SOCKLAB_LAB", "tcp-uppercase"),
            ("SOCKLAB_GRADE_ARGS", "--seed 5"),
        ],
    );
    let stdout = String::from_utf8_lossy(&graded.stdout);
    assert!(
        graded.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&graded.stderr)
    );
    assert!(
        stdout.contains("lab2/Cargo.toml"),
        "the files are listed: {stdout}"
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("results/results.json")).unwrap())
            .unwrap();
    assert_eq!(
        results["score"], results["extra_data"]["max_score"],
        "{results:#}"
    );
    assert_eq!(results["extra_data"]["status"], "graded", "{results:#}");
}

/// The lines of the block scalar that starts on the line after `marker` in a
/// CI template, dedented; a folded block (`>-`) joins them with spaces, as
/// YAML does.
fn template_script(template: &str, marker: &str) -> String {
    let text = std::fs::read_to_string(repo().join("docs/templates").join(template)).unwrap();
    let mut lines = text.lines().skip_while(|line| !line.contains(marker));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("{template}: no `{marker}`"));
    let folded = header.trim_end().ends_with(">-");
    let body: Vec<&str> = lines
        .take_while(|line| {
            line.starts_with("          ")
                || line.starts_with("      if")
                || line.starts_with("      echo")
                || line.starts_with("      exit")
        })
        .map(str::trim)
        .collect();
    assert!(
        !body.is_empty(),
        "{template}: empty script after `{marker}`"
    );
    body.join(if folded { " " } else { "\n" })
}

#[test]
fn the_ci_templates_stop_with_a_message_until_they_are_configured() {
    for (template, marker) in [
        ("github-classroom.yml", "run: |"),
        ("gitlab-ci.yml", "- >-"),
    ] {
        let script = template_script(template, marker);
        let run = |lab: &str, repository: &str| {
            Command::new("bash")
                .args(["-c", &script])
                .env("SOCKLAB_LAB", lab)
                .env("SOCKLAB_REPOSITORY", repository)
                .output()
                .unwrap()
        };
        let unset = run("", "");
        assert_eq!(unset.status.code(), Some(2), "{template}:\n{script}");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&unset.stdout),
            String::from_utf8_lossy(&unset.stderr)
        );
        assert!(said.contains("SOCKLAB_LAB"), "{template}: {said}");
        assert!(
            run("tcp-uppercase", "https://git.example/socklab")
                .status
                .success(),
            "{template}: a configured template goes on"
        );
    }
}

/// A lab crate's `cargo test` of a test whose part the lab file leaves out
/// passes, saying so: the grader grades nothing and exits 0.
#[test]
fn a_test_of_a_part_left_out_grades_nothing_and_says_why() {
    let scratch = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("fixtures/labs/tcp-uppercase.toml")).unwrap();
    let lab_file = scratch.path().join("server-only.toml");
    std::fs::write(
        &lab_file,
        text.replacen("port = 12000", "port = 12000\nparts = [\"server\"]", 1),
    )
    .unwrap();
    let lab_file = lab_file.to_str().unwrap();
    let output = grader_in(
        &repo(),
        &[
            "grade",
            lab_file,
            "--test",
            "client-exits",
            "--fail-under",
            "100%",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing to grade: Assigned: the server only."),
        "{stderr}"
    );
    let unknown = grader_in(&repo(), &["grade", lab_file, "--test", "no-such-test"]);
    assert_eq!(unknown.status.code(), Some(2));
    let one = grader_in(
        &repo(),
        &[
            "grade",
            lab_file,
            "--test",
            "one-client",
            "--format",
            "json",
        ],
    );
    let result = json_result(&one);
    assert_eq!(result["tests"].as_array().unwrap().len(), 1, "{result:#}");
    assert_eq!(result["tests"][0]["id"], "one-client");
}
