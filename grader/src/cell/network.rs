//! Hard-coded hosts and ports, namespace tier: a cell whose network is
//! *opened* lets the grader grade a client as written when it dials
//! `smtp.gmail.com:587`, its machine's own name, a lab machine's name or
//! `10.0.0.1:12000`, and a server on port 80.
//!
//! - **Every IPv4 address is the cell's** (the AnyIP route, see `netlink`):
//!   a socket the grader binds on `0.0.0.0:PORT` in the cell receives what a
//!   client sends to any address on PORT, and an accepted connection's
//!   `local_addr()` is the address the client dialled.
//! - **Every port may be bound**: `net.ipv4.ip_unprivileged_port_start` is 0
//!   in the cell's network namespace (the sysctl is per namespace), so a
//!   student's web server on 80, or the grader's peer on 25, binds without
//!   any capability.
//! - **Every name is the cell**: the keeper moves into a mount namespace of
//!   its own in which `/etc/resolv.conf` (`nameserver 127.0.0.1`), `/etc/hosts`
//!   (localhost and the cell's host name) and `/etc/nsswitch.conf` (the
//!   host's, with `hosts: files dns`) are generated files, bound read-only;
//!   every program it starts afterwards inherits them, and a private mount
//!   view (`mount`) carries them along with `/etc`. The grader answers the
//!   queries (`resolver`) on port 53 of every address of the cell, so even a
//!   client that kept the host's `nameserver` line reaches it. A UTS
//!   namespace gives the cell a fixed host name, so `gethostname()` resolves.
//!
//! The keeper's side runs in the keeper (single-threaded, root of the
//! cell's user namespace); the grader's side is [`Network`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The host name of every cell with an opened network.
pub const CELL_HOSTNAME: &str = "socklab-cell";

/// The generated `/etc/resolv.conf`: only the cell's resolver, no search
/// domains (a bare name is asked as written), and a short timeout, so a
/// resolver that is not there costs a client a second, not ten.
pub const RESOLV_CONF: &str = "# socklab cell: every name resolves to the cell\n\
nameserver 127.0.0.1\n\
options timeout:1 attempts:2\n";

/// The generated `/etc/hosts`. IPv4 only: a client taking the first address
/// of `localhost` must get the one the grader listens on.
pub fn hosts() -> String {
    format!(
        "# socklab cell: every name resolves to the cell\n\
         127.0.0.1\tlocalhost localhost.localdomain {CELL_HOSTNAME}\n"
    )
}

/// The host's `nsswitch.conf` with its `hosts:` line replaced by
/// `hosts: files dns`: what resolves names must be the two files above and
/// the cell's resolver, not mDNS, systemd-resolved or an LDAP server, none
/// of which a cell can reach. Every other database is left as the host has it.
pub fn nsswitch(host: &str) -> String {
    let mut out = String::with_capacity(host.len() + 32);
    let mut replaced = false;
    for line in host.lines() {
        let is_hosts = line
            .trim_start()
            .strip_prefix("hosts")
            .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if is_hosts {
            if !replaced {
                out.push_str("hosts: files dns\n");
            }
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str("hosts: files dns\n");
    }
    out
}

/// What opening a cell's network gave, besides the AnyIP route, which
/// always holds when it opened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Opened {
    /// Steps the kernel refused that leave the cell usable but lessen it
    /// (ports below 1024 privileged, the host's resolver files), one
    /// sentence each.
    pub notes: Vec<String>,
}

/// Why a cell cannot take hard-coded hosts and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The cell runs as plain processes, sharing the machine's network.
    ProcessTier { reason: String },
    /// Programs already run in the cell; they would not see its resolver files.
    AfterSpawn,
    /// The kernel refused the AnyIP route.
    Kernel { error: String },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::ProcessTier { reason } => write!(
                f,
                "hard-coded hosts and ports need the namespace tier, and this grading runs in the process tier ({reason})"
            ),
            Refused::AfterSpawn => {
                f.write_str("a cell's network must be opened before its first program starts")
            }
            Refused::Kernel { error } => write!(
                f,
                "hard-coded hosts and ports need a route making every address local, which the kernel refused ({error})"
            ),
        }
    }
}

impl std::error::Error for Refused {}

