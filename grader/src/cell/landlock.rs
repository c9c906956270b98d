//! Landlock (Linux 5.13+): an unprivileged process restricts, for itself and
//! everything it starts, which files it may touch, which TCP ports it may
//! bind and connect to (ABI 4+), and whom it may signal or reach through
//! abstract Unix sockets (ABI 6+). A landlocked program also cannot ptrace
//! or read `/proc/<pid>/mem` or `environ` of any process outside its domain.
//!
//! The ruleset is built by the parent, where allocating is allowed, and the
//! child only calls `landlock_restrict_self` on its descriptor between fork
//! and exec: that is why the system calls are made here directly rather than
//! through a crate that builds and applies a ruleset in one go.
//!
//! Best effort by ABI: whatever the running kernel does not know is left
//! out, and [`Ruleset::describe`] says what was in force.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::libc;
use serde::{Deserialize, Serialize};

// The kernel's ABI (include/uapi/linux/landlock.h).
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;
const RULE_NET_PORT: libc::c_int = 2;

const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
const FS_REMOVE_DIR: u64 = 1 << 4;
const FS_REMOVE_FILE: u64 = 1 << 5;
const FS_MAKE_CHAR: u64 = 1 << 6;
const FS_MAKE_DIR: u64 = 1 << 7;
const FS_MAKE_REG: u64 = 1 << 8;
const FS_MAKE_SOCK: u64 = 1 << 9;
const FS_MAKE_FIFO: u64 = 1 << 10;
const FS_MAKE_BLOCK: u64 = 1 << 11;
const FS_MAKE_SYM: u64 = 1 << 12;
const FS_REFER: u64 = 1 << 13; // ABI 2
const FS_TRUNCATE: u64 = 1 << 14; // ABI 3
const FS_IOCTL_DEV: u64 = 1 << 15; // ABI 5

const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1; // ABI 4

const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1; // ABI 6

/// Rights that apply to a regular file (the others only to directories).
const FILE_RIGHTS: u64 = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

#[repr(C)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}

/// The Landlock ABI version of the running kernel; 0 when it has none (or
/// it is disabled).
pub fn abi() -> u32 {
    // SAFETY: the documented version query: no attribute, size 0.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).unwrap_or(0)
}

/// How a path may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Read and execute: the system, toolchains, the program itself.
    ReadExecute,
    /// Read only: `/proc`, `/sys`, entropy devices.
    Read,
    /// Read and write an existing file, never create: `/dev/null`.
    Device,
    /// Everything: the scratch copy and its temporary directory.
    Full,
}

/// What a program may do, in terms Landlock can express. Serialisable, so
/// the namespace tier's keeper can build the same ruleset.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Policy {
    pub paths: Vec<(PathBuf, Access)>,
    /// TCP ports it may bind and connect to; `None` leaves TCP unrestricted
    /// (a namespace cell's network is its own anyway).
    pub tcp_ports: Option<Vec<u16>>,
    /// Keep signals and abstract Unix sockets inside the cell.
    pub scoped: bool,
}

/// A ruleset built in the parent, applied in the child.
pub struct Ruleset {
    fd: OwnedFd,
    abi: u32,
    tcp: bool,
    scoped: bool,
}

