//! `vrrp_track_process`: how many processes match, by a scan of /proc (keepalived listens
//! to the process-events connector, which needs CAP_NET_ADMIN; an unprivileged child scans
//! instead, once a second while any process is tracked). Quorum held when
//! `quorum <= count <= quorum_max`.

use crate::sysfs::{list_dir, read_small};
use conf::model::TrackProcess;

/// How often /proc is scanned.
pub const SCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

struct Tracked {
    spec: TrackProcess,
    count: u32,
    /// `None` before the first scan.
    quorum: Option<bool>,
}

#[derive(Default)]
pub struct Procs {
    tracked: Vec<Tracked>,
}

/// Does one process (its `comm` and NUL-separated `cmdline`) match a spec? keepalived: a
/// bare name is compared with `comm` (the kernel keeps 15 bytes), a name with parameters or
/// `full_command` with the command line; `param_match initial` lets the configured
/// parameters be a prefix of the real ones.
pub fn matches(spec: &TrackProcess, comm: &str, cmdline: &[u8]) -> bool {
    let Some((name, params)) = spec.process.split_first() else {
        return false;
    };
    let argv: Vec<&[u8]> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(cmdline)
        .split(|b| *b == 0)
        .collect();
    if params.is_empty() && !spec.full_command {
        let short: String = name.chars().take(15).collect();
        return comm == short;
    }
    if argv.first().copied() != Some(name.as_bytes()) {
        return false;
    }
    let real = &argv[1..];
    let initial = spec.param_match.as_deref() == Some("initial");
    if initial {
        real.len() >= params.len() && params.iter().zip(real).all(|(p, r)| p.as_bytes() == *r)
    } else {
        real.len() == params.len() && params.iter().zip(real).all(|(p, r)| p.as_bytes() == *r)
    }
}

impl Procs {
    pub fn set(&mut self, specs: &[TrackProcess]) {
        self.tracked = specs
            .iter()
            .map(|s| Tracked {
                spec: s.clone(),
                count: 0,
                quorum: None,
            })
            .collect();
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    pub fn quorum(&self, name: &str) -> Option<bool> {
        self.tracked
            .iter()
            .find(|t| t.spec.name == name)
            .and_then(|t| t.quorum)
    }

    /// Count the matching processes; `true` if a quorum changed. Logs keepalived's line.
    pub fn scan(&mut self, log: fn(&str)) -> bool {
        if self.tracked.is_empty() {
            return false;
        }
        let mut counts = vec![0u32; self.tracked.len()];
        for pid in list_dir("/proc")
            .into_iter()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            let Some(comm) = read_small(&format!("/proc/{pid}/comm"), 64) else {
                continue;
            };
            let comm = String::from_utf8_lossy(&comm);
            let comm = comm.trim_end_matches('\n');
            let cmdline = read_small(&format!("/proc/{pid}/cmdline"), 4096).unwrap_or_default();
            for (i, t) in self.tracked.iter().enumerate() {
                if matches(&t.spec, comm, &cmdline) {
                    counts[i] += 1;
                }
            }
        }
        let mut changed = false;
        for (t, n) in self.tracked.iter_mut().zip(counts) {
            t.count = n;
            let max = t.spec.quorum_max.unwrap_or(u32::MAX);
            let q = n >= t.spec.quorum.max(1) && n <= max;
            if t.quorum != Some(q) {
                if t.quorum.is_some() {
                    log(&format!(
                        "Quorum {} for tracked process {}",
                        if q { "gained" } else { "lost" },
                        t.spec.name
                    ));
                }
                t.quorum = Some(q);
                changed = true;
            }
        }
        changed
    }
}
