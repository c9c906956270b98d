//! Planning submissions without a manifest: which file runs as which part,
//! and what a submission with nothing to run is told.

use std::path::Path;

use crate::submission::{Overrides, Plan, PlanError, Source, plan};

const JAVA_MAIN: &str = "import java.net.*;\npublic class X {\n    public static void main(String[] args) throws Exception {}\n}\n";
const PY_SERVER: &str =
    "from socket import *\ns = socket(AF_INET, SOCK_DGRAM)\ns.bind(('', 12000))\n";
const PY_CLIENT: &str =
    "from socket import *\ns = socket(AF_INET, SOCK_DGRAM)\ns.sendto(b'x', ('localhost', 12000))\n";
const C_MAIN: &str = "#include <sys/socket.h>\nint main(void) { return 0; }\n";

/// Plans a submission made of `files` (path, text) for `lab`.
fn plan_of(lab: &str, files: &[(&str, &str)]) -> (Result<Plan, PlanError>, [tempfile::TempDir; 2]) {
    let lab = crate::lab::builtin(lab).unwrap().unwrap();
    let submission = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = submission.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let scratch = tempfile::tempdir().unwrap();
    let planned = plan(
        &lab,
        &Source::Directory(submission.path().to_path_buf()),
        &Overrides::default(),
        scratch.path(),
        None,
    );
    (planned, [scratch, submission])
}

fn not_runnable(result: Result<Plan, PlanError>) -> String {
    match result {
        Err(PlanError::NotRunnable(reason)) => reason,
        Err(other) => panic!("expected not runnable, got {other:?}"),
        Ok(plan) => panic!("expected not runnable, got a plan: {plan:?}"),
    }
}

fn needs(tool: &str) -> bool {
    let found = super::tools::find(tool).is_some();
    if !found {
        eprintln!("skipped: `{tool}` is not installed here");
    }
    found
}

#[test]
fn a_java_server_and_client_are_compiled_and_run_by_class() {
    if !(needs("javac") && needs("java")) {
        return;
    }
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[
            ("UDPServer.java", &JAVA_MAIN.replace("X", "UDPServer")),
            ("UDPClient.java", &JAVA_MAIN.replace("X", "UDPClient")),
            ("Handler.java", "class Handler {}\n"),
        ],
    );
    let plan = planned.unwrap();
    assert_eq!(plan.server.unwrap().display, "java -cp . UDPServer");
    assert_eq!(plan.client.unwrap().display, "java -cp . UDPClient");
    let build = plan.build.unwrap().display;
    // Each part is compiled with the helper classes beside it.
    assert_eq!(
        build,
        "javac -encoding UTF-8 -d . UDPServer.java Handler.java && javac -encoding UTF-8 -d . UDPClient.java Handler.java"
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn a_misnamed_python_server_runs_with_a_note() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[("UDPServerMulti.py", PY_SERVER), ("notes.txt", "my lab\n")],
    );
    let plan = planned.unwrap();
    assert_eq!(plan.server.unwrap().display, "python3 -u UDPServerMulti.py");
    assert!(plan.client.is_none());
    assert!(
        plan.notes.iter().any(|note| note
            == "Ran UDPServerMulti.py as your server; the handout's name is UDPServer.py."),
        "{:?}",
        plan.notes
    );
}

#[test]
fn the_textbook_names_still_come_first() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[
            ("UDPServer.py", PY_SERVER),
            ("UDPServerMulti.py", PY_SERVER),
        ],
    );
    let plan = planned.unwrap();
    assert_eq!(plan.server.unwrap().display, "python3 -u UDPServer.py");
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn another_labs_server_is_not_mistaken_for_this_ones() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[("TCPServer.py", PY_SERVER), ("UDPServer2.py", PY_SERVER)],
    );
    assert_eq!(
        planned.unwrap().server.unwrap().display,
        "python3 -u UDPServer2.py"
    );
}

#[test]
fn two_plausible_servers_are_not_guessed_between() {
    let (planned, _scratch) = plan_of(
        "udp-count-s",
        &[("server1.py", PY_SERVER), ("server2.py", PY_SERVER)],
    );
    let reason = not_runnable(planned);
    assert!(
        reason.contains("Several files could be your server: server1.py, server2.py."),
        "{reason}"
    );
    assert!(
        reason.contains("[server]\ncommand = \"python3 -u server1.py\""),
        "{reason}"
    );
}

