//! The IPVS table the configuration asks for, reconciled with the kernel's: never flushed.
//!
//! The parent reads the kernel's table once when IPVS is first needed and keeps a mirror of
//! it. The checker asks for changes by configuration id (`IpvsOp`); each is turned into the
//! kernel services and destinations that object stands for and compared with the mirror, and
//! only a difference becomes a netlink command: an entry already there as asked is adopted as
//! it is, one there with other settings is edited, one missing is added. So a daemon started
//! again over a populated table (after SIGKILL or `-I`) changes nothing, and a reload changes
//! only what changed.

use super::ipvs::{self, Dest, Ipvs, Service, SvcKey, Table};
use conf::model::{Config, RealServer, VirtualServer};
use conf::project::{rs_id_in, vs_id, IdMap, ObjId};
use ipc::{IpvsOp, OpResult, RsState};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Where an id points in the running configuration.
#[derive(Clone, Copy)]
enum Obj {
    Vs(usize),
    Rs(usize, usize),
}

#[derive(Default)]
pub struct Lvs {
    nl: Option<Ipvs>,
    /// Tried to connect already (IPVS missing is logged once).
    tried: bool,
    mirror: Table,
    index: IdMap<Obj>,
    /// Netlink commands that changed the kernel, since start (for the data dump and tests).
    pub changes: u64,
    /// The next request is the first of a configuration: say what it changed.
    report_next: bool,
    /// `changes` when the configuration was taken (its removals count towards the report).
    changes_at_config: u64,
    /// The kernel's connection timeouts before `lvs_timeouts` changed them (restored at stop).
    saved_timeouts: Option<ipvs::Timeouts>,
    /// Sync daemons we started: (state, settings).
    syncd: Vec<(u32, ipvs::SyncDaemon)>,
    /// Commands waiting for `flush`: (command, what it names, where its body ends in
    /// `qbuf`, the bodies back to back). One buffer, not one allocation per command: at
    /// start-up 10,500 bodies interleaved with the mirror's entries left ~3.5 MB of the
    /// parent's heap fragmented (free, but on pages the mirror keeps resident).
    queued: Vec<(u8, What, u32)>,
    qbuf: Vec<u8>,
}

/// What a queued command names, put into words only when it failed (formatting 10,000
/// addresses nobody reads cost more than encoding the commands).
#[derive(Clone, Copy)]
enum What {
    Svc(SvcKey),
    Dest(SvcKey, (IpAddr, u16)),
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Svc(k) => write!(f, "{k}"),
            What::Dest(k, (addr, port)) => write!(f, "{addr}:{port} in {k}"),
        }
    }
}

fn index_of(cfg: &Config) -> IdMap<Obj> {
    let n = cfg
        .virtual_servers
        .iter()
        .map(|vs| 1 + vs.real_servers.len())
        .sum();
    let mut m = IdMap::with_capacity_and_hasher(n, Default::default());
    for (v, vs) in cfg.virtual_servers.iter().enumerate() {
        let id = vs_id(vs);
        m.insert(id, Obj::Vs(v));
        for (r, rs) in vs.real_servers.iter().enumerate() {
            m.insert(rs_id_in(id, rs), Obj::Rs(v, r));
        }
    }
    m
}

impl Lvs {
    /// Where an id points in the running configuration: (virtual server, real server).
    /// Valid once `ensure` or `configure` has seen the configuration.
    pub fn locate(&self, id: ObjId) -> Option<(usize, Option<usize>)> {
        match self.index.get(&id)? {
            Obj::Vs(v) => Some((*v, None)),
            Obj::Rs(v, r) => Some((*v, Some(*r))),
        }
    }

