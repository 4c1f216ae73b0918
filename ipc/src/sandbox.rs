//! The one audited privilege drop every child goes through (ARCHITECTURE §2).
//!
//! Order (each step needs what the previous ones keep): bounding set emptied while
//! CAP_SETPCAP is still effective → ambient and inheritable cleared → supplementary groups
//! dropped → setresgid / setresuid to the child's own user (without KEEP_CAPS the kernel
//! clears the permitted and effective sets; we clear them again and check) →
//! `no_new_privs` → a seccomp allowlist whose mismatch kills the process.

use caps::{CapSet, Capability};
use nix::unistd::{Gid, Uid};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule, TargetArch};
use std::collections::BTreeMap;

/// Which child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Vrrp,
    Checker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Vrrp => "vrrp",
            Role::Checker => "checker",
        }
    }

    /// The system user a package creates for this child.
    pub fn user(self) -> &'static str {
        match self {
            Role::Vrrp => "keepalived-vrrp",
            Role::Checker => "keepalived-check",
        }
    }

    /// When that user does not exist: a uid/gid of its own, never shared with the other
    /// child (counted down from this value to the first one no passwd or group entry uses).
    pub fn fallback_id(self) -> u32 {
        match self {
            Role::Vrrp => 65_500,
            Role::Checker => 65_400,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// The uid/gid a child runs as.
pub fn identity(role: Role) -> Identity {
    if let Ok(Some(u)) = nix::unistd::User::from_name(role.user()) {
        if u.uid.as_raw() != 0 {
            return Identity {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            };
        }
    }
    let mut id = role.fallback_id();
    while id > 1000 {
        let used_uid = matches!(nix::unistd::User::from_uid(Uid::from_raw(id)), Ok(Some(_)));
        let used_gid = matches!(nix::unistd::Group::from_gid(Gid::from_raw(id)), Ok(Some(_)));
        if !used_uid && !used_gid {
            break;
        }
        id -= 1;
    }
    Identity { uid: id, gid: id }
}

#[derive(Debug)]
pub struct SandboxError(pub String);

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> SandboxError + '_ {
    move |e| SandboxError(format!("{what}: {e}"))
}

impl Identity {
    /// `UID:GID`, as the parent passes it to a child (`--run-as`).
    pub fn arg(self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    pub fn parse(s: &str) -> Option<Identity> {
        let (u, g) = s.split_once(':')?;
        Some(Identity {
            uid: u.parse().ok()?,
            gid: g.parse().ok()?,
        })
    }
}

/// Drop every privilege, become `id` and confine the process to `syscalls`. Call before any
/// thread exists.
pub fn enter(id: Identity, syscalls: &[i64]) -> Result<Identity, SandboxError> {
    if id.uid == 0 {
        return Err(SandboxError("a child never runs as root".into()));
    }
    // Bounding set first: dropping from it needs CAP_SETPCAP, which we still hold.
    for c in caps::all() {
        caps::drop(None, CapSet::Bounding, c).map_err(err("bounding set"))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(err("ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(err("inheritable set"))?;
    nix::unistd::setgroups(&[]).map_err(err("setgroups"))?;
    let (g, u) = (Gid::from_raw(id.gid), Uid::from_raw(id.uid));
    nix::unistd::setresgid(g, g, g).map_err(err("setresgid"))?;
    nix::unistd::setresuid(u, u, u).map_err(err("setresuid"))?;
    caps::clear(None, CapSet::Effective).map_err(err("effective set"))?;
    caps::clear(None, CapSet::Permitted).map_err(err("permitted set"))?;
    if !caps::read(None, CapSet::Permitted)
        .map_err(err("read permitted"))?
        .is_empty()
    {
        return Err(SandboxError("capabilities survived the drop".into()));
    }
    nix::sys::prctl::set_no_new_privs().map_err(err("no_new_privs"))?;
    apply_seccomp(syscalls)?;
    Ok(id)
}

/// System calls every child needs: its mio loop, the allocator, signals, time, logging to
/// stderr and syslog, exit — and what a panic's abort uses.
pub const BASE_SYSCALLS: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_mprotect,
    libc::SYS_futex,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_tgkill,
    libc::SYS_kill,
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_fstat,
    libc::SYS_sched_yield,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    libc::SYS_prctl,
];

fn apply_seccomp(syscalls: &[i64]) -> Result<(), SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &s in BASE_SYSCALLS.iter().chain(syscalls) {
        rules.insert(s, Vec::new());
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err("seccomp arch"))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(err("seccomp filter"))?;
    let prog: BpfProgram = filter.try_into().map_err(err("seccomp compile"))?;
    seccompiler::apply_filter(&prog).map_err(err("seccomp apply"))?;
    Ok(())
}

/// The capabilities of the calling process, for `--caps` and the audit.
pub fn current(set: CapSet) -> Vec<Capability> {
    let mut v: Vec<_> = caps::read(None, set)
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    v.sort_by_key(|c| c.index());
    v
}

#[cfg(test)]
mod identity_tests {
    use super::Identity;

    #[test]
    fn run_as_argument_round_trips_and_refuses_garbage() {
        let id = Identity {
            uid: 65500,
            gid: 65499,
        };
        assert_eq!(Identity::parse(&id.arg()), Some(id));
        for bad in ["", "65500", "a:b", "1:-1", "1:2:3", ":5"] {
            assert_eq!(Identity::parse(bad), None, "{bad}");
        }
    }
}
