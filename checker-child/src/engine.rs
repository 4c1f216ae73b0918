//! The checker's core, sans-IO: when each check runs, what a result means for its real
//! server, and which IPVS changes and log lines follow — with keepalived's rules
//! (`check_tcp.c`/`check_http.c` epilogues, `update_svr_checker_state`, `perform_svr_state`,
//! `update_quorum_state`). Time is an input; timers are deadlines. The shell runs the probes.

use conf::model::{
    CheckKind, Checker, Protocol, RealServer, TrackFile, VirtualServer, VsKey, USEC_PER_SEC,
};
use conf::project::{bfd_id, rs_id_in, CheckerSnapshot, IdMap, ObjId};
use ipc::{BfdLevel, IpvsOp, LvsEvent, RsState, ScriptRef};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What a probe must do; the shell turns it into sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Connect, then close.
    Tcp {
        target: SocketAddr,
        bind: Option<SocketAddr>,
    },
    /// Each URL in turn: GET, status in range, MD5 of the body when a digest is given.
    Http {
        target: SocketAddr,
        bind: Option<SocketAddr>,
        urls: Vec<HttpUrl>,
        host: String,
        protocol: String,
        /// SSL_GET: TLS, with the SNI name when `enable_sni`.
        tls: Option<Option<String>>,
    },
    /// A MISC_CHECK script, run by the parent.
    Misc { rs: ObjId, checker: u32 },
    /// Banner 220, HELO, 250, QUIT.
    Smtp {
        target: SocketAddr,
        bind: Option<SocketAddr>,
        helo: String,
    },
    /// One query over UDP; the reply must carry our id, QR and RCODE 0.
    Dns {
        target: SocketAddr,
        bind: Option<SocketAddr>,
        qtype: u16,
        name: String,
    },
    /// A datagram; with `reply`, an answer matching the pattern (None = any nibble) and
    /// within the length bounds; without, no ICMP error within the timeout.
    Udp {
        target: SocketAddr,
        bind: Option<SocketAddr>,
        payload: Vec<u8>,
        reply: Option<Vec<Option<u8>>>,
        min_len: usize,
        max_len: usize,
    },
    /// ICMP echo on the parent's raw socket.
    Ping { target: IpAddr },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub path: String,
    pub digest: Option<String>,
    pub status: Vec<(u16, u16)>,
    pub host: Option<String>,
    pub regex: Option<BodyRegex>,
}

/// A url's `regex`: the body must (or with `regex_no_match` must not) contain a match
/// starting within `[min, max]` (and on the first line with `firstline`). See
/// `conf::body_regex` for how it differs from keepalived's PCRE2.
#[derive(Clone, Debug)]
pub struct BodyRegex {
    pub re: conf::body_regex::Regex,
    pub options: Vec<String>,
    pub no_match: bool,
    pub min: usize,
    pub max: Option<usize>,
    pub firstline: bool,
}

impl PartialEq for BodyRegex {
    fn eq(&self, o: &Self) -> bool {
        self.re.as_str() == o.re.as_str()
            && (&self.options, self.no_match, self.min, self.max)
                == (&o.options, o.no_match, o.min, o.max)
    }
}

impl Eq for BodyRegex {}

/// What the shell must do.
#[derive(Debug, PartialEq)]
pub enum Action {
    Run {
        check: usize,
        probe: Probe,
        timeout: Duration,
    },
    Ipvs(Vec<IpvsOp>),
    Log(String),
    State(RsState),
    /// A notify or quorum script, run by the parent.
    Script(ScriptRef),
    /// An `smtp_alert` mail (keepalived's subject and body).
    Mail {
        subject: String,
        body: String,
    },
    /// A FIFO line (`RS … UP|DOWN`, `VS … UP|DOWN`), written by the parent.
    Notify(LvsEvent),
}

struct Vs {
    id: ObjId,
    name: String,
    /// A `sorry_server`, and whether it is inhibited (weight 0) rather than removed.
    sorry: Option<bool>,
    sorry_name: String,
    quorum_scripts: (bool, bool),
    /// `omega`: at shutdown, notify_down for servers still up and quorum_down.
    omega: bool,
    smtp_alert: bool,
    quorum: u32,
    hysteresis: u32,
    quorum_up: bool,
    rss: Vec<usize>,
    /// `ha_suspend`: the address whose presence on the host enables the checks, and on how
    /// many interfaces it is.
    suspend_addr: Option<IpAddr>,
    addr_count: u32,
}

struct Rs {
    id: ObjId,
    vs: usize,
    name: String,
    /// The weight in IPVS: `real_weight(eff)`.
    weight: u32,
    /// The configured weight, and keepalived's `effective_weight`: it plus every
    /// checker's `cur_weight` (misc_dynamic, FILE_CHECK).
    iweight: i64,
    eff: i64,
    up: bool,
    inhibit: bool,
    failed: usize,
    /// notify_up, notify_down configured.
    notify: (bool, bool),
    smtp_alert: bool,
}

