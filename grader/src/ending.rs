//! How a program ended, read from its exit status and the end of its stderr,
//! whatever language it is written in.
//!
//! Three answers matter to a fair verdict: the program never got to run its
//! own code (a syntax error, a missing interpreter, a JVM that could not
//! start), it ran and crashed (a traceback, an uncaught exception, a panic, a
//! fatal signal), or it ended on its own terms. A program that never ran is
//! one finding for its part, not a list of coding hints; a crash is never the
//! error message a test asks for.

use crate::outcome::ExitReport;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    NeverRan(NeverRan),
    Crashed(Crash),
    /// It exited by itself with a status, without a crash's traces.
    OnItsOwnTerms,
    /// It was still running when it was stopped.
    Stopped,
}

/// Why a program never got to run its own code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeverRan {
    pub finding: String,
    pub hint: String,
    /// The grading machine lacks what the command needs (an interpreter or
    /// a compiler): not the student's bug, so never charged to their code.
    pub missing_tool: Option<String>,
}

/// A crash, with the language whose runtime reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// In the student's terms: "a Python traceback", "a Java exception".
    pub what: String,
    /// The line that says what went wrong, when there is one.
    pub evidence: Option<String>,
}

/// Signals that mean the program itself failed (not the grader stopping it).
const CRASH_SIGNALS: &[(i32, &str)] = &[
    (4, "SIGILL, an illegal instruction"),
    (5, "SIGTRAP"),
    (
        6,
        "SIGABRT: it aborted, e.g. a failed assert() or a C++ exception nobody caught",
    ),
    (7, "SIGBUS, a bad memory access"),
    (8, "SIGFPE, e.g. a division by zero"),
    (9, "SIGKILL: it went over a limit (memory or CPU time)"),
    (
        11,
        "SIGSEGV, a segmentation fault: a bad pointer or an array index out of bounds",
    ),
    (24, "SIGXCPU: it used up its CPU time"),
    (25, "SIGXFSZ: it wrote a file larger than allowed"),
];

pub fn classify(exit: Option<&ExitReport>, stderr: &[u8]) -> Ending {
    let Some(exit) = exit else {
        return Ending::Stopped;
    };
    let text = String::from_utf8_lossy(stderr);
    if let Some(never_ran) = never_ran(exit, &text) {
        return Ending::NeverRan(never_ran);
    }
    if let Some(crash) = crash(exit, &text) {
        return Ending::Crashed(crash);
    }
    Ending::OnItsOwnTerms
}

