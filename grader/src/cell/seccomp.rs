//! One system-call filter for every program: no new `AF_UNIX` sockets.
//!
//! Landlock does not cover connecting to a Unix socket by its path, and the
//! host's are the road out of any cell (`docker.sock`, D-Bus, an ssh-agent).
//! A lab program needs none: `socket(AF_UNIX, …)` fails with `EACCES`,
//! while `socketpair` (asyncio's self-pipe, for one) keeps working.
//!
//! The filter is a constant program, installed between fork and exec with
//! one `prctl` (async-signal-safe), after `no_new_privs`.

use nix::libc;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

// struct seccomp_data: nr at 0, arch at 4, args[0] at 16.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG0: u32 = 16;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const fn statement(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
static FILTER: [libc::sock_filter; 8] = [
    statement(BPF_LD_W_ABS, OFFSET_ARCH),
    // Another architecture's calling convention: leave it alone (the
    // kernel only runs programs of this one here).
    jump(AUDIT_ARCH, 0, 5),
    statement(BPF_LD_W_ABS, OFFSET_NR),
    jump(libc::SYS_socket as u32, 0, 3),
    statement(BPF_LD_W_ABS, OFFSET_ARG0),
    jump(libc::AF_UNIX as u32, 0, 1),
    statement(BPF_RET_K, RET_ERRNO | libc::EACCES as u32),
    statement(BPF_RET_K, RET_ALLOW),
];

/// Installs the filter on the calling thread (and so on what it execs).
/// Requires `no_new_privs`. Async-signal-safe.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn forbid_unix_sockets() -> std::io::Result<()> {
    let program = libc::sock_fprog {
        len: FILTER.len() as u16,
        filter: FILTER.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a valid, static filter program.
    let result = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &program as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn forbid_unix_sockets() -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_filtered_child_cannot_open_a_unix_socket_but_can_pair_them() {
        let script = "import socket\n\
            a, b = socket.socketpair()\n\
            try:\n    socket.socket(socket.AF_UNIX)\nexcept PermissionError:\n    print('refused')\n";
        let mut command = std::process::Command::new("python3");
        command.args(["-c", script]);
        // SAFETY: prctl calls only.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                nix::sys::prctl::set_no_new_privs()?;
                super::forbid_unix_sockets()
            });
        }
        let Ok(output) = command.output() else {
            eprintln!("skipped: no python3 on this machine");
            return;
        };
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "refused",
            "{output:?}"
        );
    }
}