struct Check {
    rs: usize,
    keyword: &'static str,
    /// keepalived's name of the probed service, `[IP]:tcp:PORT`.
    name: String,
    probe: Option<Probe>,
    delay_loop: Duration,
    retry: u32,
    delay_before_retry: Duration,
    timeout: Duration,
    up: bool,
    has_run: bool,
    retry_it: u32,
    due: Option<Instant>,
    running: bool,
    /// Upper bound of the random delay before the first run.
    warmup: Duration,
    /// MISC_CHECK `misc_dynamic`: an exit status 2..255 sets the weight to status - 2.
    dynamic: bool,
    /// The check whose probe this one shares, or the checks sharing this one's.
    leader: Option<usize>,
    followers: Vec<usize>,
    /// FILE_CHECK: the track_file's name, the weight multiplier and `reverse`.
    file: Option<(String, i32, bool)>,
    /// This checker's share of the real server's weight (keepalived's `cur_weight`).
    cur_weight: i64,
    /// Probing (keepalived's `enabled`): off while an ha_suspend address is absent.
    enabled: bool,
    /// BFD_CHECK: the `bfd_instance` it follows (id and name).
    bfd: Option<(ObjId, String)>,
}

/// keepalived's `real_weight`: an effective weight as IPVS takes it.
fn real_weight(eff: i64) -> u32 {
    eff.clamp(0, i32::MAX as i64) as u32
}

/// What a FILE_CHECK makes of its file's value (`update_track_file_status`): `None` is
/// FAULT (the checker fails), else the weight it adds. Without a weight, non-zero is a
/// failure (zero with `reverse`); with one, value × weight (negated with `reverse`),
/// failing only at the bottom of the range.
pub fn file_status(value: i64, weight: i32, reverse: bool) -> Option<i64> {
    if weight == 0 {
        return ((value != 0) == reverse).then_some(0);
    }
    let m = if reverse { -1 } else { 1 };
    let s = (value * weight as i64 * m).clamp(i32::MIN as i64, i32::MAX as i64);
    (s != i32::MIN as i64).then_some(s)
}

#[derive(Default)]
pub struct Engine {
    vss: Vec<Vs>,
    rss: Vec<Rs>,
    checks: Vec<Check>,
    /// (due, check): stale entries are skipped when popped.
    timers: crate::timers::Timers,
    rng: u64,
    /// `[router_id]` of mail subjects; mails only when a server and recipients are set.
    router_id: String,
    mail: bool,
    no_checker_emails: bool,
}

fn dur(us: Option<u64>, default_s: u64) -> Duration {
    Duration::from_micros(us.unwrap_or(default_s * USEC_PER_SEC))
}

