//! The VRRP child: sans-IO state machines (`fsm`), packet codecs (`packet`) and their I/O
//! (`runtime`), on the shared child loop: handshake, snapshot and acknowledgement, liveness,
//! track scripts, adverts, VIP and notify requests to the parent, dumps, orderly stop.

pub mod bfd;
pub mod bfdio;
pub mod fsm;
pub mod json;
pub mod mail;
pub mod netlink;
pub mod packet;
pub mod runtime;
pub mod rx;
pub mod sysfs;
pub mod track;
pub mod trackproc;

use conf::project::{ObjId, VrrpSnapshot};
use ipc::child::{ChildError, ChildProtocol, Step};
use ipc::{
    BfdLevel, Channel, Hello, InstanceState, ParentToVrrp, ScriptRef, VrrpState, VrrpToParent,
};
use std::time::{Duration, Instant};

/// A `vrrp_script` being tracked: run every `interval` by the parent, judged with rise/fall.
struct Track {
    id: ObjId,
    name: String,
    interval: Duration,
    rise: u32,
    fall: u32,
    /// `None` until the first verdict.
    good: Option<bool>,
    run_of_good: u32,
    run_of_bad: u32,
    next_run: Instant,
    inflight: Option<u64>,
}

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];

/// System calls beyond `ipc::sandbox::BASE_SYSCALLS` this child needs: `bind` for its
/// rtnetlink link-event socket; `recvmmsg` and `sendmmsg` for adverts in batches; `openat`, `getdents64`, inotify for `track_file` and the
/// /proc scan of `track_process` (reads only; the child writes nothing to disk).
pub const SYSCALLS: &[i64] = &[
    libc::SYS_bind,
    libc::SYS_recvmmsg,
    libc::SYS_sendmmsg,
    libc::SYS_openat,
    libc::SYS_getdents64,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
];

/// How often the whole state goes to the parent besides every change (ARCHITECTURE §4:
/// level-triggered, so a lost or misordered report heals by itself).
pub const FULL_STATE_INTERVAL: Duration = Duration::from_secs(10);

/// From this many instances on, the loop turns at most once per `BUSY_QUANTUM`.
pub const BUSY_INSTANCES: usize = 100;
pub const BUSY_QUANTUM: Duration = Duration::from_millis(2);

/// syslog ident, as keepalived's.
pub const IDENT: &str = "Keepalived_vrrp";

pub struct VrrpChild {
    generation: u64,
    /// The configured instances' names, for the topology dump (the snapshot itself is
    /// dropped once the instances are built from it: at 1000 instances it is most of the
    /// child's memory).
    names: Vec<(ObjId, std::rc::Rc<str>)>,
    states: Vec<InstanceState>,
    tracks: Vec<Track>,
    next_req: u64,
    log: fn(&str),
    /// The instances and their sockets.
    runtime: runtime::Runtime,
    resume: Vec<InstanceState>,
    /// Link events, and every link's state by name.
    links: Option<netlink::Links>,
    link_up: Vec<(String, bool)>,
    files: ipc::trackfile::Files,
    procs: trackproc::Procs,
    next_scan: Option<Instant>,
    /// When the next periodic `FullState` is due (once there is a configuration).
    next_full: Option<Instant>,
    /// `smtp_alert` mail in flight.
    mailer: mail::Mailer,
    /// `bfd_instance` sessions, for `track_bfd` and (through the parent) BFD_CHECK.
    bfd: bfdio::Bfd,
}

impl VrrpChild {
    pub fn new(log: fn(&str)) -> Self {
        VrrpChild {
            generation: 0,
            names: Vec::new(),
            states: Vec::new(),
            tracks: Vec::new(),
            next_req: 100,
            log,
            runtime: runtime::Runtime::default(),
            resume: Vec::new(),
            links: None,
            link_up: Vec::new(),
            files: ipc::trackfile::Files::default(),
            procs: trackproc::Procs::default(),
            next_scan: None,
            next_full: None,
            mailer: mail::Mailer::default(),
            bfd: bfdio::Bfd::default(),
        }
    }