fn never_ran(exit: &ExitReport, text: &str) -> Option<NeverRan> {
    let code = match exit {
        ExitReport::Code(code) => Some(*code),
        ExitReport::Signal(_) => None,
    };
    if code == Some(127) {
        let command = missing_command(text);
        return Some(match command {
            Some(command) if !command.contains('/') => NeverRan {
                finding: format!(
                    "The command `{command}` is not installed on the grading machine, so your program never ran."
                ),
                hint: format!(
                    "This is not a bug in your code: the grading machine needs `{command}`. Tell your instructor; if you gave the command yourself (socklab.toml), check its spelling."
                ),
                missing_tool: Some(command),
            },
            Some(command) => NeverRan {
                finding: format!("`{command}` does not exist, so your program never ran."),
                hint: "Check the file name in your command (names are case-sensitive), or build the program first with a `build` command in socklab.toml.".into(),
                missing_tool: None,
            },
            None => NeverRan {
                finding: "Your program's command was not found (exit status 127), so it never ran.".into(),
                hint: "Check the command and the file names in it (names are case-sensitive).".into(),
                missing_tool: None,
            },
        });
    }
    if code == Some(126) {
        return Some(NeverRan {
            finding: "Your program could not be executed (exit status 126), so it never ran.".into(),
            hint: "Make the file executable (chmod +x) or run it through its interpreter, e.g. python3 file.py.".into(),
            missing_tool: None,
        });
    }
    if text.contains("can't open file") && text.contains("No such file") {
        return Some(NeverRan {
            finding: "Python could not open your program's file, so it never ran.".into(),
            hint: "Check the file name (names are case-sensitive) and that it is in the folder you submitted.".into(),
            missing_tool: None,
        });
    }
    let python_parse_error = ["SyntaxError:", "IndentationError:", "TabError:"]
        .iter()
        .any(|marker| text.contains(marker))
        && !text.contains("Traceback (most recent call last)")
        && !text.contains("Node.js v");
    if python_parse_error {
        let python2 = text.contains("Missing parentheses in call to")
            || text.contains("print \"")
            || text.contains("print '");
        let hint = if python2 {
            "This looks like Python 2 code, which Python 3 cannot read: print is a function (print(\"...\")), input() replaces raw_input(), and `except Error as e:` replaces `except Error, e:`."
        } else {
            "Python could not read your program: fix the error at the line shown above, then run it yourself with python3 before submitting."
        };
        return Some(NeverRan {
            finding: format!(
                "Python could not parse your program, so it never ran: {}",
                last_line_with(text, &["SyntaxError", "IndentationError", "TabError"])
                    .unwrap_or("a syntax error")
            ),
            hint: hint.into(),
            missing_tool: None,
        });
    }
    const JVM_START: &[&str] = &[
        "Could not find or load main class",
        "Could not create the Java Virtual Machine",
        "Error occurred during initialization of VM",
        "Main method not found in class",
        "UnsupportedClassVersionError",
    ];
    if let Some(line) = last_line_with(text, JVM_START) {
        return Some(NeverRan {
            finding: format!("Java could not start your program, so it never ran: {line}"),
            hint: "Check that the class named in the command exists, is compiled, and has `public static void main(String[] args)`.".into(),
            missing_tool: None,
        });
    }
    if text.contains("Cannot find module") && text.contains("MODULE_NOT_FOUND") {
        return Some(NeverRan {
            finding: "Node could not find your program's file or a module it requires, so it never ran.".into(),
            hint: "Check the file name in the command, and use only Node's built-in modules (dgram, net).".into(),
            missing_tool: None,
        });
    }
    None
}

fn crash(exit: &ExitReport, text: &str) -> Option<Crash> {
    let with_evidence = |what: &str, markers: &[&str]| Crash {
        what: what.to_string(),
        evidence: last_line_with(text, markers).map(str::to_string),
    };
    if text.contains("Traceback (most recent call last)") {
        return Some(Crash {
            what: "a Python traceback".into(),
            evidence: last_nonblank_line(text).map(str::to_string),
        });
    }
    if text.contains("Exception in thread \"") {
        return Some(with_evidence(
            "an uncaught Java exception",
            &["Exception in thread"],
        ));
    }
    if text.contains("panicked at") {
        return Some(with_evidence("a Rust panic", &["panicked at"]));
    }
    if text.contains("goroutine ") && (text.contains("panic: ") || text.contains("fatal error: ")) {
        return Some(with_evidence("a Go panic", &["panic: ", "fatal error: "]));
    }
    if text.contains("Node.js v")
        || text.contains("Unhandled 'error' event")
        || text.contains("UnhandledPromiseRejection")
    {
        return Some(with_evidence(
            "an uncaught Node.js error",
            &["Error:", "Error [", "Unhandled"],
        ));
    }
    if text.contains("terminate called after throwing") {
        return Some(with_evidence(
            "an uncaught C++ exception",
            &["terminate called"],
        ));
    }
    let signal = match exit {
        ExitReport::Signal(signal) => Some(*signal),
        // A shell between the grader and the program reports a program
        // killed by signal N as status 128 + N.
        ExitReport::Code(code) if *code > 128 => {
            let signal = code - 128;
            let shell_said = ["Segmentation fault", "Aborted", "core dumped", "Killed"]
                .iter()
                .any(|marker| text.contains(marker));
            shell_said.then_some(signal)
        }
        ExitReport::Code(_) => None,
    }?;
    let name = CRASH_SIGNALS
        .iter()
        .find(|(number, _)| *number == signal)
        .map_or_else(|| format!("signal {signal}"), |(_, name)| name.to_string());
    Some(Crash {
        what: format!("a fatal signal ({name})"),
        evidence: None,
    })
}