/// Keeper side: opens the network of the cell the keeper is in. `Err` only
/// when the AnyIP route is refused; the other steps add notes.
pub(super) fn open_in_keeper() -> Result<Opened, String> {
    super::netlink::add_any_ip_route().map_err(|err| format!("adding the route: {err}"))?;
    let mut notes = Vec::new();
    if let Err(err) = std::fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0") {
        notes.push(format!(
            "ports below 1024 need a capability in the cell: the kernel refused net.ipv4.ip_unprivileged_port_start ({err})"
        ));
    }
    if let Err(err) = own_host_name() {
        notes.push(format!(
            "the cell keeps the machine's host name, which may not resolve: the kernel refused a UTS namespace ({err})"
        ));
    }
    if let Err(err) = own_resolver_files() {
        notes.push(format!(
            "the host's resolver files stay in force (names still reach the cell's resolver through any IPv4 nameserver line): {err}"
        ));
    }
    Ok(Opened { notes })
}

fn own_host_name() -> std::io::Result<()> {
    use nix::libc;
    // SAFETY: plain system calls on a valid buffer.
    unsafe {
        if libc::unshare(libc::CLONE_NEWUTS) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::sethostname(CELL_HOSTNAME.as_ptr().cast(), CELL_HOSTNAME.len()) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Moves the keeper into a mount namespace of its own where the resolver
/// files are the generated ones. They are written to a tmpfs mounted on
/// `/tmp` for the moment it takes to bind them, then that mount is detached:
/// the binds keep the tmpfs alive, and `/tmp` is the host's again for the
/// programs that run without a private view.
fn own_resolver_files() -> std::io::Result<()> {
    let files: Vec<(PathBuf, String)> = [
        ("/etc/resolv.conf", Some(RESOLV_CONF.to_string())),
        ("/etc/hosts", Some(hosts())),
        (
            "/etc/nsswitch.conf",
            std::fs::read_to_string("/etc/nsswitch.conf")
                .ok()
                .map(|host| nsswitch(&host)),
        ),
    ]
    .into_iter()
    // A file the host lacks is left lacking: glibc without resolv.conf asks
    // 127.0.0.1, without hosts asks DNS, without nsswitch.conf uses
    // `dns files`; each ends at the cell's resolver. A link is followed (as
    // binding over it would be) while the host's paths still resolve.
    .filter_map(|(at, contents)| Some((Path::new(at).canonicalize().ok()?, contents?)))
    .collect();
    super::mount::unshare_mounts()?;
    let staging = Path::new("/tmp");
    super::mount::mount_tmpfs(staging, "mode=0755,size=64k", 0)?;
    let bound = files
        .iter()
        .enumerate()
        .try_for_each(|(n, (at, contents))| {
            let source = staging.join(format!("{n}"));
            std::fs::write(&source, contents)?;
            super::mount::bind_read_only(&source, at)
        });
    let detached = super::mount::detach(staging);
    bound.and(detached)
}

/// Grader side of an opened network: the cell's resolver.
pub(super) struct Network {
    pub opened: Opened,
    pub resolver: Option<super::resolver::Resolver>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsswitch_keeps_everything_but_the_hosts_line() {
        let host = "passwd: files systemd\n# comment\nhosts:   files mdns4_minimal [NOTFOUND=return] dns myhostname\nhostsx: nothing\nnetworks: files\n";
        assert_eq!(
            nsswitch(host),
            "passwd: files systemd\n# comment\nhosts: files dns\nhostsx: nothing\nnetworks: files\n"
        );
        assert_eq!(
            nsswitch("passwd: files\n"),
            "passwd: files\nhosts: files dns\n"
        );
        assert_eq!(
            nsswitch("hosts: dns\n  hosts : files\n"),
            "hosts: files dns\n"
        );
    }

    #[test]
    fn the_generated_files_name_only_the_cell() {
        assert!(RESOLV_CONF.contains("\nnameserver 127.0.0.1\n"));
        assert!(!RESOLV_CONF.contains("search"));
        assert!(hosts().contains(&format!(
            "127.0.0.1\tlocalhost localhost.localdomain {CELL_HOSTNAME}\n"
        )));
        assert!(!hosts().contains("::1"));
    }

    #[test]
    fn refusals_are_one_sentence() {
        let refused = Refused::ProcessTier {
            reason: "--isolation process was given".into(),
        };
        assert_eq!(
            refused.to_string(),
            "hard-coded hosts and ports need the namespace tier, and this grading runs in the process tier (--isolation process was given)"
        );
    }
}
