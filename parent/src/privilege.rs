//! The parent's own capability set (the audit table in README and ARCHITECTURE §2).
//!
//! The parent keeps only what its jobs need: NET_ADMIN (addresses, routes, IPVS), NET_RAW
//! (sockets for the children), SETUID/SETGID (children's and scripts' identities), KILL
//! (signalling children that run as other users), SETPCAP (so a child can empty its own
//! bounding set), plus SYS_NICE when a realtime priority or a negative nice value is
//! configured and IPC_LOCK with `*_no_swap`. While any script
//! runs as root it keeps the full set, as keepalived does, and says so.

use caps::{CapSet, Capability};
use conf::model::Config;

pub fn kept(cfg: &Config) -> Vec<Capability> {
    let mut v = vec![
        Capability::CAP_KILL,
        Capability::CAP_SETGID,
        Capability::CAP_SETUID,
        Capability::CAP_SETPCAP,
        Capability::CAP_NET_ADMIN,
        Capability::CAP_NET_RAW,
    ];
    let g = &cfg.global;
    if g.vrrp_rt_priority.is_some()
        || g.checker_rt_priority.is_some()
        || g.max_auto_priority.is_some_and(|p| p > 0)
    {
        v.push(Capability::CAP_SYS_NICE);
    }
    // mlockall past RLIMIT_MEMLOCK (8 MiB by default) needs it: without it a child's lock
    // only worked while the binary happened to map less than that.
    if g.vrrp_no_swap || g.checker_no_swap {
        v.push(Capability::CAP_IPC_LOCK);
    }
    v
}

/// Cut the bounding, permitted and effective sets to `kept` (all of them when a script runs
/// as root). Returns the capabilities kept.
pub fn restrict(cfg: &Config) -> Result<Vec<Capability>, String> {
    if crate::scripts::any_root_script(cfg) {
        crate::log!("Scripts run as root: the parent keeps its full capability set (set script_user to run them unprivileged)");
        return Ok(caps::all().into_iter().collect());
    }
    let keep = kept(cfg);
    for c in caps::all() {
        if !keep.contains(&c) {
            caps::drop(None, CapSet::Bounding, c).map_err(|e| format!("bounding set: {e}"))?;
        }
    }
    let set: caps::CapsHashSet = keep.iter().copied().collect();
    caps::set(None, CapSet::Inheritable, &caps::CapsHashSet::new())
        .map_err(|e| format!("inheritable set: {e}"))?;
    caps::set(None, CapSet::Effective, &set).map_err(|e| format!("effective set: {e}"))?;
    caps::set(None, CapSet::Permitted, &set).map_err(|e| format!("permitted set: {e}"))?;
    Ok(keep)
}

/// The audit table of live processes (`--caps` and the data dump): uid, capability sets,
/// no_new_privs and seccomp mode from `/proc/PID/status`, and the effective set by name.
/// Returns the text and how many processes were found.
pub fn table(procs: &[(&str, i32)]) -> (String, usize) {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>7} {:>6} {:>18} {:>18} {:>18} {:>4} {:>7}  effective",
        "process", "pid", "uid", "CapEff", "CapPrm", "CapBnd", "NNP", "Seccomp"
    );
    let mut found = 0;
    for (name, pid) in procs {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("")
                .to_string()
        };
        let eff = u64::from_str_radix(&field("CapEff:"), 16).unwrap_or(0);
        let mut names: Vec<String> = caps::all()
            .into_iter()
            .filter(|c| eff & (1u64 << c.index()) != 0)
            .map(|c| {
                c.to_string()
                    .trim_start_matches("CAP_")
                    .to_ascii_lowercase()
            })
            .collect();
        names.sort();
        let names = if names.is_empty() {
            "none".to_string()
        } else if names.len() > 20 {
            "all".to_string()
        } else {
            names.join(",")
        };
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>6} {:>18} {:>18} {:>18} {:>4} {:>7}  {}",
            name,
            pid,
            field("Uid:"),
            field("CapEff:"),
            field("CapPrm:"),
            field("CapBnd:"),
            field("NoNewPrivs:"),
            field("Seccomp:"),
            names
        );
        found += 1;
    }
    (out, found)
}
