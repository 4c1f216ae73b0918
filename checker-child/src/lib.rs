//! The checker child: health checks on one mio loop, real-server and virtual-server state
//! with keepalived's rules, and the IPVS changes they call for, asked of the parent by
//! configuration id. It holds no capability; the parent applies the changes.
//!
//! `engine` is the sans-IO core (schedule, retries, state, quorum); `probe` runs TCP and HTTP
//! probes on sockets this child opens itself (unprivileged connects); MISC_CHECK scripts are
//! run by the parent on request.

pub mod addrs;
pub mod engine;
pub mod ping;
pub mod probe;
pub mod timers;
pub mod tls;

use conf::project::CheckerSnapshot;
use engine::{Action, Engine, Probe};
use ipc::child::{ChildError, ChildProtocol, Step, OWN_TOKEN_BASE};
use ipc::{BfdLevel, Channel, CheckerToParent, Hello, OpResult, ParentToChecker, RsState};
use probe::{Flight, Outcome};
use std::collections::HashMap;
use std::time::Instant;

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];

/// System calls beyond `ipc::sandbox::BASE_SYSCALLS` this child needs: probe sockets bound
/// to `bindto`, closed with shutdown; `openat` and inotify for FILE_CHECK's track_files
/// (reads only, with this child's uid).
pub const SYSCALLS: &[i64] = &[
    libc::SYS_bind,
    libc::SYS_shutdown,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_openat,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
];

/// syslog ident, as keepalived's.
pub const IDENT: &str = "Keepalived_healthcheckers";

pub struct CheckerChild {
    log: fn(&str),
    generation: u64,
    /// A snapshot was loaded (a later one is a reload).
    loaded: bool,
    engine: Engine,
    /// Network probes in flight, by token offset.
    flights: HashMap<usize, Flight>,
    /// Their deadlines (stale entries are skipped), and those not yet registered.
    deadlines: timers::Timers,
    unregistered: Vec<usize>,
    next_token: usize,
    /// MISC_CHECK requests to the parent: req_id -> check.
    misc: HashMap<u64, usize>,
    next_req: u64,
    unavailable_logged: bool,
    /// Messages produced where the loop could not take them (a failed registration).
    pending: Vec<CheckerToParent>,
    /// Where smtp_alert mails go: server, from, to, helo.
    mail: Option<(std::net::SocketAddr, String, Vec<String>, String)>,
    /// PING_CHECK echoes, on the ICMP sockets from the parent.
    pinger: ping::Pinger,
    /// FILE_CHECK's track_files, watched with inotify.
    files: ipc::trackfile::Files,
    /// TCP_CHECK sockets to reuse.
    pool: probe::Pool,
    /// The host's addresses, watched for ha_suspend (opened when a config needs it).
    addrs: Option<addrs::Addrs>,
    /// The last level of each BFD session, as the parent relays them (BFD_CHECK).
    bfd: Vec<BfdLevel>,
}

impl CheckerChild {
    pub fn new(log: fn(&str)) -> Self {
        CheckerChild {
            log,
            generation: 0,
            loaded: false,
            engine: Engine::default(),
            flights: HashMap::new(),
            deadlines: Default::default(),
            unregistered: Vec::new(),
            next_token: 0,
            misc: HashMap::new(),
            next_req: 1,
            unavailable_logged: false,
            pending: Vec::new(),
            mail: None,
            pinger: ping::Pinger::default(),
            files: ipc::trackfile::Files::default(),
            pool: probe::Pool::default(),
            addrs: None,
            bfd: Vec::new(),
        }
    }

