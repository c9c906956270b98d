//! Programs started in two halves (namespace tier): forked and set up while
//! the test before runs, then released to exec when their test needs them.
//!
//! Most of a start in a namespace cell is set-up between fork and exec: the
//! fork of the keeper, the private mount view, the Landlock ruleset, the
//! change of user, the seccomp filter (1.5-2 ms, and more on a busy
//! machine). None of it depends on the test, only on the program, so a
//! grading that knows its next test's program (a client test's client) has
//! the keeper fork it in that test's cell ahead of time: the child does all
//! of the set-up, then blocks reading a pipe. Writing one byte to that pipe
//! lets it exec; a second pipe, closed by the exec, reports whether the exec
//! worked (as `std::process::Command` learns it). A child whose byte never
//! comes sees the pipe close and exits without running anything.
//!
//! Keeper side: [`Start`], which forks by hand because `Command::spawn`
//! returns only after the exec, and the keeper must go on serving requests
//! (the test's own sockets) while its child waits. The child does what
//! `Command` does before the keeper's set-up (its stdio, its directory, the
//! signal state a program expects), and execs with `execvpe` from the
//! program's own `PATH`, as `Command` does.
//!
//! Grader side: [`Prepared`], released by [`Prepared::release`].

use std::ffi::CString;
use std::os::fd::OwnedFd;

use nix::libc;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork};

use super::keeper::ChildSetUp;

/// A prepared program's command line, worked out before the fork.
pub(super) struct Start {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// The program's own `PATH`, which `execvpe` searches.
    path: Option<String>,
    cwd: CString,
    stdio: [OwnedFd; 3],
}

impl Start {
    pub(super) fn new(
        program: &str,
        args: &[String],
        cwd: &str,
        env: Vec<(String, String)>,
        stdio: [OwnedFd; 3],
    ) -> std::io::Result<Start> {
        let text = |text: &str| CString::new(text).map_err(std::io::Error::other);
        let path = env
            .iter()
            .rev()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.clone());
        Ok(Start {
            program: text(program)?,
            argv: std::iter::once(program)
                .chain(args.iter().map(String::as_str))
                .map(text)
                .collect::<std::io::Result<_>>()?,
            envp: env
                .iter()
                .map(|(key, value)| text(&format!("{key}={value}")))
                .collect::<std::io::Result<_>>()?,
            path,
            cwd: text(cwd)?,
            stdio,
        })
    }

    /// Forks the program: set up by `set_up`, it waits for a byte on `go`
    /// and then execs, closing `started` (or writing its errno there).
    /// Returns its pid.
    pub(super) fn fork(
        self,
        set_up: &ChildSetUp,
        go: OwnedFd,
        started: OwnedFd,
    ) -> std::io::Result<i32> {
        // SAFETY: the keeper is single-threaded; the child only sets itself
        // up, waits and execs (or exits).
        match unsafe { fork() }? {
            ForkResult::Parent { child } => Ok(child.as_raw()),
            ForkResult::Child => {
                let error = self.run_child(set_up, &go).unwrap_err();
                let errno = error.raw_os_error().unwrap_or(libc::EINVAL);
                let _ = nix::unistd::write(&started, &errno.to_be_bytes());
                // SAFETY: leaves at once, running nothing of the keeper's.
                unsafe { libc::_exit(127) }
            }
        }
    }

    /// The child's side; returns only with what went wrong.
    fn run_child(&self, set_up: &ChildSetUp, go: &OwnedFd) -> std::io::Result<()> {
        let [stdin, stdout, stderr] = &self.stdio;
        dup2_stdin(stdin)?;
        dup2_stdout(stdout)?;
        dup2_stderr(stderr)?;
        nix::unistd::chdir(self.cwd.as_c_str())?;
        // A program starts with no signal blocked and SIGPIPE at its
        // default, not with the keeper's (Rust ignores SIGPIPE).
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
        // SAFETY: restores the default disposition; no handler runs.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }?;
        set_up.apply()?;
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(go, &mut byte) {
                // The grader let go of it: nothing is to run.
                Ok(0) => unsafe { libc::_exit(0) },
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        // SAFETY: the child of a single-threaded keeper is single-threaded.
        unsafe {
            match &self.path {
                Some(path) => std::env::set_var("PATH", path),
                None => std::env::remove_var("PATH"),
            }
        }
        Err(nix::unistd::execvpe(&self.program, &self.argv, &self.envp)
            .unwrap_err()
            .into())
    }
}

/// A program the keeper prepared, waiting to exec (grader side).
pub struct Prepared {
    pub(super) pid: i32,
    /// The write end of the pipe whose byte lets it exec.
    go: OwnedFd,
    /// The read end of the pipe its exec closes.
    started: OwnedFd,
}

impl Prepared {
    pub(super) fn new(pid: i32, go: OwnedFd, started: OwnedFd) -> Prepared {
        Prepared { pid, go, started }
    }

    /// Lets it exec; returns once it has, or with why it could not (as
    /// `Command::spawn` would have said: the exec's errno, or the set-up's).
    pub(super) fn release(self) -> std::io::Result<i32> {
        // A child whose set-up failed has exited and reported why; the byte
        // then meets a closed pipe, and the report below says why.
        let _ = nix::unistd::write(&self.go, &[1]);
        drop(self.go);
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < errno.len() {
            match nix::unistd::read(&self.started, &mut errno[got..]) {
                Ok(0) => break,
                Ok(read) => got += read,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        match got {
            0 => Ok(self.pid),
            4 => Err(std::io::Error::from_raw_os_error(i32::from_be_bytes(errno))),
            _ => Err(std::io::Error::other(
                "the prepared program's report was cut short",
            )),
        }
    }
}