/// The name of the command a shell could not find: `sh: 1: go: not found`
/// (dash), `/bin/sh: go: command not found` (bash), or `env: 'node': No such
/// file or directory`.
fn missing_command(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let rest = line
            .strip_suffix(": not found")
            .or_else(|| line.strip_suffix(": command not found"))
            .or_else(|| line.strip_suffix(": No such file or directory"))?;
        let name = rest.rsplit(": ").next()?.trim_matches(['\'', '"']);
        (!name.is_empty()).then(|| name.to_string())
    })
}

fn last_line_with<'t>(text: &'t str, markers: &[&str]) -> Option<&'t str> {
    text.lines()
        .rev()
        .find(|line| markers.iter().any(|marker| line.contains(marker)))
        .map(str::trim)
}

fn last_nonblank_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(code: i32, stderr: &str) -> Ending {
        classify(Some(&ExitReport::Code(code)), stderr.as_bytes())
    }

    #[test]
    fn a_python2_syntax_error_never_ran() {
        let stderr = "  File \"UDPClient.py\", line 8\n    print \"hi\"\n    ^\nSyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?\n";
        let Ending::NeverRan(never) = ending(1, stderr) else {
            panic!("{:?}", ending(1, stderr))
        };
        assert!(never.hint.contains("Python 2"));
        assert_eq!(never.missing_tool, None);
    }

    #[test]
    fn a_runtime_syntax_error_is_a_crash_not_a_parse_error() {
        let stderr = "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    eval('1 +')\nSyntaxError: invalid syntax\n";
        assert!(matches!(ending(1, stderr), Ending::Crashed(_)));
    }

    #[test]
    fn a_missing_interpreter_is_the_machine_not_the_student() {
        let Ending::NeverRan(never) = ending(127, "sh: 1: go: not found\n") else {
            panic!()
        };
        assert_eq!(never.missing_tool.as_deref(), Some("go"));
        let Ending::NeverRan(own_file) = ending(127, "sh: 1: ./server: not found\n") else {
            panic!()
        };
        assert_eq!(own_file.missing_tool, None);
        assert!(own_file.finding.contains("./server"));
    }

    #[test]
    fn a_jvm_that_cannot_start_never_ran() {
        let stderr = "Error occurred during initialization of VM\nCould not reserve enough space for object heap\nError: Could not create the Java Virtual Machine.\n";
        assert!(matches!(ending(1, stderr), Ending::NeverRan(_)));
    }

    #[test]
    fn crashes_are_recognised_in_every_language() {
        let java = "Exception in thread \"main\" java.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n";
        let go =
            "panic: dial udp: lookup nohost: no such host\n\ngoroutine 1 [running]:\nmain.main()\n";
        let node = "node:events:497\n      throw er; // Unhandled 'error' event\n      ^\n\nError: connect ECONNREFUSED 127.0.0.1:12000\n\nNode.js v20.20.2\n";
        let rust = "thread 'main' panicked at src/main.rs:3:5:\nboom\n";
        let python = "Traceback (most recent call last):\n  File \"c.py\", line 4, in <module>\nConnectionRefusedError: [Errno 111] Connection refused\n";
        for (stderr, what) in [
            (java, "Java"),
            (go, "Go"),
            (node, "Node"),
            (rust, "Rust"),
            (python, "Python"),
        ] {
            let Ending::Crashed(crash) = ending(1, stderr) else {
                panic!("{what}: {:?}", ending(1, stderr))
            };
            assert!(crash.what.contains(what), "{crash:?}");
        }
        let Ending::Crashed(java) = ending(1, java) else {
            panic!()
        };
        assert!(java.evidence.unwrap().contains("ConnectException"));
    }

    #[test]
    fn c_deaths_by_signal_are_crashes() {
        let segv = classify(Some(&ExitReport::Signal(11)), b"");
        assert!(matches!(&segv, Ending::Crashed(crash) if crash.what.contains("SIGSEGV")));
        // Through a shell: status 139 and the shell's own words.
        let shell = ending(139, "Segmentation fault (core dumped)\n");
        assert!(matches!(shell, Ending::Crashed(_)));
    }

    #[test]
    fn a_message_and_a_failure_status_is_on_its_own_terms() {
        assert_eq!(
            ending(1, "Request timed out: no server answered\n"),
            Ending::OnItsOwnTerms
        );
        assert_eq!(classify(None, b""), Ending::Stopped);
    }
}