    /// BFD levels from the parent: kept, and given to the BFD_CHECKs once loaded.
    fn bfd_levels(&mut self, levels: Vec<BfdLevel>, now: Instant, out: &mut Vec<CheckerToParent>) {
        for l in &levels {
            self.bfd.retain(|k| k.bfd != l.bfd);
            self.bfd.push(*l);
        }
        if self.loaded {
            let actions = self.engine.bfd(&levels);
            self.act(actions, now, out);
        }
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    /// Turn the core's actions into messages and probes.
    fn act(&mut self, actions: Vec<Action>, now: Instant, out: &mut Vec<CheckerToParent>) {
        let mut queue = actions;
        while !queue.is_empty() {
            let mut more = Vec::new();
            for a in queue {
                match a {
                    Action::Log(l) => (self.log)(&l),
                    Action::State(s) => out.push(CheckerToParent::RsChanged(s)),
                    Action::Notify(e) => out.push(CheckerToParent::LvsNotify(e)),
                    Action::Mail { subject, body } => self.send_mail(subject, body, now),
                    Action::Script(script) => {
                        let req_id = self.req();
                        out.push(CheckerToParent::RunScript { req_id, script });
                    }
                    Action::Ipvs(ops) if ops.is_empty() => {}
                    Action::Ipvs(ops) => {
                        let req_id = self.req();
                        out.push(CheckerToParent::ApplyIpvs {
                            req_id,
                            generation: self.generation,
                            ops,
                        })
                    }
                    Action::Run {
                        check,
                        probe: Probe::Misc { rs, checker },
                        ..
                    } => {
                        let req_id = self.req();
                        self.misc.insert(req_id, check);
                        out.push(CheckerToParent::RunScript {
                            req_id,
                            script: ipc::ScriptRef::Misc { rs, checker },
                        });
                    }
                    Action::Run {
                        check,
                        probe: Probe::Ping { target },
                        timeout,
                    } => {
                        if let Err(e) = self.pinger.send(check, target, now + timeout) {
                            more.extend(self.engine.result(check, false, &e, now));
                        }
                    }
                    Action::Run {
                        check,
                        probe,
                        timeout,
                    } => match Flight::start(check, probe, timeout, now, &mut self.pool) {
                        Ok(f) => self.launch(f),
                        Err(e) => more.extend(self.engine.result(check, false, &e, now)),
                    },
                }
            }
            queue = more;
        }
    }

    fn load(
        &mut self,
        snapshot: Box<CheckerSnapshot>,
        resume: Vec<RsState>,
        now: Instant,
    ) -> Vec<CheckerToParent> {
        // A reload keeps every real server's state: the running engine's, over the parent's.
        let mut states: HashMap<_, RsState> = resume.into_iter().map(|s| (s.rs, s)).collect();
        if self.loaded {
            for s in self.engine.states() {
                states.insert(s.rs, s);
            }
        }
        self.flights.clear();
        self.deadlines.clear();
        self.unregistered.clear();
        self.misc.clear();
        let states: Vec<RsState> = states.into_values().collect();
        let seed = now.elapsed().as_nanos() as u64
            ^ (std::process::id() as u64) << 32
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
        self.mail = match (
            &snapshot.smtp_server,
            snapshot.notification_email.is_empty(),
        ) {
            (Some((host, port)), false) => match host.parse::<std::net::IpAddr>() {
                Ok(ip) => Some((
                    std::net::SocketAddr::new(ip, *port),
                    snapshot
                        .notification_email_from
                        .clone()
                        .unwrap_or_else(|| "keepalived@localhost".into()),
                    snapshot.notification_email.clone(),
                    snapshot
                        .smtp_helo_name
                        .clone()
                        .unwrap_or_else(|| "localhost".into()),
                )),
                Err(_) => {
                    (self.log)(&format!(
                        "smtp_server {host} is not an address: no smtp_alert mail (the checker resolves no names)"
                    ));
                    None
                }
            },
            _ => None,
        };
        self.files.set(&Engine::track_files(&snapshot), self.log);
        let suspend = Engine::suspend_addrs(&snapshot);
        if suspend.is_empty() {
            self.addrs = None;
        } else if self.addrs.is_none() {
            match addrs::Addrs::open() {
                Ok(a) => self.addrs = Some(a),
                // Then every address counts as absent: the checks stay suspended.
                Err(e) => (self.log)(&format!(
                    "ha_suspend: cannot watch the host's addresses: {e}"
                )),
            }
        }
        let files = &self.files;
        let addrs = &self.addrs;
        let (engine, actions) = Engine::load_with(
            &snapshot,
            &states,
            now,
            seed,
            &|n| files.value(n).unwrap_or(0),
            &|a| addrs.as_ref().map(|x| x.count(a)).unwrap_or(0),
        );
        self.engine = engine;
        // The engine holds what the checks need; the snapshot itself can go.
        drop(snapshot);
        self.loaded = true;
        trim_heap();
        let mut out = Vec::new();
        self.act(actions, now, &mut out);
        out.push(CheckerToParent::FullState(self.engine.states()));
        out
    }

    /// A new flight: its token (a pooled socket keeps its own), its deadline, registration
    /// before the next wait.
    fn launch(&mut self, f: Flight) {
        let k = match f.token {
            Some(k) => k,
            None => {
                self.next_token += 1;
                self.unregistered.push(self.next_token);
                self.next_token
            }
        };
        self.deadlines.after(f.deadline - f.timeout, f.timeout, k);
        self.flights.insert(k, f);
    }

    fn send_mail(&mut self, subject: String, body: String, now: Instant) {
        let Some((server, from, to, helo)) = self.mail.clone() else {
            return;
        };
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let conv = ipc::smtp::Conversation::new(ipc::smtp::Mail {
            helo,
            from,
            to,
            subject,
            body,
            date: ipc::smtp::rfc822(secs),
        });
        match Flight::mail(server, conv, std::time::Duration::from_secs(30), now) {
            Ok(f) => self.launch(f),
            Err(e) => (self.log)(&format!("SMTP connection ERROR to {server}: {e}")),
        }
    }

    /// A flight ended: a probe's verdict goes to the engine, a mail's to the log.
    fn landed(
        &mut self,
        check: usize,
        r: Result<(), String>,
        now: Instant,
        out: &mut Vec<CheckerToParent>,
    ) {
        if check == probe::MAIL {
            match r {
                Ok(()) => (self.log)("SMTP alert successfully sent."),
                Err(e) => (self.log)(&format!("SMTP alert not sent: {e}")),
            }
            return;
        }
        let (ok, why) = match r {
            Ok(()) => (true, String::new()),
            Err(e) => (false, e),
        };
        let actions = self.engine.result(check, ok, &why, now);
        self.act(actions, now, out);
    }

    fn dump(&self) -> String {
        let (v, r, c) = self.engine.counts();
        let up = self.engine.states().iter().filter(|s| s.up).count();
        format!(
            "------< LVS Topology >------\n Virtual servers = {v}\n Real servers = {r} ({up} up)\n Checkers = {c}\n Probes in flight = {}\n",
            self.flights.len() + self.misc.len() + self.pinger.in_flight()
        )
    }
}

impl ChildProtocol for CheckerChild {
    type Tx = CheckerToParent;
    type Rx = ParentToChecker;