    /// Connect and read the kernel's table, once; `false` when the kernel has no IPVS.
    pub fn ensure(&mut self, cfg: &Config) -> bool {
        if !self.tried {
            self.tried = true;
            match Ipvs::connect() {
                Ok(Some(mut nl)) => {
                    crate::log!("Initializing ipvs");
                    if cfg.global.lvs_flush {
                        // Asked for in so many words: the whole table goes at start.
                        if let Err(e) = nl.flush_all() {
                            crate::log!("IPVS: lvs_flush failed: {e}");
                        }
                    }
                    crate::log::mark("ipvs connected");
                    match nl.dump() {
                        Ok(t) => self.mirror = t,
                        Err(e) => crate::log!("IPVS: unable to read the kernel's table: {e}"),
                    }
                    crate::log::mark("ipvs dumped");
                    self.nl = Some(nl);
                }
                Ok(None) => crate::log!("IPVS: Can't initialize ipvs: Protocol not available"),
                Err(e) => crate::log!("IPVS: Can't initialize ipvs: {e}"),
            }
            self.index = index_of(cfg);
            self.report_next = true;
            self.changes_at_config = self.changes;
        }
        self.nl.is_some()
    }

    /// The configuration changed (start, reload): remove what it no longer names.
    pub fn configure(&mut self, old: Option<&Config>, new: &Config) {
        self.index = index_of(new);
        self.report_next = true;
        self.changes_at_config = self.changes;
        let (Some(old), true) = (old, self.nl.is_some()) else {
            return;
        };
        let wanted = desired_keys(new);
        for (key, dests) in desired_keys(old) {
            match wanted.get(&key) {
                None => {
                    if let Some((svc, _)) = self.mirror.get(&key).cloned() {
                        crate::log!("Removing Virtual Server {key}");
                        self.del_service(&svc);
                    }
                }
                Some(keep) => {
                    for d in dests.difference(keep) {
                        self.del_dest_key(key, *d);
                    }
                }
            }
        }
        self.flush();
    }

    /// What the kernel already holds for the configuration's real servers, as states a
    /// checker starts from: in a service that is there, a real server present with a weight
    /// is up, and one absent was taken out by a failed check (a daemon started again over its
    /// own table re-adds nothing that was down). Services not there start as keepalived's.
    pub fn kernel_states(&self, cfg: &Config) -> Vec<RsState> {
        let mut out = Vec::new();
        if self.mirror.is_empty() {
            // Nothing there (the usual start): no service to look up.
            return out;
        }
        for vs in &cfg.virtual_servers {
            let svcs = ipvs::services_of(vs, &cfg.vs_groups);
            let Some(s) = svcs.iter().find(|s| self.mirror.contains_key(&s.key)) else {
                continue;
            };
            let id = vs_id(vs);
            for rs in &vs.real_servers {
                let d = ipvs::dest_of(vs, rs, s, 0);
                let w = self
                    .mirror
                    .get(&s.key)
                    .and_then(|e| e.1.get(&d.key()))
                    .map(|d| d.weight);
                out.push(RsState {
                    rs: rs_id_in(id, rs),
                    up: w.is_some_and(|w| w > 0 || rs.weight == 0),
                    weight: w.unwrap_or(rs.weight),
                });
            }
        }
        out
    }