#[test]
fn a_c_server_in_a_zipped_folder_is_built_there() {
    if !needs("cc") {
        return;
    }
    let (planned, [scratch, _submission]) = plan_of(
        "tcp-uppercase",
        &[
            ("lab2/TCPServer.c", C_MAIN),
            ("lab2/util.c", "int twice(int x) { return 2 * x; }\n"),
            ("__MACOSX/lab2/._TCPServer.c", "junk"),
        ],
    );
    let plan = planned.unwrap();
    assert_eq!(plan.workdir, scratch.path().join("submission/lab2"));
    assert_eq!(
        plan.build.unwrap().display,
        "cc -pthread -o TCPServer TCPServer.c util.c"
    );
    let server = plan.server.unwrap();
    assert_eq!(server.display, "./TCPServer");
    assert_eq!(Path::new(&server.argv[0]), plan.workdir.join("TCPServer"));
    assert!(
        plan.notes
            .iter()
            .any(|note| note.contains("folder `lab2/`")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_java_class_without_main_is_named_as_such() {
    let (planned, _scratch) = plan_of(
        "tcp-uppercase",
        &[(
            "TCPServer.java",
            "public class TCPServer { void serve() {} }\n",
        )],
    );
    let reason = not_runnable(planned);
    assert!(
        reason.contains(
            "TCPServer.java has no `public static void main(String[] args)`, so it is not run as your server."
        ),
        "{reason}"
    );
    assert!(reason.contains("Found: TCPServer.java."), "{reason}");
}

#[test]
fn a_readme_alone_is_not_runnable_and_the_message_names_it() {
    let (planned, _scratch) = plan_of("udp-uppercase", &[("README.md", "# my lab\n")]);
    let reason = not_runnable(planned);
    assert!(reason.starts_with("There is nothing to run"), "{reason}");
    assert!(reason.contains("Found: README.md."), "{reason}");
    assert!(
        reason.contains("a server named UDPServer, udp_server or server"),
        "{reason}"
    );
    assert!(
        reason.contains("[server]\ncommand = \"python3 -u UDPServer.py\""),
        "{reason}"
    );
}

#[test]
fn a_near_miss_is_told_the_rename_and_the_manifest() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[("UDPSever.py", PY_SERVER), ("UDPCleint.py", PY_CLIENT)],
    );
    let reason = not_runnable(planned);
    assert!(
        reason.contains("Rename UDPSever.py to UDPServer.py, and rename UDPCleint.py to UDPClient.py; or put this socklab.toml"),
        "{reason}"
    );
    assert!(
        reason.ends_with("[server]\ncommand = \"python3 -u UDPSever.py\"\n[client]\ncommand = \"python3 -u UDPCleint.py\""),
        "{reason}"
    );
}

#[test]
fn a_lone_program_without_a_role_name_is_suggested_by_its_code() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[("lab2/main.c", C_MAIN), ("lab2/prog.py", PY_SERVER)],
    );
    let reason = not_runnable(planned);
    assert!(
        reason.contains("(the files are in the folder lab2/)"),
        "{reason}"
    );
    assert!(
        reason.contains("[server]\ncommand = \"cd lab2 && python3 -u prog.py\""),
        "{reason}"
    );
    assert!(
        reason.contains("[client]\ncommand = \"cd lab2 && ./main\""),
        "{reason}"
    );
    assert!(
        reason.contains("build = \"cd lab2 && cc -pthread -o main main.c\""),
        "{reason}"
    );
}

#[test]
fn a_part_that_is_ambiguous_beside_one_that_runs_gets_a_note() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[
            ("UDPServer.py", PY_SERVER),
            ("client_a.py", PY_CLIENT),
            ("client_b.py", PY_CLIENT),
        ],
    );
    let plan = planned.unwrap();
    assert!(plan.client.is_none());
    assert!(
        plan.notes.iter().any(|note| note.starts_with(
            "No client was run: several files could be your client: client_a.py, client_b.py."
        )),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_node_server_runs_with_node() {
    let (planned, _scratch) = plan_of(
        "udp-count-s",
        &[("server.js", "const dgram = require('dgram');\n")],
    );
    match planned {
        Ok(plan) => assert_eq!(plan.server.unwrap().display, "node server.js"),
        Err(PlanError::MissingTool(message)) => assert!(message.contains("`node`"), "{message}"),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn a_go_server_needs_go_and_says_so_when_it_is_missing() {
    let (planned, _scratch) = plan_of(
        "udp-uppercase",
        &[(
            "UDPServer.go",
            "package main\n\nimport \"net\"\n\nfunc main() { net.ListenPacket(\"udp\", \":12000\") }\n",
        )],
    );
    match (planned, super::tools::find("go")) {
        (Ok(plan), Some(_)) => {
            assert_eq!(plan.server.unwrap().display, "./UDPServer");
            assert!(
                plan.build
                    .unwrap()
                    .display
                    .contains("go build -o UDPServer UDPServer.go")
            );
        }
        (Err(PlanError::MissingTool(message)), None) => {
            assert!(message.contains("no `go`"), "{message}");
            assert!(message.contains("golang-go"), "{message}");
            assert!(message.contains("UDPServer.go"), "{message}");
        }
        (other, go) => panic!("go at {go:?}, planned {other:?}"),
    }
}

#[test]
fn a_manifest_in_a_zipped_folder_is_read_and_run_there() {
    let (planned, [scratch, _submission]) = plan_of(
        "udp-uppercase",
        &[
            (
                "lab2/socklab.toml",
                "[server]\ncommand = \"python3 -u my_server.py\"\n",
            ),
            ("lab2/my_server.py", PY_SERVER),
        ],
    );
    let plan = planned.unwrap();
    assert_eq!(plan.workdir, scratch.path().join("submission/lab2"));
    assert_eq!(plan.server.unwrap().display, "python3 -u my_server.py");
}
