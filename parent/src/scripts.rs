//! Scripts run by the parent only (vrrp_script, notify*, startup/shutdown; later MISC_CHECK),
//! with the identity keepalived would use (reference §5.8): the script's own `USER [GROUP]`,
//! else `script_user`, else `keepalived_script` when it exists, else root.
//!
//! A non-root script gets empty capability sets (setresuid from root clears them; the
//! ambient set is cleared first) and `no_new_privs`. A root script keeps root's capabilities,
//! as in keepalived, so users' notify scripts that call `ip` or iptables keep working.

use conf::model::{Config, Script};
use nix::unistd::{Gid, Pid, Uid};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    pub const ROOT: RunAs = RunAs { uid: 0, gid: 0 };
}

fn lookup(user: &str, group: Option<&str>) -> Option<RunAs> {
    let u = nix::unistd::User::from_name(user).ok()??;
    let gid = match group {
        Some(g) => nix::unistd::Group::from_name(g).ok()??.gid.as_raw(),
        None => u.gid.as_raw(),
    };
    Some(RunAs {
        uid: u.uid.as_raw(),
        gid,
    })
}

/// The default identity of scripts for this config.
pub fn default_identity(cfg: &Config) -> RunAs {
    if let Some((u, g)) = &cfg.global.script_user {
        if let Some(id) = lookup(u, g.as_deref()) {
            return id;
        }
        crate::log!("Script user '{u}' does not exist");
    }
    lookup("keepalived_script", None).unwrap_or(RunAs::ROOT)
}

/// The identity one script runs as.
pub fn identity(script: &Script, default: RunAs) -> RunAs {
    match &script.user {
        Some(u) => lookup(u, script.group.as_deref()).unwrap_or_else(|| {
            crate::log!("Script user '{u}' does not exist");
            default
        }),
        None => default,
    }
}

/// True when any script of this config runs as root (the parent then keeps its full
/// bounding set, and the audit says so).
pub fn any_root_script(cfg: &Config) -> bool {
    let def = default_identity(cfg);
    let mut all: Vec<&Script> = Vec::new();
    all.extend(cfg.global.startup_script.iter());
    all.extend(cfg.global.shutdown_script.iter());
    all.extend(cfg.scripts.iter().map(|s| &s.script));
    for v in &cfg.instances {
        let n = &v.notify;
        all.extend(
            [
                &n.master,
                &n.backup,
                &n.fault,
                &n.stop,
                &n.generic,
                &n.master_rx_lower_pri,
            ]
            .into_iter()
            .flatten(),
        );
    }
    all.iter().any(|s| identity(s, def).uid == 0)
}

/// Start a script. `extra` arguments follow the configured ones (keepalived's notify args).
pub fn spawn(script: &Script, who: RunAs, extra: &[String]) -> std::io::Result<Pid> {
    let args = &script.args;
    let mut cmd = if args.first().is_some_and(|a| a.starts_with('<')) {
        // keepalived runs `</dev/tcp/...` style checks through the shell.
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&script.cmd);
        c
    } else {
        let mut c = Command::new(args.first().map(String::as_str).unwrap_or("/bin/false"));
        c.args(&args[1.min(args.len())..]).args(extra);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_clear();
    // SAFETY: close_range is async-signal-safe; it runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Scripts get 0–2 only, not descriptors the daemon inherited.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    if who.uid != 0 {
        let (uid, gid) = (Uid::from_raw(who.uid), Gid::from_raw(who.gid));
        // SAFETY: between fork and exec only async-signal-safe system calls (setgroups,
        // setresgid, setresuid, prctl) run; the parent has no threads.
        unsafe {
            cmd.pre_exec(move || {
                let cerr = |r: i32| {
                    if r < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                };
                cerr(libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL,
                    0,
                    0,
                    0,
                ))?;
                let groups = [gid.as_raw()];
                cerr(libc::setgroups(1, groups.as_ptr()))?;
                cerr(libc::setresgid(gid.as_raw(), gid.as_raw(), gid.as_raw()))?;
                cerr(libc::setresuid(uid.as_raw(), uid.as_raw(), uid.as_raw()))?;
                cerr(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
                Ok(())
            });
        }
    }
    let child = cmd.spawn()?;
    Ok(Pid::from_raw(child.id() as i32))
}

/// A script that is running, and what to do when it ends.
pub struct Running<T> {
    pub pid: Pid,
    pub started: Instant,
    /// SIGTERM at this time, SIGKILL 2 s later (keepalived's kill timer); `None` = never.
    pub timeout: Option<Duration>,
    pub term_sent: Option<Instant>,
    pub then: T,
}

impl<T> Running<T> {
    /// Send what the timer asks for; `true` when the script has timed out.
    pub fn enforce(&mut self, now: Instant) -> bool {
        let Some(t) = self.timeout else { return false };
        if now < self.started + t {
            return false;
        }
        match self.term_sent {
            None => {
                let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGTERM);
                self.term_sent = Some(now);
            }
            Some(s) if now >= s + Duration::from_secs(2) => {
                let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
            }
            Some(_) => {}
        }
        true
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let t = self.timeout?;
        Some(match self.term_sent {
            None => self.started + t,
            Some(s) => s + Duration::from_secs(2),
        })
    }
}