    /// Start-up: the table keepalived's checker programs before any check has run, put in
    /// place by the parent at once (the checker then only moves it). Services already in the
    /// kernel are adopted with their real servers as they are (a daemon started again over
    /// its own table); missing ones are added with every real server that starts up
    /// (without `alpha`; with `alpha` and `inhibit_on_failure`, at weight 0). Returns the
    /// states the first checker starts from, read before anything was added.
    pub fn start(&mut self, cfg: &Config) -> Vec<RsState> {
        if cfg.virtual_servers.is_empty() || !self.ensure(cfg) {
            return Vec::new();
        }
        let resume = self.kernel_states(cfg);
        crate::log::mark("ipvs kernel states");
        let present: BTreeSet<SvcKey> = self.mirror.keys().copied().collect();
        // Last virtual server first, each one's real servers in order. A deleted
        // destination stays in the kernel's trash for two minutes (IP_VS_DEST_TRASH_PERIOD)
        // and every NEW_DEST walks the whole trash first (`ip_vs_trash_get_dest`), taking
        // the entry back if it is there. A daemon that stopped a minute ago (ours, or
        // keepalived, both delete in configuration order) left the trash last virtual
        // server first, first real server nearest the head: added in this order, each
        // entry is found at the head. Added in configuration order, each walk goes to the
        // far end: 10,000 real servers took 4.4 s of kernel time instead of 0.3 s in the
        // benchmark's VM. Nothing else sees the order: the table goes in as one batch.
        for vs in cfg.virtual_servers.iter().rev() {
            for s in ipvs::services_of(vs, &cfg.vs_groups).iter().rev() {
                self.put_service(s);
                if present.contains(&s.key) {
                    continue;
                }
                for rs in &vs.real_servers {
                    // A FILE_CHECK's state is known only once the checker read its file:
                    // such a server waits for the checker, as an alpha one does.
                    let alpha = rs.checkers.iter().any(|c| {
                        c.retry.alpha.or(rs.defaults.alpha).or(vs.defaults.alpha) == Some(true)
                            || matches!(c.kind, conf::model::CheckKind::File { .. })
                    });
                    let inhibit = rs
                        .defaults
                        .inhibit_on_failure
                        .or(vs.defaults.inhibit_on_failure)
                        .unwrap_or(false);
                    match (alpha, inhibit) {
                        (false, _) => {
                            self.put_dest(s, &ipvs::dest_of(vs, rs, s, rs.weight));
                        }
                        (true, true) => {
                            self.put_dest(s, &ipvs::dest_of(vs, rs, s, 0));
                        }
                        (true, false) => {}
                    }
                }
            }
        }
        crate::log::mark("ipvs queued");
        self.flush();
        crate::log::mark("ipvs flushed");
        resume
    }