    /// Mail the state changes the runtime asked to mail.
    fn send_alerts(&mut self, now: Instant) {
        if self.runtime.alerts.is_empty() {
            return;
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for a in std::mem::take(&mut self.runtime.alerts) {
            self.mailer.send(&a, secs, now, self.log);
        }
    }

    /// Where `smtp_alert` mail goes: `smtp_server` (an address: the child resolves no
    /// names) and `notification_email`; none without both, as keepalived.
    fn mail_cfg(&self, snap: &VrrpSnapshot) -> Option<mail::MailCfg> {
        let g = &snap.global;
        let (host, port) = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let Ok(ip) = host.parse::<std::net::IpAddr>() else {
            (self.log)(&format!(
                "smtp_server {host} is not an address: no smtp_alert mail (the VRRP child resolves no names)"
            ));
            return None;
        };
        Some(mail::MailCfg {
            server: std::net::SocketAddr::new(ip, *port),
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| "root@localhost".into()),
            to: g.notification_email.clone(),
            helo: g
                .smtp_helo_name
                .clone()
                .unwrap_or_else(|| "localhost".into()),
            router_id: g.router_id.clone().unwrap_or_default(),
            timeout: Duration::from_secs(u64::from(g.smtp_connect_timeout.max(1))),
        })
    }

    /// `states` as last refreshed (the hot paths only report changes; `refresh_states`
    /// brings them up to date before a periodic report or a dump).
    fn full_state(&self) -> VrrpToParent {
        VrrpToParent::FullState(self.states.clone())
    }

    /// The states of the running instances, as the parent keeps them.
    fn refresh_states(&mut self) {
        let by_id: std::collections::HashMap<ObjId, &runtime::Slot> =
            self.runtime.slots.iter().map(|x| (x.id, x)).collect();
        for s in self.states.iter_mut() {
            if let Some(sl) = by_id.get(&s.instance) {
                s.state = match sl.fsm.state {
                    fsm::State::Init => VrrpState::Init,
                    fsm::State::Backup => VrrpState::Backup,
                    fsm::State::Master => VrrpState::Master,
                    fsm::State::Fault => VrrpState::Fault,
                    fsm::State::Stop => VrrpState::Stop,
                };
                s.effective_priority = sl.fsm.effective;
            }
        }
    }

    fn trackers_changed(&mut self, now: Instant, out: &mut Vec<VrrpToParent>) {
        let scripts: Vec<(ObjId, Option<bool>)> =
            self.tracks.iter().map(|t| (t.id, t.good)).collect();
        let (links, files, procs, bfd) = (&self.link_up, &self.files, &self.procs, &self.bfd);
        let level = |k: &track::TrackKey| -> Option<track::Level> {
            use track::{Level, TrackKey};
            match k {
                TrackKey::Script(id) => scripts
                    .iter()
                    .find(|(i, _)| i == id)
                    .and_then(|(_, g)| g.map(Level::Up)),
                // An interface netlink does not know is down (keepalived: missing = down).
                TrackKey::Interface(n) => {
                    Some(Level::Up(links.iter().any(|(name, up)| name == n && *up)))
                }
                TrackKey::File(n) => files.value(n).map(Level::Value),
                TrackKey::Process(n) => procs.quorum(n).map(Level::Up),
                TrackKey::Bfd(n) => bfd.level(n).map(Level::Up),
            }
        };
        self.runtime.trackers_changed(now, &level, out, self.log);
    }

    /// BFD sessions changed state: the checker's share goes to the parent (keepalived's
    /// event pipe to the checker); then keepalived's line for each instance tracking one,
    /// and the priorities and faults.
    fn bfd_changed(&mut self, changes: bfdio::Changes, now: Instant, out: &mut Vec<VrrpToParent>) {
        if changes.is_empty() {
            return;
        }
        let to_checker: Vec<BfdLevel> = changes
            .iter()
            .filter(|(n, _)| self.bfd.to_checker(n))
            .map(|(n, up)| BfdLevel {
                bfd: conf::project::bfd_id(n),
                up: *up,
            })
            .collect();
        if !to_checker.is_empty() {
            out.push(VrrpToParent::BfdState(to_checker));
        }
        let mut vrrp = false;
        for (name, up) in changes {
            if !self.bfd.to_vrrp(&name) {
                continue;
            }
            vrrp = true;
            for vi in self.runtime.tracking(&track::TrackKey::Bfd(name.clone())) {
                (self.log)(&format!(
                    "VRRP_Instance({vi}) Tracked BFD instance {name} is {}",
                    if up { "UP" } else { "DOWN" }
                ));
            }
        }
        if vrrp {
            self.trackers_changed(now, out);
        }
    }