    fn hello(&self) -> CheckerToParent {
        CheckerToParent::Hello(Hello::ours())
    }

    fn peer_hello<'a>(&self, msg: &'a ParentToChecker) -> Option<&'a Hello> {
        match msg {
            ParentToChecker::Hello(h) => Some(h),
            _ => None,
        }
    }

    fn sockets(&mut self, fds: Vec<(ipc::FdKind, std::os::fd::OwnedFd)>) {
        self.pinger = ping::Pinger::new(fds);
    }

    fn fds(&self) -> Vec<std::os::fd::RawFd> {
        let mut fds = self.pinger.fds();
        fds.extend(self.files.fd());
        fds.extend(self.addrs.as_ref().map(|a| a.fd()));
        fds
    }

    fn readable(&mut self, fd: std::os::fd::RawFd, now: Instant) -> Vec<CheckerToParent> {
        let mut out = Vec::new();
        if Some(fd) == self.files.fd() {
            for (name, value) in self.files.readable(self.log) {
                let actions = self.engine.file_changed(&name, value);
                self.act(actions, now, &mut out);
            }
            return out;
        }
        if let Some(a) = self.addrs.as_mut().filter(|a| a.fd() == fd) {
            for (addr, count) in a.read() {
                let actions = self.engine.address(addr, count);
                self.act(actions, now, &mut out);
            }
            return out;
        }
        for check in self.pinger.readable(fd) {
            let actions = self.engine.result(check, true, "", now);
            self.act(actions, now, &mut out);
        }
        out
    }

    fn handle(&mut self, msg: ParentToChecker, now: Instant) -> Step<CheckerToParent> {
        match msg {
            ParentToChecker::Snapshot {
                generation,
                snapshot,
                resume,
                bfd,
            } => {
                self.generation = generation;
                let mut out = vec![CheckerToParent::SnapshotAck { generation }];
                // The parent's levels are the newest (a relayed change may have been lost
                // with a previous checker).
                for l in bfd {
                    self.bfd.retain(|k| k.bfd != l.bfd);
                    self.bfd.push(l);
                }
                if ipc::child::test_fault() == Some("misc") {
                    // Ask for the first MISC_CHECK once (fault-injection tests of the runner).
                    let first = snapshot.virtual_servers.iter().find_map(|(_, vs)| {
                        vs.real_servers.iter().find_map(|rs| {
                            let i = rs.checkers.iter().position(|c| {
                                matches!(c.kind, conf::model::CheckKind::Misc { .. })
                            })?;
                            Some((conf::project::rs_id(vs, rs), i as u32))
                        })
                    });
                    if let Some((rs, checker)) = first {
                        out.push(CheckerToParent::RunScript {
                            req_id: 1,
                            script: ipc::ScriptRef::Misc { rs, checker },
                        });
                    }
                }
                out.extend(self.load(snapshot, resume, now));
                let levels = self.bfd.clone();
                self.bfd_levels(levels, now, &mut out);
                Step::Continue(out)
            }
            ParentToChecker::Ping { seq } => Step::Continue(vec![CheckerToParent::Pong { seq }]),
            ParentToChecker::BfdState(levels) => {
                let mut out = Vec::new();
                self.bfd_levels(levels, now, &mut out);
                Step::Continue(out)
            }
            ParentToChecker::Dump { kind } => Step::Continue(vec![CheckerToParent::DumpText {
                kind,
                text: self.dump(),
            }]),
            ParentToChecker::ApplyIpvsResult { result, .. } => {
                match result {
                    OpResult::Done => {}
                    OpResult::Unavailable => {
                        if !self.unavailable_logged {
                            self.unavailable_logged = true;
                            (self.log)("IPVS is not available: checks run, the kernel table is not changed");
                        }
                    }
                    OpResult::Failed(why) => (self.log)(&format!("IPVS change failed: {why}")),
                }
                Step::Continue(Vec::new())
            }
            ParentToChecker::RunScriptResult {
                req_id,
                exit_status,
                timed_out,
            } => {
                let mut out = Vec::new();
                if let Some(check) = self.misc.remove(&req_id) {
                    let actions = self.engine.misc_result(check, exit_status, timed_out, now);
                    self.act(actions, now, &mut out);
                }
                Step::Continue(out)
            }
            ParentToChecker::Stop => {
                let mut out = Vec::new();
                let actions = self.engine.shutdown();
                self.act(actions, now, &mut out);
                out.push(CheckerToParent::Stopped);
                Step::Exit(out)
            }
            ParentToChecker::Handover => Step::Exit(vec![CheckerToParent::Stopped]),
            ParentToChecker::Hello(_) | ParentToChecker::Sockets { .. } => {
                Step::Continue(Vec::new())
            }
        }
    }

    /// 10 ms turns: at 2,000 probes a second that is ~100 wake-ups instead of thousands.
    fn quantum(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(10))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let flights = self.deadlines.peek().map(|(t, _)| t);
        let pending = (!self.pending.is_empty()).then(Instant::now);
        [
            self.engine.next_deadline(),
            flights,
            pending,
            self.pinger.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn tick(&mut self, now: Instant) -> Vec<CheckerToParent> {
        let mut out = std::mem::take(&mut self.pending);
        while let Some((t, k)) = self.deadlines.pop_due(now) {
            // Stale: the probe ended, or moved on to its next URL with a new deadline.
            if self.flights.get(&k).is_none_or(|f| f.deadline != t) {
                continue;
            }
            if let Some(f) = self.flights.remove(&k) {
                let r = f.on_deadline();
                let check = f.check;
                self.pool.put(f, k);
                self.landed(check, r, now, &mut out);
            }
        }
        for check in self.pinger.expired(now) {
            let actions = self.engine.result(check, false, "no echo reply", now);
            self.act(actions, now, &mut out);
        }
        let actions = self.engine.tick(now);
        self.act(actions, now, &mut out);
        out
    }

    fn register(&mut self, registry: &mio::Registry) {
        let mut failed = Vec::new();
        for k in std::mem::take(&mut self.unregistered) {
            let Some(f) = self.flights.get_mut(&k) else {
                continue;
            };
            if let Err(e) = f.register(registry, mio::Token(OWN_TOKEN_BASE + k)) {
                failed.push((k, e.to_string()));
            }
        }
        let now = Instant::now();
        for (k, why) in failed {
            if let Some(f) = self.flights.remove(&k) {
                let actions = self.engine.result(f.check, false, &why, now);
                let mut out = Vec::new();
                self.act(actions, now, &mut out);
                self.pending.extend(out);
            }
        }
    }

    fn event(
        &mut self,
        token: usize,
        ev: &mio::event::Event,
        now: Instant,
    ) -> Vec<CheckerToParent> {
        let k = token - OWN_TOKEN_BASE;
        let mut out = std::mem::take(&mut self.pending);
        let Some(f) = self.flights.get_mut(&k) else {
            return out;
        };
        let outcome = f.step(now, ev.is_writable(), ev.is_error() || ev.is_write_closed());
        if f.needs_register() {
            // Its next URL, on a new connection with a new deadline.
            self.unregistered.push(k);
            self.deadlines.after(f.deadline - f.timeout, f.timeout, k);
        }
        if let Outcome::Done(r) = outcome {
            if let Some(f) = self.flights.remove(&k) {
                let check = f.check;
                self.pool.put(f, k);
                self.landed(check, r, now, &mut out);
            }
        }
        out
    }
}

/// Give freed heap back to the system (glibc keeps it otherwise): loading a large snapshot
/// leaves megabytes of it; and the pages of the code only a load runs.
fn trim_heap() {
    ipc::mem::trim();
}

/// The child's entry point, after `ipc::sandbox::enter`.
pub fn run(ch: Channel<CheckerToParent, ParentToChecker>, log: fn(&str)) -> Result<(), ChildError> {
    ipc::child::run(ch, CheckerChild::new(log))
}