impl Ruleset {
    /// Builds the ruleset of `policy` for this kernel's ABI. Paths that do not
    /// exist are skipped; `Err` when the kernel has no Landlock at all.
    pub fn build(policy: &Policy) -> Result<Ruleset, String> {
        let abi = abi();
        if abi == 0 {
            return Err("the kernel has no Landlock".into());
        }
        let mut handled_fs = FS_EXECUTE
            | FS_WRITE_FILE
            | FS_READ_FILE
            | FS_READ_DIR
            | FS_REMOVE_DIR
            | FS_REMOVE_FILE
            | FS_MAKE_CHAR
            | FS_MAKE_DIR
            | FS_MAKE_REG
            | FS_MAKE_SOCK
            | FS_MAKE_FIFO
            | FS_MAKE_BLOCK
            | FS_MAKE_SYM;
        if abi >= 2 {
            handled_fs |= FS_REFER;
        }
        if abi >= 3 {
            handled_fs |= FS_TRUNCATE;
        }
        if abi >= 5 {
            handled_fs |= FS_IOCTL_DEV;
        }
        let tcp = abi >= 4 && policy.tcp_ports.is_some();
        let scoped = abi >= 6 && policy.scoped;
        let attr = RulesetAttr {
            handled_access_fs: handled_fs,
            handled_access_net: if tcp {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if scoped {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            },
        };
        // Older kernels read only the fields they know.
        let size = match abi {
            0..=3 => 8,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: a valid attribute of `size` bytes; the result is a new fd.
        let raw = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                size,
                0u32,
            )
        };
        if raw < 0 {
            return Err(format!(
                "creating a Landlock ruleset: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: the kernel just gave us this descriptor (close-on-exec).
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        let ruleset = Ruleset {
            fd,
            abi,
            tcp,
            scoped,
        };
        for (path, access) in &policy.paths {
            ruleset.allow_path(path, *access, handled_fs)?;
        }
        if tcp {
            for port in policy.tcp_ports.iter().flatten() {
                ruleset.allow_port(*port)?;
            }
        }
        Ok(ruleset)
    }

    fn allow_path(&self, path: &Path, access: Access, handled: u64) -> Result<(), String> {
        let Ok(file) = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)
        else {
            return Ok(()); // Not on this machine: nothing to allow.
        };
        let is_dir = file.metadata().map(|meta| meta.is_dir()).unwrap_or(false);
        let wanted = match access {
            Access::ReadExecute => FS_READ_FILE | FS_READ_DIR | FS_EXECUTE,
            Access::Read => FS_READ_FILE | FS_READ_DIR,
            Access::Device => FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV,
            Access::Full => u64::MAX,
        };
        let mut allowed = wanted & handled;
        if !is_dir {
            allowed &= FILE_RIGHTS;
        }
        let rule = PathBeneathAttr {
            allowed_access: allowed,
            parent_fd: file.as_raw_fd(),
        };
        // SAFETY: a valid rule for a descriptor we hold.
        let result = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &rule as *const PathBeneathAttr,
                0u32,
            )
        };
        if result < 0 {
            return Err(format!(
                "allowing {} in Landlock: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    fn allow_port(&self, port: u16) -> Result<(), String> {
        let rule = NetPortAttr {
            allowed_access: NET_BIND_TCP | NET_CONNECT_TCP,
            port: u64::from(port),
        };
        // SAFETY: a valid rule.
        let result = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_NET_PORT,
                &rule as *const NetPortAttr,
                0u32,
            )
        };
        if result < 0 {
            return Err(format!(
                "allowing TCP port {port} in Landlock: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Restricts the calling process, for good. Sets `no_new_privs` first
    /// (Landlock requires it, and it keeps set-user-ID programs from
    /// regaining privileges). Async-signal-safe: two system calls.
    pub fn restrict_self(&self) -> std::io::Result<()> {
        nix::sys::prctl::set_no_new_privs()?;
        // SAFETY: our ruleset descriptor, no flags.
        let result =
            unsafe { libc::syscall(libc::SYS_landlock_restrict_self, self.fd.as_raw_fd(), 0u32) };
        if result < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// What this ruleset enforces, for the result.
    pub fn describe(&self) -> String {
        let mut parts = vec!["files"];
        if self.tcp {
            parts.push("TCP ports");
        }
        if self.scoped {
            parts.push("signals and abstract Unix sockets");
        }
        format!("Landlock ABI {}: {}", self.abi, parts.join(", "))
    }
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;

    /// A child confined to one directory can read there and nowhere else.
    #[test]
    fn a_landlocked_child_reads_only_what_it_was_given() {
        if abi() == 0 {
            eprintln!("skipped: this kernel has no Landlock");
            return;
        }
        let allowed = tempfile::tempdir().unwrap();
        let denied = tempfile::tempdir().unwrap();
        std::fs::write(allowed.path().join("a"), b"a").unwrap();
        std::fs::write(denied.path().join("b"), b"b").unwrap();
        let mut policy = Policy {
            paths: vec![(allowed.path().to_path_buf(), Access::Full)],
            tcp_ports: None,
            scoped: true,
        };
        for system in ["/usr", "/bin", "/lib", "/lib64", "/etc"] {
            policy.paths.push((system.into(), Access::ReadExecute));
        }
        let ruleset = Ruleset::build(&policy).unwrap();
        let script = format!(
            "cat {}/a && ! cat {}/b 2>/dev/null",
            allowed.path().display(),
            denied.path().display()
        );
        let mut command = std::process::Command::new("/bin/sh");
        command
            .args(["-c", &script])
            .stderr(std::process::Stdio::null());
        // SAFETY: restrict_self is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(move || ruleset.restrict_self());
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(output.stdout, b"a");
    }
}