/// DNS_CHECK `type` names (keepalived's list).
fn dns_type(t: &str) -> Option<u16> {
    Some(match t.to_ascii_uppercase().as_str() {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        _ => return None,
    })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `require_reply` hex with `X` for any nibble, as per-nibble values.
fn pattern(s: &str) -> Vec<Option<u8>> {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect()
}

/// The IPVS change that puts a real server in (`up`) or takes it out.
fn rs_op(rs: &Rs, up: bool) -> IpvsOp {
    match (up, rs.inhibit) {
        (true, false) => IpvsOp::AddDest {
            rs: rs.id,
            weight: rs.weight,
        },
        (true, true) => IpvsOp::EditDest {
            rs: rs.id,
            weight: rs.weight,
        },
        (false, false) => IpvsOp::DelDest { rs: rs.id },
        (false, true) => IpvsOp::EditDest {
            rs: rs.id,
            weight: 0,
        },
    }
}

/// keepalived's `FMT_VS`.
pub fn vs_name(vs: &VirtualServer) -> String {
    conf::project::fmt_vs(vs)
}

fn svc_name(addr: IpAddr, port: u16, p: Protocol) -> String {
    conf::project::fmt_svc(addr, port, p)
}

/// keepalived's `Host:` value: the virtualhost, else `ip:port` (IPv6 in brackets).
fn host_of(vh: Option<&str>, target: SocketAddr) -> String {
    match vh {
        Some(h) => h.to_string(),
        None => match target {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    }
}

impl Engine {
    /// Build from a snapshot, starting each real server from `resume` when it is there
    /// (the parent's last known state, or what the kernel holds), else as keepalived starts:
    /// up, or down with `alpha`. Returns the start-up IPVS request and log lines.
    pub fn load(
        snap: &CheckerSnapshot,
        resume: &[RsState],
        now: Instant,
        seed: u64,
    ) -> (Self, Vec<Action>) {
        Self::load_with(snap, resume, now, seed, &|_| 0, &|_| 1)
    }

    /// `load`, with the current value of each track_file by name (FILE_CHECK knows its
    /// state at once: keepalived's `set_track_file_checkers_down`/`_weights`) and on how many
    /// interfaces an address is (`ha_suspend`).
    pub fn load_with(
        snap: &CheckerSnapshot,
        resume: &[RsState],
        now: Instant,
        seed: u64,
        files: &dyn Fn(&str) -> i64,
        addrs: &dyn Fn(IpAddr) -> u32,
    ) -> (Self, Vec<Action>) {
        let mut e = Engine {
            rng: seed | 1,
            router_id: snap.router_id.clone().unwrap_or_default(),
            mail: snap.smtp_server.is_some() && !snap.notification_email.is_empty(),
            no_checker_emails: snap.no_checker_emails,
            ..Default::default()
        };
        let resumed: IdMap<&RsState> = resume.iter().map(|s| (s.rs, s)).collect();
        let mut ops = Vec::new();
        let mut out = Vec::new();
        for (vid, vs) in &snap.virtual_servers {
            ops.push(IpvsOp::AddService { vs: *vid });
            let v = e.vss.len();
            // check_api.c addr_matches: an address service only (not a group or fwmark).
            let suspend_addr = match vs.key {
                VsKey::Addr { addr, .. } if vs.ha_suspend => Some(addr),
                _ => None,
            };
            let addr_count = suspend_addr.map(addrs).unwrap_or(0);
            e.vss.push(Vs {
                id: *vid,
                name: vs_name(vs),
                sorry: vs.sorry_server.map(|_| vs.sorry_server_inhibit),
                sorry_name: vs
                    .sorry_server
                    .map(|(a, p)| svc_name(a, p, vs.protocol))
                    .unwrap_or_default(),
                quorum_scripts: (vs.quorum_up.is_some(), vs.quorum_down.is_some()),
                omega: vs.omega.unwrap_or(false),
                // keepalived: a virtual server mails only when asked to ...
                smtp_alert: vs.defaults.smtp_alert.or(snap.smtp_alert).unwrap_or(false),
                quorum: vs.quorum.max(1),
                hysteresis: vs.hysteresis,
                quorum_up: false,
                rss: Vec::new(),
                suspend_addr,
                addr_count,
            });
            for rs in &vs.real_servers {
                let r = e.rss.len();
                let id = rs_id_in(*vid, rs);
                let inhibit = rs
                    .defaults
                    .inhibit_on_failure
                    .or(vs.defaults.inhibit_on_failure)
                    .unwrap_or(false);
                let first = e.checks.len();
                for (i, c) in rs.checkers.iter().enumerate() {
                    let mut chk = Check::new(vs, rs, c, i as u32, r, id, &snap.track_files);
                    chk.enabled = suspend_addr.is_none() || addr_count > 0;
                    if let Some((name, w, rev)) = &chk.file {
                        let st = file_status(files(name), *w, *rev);
                        chk.up = st.is_some();
                        chk.cur_weight = st.unwrap_or(0);
                        // check_file.c: "we will have checked the file, so mark it as run".
                        chk.has_run = true;
                    }
                    e.checks.push(chk);
                }
                if let Some(st) = resumed.get(&id) {
                    // Every checker starts where the real server was, but a FILE_CHECK,
                    // which knows from its file.
                    for c in e.checks[first..].iter_mut().filter(|c| c.file.is_none()) {
                        c.up = st.up;
                        c.has_run = true;
                    }
                }
                let failed = e.checks[first..].iter().filter(|c| !c.up).count();
                let iweight = rs.weight as i64;
                let eff = iweight + e.checks[first..].iter().map(|c| c.cur_weight).sum::<i64>();
                let weight = real_weight(eff);
                let up = failed == 0;
                e.vss[v].rss.push(r);
                e.rss.push(Rs {
                    id,
                    vs: v,
                    name: svc_name(rs.addr, rs.port, vs.protocol),
                    weight,
                    iweight,
                    eff,
                    up,
                    inhibit,
                    failed,
                    notify: (rs.notify_up.is_some(), rs.notify_down.is_some()),
                    // ... a real server unless told not to (its backwards-compatible default).
                    smtp_alert: rs.defaults.smtp_alert.or(snap.smtp_alert).unwrap_or(true),
                });
                if up {
                    ops.push(IpvsOp::AddDest { rs: id, weight });
                } else if inhibit {
                    ops.push(IpvsOp::AddDest { rs: id, weight: 0 });
                } else if vs.sorry_server != Some((rs.addr, rs.port)) {
                    // The whole desired table: a server that starts down is not in it (a
                    // no-op when it is absent, which the parent sees in its mirror; not
                    // for one that is also the sorry server, whose entry it shares).
                    ops.push(IpvsOp::DelDest { rs: id });
                }
            }
        }
        // Each checker first runs after a random delay in [0, warmup] (warmup defaults to
        // delay_loop), as keepalived's register_checkers_thread.
        e.share();
        for i in 0..e.checks.len() {
            if e.checks[i].leader.is_some() || e.checks[i].probe.is_none() {
                continue;
            }
            let warm = e.checks[i].warmup;
            let d = e.random_upto(warm);
            e.schedule(i, now + d);
        }
        for v in 0..e.vss.len() {
            e.quorum(v, &mut out, true);
        }
        // FILE_CHECK and BFD_CHECK have no thread to activate.
        for c in e.checks.iter().filter(|c| c.probe.is_some()) {
            let rs = &e.rss[c.rs];
            out.push(Action::Log(format!(
                "{}ctivating healthchecker for service {} for VS {}",
                if c.enabled { "A" } else { "Dea" },
                rs.name,
                e.vss[rs.vs].name
            )));
        }
        // check_api.c register_checkers_thread, in every build with BFD, BFD_CHECK or not.
        out.push(Action::Log("Activating BFD healthchecker".into()));
        let mut actions = vec![Action::Ipvs(ops)];
        actions.extend(out);
        (e, actions)
    }

    /// Identical probes (same target, request and timing, same starting state) run once:
    /// the first is the leader, the others follow its results.
    fn share(&mut self) {
        let mut leaders: HashMap<String, usize> = HashMap::new();
        for i in 0..self.checks.len() {
            let c = &self.checks[i];
            let Some(p) = &c.probe else { continue };
            // A suspendable check follows its own virtual server's address.
            if matches!(p, Probe::Misc { .. }) || self.vss[self.rss[c.rs].vs].suspend_addr.is_some()
            {
                continue;
            }
            let key = format!(
                "{p:?}|{:?}|{}|{:?}|{:?}|{:?}|{}|{}|{}",
                c.delay_loop,
                c.retry,
                c.delay_before_retry,
                c.timeout,
                c.warmup,
                c.up,
                c.has_run,
                c.retry_it
            );
            match leaders.get(&key) {
                Some(&l) => {
                    self.checks[i].leader = Some(l);
                    self.checks[l].followers.push(i);
                }
                None => {
                    leaders.insert(key, i);
                }
            }
        }
    }

    /// (checks, probes actually run) — shared probes run once.
    pub fn probe_count(&self) -> (usize, usize) {
        let leaders = self
            .checks
            .iter()
            .filter(|c| c.probe.is_some() && c.leader.is_none())
            .count();
        (self.checks.len(), leaders)
    }

    fn random_upto(&mut self, d: Duration) -> Duration {
        if d.is_zero() {
            return d;
        }
        // xorshift64: spread, not secrecy.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Duration::from_micros(self.rng % (d.as_micros() as u64 + 1))
    }

    fn schedule(&mut self, check: usize, at: Instant) {
        self.checks[check].due = Some(at);
        self.timers.at(at, check);
    }

    /// Due `delay` after `from` (the common case: one of a few delays after now).
    fn schedule_after(&mut self, check: usize, from: Instant, delay: Duration) {
        self.checks[check].due = Some(from + delay);
        self.timers.after(from, delay, check);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|(t, _)| t)
    }

    /// Checks that are due start now.
    /// Checks that are due start now, at most `MAX_STARTS` per call (a loop that fell
    /// behind catches up in slices and keeps answering the parent in between).
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        const MAX_STARTS: usize = 256;
        let mut out = Vec::new();
        while out.len() < MAX_STARTS {
            let Some((t, i)) = self.timers.pop_due(now) else {
                break;
            };
            let c = &mut self.checks[i];
            if c.due != Some(t) || c.running {
                continue;
            }
            c.due = None;
            // check_tcp.c & co: a disabled (ha_suspend) checker just comes back after
            // delay_loop, its state as it was.
            if !c.enabled {
                let dl = c.delay_loop;
                self.schedule_after(i, t, dl);
                continue;
            }
            // A checker we do not run keeps its real server down (never "up because
            // nothing checks it").
            if let Some(probe) = c.probe.clone() {
                c.running = true;
                out.push(Action::Run {
                    check: i,
                    probe,
                    timeout: c.timeout,
                });
            }
        }
        out
    }

    /// A probe ended. `detail` says why it failed. Checks that share the probe get the same
    /// verdict (each its own lines and state); only the leader is scheduled again.
    pub fn result(&mut self, check: usize, ok: bool, detail: &str, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if check >= self.checks.len() || self.checks[check].leader.is_some() {
            return out;
        }
        let next = self.verdict(check, ok, detail, &mut out);
        self.schedule_after(check, now, next);
        let followers = std::mem::take(&mut self.checks[check].followers);
        for &f in &followers {
            self.verdict(f, ok, detail, &mut out);
        }
        self.checks[check].followers = followers;
        out
    }

    /// keepalived's epilogue for one check: its new state, lines, and when it runs next.
    fn verdict(&mut self, check: usize, ok: bool, detail: &str, out: &mut Vec<Action>) -> Duration {
        let c = &mut self.checks[check];
        c.running = false;
        let was_up = c.up;
        let had_run = c.has_run;
        // A verdict of down was reached (keepalived calls update_svr_checker_state(DOWN)).
        let mut verdict_down = false;
        let next;
        let http = c.keyword == "HTTP_CHECK";
        let why = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        };
        if ok {
            next = c.delay_loop;
            c.retry_it = 0;
            if !c.up || !c.has_run {
                let line = match c.keyword {
                    "TCP_CHECK" => Some(format!("TCP connection to {} success.", c.name)),
                    "UDP_CHECK" => Some(format!("UDP connection to {} success.", c.name)),
                    "PING_CHECK" => Some(format!("ICMP connection to {} success.", c.name)),
                    "SMTP_CHECK" => {
                        Some(format!("Remote SMTP server {} succeed on service.", c.name))
                    }
                    "MISC_CHECK" => Some(format!("Misc check for [{}] success.", c.name)),
                    "DNS_CHECK" => None,
                    _ => Some(format!("Remote Web server {} succeed on service.", c.name)),
                };
                out.extend(line.map(Action::Log));
                c.up = true;
            }
        } else if http {
            // check_http.c: retries only while the server is up; a known-dead one waits
            // max(delay_before_retry, delay_loop).
            let dead_wait = c.delay_before_retry.max(c.delay_loop);
            if c.up || !c.has_run {
                c.retry_it += 1;
                if c.retry_it > c.retry {
                    out.push(Action::Log(c.failed_line(c.retry > 0, &why)));
                    c.up = false;
                    verdict_down = true;
                    next = dead_wait;
                } else {
                    next = c.delay_before_retry;
                }
            } else {
                next = dead_wait;
            }
        } else if c.retry_it >= c.retry || (c.keyword != "TCP_CHECK" && !c.up && c.has_run) {
            // Retries used up, the verdict stands. TCP_CHECK retries even while down; the
            // others (check_udp.c, check_dns.c, …) only while up.
            next = c.delay_loop;
            c.retry_it = 0;
            if c.up || !c.has_run {
                out.push(Action::Log(c.failed_line(c.retry > 0 && c.has_run, &why)));
                c.up = false;
                verdict_down = true;
            }
        } else {
            next = c.delay_before_retry;
            c.retry_it += 1;
        }
        c.has_run = true;
        let now_up = c.up;
        let rs = c.rs;
        if was_up != now_up {
            let kind = c.keyword;
            self.checker_changed(rs, now_up, kind, out);
        } else if verdict_down && !had_run {
            // update_svr_checker_state: the first verdict agrees with the down state the
            // checker started in (`alpha`): nothing changes, but the notifies run.
            self.rs_notifies(rs, out);
        }
        next
    }

    /// `do_rs_notifies`: the real server's notify script for the state it is in, then its
    /// FIFO line.
    fn rs_notifies(&self, r: usize, out: &mut Vec<Action>) {
        let rs = &self.rss[r];
        let up = rs.up;
        if (up && rs.notify.0) || (!up && rs.notify.1) {
            out.push(Action::Script(ScriptRef::RsNotify { rs: rs.id, up }));
        }
        out.push(Action::Notify(LvsEvent::Rs { rs: rs.id, up }));
    }

    /// `update_svr_checker_state`: a real server is up while none of its checkers failed.
    fn checker_changed(&mut self, r: usize, up: bool, kind: &str, out: &mut Vec<Action>) {
        self.checker_changed_mail(r, up, kind, None, out)
    }

    /// `checker_changed`, with the mail's body when the checker words its own.
    fn checker_changed_mail(
        &mut self,
        r: usize,
        up: bool,
        kind: &str,
        body: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let rs = &mut self.rss[r];
        let before = rs.failed == 0;
        if up {
            rs.failed = rs.failed.saturating_sub(1);
        } else {
            rs.failed += 1;
        }
        let after = rs.failed == 0;
        if self.mail && rs.smtp_alert && (before != after || !self.no_checker_emails) {
            let what = match kind {
                "TCP_CHECK" => "TCP CHECK",
                "UDP_CHECK" => "UDP CHECK",
                "DNS_CHECK" => "DNS_CHECK:",
                "PING_CHECK" => "ICMP CHECK",
                "MISC_CHECK" => "MISC CHECK",
                _ => "CHECK",
            };
            out.push(Action::Mail {
                subject: format!(
                    "[{}] Realserver {} of virtual server {} - {}",
                    self.router_id,
                    rs.name,
                    self.vss[rs.vs].name,
                    if after { "UP" } else { "DOWN" }
                ),
                body: body.unwrap_or_else(|| {
                    format!(
                        "=> {what} {} on service <=",
                        if up { "succeed" } else { "failed" }
                    )
                }),
            });
        }
        if before == after {
            return;
        }
        rs.up = after;
        let vs = &self.vss[rs.vs];
        let verb = match (after, rs.inhibit) {
            (true, false) => "Adding service {} to",
            // perform_svr_state: "of" with inhibit_on_failure, either way.
            (true, true) => "Enabling service {} of",
            (false, false) => "Removing service {} from",
            (false, true) => "Disabling service {} of",
        };
        out.push(Action::Log(format!(
            "{} VS {}",
            verb.replace("{}", &rs.name),
            vs.name
        )));
        // With the quorum lost and a sorry server in place, a server coming up waits for
        // the quorum to return.
        if !(after && vs.sorry.is_some() && !vs.quorum_up) {
            out.push(Action::Ipvs(vec![rs_op(rs, after)]));
        }
        out.push(Action::State(RsState {
            rs: rs.id,
            up: after,
            weight: rs.weight,
        }));
        let v = rs.vs;
        self.rs_notifies(r, out);
        self.quorum(v, out, false);
    }

    /// `update_quorum_state`, with keepalived's lines; the sorry server stands in while the
    /// quorum is lost.
    fn quorum(&mut self, v: usize, out: &mut Vec<Action>, init: bool) {
        let vs = &self.vss[v];
        let alive: Vec<usize> = vs.rss.iter().copied().filter(|&r| self.rss[r].up).collect();
        let sum: u64 = alive.iter().map(|&r| self.rss[r].weight as u64).sum();
        let (q, h) = (vs.quorum as u64, vs.hysteresis as u64);
        let vs = &mut self.vss[v];
        let gained = if init {
            vs.quorum_up = sum >= q;
            vs.quorum_up
        } else if !vs.quorum_up && sum >= q + h {
            vs.quorum_up = true;
            true
        } else if vs.quorum_up && (sum + h < q || sum == 0) {
            vs.quorum_up = false;
            false
        } else {
            return;
        };
        let (id, sorry, scripts) = (vs.id, vs.sorry, vs.quorum_scripts);
        if gained {
            out.push(Action::Log(format!(
                "Gained quorum {q}+{h}={} <= {sum} for VS {}",
                q + h,
                vs.name
            )));
        } else if init {
            out.push(Action::Log(format!(
                "{}: Starting with quorum down",
                vs.name
            )));
        } else {
            out.push(Action::Log(format!(
                "Lost quorum {q}-{h}={} > {sum} for VS {}",
                q.saturating_sub(h),
                vs.name
            )));
        }
        if vs.smtp_alert && self.mail {
            let line = match (gained, init) {
                (true, true) => "Starting with quorum up",
                (true, false) => "Gained quorum",
                (false, true) => "Starting with quorum down",
                (false, false) => "Lost quorum",
            };
            out.push(Action::Mail {
                subject: format!(
                    "[{}] Virtualserver {} - {}",
                    self.router_id,
                    vs.name,
                    if gained { "UP" } else { "DOWN" }
                ),
                body: format!(
                    "=> {line} {q}+{h}={} <= {sum} <=",
                    if gained { q + h } else { q.saturating_sub(h) }
                ),
            });
        }
        if let Some(inhibit) = sorry {
            let name = format!("{} to VS {}", vs.sorry_name, vs.name);
            let mut ops = Vec::new();
            if gained && !init {
                out.push(Action::Log(format!(
                    "Removing sorry server {}",
                    name.replace(" to VS ", " from VS ")
                )));
                ops.push(if inhibit {
                    IpvsOp::AddSorry { vs: id, weight: 0 }
                } else {
                    IpvsOp::DelSorry { vs: id }
                });
                ops.extend(alive.iter().map(|&r| rs_op(&self.rss[r], true)));
            } else if !gained {
                out.push(Action::Log(format!("Adding sorry server {name}")));
                ops.extend(alive.iter().map(|&r| rs_op(&self.rss[r], false)));
                ops.push(IpvsOp::AddSorry { vs: id, weight: 1 });
            } else if inhibit {
                ops.push(IpvsOp::AddSorry { vs: id, weight: 0 });
            }
            out.push(Action::Ipvs(ops));
        }
        if !init && ((gained && scripts.0) || (!gained && scripts.1)) {
            out.push(Action::Script(ScriptRef::Quorum { vs: id, up: gained }));
        }
        // do_vs_notifies: the FIFO line, at start too.
        out.push(Action::Notify(LvsEvent::Vs { vs: id, up: gained }));
    }

    /// A MISC_CHECK's exit status: 0 up, with `misc_dynamic` 2..255 up at weight status - 2,
    /// anything else (or a timeout) down.
    pub fn misc_result(
        &mut self,
        check: usize,
        status: Option<i32>,
        timed_out: bool,
        now: Instant,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(c) = self.checks.get(check) else {
            return out;
        };
        // check_misc.c: an exit status 0, or 2..255 with misc_dynamic, is a success; a new
        // status sets this checker's weight share to status - 2 - the configured weight
        // (0 for status 0), so the real server's weight becomes status - 2.
        let success = !timed_out
            && match status {
                Some(0) => true,
                Some(2..=255) => c.dynamic,
                _ => false,
            };
        let ok = success;
        if success && c.dynamic {
            let r = c.rs;
            let st = status.unwrap_or(0) as i64;
            let cur = if st == 0 {
                0
            } else {
                st - 2 - self.rss[r].iweight
            };
            if cur != c.cur_weight {
                let eff = self.rss[r].eff - c.cur_weight + cur;
                self.checks[check].cur_weight = cur;
                self.set_weight(r, eff, &mut out);
            }
        }
        let detail = if timed_out {
            "timed out".to_string()
        } else {
            format!("exit status {}", status.unwrap_or(-1))
        };
        out.extend(self.result(check, ok, &detail, now));
        out
    }

    /// keepalived's `update_svr_wgt`: a new effective weight, logged and sent to IPVS when
    /// the server is in the table, then the quorum again.
    fn set_weight(&mut self, r: usize, eff: i64, out: &mut Vec<Action>) {
        let rs = &mut self.rss[r];
        rs.eff = eff;
        let w = real_weight(eff);
        if w == rs.weight {
            return;
        }
        let vs = &self.vss[rs.vs];
        out.push(Action::Log(format!(
            "Changing weight from {} to {w} for {}active service {} of VS {}",
            rs.weight,
            if rs.up { "" } else { "in" },
            rs.name,
            vs.name
        )));
        rs.weight = w;
        if rs.up && (vs.sorry.is_none() || vs.quorum_up) {
            out.push(Action::Ipvs(vec![IpvsOp::EditDest {
                rs: rs.id,
                weight: w,
            }]));
        }
        let v = rs.vs;
        self.quorum(v, out, false);
    }

    /// The track_files FILE_CHECKs read, `(name, path)`.
    pub fn track_files(snap: &CheckerSnapshot) -> Vec<(String, String)> {
        snap.track_files
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.file.clone()?)))
            .collect()
    }

    /// A track_file's value changed (`process_update_checker_track_file_status`): each
    /// FILE_CHECK on it fails, recovers, or changes its real server's weight.
    pub fn file_changed(&mut self, name: &str, value: i64) -> Vec<Action> {
        let mut out = Vec::new();
        for i in 0..self.checks.len() {
            let Some((f, w, rev)) = &self.checks[i].file else {
                continue;
            };
            if f != name {
                continue;
            }
            let new = file_status(value, *w, *rev);
            let c = &self.checks[i];
            let prev = c.up.then_some(c.cur_weight);
            if new == prev {
                continue;
            }
            let r = c.rs;
            match (prev, new) {
                (_, None) => {
                    // Down first, then its weight share goes (no weight line).
                    self.checks[i].up = false;
                    self.checker_changed(r, false, "FILE_CHECK", &mut out);
                    let cur = std::mem::take(&mut self.checks[i].cur_weight);
                    let rs = &mut self.rss[r];
                    rs.eff -= cur;
                    rs.weight = real_weight(rs.eff);
                }
                (None, Some(n)) => {
                    // Its weight share first, so the server comes back at its weight.
                    self.checks[i].cur_weight = n;
                    self.checks[i].up = true;
                    let rs = &mut self.rss[r];
                    rs.eff += n;
                    rs.weight = real_weight(rs.eff);
                    self.checker_changed(r, true, "FILE_CHECK", &mut out);
                }
                (Some(p), Some(n)) => {
                    self.checks[i].cur_weight = n;
                    let eff = self.rss[r].eff + n - p;
                    self.set_weight(r, eff, &mut out);
                }
            }
        }
        out
    }

    /// BFD sessions' levels (keepalived's `bfd_check_handle_event`): each BFD_CHECK on a
    /// session takes its state; the first level a checker hears is taken even when it
    /// agrees (keepalived's `has_run`), with keepalived's line.
    pub fn bfd(&mut self, levels: &[BfdLevel]) -> Vec<Action> {
        let mut out = Vec::new();
        for l in levels {
            for i in 0..self.checks.len() {
                let c = &self.checks[i];
                let Some((id, name)) = &c.bfd else { continue };
                if *id != l.bfd || (c.up == l.up && c.has_run) {
                    continue;
                }
                let (r, was_up, name) = (c.rs, c.up, name.clone());
                let rs = &self.rss[r];
                out.push(Action::Log(format!(
                    "BFD check of [{name}] RS({}) is {}",
                    rs.name,
                    if l.up { "UP" } else { "DOWN" }
                )));
                let c = &mut self.checks[i];
                let had_run = c.has_run;
                c.has_run = true;
                if was_up == l.up {
                    // The first level, agreeing with the state the checker started in.
                    if !l.up && !had_run {
                        self.rs_notifies(r, &mut out);
                    }
                } else {
                    c.up = l.up;
                    let body = format!(
                        "=> BFD CHECK {name} {} on service <=",
                        if l.up { "succeeded" } else { "failed" }
                    );
                    self.checker_changed_mail(r, l.up, "BFD_CHECK", Some(body), &mut out);
                }
            }
        }
        out
    }

    /// An address's count of interfaces changed (`update_checker_activity`): the checks of
    /// every ha_suspend virtual server on it resume when it appears and are suspended when
    /// it is gone from every interface.
    pub fn address(&mut self, addr: IpAddr, count: u32) -> Vec<Action> {
        let mut out = Vec::new();
        for v in 0..self.vss.len() {
            if self.vss[v].suspend_addr != Some(addr) {
                continue;
            }
            self.vss[v].addr_count = count;
            let enable = count > 0;
            for c in self.checks.iter_mut().filter(|c| c.probe.is_some()) {
                let rs = &self.rss[c.rs];
                if rs.vs != v || c.enabled == enable {
                    continue;
                }
                out.push(Action::Log(format!(
                    "{}ing healthchecker for service {} for VS {}",
                    if enable { "Activat" } else { "Suspend" },
                    rs.name,
                    self.vss[v].name
                )));
                c.enabled = enable;
            }
        }
        out
    }

    /// The addresses ha_suspend watches.
    pub fn suspend_addrs(snap: &CheckerSnapshot) -> Vec<IpAddr> {
        snap.virtual_servers
            .iter()
            .filter_map(|(_, vs)| match vs.key {
                VsKey::Addr { addr, .. } if vs.ha_suspend => Some(addr),
                _ => None,
            })
            .collect()
    }

    /// Every real server's state, for the parent.
    pub fn states(&self) -> Vec<RsState> {
        self.rss
            .iter()
            .map(|r| RsState {
                rs: r.id,
                up: r.up,
                weight: r.weight,
            })
            .collect()
    }

    /// Stop: keepalived's line per real server, and with `omega` the notify_down of every
    /// server still up and the quorum_down of every virtual server that had its quorum.
    /// (clear_service_rs, then update_vs_notifies with `stopping`, per virtual server:
    /// with omega every virtual server reports DOWN, whatever its quorum was.)
    pub fn shutdown(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for vs in &self.vss {
            for r in vs.rss.iter().map(|&r| &self.rss[r]) {
                out.push(Action::Log(format!(
                    "Shutting down {}service {} from VS {}",
                    if r.inhibit && !r.up {
                        "(inhibited) "
                    } else {
                        ""
                    },
                    r.name,
                    vs.name
                )));
                if vs.omega && r.up {
                    if r.notify.1 {
                        out.push(Action::Script(ScriptRef::RsNotify {
                            rs: r.id,
                            up: false,
                        }));
                    }
                    out.push(Action::Notify(LvsEvent::Rs {
                        rs: r.id,
                        up: false,
                    }));
                }
            }
            if vs.omega {
                if vs.quorum_scripts.1 {
                    out.push(Action::Script(ScriptRef::Quorum {
                        vs: vs.id,
                        up: false,
                    }));
                }
                out.push(Action::Notify(LvsEvent::Vs {
                    vs: vs.id,
                    up: false,
                }));
            }
        }
        out
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.vss.len(), self.rss.len(), self.checks.len())
    }
}