    /// Every known level of the sessions the checker follows (level-triggered: after a
    /// configuration and with each full state).
    fn bfd_full(&self) -> Option<VrrpToParent> {
        let l: Vec<BfdLevel> = self
            .bfd
            .checker_levels()
            .into_iter()
            .map(|(n, up)| BfdLevel {
                bfd: conf::project::bfd_id(&n),
                up,
            })
            .collect();
        (!l.is_empty()).then_some(VrrpToParent::BfdState(l))
    }

    /// Trackers other than scripts from a snapshot: the link-event socket (opened once),
    /// tracked files, tracked processes (scanned at once).
    fn set_sources(&mut self, snap: &VrrpSnapshot, now: Instant, resuming: bool) {
        if self.links.is_none() {
            match netlink::Links::open() {
                Ok((l, all)) => {
                    self.link_up = all.into_iter().map(|x| (x.name, x.up)).collect();
                    self.links = Some(l);
                }
                Err(e) => (self.log)(&format!("Cannot open the netlink link-event socket: {e}")),
            }
        }
        let specs: Vec<(String, String)> = snap
            .track_files
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.file.clone()?)))
            .collect();
        self.files.set(&specs, self.log);
        self.procs.set(&snap.track_processes);
        self.bfd
            .configure(&snap.bfd_instances, now, resuming, self.log);
        self.procs.scan(self.log);
        self.next_scan = (!self.procs.is_empty()).then(|| now + trackproc::SCAN_INTERVAL);
    }

    /// Link events: keepalived's `Netlink reports IF up|down` for a change of state.
    fn link_events(&mut self) -> bool {
        let Some(l) = &self.links else { return false };
        let mut changed = false;
        for ev in l.read() {
            let up = ev.up && !ev.deleted;
            match self.link_up.iter_mut().find(|(n, _)| *n == ev.name) {
                Some((_, was)) if *was == up => {}
                Some((_, was)) => {
                    *was = up;
                    changed = true;
                    (self.log)(&format!(
                        "Netlink reports {} {}",
                        ev.name,
                        if up { "up" } else { "down" }
                    ));
                }
                None => {
                    self.link_up.push((ev.name, up));
                    changed = true;
                }
            }
        }
        changed
    }

    /// Track scripts from a snapshot; a script that did not change keeps its verdict.
    fn set_tracks(&mut self, snap: &VrrpSnapshot, now: Instant) {
        let mut old = std::mem::take(&mut self.tracks);
        for (id, s) in &snap.scripts {
            let kept = old
                .iter()
                .position(|t| t.id == *id)
                .map(|i| old.swap_remove(i));
            let (good, a, b) = match &kept {
                Some(t) => (t.good, t.run_of_good, t.run_of_bad),
                // keepalived: one success makes a new script good, unless init_fail.
                None if s.init_fail => (Some(false), 0, 0),
                None => (None, s.rise.saturating_sub(1), s.fall.saturating_sub(1)),
            };
            self.tracks.push(Track {
                id: *id,
                name: s.name.clone(),
                interval: Duration::from_secs(s.interval.max(1) as u64),
                rise: s.rise.max(1),
                fall: s.fall.max(1),
                good,
                run_of_good: a,
                run_of_bad: b,
                next_run: now,
                inflight: None,
            });
        }
    }

    /// Start the instances once configured and with sockets; the states to resume are
    /// needed until then only.
    fn start(&mut self, now: Instant, out: &mut Vec<VrrpToParent>) {
        let resume = std::mem::take(&mut self.resume);
        self.runtime.start(now, &resume, out, self.log);
        if !self.runtime.started() {
            self.resume = resume;
        }
    }

    /// `true` when the script's verdict changed.
    fn script_result(&mut self, req_id: u64, exit_status: Option<i32>, timed_out: bool) -> bool {
        let log = self.log;
        let Some(t) = self.tracks.iter_mut().find(|t| t.inflight == Some(req_id)) else {
            return false;
        };
        let before = t.good;
        t.inflight = None;
        let ok = exit_status == Some(0) && !timed_out;
        if ok {
            t.run_of_bad = 0;
            t.run_of_good += 1;
            if t.good != Some(true) && t.run_of_good >= t.rise {
                t.good = Some(true);
                log(&format!("VRRP_Script({}) succeeded", t.name));
            }
        } else {
            t.run_of_good = 0;
            t.run_of_bad += 1;
            if t.good != Some(false) && t.run_of_bad >= t.fall {
                t.good = Some(false);
                if timed_out {
                    log(&format!("VRRP_Script({}) timed_out", t.name));
                } else {
                    log(&format!(
                        "VRRP_Script({}) failed (exited with status {})",
                        t.name,
                        exit_status.unwrap_or(-1)
                    ));
                }
            }
        }
        t.good != before
    }
}