    /// Apply a checker's request. Every id was checked against `cfg` by the caller.
    pub fn apply(&mut self, cfg: &Config, ops: &[IpvsOp]) -> OpResult {
        if self.nl.is_none() {
            return OpResult::Unavailable;
        }
        // Commands are queued against the mirror and sent together: a failure shows at the
        // flush (logged per command there), not per operation.
        let mut unknown = None;
        for op in ops {
            let (id, rs) = match *op {
                IpvsOp::AddService { vs }
                | IpvsOp::DelService { vs }
                | IpvsOp::AddSorry { vs, .. }
                | IpvsOp::DelSorry { vs } => (vs, false),
                IpvsOp::AddDest { rs, .. }
                | IpvsOp::EditDest { rs, .. }
                | IpvsOp::DelDest { rs } => (rs, true),
            };
            let found = match self.locate(id) {
                Some((v, r)) if r.is_some() == rs => cfg
                    .virtual_servers
                    .get(v)
                    .map(|vs| (vs, r.and_then(|r| vs.real_servers.get(r)))),
                _ => None,
            };
            let Some((vs, real)) = found else {
                unknown = Some(format!("{op:?}"));
                continue;
            };
            let svcs = ipvs::services_of(vs, &cfg.vs_groups);
            for s in &svcs {
                match (op, real) {
                    (IpvsOp::AddService { .. }, _) => self.put_service(s),
                    (IpvsOp::DelService { .. }, _) => self.del_service(s),
                    (
                        IpvsOp::AddDest { weight, .. } | IpvsOp::EditDest { weight, .. },
                        Some(rs),
                    ) => self.put_dest(s, &ipvs::dest_of(vs, rs, s, *weight)),
                    (IpvsOp::DelDest { .. }, Some(rs)) => {
                        self.del_dest_key(s.key, ipvs::dest_of(vs, rs, s, 0).key())
                    }
                    (IpvsOp::AddSorry { weight, .. }, _) => {
                        if let Some(d) = sorry_dest(vs, s, *weight) {
                            self.put_dest(s, &d);
                        }
                    }
                    (IpvsOp::DelSorry { .. }, _) => {
                        if let Some(d) = sorry_dest(vs, s, 0) {
                            self.del_dest_key(s.key, d.key());
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut failed = unknown;
        if !self.flush() && failed.is_none() {
            failed = Some(format!("{} IPVS operations", ops.len()));
        }
        if std::mem::take(&mut self.report_next) {
            // One line per configuration: how much of the table was already there.
            let (svcs, dests) = self
                .mirror
                .values()
                .fold((0, 0), |(s, d), e| (s + 1, d + e.1.len()));
            crate::log!(
                "IPVS: table in place ({svcs} services, {dests} real servers); {} changes made to the kernel's",
                self.changes - self.changes_at_config
            );
        }
        match failed {
            None => OpResult::Done,
            Some(op) => OpResult::Failed(format!("{op} (see the log)")),
        }
    }

    /// Queue one netlink command. The mirror is updated as if it succeeds; `flush` sends the
    /// queue in batches and reads the kernel's table again if anything failed.
    /// Queue a command whose body was just appended to `qbuf`.
    fn enqueue(&mut self, cmd: u8, what: What) {
        self.queued.push((cmd, what, self.qbuf.len() as u32));
    }

    /// Send what is queued; `false` if any command failed (logged as keepalived does).
    fn flush(&mut self) -> bool {
        let queued = std::mem::take(&mut self.queued);
        let qbuf = std::mem::take(&mut self.qbuf);
        if queued.is_empty() {
            return true;
        }
        let Some(nl) = self.nl.as_mut() else {
            return false;
        };
        let mut start = 0;
        let bodies: Vec<&[u8]> = queued
            .iter()
            .map(|&(_, _, end)| {
                let b = &qbuf[start..end as usize];
                start = end as usize;
                b
            })
            .collect();
        let results = nl.batch(&bodies);
        drop(bodies);
        drop(qbuf);
        let mut ok = true;
        for ((cmd, what, _), r) in queued.iter().zip(results) {
            match r {
                Ok(()) => self.changes += 1,
                // As keepalived: an add of what exists, a delete of what is gone, is done.
                Err(e)
                    if (e.errno == libc::EEXIST
                        && matches!(*cmd, ipvs::NEW_SERVICE | ipvs::NEW_DEST))
                        || ((e.errno == libc::ENOENT || e.errno == libc::ESRCH)
                            && matches!(*cmd, ipvs::DEL_SERVICE | ipvs::DEL_DEST)) => {}
                Err(e) => {
                    ok = false;
                    crate::log!(
                        "IPVS cmd {}({cmd}) error: {}({}) ({what})",
                        ipvs::cmd_name(*cmd),
                        ipvs::strerror(e.errno),
                        e.errno
                    );
                }
            }
        }
        if !ok {
            // The mirror assumed success: take the kernel's word for it again.
            if let Some(Ok(t)) = self.nl.as_mut().map(|nl| nl.dump()) {
                self.mirror = t;
            }
        }
        ok
    }

    fn put_service(&mut self, s: &Service) {
        match self.mirror.get_mut(&s.key) {
            Some((have, _)) if have == s => {}
            Some((have, _)) => {
                *have = s.clone();
                ipvs::service_msg_into(&mut self.qbuf, ipvs::SET_SERVICE, s, true);
                self.enqueue(ipvs::SET_SERVICE, What::Svc(s.key));
            }
            None => {
                self.mirror.insert(s.key, (s.clone(), BTreeMap::new()));
                ipvs::service_msg_into(&mut self.qbuf, ipvs::NEW_SERVICE, s, true);
                self.enqueue(ipvs::NEW_SERVICE, What::Svc(s.key));
            }
        }
    }

    fn del_service(&mut self, s: &Service) {
        if self.mirror.remove(&s.key).is_some() {
            ipvs::service_msg_into(&mut self.qbuf, ipvs::DEL_SERVICE, s, false);
            self.enqueue(ipvs::DEL_SERVICE, What::Svc(s.key));
        }
    }

    fn put_dest(&mut self, s: &Service, d: &Dest) {
        self.put_service(s);
        let Some((svc, dests)) = self.mirror.get_mut(&s.key) else {
            return;
        };
        let cmd = match dests.get(&d.key()) {
            Some(h) if h == d => return,
            Some(_) => ipvs::SET_DEST,
            None => ipvs::NEW_DEST,
        };
        dests.insert(d.key(), d.clone());
        ipvs::dest_msg_into(&mut self.qbuf, cmd, svc, d, true);
        self.enqueue(cmd, What::Dest(s.key, d.key()));
    }

    fn del_dest_key(&mut self, key: SvcKey, d: (IpAddr, u16)) {
        let Some((svc, dests)) = self.mirror.get_mut(&key) else {
            return;
        };
        let Some(dest) = dests.remove(&d) else {
            return;
        };
        ipvs::dest_msg_into(&mut self.qbuf, ipvs::DEL_DEST, svc, &dest, false);
        self.enqueue(ipvs::DEL_DEST, What::Dest(key, d));
    }

    /// `lvs_timeouts` and an `lvs_sync_daemon` not tied to a VRRP instance, at start and
    /// reload (keepalived's checker start: the syncd runs as master and backup).
    pub fn apply_globals(&mut self, cfg: &Config) {
        let g = &cfg.global;
        let wanted =
            g.lvs_timeouts.is_some() || g.lvs_sync_daemon.is_some() || !self.syncd.is_empty();
        if !wanted || !self.ensure(cfg) {
            return;
        }
        let g = &cfg.global;
        if let Some((tcp, fin, udp)) = g.lvs_timeouts {
            let Some(nl) = self.nl.as_mut() else { return };
            if self.saved_timeouts.is_none() {
                self.saved_timeouts = nl.get_timeouts().ok();
            }
            let want = (tcp.unwrap_or(0), fin.unwrap_or(0), udp.unwrap_or(0));
            if let Err(e) = nl.set_timeouts(want) {
                crate::log!("IPVS: unable to set lvs_timeouts: {e}");
            }
        }
        let want = sync_daemon(cfg);
        let tied = g
            .lvs_sync_daemon
            .as_ref()
            .is_some_and(|s| s.instance.is_some());
        // Settings changed or gone: stop what runs.
        if self.syncd.iter().any(|(_, d)| Some(d) != want.as_ref()) || (want.is_some() && tied) {
            self.stop_syncd(None);
        }
        if let (Some(d), false) = (want, tied) {
            for state in [ipvs::SYNC_MASTER, ipvs::SYNC_BACKUP] {
                self.start_syncd(state, &d);
            }
        }
    }

    fn start_syncd(&mut self, state: u32, d: &ipvs::SyncDaemon) {
        if self.syncd.iter().any(|(s, x)| *s == state && x == d) {
            return;
        }
        let Some(nl) = self.nl.as_mut() else { return };
        match nl.start_daemon(state, d) {
            Ok(()) => self.syncd.push((state, d.clone())),
            Err(e) => crate::log!("IPVS: unable to start the sync daemon on {}: {e}", d.ifname),
        }
    }

    /// Stop the sync daemons in `state` (all with None).
    fn stop_syncd(&mut self, state: Option<u32>) {
        let Some(nl) = self.nl.as_mut() else { return };
        for (s, d) in std::mem::take(&mut self.syncd) {
            if state.is_some_and(|x| x != s) {
                self.syncd.push((s, d));
                continue;
            }
            if let Err(e) = nl.stop_daemon(s) {
                crate::log!("IPVS: unable to stop the sync daemon: {e}");
            }
        }
    }

    /// A VRRP instance changed state: an `lvs_sync_daemon` tied to it follows (master while
    /// it is MASTER, backup otherwise), as keepalived's VRRP child drives it.
    pub fn instance_state(&mut self, cfg: &Config, instance: &str, master: bool) {
        let Some(sd) = &cfg.global.lvs_sync_daemon else {
            return;
        };
        if sd.instance.as_deref() != Some(instance) || !self.ensure(cfg) {
            return;
        }
        let Some(d) = sync_daemon(cfg) else { return };
        let (on, off) = if master {
            (ipvs::SYNC_MASTER, ipvs::SYNC_BACKUP)
        } else {
            (ipvs::SYNC_BACKUP, ipvs::SYNC_MASTER)
        };
        self.stop_syncd(Some(off));
        self.start_syncd(on, &d);
    }

    /// Stop: every service of the running configuration goes (its destinations with it),
    /// whether we created it or adopted it.
    pub fn release(&mut self, cfg: &Config) {
        if self.nl.is_none() {
            return;
        }
        self.stop_syncd(None);
        if let (Some(t), Some(nl)) = (self.saved_timeouts.take(), self.nl.as_mut()) {
            let _ = nl.set_timeouts(t);
        }
        // `lvs_flush_on_stop` alone empties the whole table in one command; `VS` (or not
        // set) removes the configuration's services, created or adopted.
        if cfg.global.lvs_flush_on_stop.as_deref() == Some("") {
            if let Some(nl) = self.nl.as_mut() {
                match nl.flush_all() {
                    Ok(()) => self.mirror.clear(),
                    Err(e) => crate::log!("IPVS: lvs_flush_on_stop failed: {e}"),
                }
            }
            return;
        }
        for vs in &cfg.virtual_servers {
            for s in ipvs::services_of(vs, &cfg.vs_groups) {
                self.del_service(&s);
            }
        }
        self.flush();
    }
}

/// The sync daemon the configuration asks for; syncid defaults to the tied instance's VRID.
fn sync_daemon(cfg: &Config) -> Option<ipvs::SyncDaemon> {
    let s = cfg.global.lvs_sync_daemon.as_ref()?;
    let vrid = s.instance.as_ref().and_then(|name| {
        cfg.instances
            .iter()
            .find(|v| &v.name == name)
            .map(|v| v.vrid as u32)
    });
    Some(ipvs::SyncDaemon {
        ifname: s.interface.clone(),
        syncid: s.syncid.or(vrid).unwrap_or(0),
        maxlen: s.maxlen.map(|m| m.min(u16::MAX as u32) as u16),
        port: s.port,
        ttl: s.ttl,
        group: s.group,
    })
}

/// The destination a virtual server's `sorry_server` stands for in service `svc`.
fn sorry_dest(vs: &VirtualServer, svc: &Service, weight: u32) -> Option<Dest> {
    let (addr, port) = vs.sorry_server?;
    let mut rs = RealServer {
        addr,
        port,
        weight,
        lvs_method: vs.sorry_server_lvs_method.clone(),
        uthreshold: None,
        lthreshold: None,
        notify_up: None,
        notify_down: None,
        defaults: Default::default(),
        snmp_name: None,
        checkers: Vec::new(),
    };
    if rs.port == 0 {
        if let SvcKey::Addr { port, .. } = svc.key {
            rs.port = port;
        }
    }
    Some(ipvs::dest_of(vs, &rs, svc, weight))
}

/// The service keys a configuration names, each with its real servers' destination keys.
fn desired_keys(cfg: &Config) -> BTreeMap<SvcKey, BTreeSet<(IpAddr, u16)>> {
    let mut out: BTreeMap<SvcKey, BTreeSet<(IpAddr, u16)>> = BTreeMap::new();
    for vs in &cfg.virtual_servers {
        for s in ipvs::services_of(vs, &cfg.vs_groups) {
            let e = out.entry(s.key).or_default();
            for rs in &vs.real_servers {
                e.insert(ipvs::dest_of(vs, rs, &s, 0).key());
            }
            if let Some(d) = sorry_dest(vs, &s, 0) {
                e.insert(d.key());
            }
        }
    }
    out
}