impl Check {
    /// keepalived's failure line, with the retry count when retries were made.
    fn failed_line(&self, after_retries: bool, why: &str) -> String {
        if after_retries {
            format!(
                "{} on service {} failed after {} retries.{why}",
                self.keyword, self.name, self.retry
            )
        } else {
            format!("{} on service {} failed.{why}", self.keyword, self.name)
        }
    }

    fn new(
        vs: &VirtualServer,
        rs: &RealServer,
        c: &Checker,
        index: u32,
        r: usize,
        id: ObjId,
        track_files: &[TrackFile],
    ) -> Self {
        // Settings come from the checker, else the real server, else the virtual server.
        let d = (&rs.defaults, &vs.defaults);
        let delay_loop = dur(c.retry.delay_loop.or(d.0.delay_loop).or(d.1.delay_loop), 60);
        let is_http = matches!(c.kind, CheckKind::Http { .. });
        let retry = c
            .retry
            .retry
            .or(d.0.retry)
            .or(d.1.retry)
            .unwrap_or(match c.kind {
                CheckKind::Dns { .. } => 3,
                CheckKind::Misc { .. } => 0,
                _ => 1,
            });
        let dbr = c
            .retry
            .delay_before_retry
            .or(d.0.delay_before_retry)
            .or(d.1.delay_before_retry)
            .map(Duration::from_micros)
            .unwrap_or(if is_http {
                Duration::from_secs(3)
            } else {
                Duration::from_secs(1)
            });
        let timeout = dur(
            c.conn
                .connect_timeout
                .or(d.0.connect_timeout)
                .or(d.1.connect_timeout),
            5,
        );
        let warmup = c
            .retry
            .warmup
            .or(d.0.warmup)
            .or(d.1.warmup)
            .map(Duration::from_micros)
            .unwrap_or(delay_loop);
        let alpha = c.retry.alpha.or(d.0.alpha).or(d.1.alpha).unwrap_or(false);
        let addr = c.conn.connect_ip.unwrap_or(rs.addr);
        let port = c.conn.connect_port.unwrap_or(rs.port);
        let target = SocketAddr::new(addr, port);
        let bind = c
            .conn
            .bindto
            .map(|b| SocketAddr::new(b, c.conn.bind_port.unwrap_or(0)));
        let probe = match &c.kind {
            CheckKind::Tcp => Some(Probe::Tcp { target, bind }),
            // A regex the matcher cannot take (reported at load) keeps the server down.
            CheckKind::Http {
                ssl,
                urls,
                virtualhost,
                http_protocol,
                enable_sni,
                ..
            } if urls.iter().all(|u| {
                u.regex
                    .as_ref()
                    .is_none_or(|r| conf::body_regex::compile(r, &u.regex_options).is_ok())
            }) =>
            {
                let vh = virtualhost
                    .as_deref()
                    .or(d.0.virtualhost.as_deref())
                    .or(d.1.virtualhost.as_deref());
                Some(Probe::Http {
                    target,
                    bind,
                    host: host_of(vh, target),
                    protocol: http_protocol.clone().unwrap_or_else(|| "1.0".into()),
                    tls: ssl.then(|| {
                        enable_sni
                            .then(|| vh.map(str::to_string).unwrap_or_else(|| addr.to_string()))
                    }),
                    urls: urls
                        .iter()
                        .map(|u| HttpUrl {
                            path: u.path.clone().unwrap_or_else(|| "/".into()),
                            digest: u.digest.as_ref().map(|d| d.to_ascii_lowercase()),
                            status: if u.status_code.is_empty() {
                                vec![(200, 299)]
                            } else {
                                u.status_code.clone()
                            },
                            host: u.virtualhost.clone(),
                            regex: u.regex.as_ref().and_then(|r| {
                                Some(BodyRegex {
                                    re: conf::body_regex::compile(r, &u.regex_options).ok()?,
                                    options: u.regex_options.clone(),
                                    no_match: u.regex_no_match,
                                    min: u.regex_min_offset,
                                    max: u.regex_max_offset,
                                    firstline: u.regex_options.iter().any(|o| o == "firstline"),
                                })
                            }),
                        })
                        .collect(),
                })
            }
            CheckKind::Misc { .. } => Some(Probe::Misc {
                rs: id,
                checker: index,
            }),
            CheckKind::Smtp { helo_name, .. } => Some(Probe::Smtp {
                target: if c.conn.connect_port.is_none() && rs.port == 0 {
                    SocketAddr::new(addr, 25)
                } else {
                    target
                },
                bind,
                helo: helo_name
                    .clone()
                    .unwrap_or_else(|| "smtpchecker.keepalived.org".into()),
            }),
            CheckKind::Dns { qtype, name } => dns_type(qtype).map(|qtype| Probe::Dns {
                target: if c.conn.connect_port.is_none() && rs.port == 0 {
                    SocketAddr::new(addr, 53)
                } else {
                    target
                },
                bind,
                qtype,
                name: name.clone(),
            }),
            CheckKind::Udp {
                payload,
                require_reply,
                min_reply_length,
                max_reply_length,
            } => Some(Probe::Udp {
                target,
                bind,
                payload: payload
                    .as_deref()
                    .and_then(hex)
                    .unwrap_or_else(|| b"keepalived".to_vec()),
                reply: require_reply
                    .as_ref()
                    .map(|r| r.as_deref().map(pattern).unwrap_or_default()),
                min_len: min_reply_length.unwrap_or(0) as usize,
                max_len: max_reply_length.unwrap_or(255) as usize,
            }),
            CheckKind::Ping => Some(Probe::Ping { target: addr }),
            _ => None,
        };
        // FILE_CHECK: the checker's weight, else the track_file's (check_file.c).
        let file = match &c.kind {
            CheckKind::File {
                track_file: Some(name),
                weight,
                ..
            } => track_files.iter().find(|t| &t.name == name).map(|t| {
                let (w, rev) = weight.unwrap_or((t.weight, t.reverse));
                (name.clone(), w, rev)
            }),
            _ => None,
        };
        let bfd = match &c.kind {
            CheckKind::Bfd { name: Some(n) } => Some((bfd_id(n), n.clone())),
            _ => None,
        };
        let supported = probe.is_some() || file.is_some() || bfd.is_some();
        Check {
            rs: r,
            // keepalived's log name of the checker.
            keyword: match c.kind {
                // SSL_GET logs as HTTP_CHECK too.
                CheckKind::Http { .. } => "HTTP_CHECK",
                _ => c.kind.keyword(),
            },
            name: svc_name(addr, port, vs.protocol),
            probe,
            delay_loop,
            retry,
            delay_before_retry: dbr,
            timeout,
            // Not run: down from the start, so its real server never counts as up.
            up: supported && !alpha,
            has_run: !supported,
            // check_data.c: "For non alpha mode, one failure is enough initially".
            retry_it: retry,
            due: None,
            running: false,
            warmup,
            dynamic: matches!(c.kind, CheckKind::Misc { dynamic: true, .. }),
            leader: None,
            followers: Vec::new(),
            file,
            cur_weight: 0,
            enabled: true,
            bfd,
        }
    }
}