impl ChildProtocol for VrrpChild {
    type Tx = VrrpToParent;
    type Rx = ParentToVrrp;

    fn hello(&self) -> VrrpToParent {
        VrrpToParent::Hello(Hello::ours())
    }

    fn peer_hello<'a>(&self, msg: &'a ParentToVrrp) -> Option<&'a Hello> {
        match msg {
            ParentToVrrp::Hello(h) => Some(h),
            _ => None,
        }
    }

    fn sockets(&mut self, fds: Vec<(ipc::FdKind, std::os::fd::OwnedFd)>) {
        let kinds: Vec<String> = fds.iter().map(|(k, _)| format!("{k:?}")).collect();
        (self.log)(&format!(
            "Received sockets from the parent: {}",
            kinds.join(", ")
        ));
        let (bfd, rest): (Vec<_>, Vec<_>) = fds
            .into_iter()
            .partition(|(k, _)| matches!(k, ipc::FdKind::Bfd4 | ipc::FdKind::Bfd6));
        for (k, fd) in bfd {
            self.bfd.set_socket(k == ipc::FdKind::Bfd6, fd);
        }
        self.runtime.set_sockets(rest);
    }

    fn fds(&self) -> Vec<std::os::fd::RawFd> {
        let mut v = self.runtime.fds();
        v.extend(self.links.as_ref().map(|l| l.fd()));
        v.extend(self.files.fd());
        v.extend(self.bfd.fds());
        v
    }

    fn readable(&mut self, fd: std::os::fd::RawFd, now: Instant) -> Vec<VrrpToParent> {
        let mut out = Vec::new();
        if self.links.as_ref().is_some_and(|l| l.fd() == fd) {
            if self.link_events() {
                self.trackers_changed(now, &mut out);
            }
        } else if self.bfd.fds().contains(&fd) {
            let c = self.bfd.readable(fd, now, self.log);
            self.bfd_changed(c, now, &mut out);
        } else if self.files.fd() == Some(fd) {
            if !self.files.readable(self.log).is_empty() {
                self.trackers_changed(now, &mut out);
            }
        } else {
            self.runtime.readable(fd, now, &mut out, self.log);
        }
        self.send_alerts(now);
        out
    }

    /// With many instances, one turn of the loop per `BUSY_QUANTUM`: the adverts that came
    /// meanwhile are read in one go (they carry their arrival time, so no timer suffers),
    /// instead of a wake-up per few packets (at 1000 instances at 0.1 s the wake-ups were
    /// most of the backup's CPU). Timers fire at most that much late.
    fn flush(&mut self) {
        self.runtime.flush_tx(self.log);
    }

    /// The start of a thousand instances is a burst of reports and notifies: give back
    /// what it allocated (as after a load).
    fn burst_over(&mut self) {
        ipc::mem::trim();
    }

    fn quantum(&self) -> Option<Duration> {
        (self.runtime.slots.len() >= BUSY_INSTANCES).then_some(BUSY_QUANTUM)
    }

    fn register(&mut self, registry: &mio::Registry) {
        self.mailer.register(registry, self.log);
    }

    fn event(&mut self, token: usize, ev: &mio::event::Event, _now: Instant) -> Vec<VrrpToParent> {
        if self.mailer.owns(token) {
            self.mailer.event(token, ev, self.log);
        }
        Vec::new()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.tracks
            .iter()
            .filter(|t| t.inflight.is_none())
            .map(|t| t.next_run)
            .chain(self.runtime.next_deadline())
            .chain(self.next_scan)
            .chain(self.next_full)
            .chain(self.mailer.next_deadline())
            .chain(self.bfd.next_deadline())
            .min()
    }

    fn tick(&mut self, now: Instant) -> Vec<VrrpToParent> {
        let mut out = Vec::new();
        self.runtime.tick(now, &mut out, self.log);
        self.mailer.tick(now, self.log);
        let c = self.bfd.tick(now, self.log);
        self.bfd_changed(c, now, &mut out);
        if self.next_full.is_some_and(|t| t <= now) {
            self.next_full = Some(now + FULL_STATE_INTERVAL);
            self.refresh_states();
            out.push(self.full_state());
            out.extend(self.bfd_full());
        }
        if self.next_scan.is_some_and(|t| t <= now) {
            self.next_scan = Some(now + trackproc::SCAN_INTERVAL);
            if self.procs.scan(self.log) {
                self.trackers_changed(now, &mut out);
            }
        }
        for t in self
            .tracks
            .iter_mut()
            .filter(|t| t.inflight.is_none() && t.next_run <= now)
        {
            self.next_req += 1;
            t.inflight = Some(self.next_req);
            t.next_run = now + t.interval;
            out.push(VrrpToParent::RunScript {
                req_id: self.next_req,
                script: ScriptRef::Track(t.id),
            });
        }
        self.send_alerts(now);
        out
    }

    fn handle(&mut self, msg: ParentToVrrp, now: Instant) -> Step<VrrpToParent> {
        match msg {
            ParentToVrrp::Snapshot {
                generation,
                snapshot,
                resume,
                bfd,
            } => {
                // The first configuration of a child the parent knew states for: a restart.
                let restarted = self.generation == 0 && (!resume.is_empty() || !bfd.is_empty());
                self.generation = generation;
                self.set_tracks(&snapshot, now);
                // Keep what the parent knew (a restart resumes); anything new starts in INIT.
                self.states = snapshot
                    .instances
                    .iter()
                    .map(|(id, _)| {
                        resume
                            .iter()
                            .find(|s| s.instance == *id)
                            .cloned()
                            .unwrap_or(InstanceState {
                                instance: *id,
                                state: VrrpState::Init,
                                effective_priority: 0,
                            })
                    })
                    .collect();
                // On a reload, unchanged instances (same id) keep the state they are in: a
                // MASTER stays MASTER and keeps advertising (keepalived keeps states too).
                let running = !self.runtime.slots.is_empty();
                let current: Vec<InstanceState> = self
                    .runtime
                    .slots
                    .iter()
                    .filter(|sl| matches!(sl.fsm.state, fsm::State::Master | fsm::State::Backup))
                    .map(|sl| InstanceState {
                        instance: sl.id,
                        state: if sl.fsm.state == fsm::State::Master {
                            VrrpState::Master
                        } else {
                            VrrpState::Backup
                        },
                        effective_priority: sl.fsm.effective,
                    })
                    .collect();
                let keep: Vec<ObjId> = snapshot.instances.iter().map(|(id, _)| *id).collect();
                self.runtime.retire(&keep, self.log);
                self.runtime.load(&snapshot, self.log);
                let mail = self.mail_cfg(&snapshot);
                self.mailer.configure(mail);
                // A restarted child (states from the parent, no instances yet) resumes.
                self.set_sources(&snapshot, now, restarted);
                self.next_full = Some(now + FULL_STATE_INTERVAL);
                self.resume = if running { current } else { resume };
                // The running instances' names are shared with them (the slots are the
                // snapshot's instances in order, less those that could not run).
                let mut slots = self.runtime.slots.iter().peekable();
                self.names = snapshot
                    .instances
                    .iter()
                    .map(|(id, v)| match slots.next_if(|sl| sl.id == *id) {
                        Some(sl) => (*id, sl.fsm.cfg.name.clone()),
                        None => (*id, v.name.as_str().into()),
                    })
                    .collect();
                drop(snapshot);
                let mut out = vec![VrrpToParent::SnapshotAck { generation }, self.full_state()];
                // keepalived's BFD child sends each session's state when it starts it.
                out.extend(self.bfd_full());
                // Trackers first, so an instance whose interface is down starts in FAULT.
                self.trackers_changed(now, &mut out);
                self.start(now, &mut out);
                self.refresh_states();
                match ipc::child::test_fault() {
                    Some("unknown-id") => out.push(VrrpToParent::AddVips {
                        req_id: 1,
                        instance: ObjId(0xdead_beef),
                    }),
                    Some("notify") => {
                        if let Some(s) = self.states.first() {
                            for (i, st) in [VrrpState::Master, VrrpState::Backup, VrrpState::Backup]
                                .into_iter()
                                .enumerate()
                            {
                                out.push(VrrpToParent::RunScript {
                                    req_id: 10 + i as u64,
                                    script: ScriptRef::Notify {
                                        instance: s.instance,
                                        state: st,
                                    },
                                });
                            }
                        }
                    }
                    Some("add-vips") => {
                        if let Some(s) = self.states.first() {
                            out.push(VrrpToParent::AddVips {
                                req_id: 2,
                                instance: s.instance,
                            });
                        }
                    }
                    _ => {}
                }
                self.send_alerts(now);
                // The snapshot and its frame are gone: give the freed heap back, and
                // the pages of the code that only a load runs.
                ipc::mem::trim();
                Step::Continue(out)
            }
            ParentToVrrp::Ping { seq } => Step::Continue(vec![VrrpToParent::Pong { seq }]),
            ParentToVrrp::Dump {
                kind: ipc::DumpKind::Stats,
            } => {
                let mut text: String = self
                    .runtime
                    .slots
                    .iter()
                    .map(|s| s.stats.render(&s.fsm.cfg.name))
                    .collect();
                text.push_str(&self.runtime.global_stats.render());
                Step::Continue(vec![VrrpToParent::DumpText {
                    kind: ipc::DumpKind::Stats,
                    text,
                }])
            }
            ParentToVrrp::Dump {
                kind: ipc::DumpKind::Json,
            } => Step::Continue(vec![VrrpToParent::DumpText {
                kind: ipc::DumpKind::Json,
                text: json::render(&self.runtime.slots),
            }]),
            ParentToVrrp::Dump { kind } => {
                self.refresh_states();
                let mut text = String::from("------< VRRP Topology >------\n");
                for (id, name) in &self.names {
                    let st = self
                        .states
                        .iter()
                        .find(|x| x.instance == *id)
                        .map(|x| x.state);
                    text.push_str(&format!(
                        " VRRP Instance = {}\n   State = {:?}\n",
                        name,
                        st.unwrap_or(VrrpState::Init)
                    ));
                }
                let mut out = vec![VrrpToParent::DumpText { kind, text }];
                if let Some(text) = self.bfd.dump(now) {
                    out.push(VrrpToParent::DumpText {
                        kind: ipc::DumpKind::BfdData,
                        text,
                    });
                }
                Step::Continue(out)
            }
            ParentToVrrp::Stop => {
                let mut out = Vec::new();
                self.runtime.shutdown(now, &mut out, self.log);
                out.push(VrrpToParent::Stopped);
                Step::Exit(out)
            }
            ParentToVrrp::AddVipsResult { req_id, .. } => {
                self.runtime.vips_set(req_id, now, self.log);
                Step::Continue(Vec::new())
            }
            ParentToVrrp::RunScriptResult {
                req_id,
                exit_status,
                timed_out,
            } => {
                let mut out = Vec::new();
                if self.script_result(req_id, exit_status, timed_out) {
                    self.trackers_changed(now, &mut out);
                }
                self.send_alerts(now);
                Step::Continue(out)
            }
            ParentToVrrp::Sockets { .. } => {
                // The sockets came with this message: start the instances if configured.
                let mut out = Vec::new();
                self.start(now, &mut out);
                self.refresh_states();
                self.send_alerts(now);
                Step::Continue(out)
            }
            ParentToVrrp::Hello(_) | ParentToVrrp::DelVipsResult { .. } => {
                Step::Continue(Vec::new())
            }
        }
    }
}

/// The child's entry point, after `ipc::sandbox::enter`; `log` writes one syslog line.
pub fn run(ch: Channel<VrrpToParent, ParentToVrrp>, log: fn(&str)) -> Result<(), ChildError> {
    ipc::mem::fixed_mmap_threshold();
    ipc::child::run(ch, VrrpChild::new(log))
}
