//! A grading's sandbox: what it works out once for all of the grading's
//! cells. A grading starts the same programs again and again (its client in
//! every client test, its server after each failed test); their
//! confinements are worked out at the first start and reused, keyed by all
//! they are worked out from.

use std::cell::Cell as Counter;
use std::path::PathBuf;

use grader::cell::{Sandbox, SpawnSpec, Tier, Wanted};
use grader::scratch::Scratch;

fn client(port: &str) -> Wanted {
    Wanted {
        command: SpawnSpec {
            program: PathBuf::from("/usr/bin/python3"),
            args: vec!["client.py".into()],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("SOCKLAB_PORT".into(), port.into()),
            ],
            cwd: PathBuf::from("/tmp"),
            stdin: None,
            any_tcp_port: false,
        },
        tier: Tier::Process,
        with_view: false,
        disk_mb: 64,
    }
}

#[test]
fn each_program_is_confined_once_per_grading_and_by_all_it_depends_on() {
    let scratch = Scratch::create().unwrap();
    let sandbox = Sandbox::new(scratch.path());
    let worked_out = Counter::new(0);
    let confine = |sandbox: &Sandbox, wanted: Wanted| {
        sandbox.confinement_of(wanted, |wanted| {
            worked_out.set(worked_out.get() + 1);
            let command = &wanted.command;
            sandbox.confinement(&command.program, &command.args, &command.env, None)
        })
    };
    let first = confine(&sandbox, client("12000"));
    // The same client in the grading's next cell: nothing new to work out.
    let again = confine(&sandbox.clone(), client("12000"));
    assert_eq!(worked_out.get(), 1);
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    // Another port is another program to the process tier's policy.
    confine(&sandbox, client("12001"));
    assert_eq!(worked_out.get(), 2);
    // A build step shares the copy but is confined apart.
    confine(&sandbox.for_build(), client("12000"));
    assert_eq!(worked_out.get(), 3);
    // Another grading works its own out, in its own copy.
    let other = Scratch::create().unwrap();
    confine(&Sandbox::new(other.path()), client("12000"));
    assert_eq!(worked_out.get(), 4);
}
