//! The sans-IO VRRP state machine of one instance (RFC 3768, RFC 5798 §6.4, with keepalived
//! 2.2.7's choices where the RFCs leave room — reference §5.1–5.3).
//!
//! `handle(now, input)` returns actions; timers are deadlines (`next_deadline`). Time is an
//! input, so every transition is testable to the microsecond without a network.

use crate::packet::{auth_key, Received};
use crate::rx::{self, Counter, Packet, RxCfg};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }
}

/// What the machine needs from the configuration. Lists are boxed slices and the name and
/// the gratuitous ARP settings shared (`Rc`): at 1000 instances every byte here is a kB.
#[derive(Clone, Debug)]
pub struct InstanceCfg {
    /// Shared with the child's topology list.
    pub name: Rc<str>,
    pub vrid: u8,
    pub version: u8,
    /// Base priority (255 = address owner).
    pub priority: u8,
    /// Centiseconds.
    pub adver_int: u32,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    pub down_timer_adverts: u32,
    /// Our advert source (equal-priority ties are won by the higher address).
    pub local_addr: IpAddr,
    pub vips: Addrs,
    pub unicast: bool,
    /// v2 authentication: 1 PASS, 2 AH, with the 8-byte key.
    pub auth: Option<(u8, [u8; 8])>,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub skip_check_adv_addr: bool,
    /// Unicast peers with their `min_ttl`/`max_ttl` (0 and 255 when not set).
    pub peers: Box<[(IpAddr, u8, u8)]>,
    /// `check_unicast_src` (or the global `vrrp_check_unicast_src`).
    pub check_unicast_src: bool,
    /// A member of a `vrrp_sync_group`: MASTER only when the whole group wants it.
    pub sync: bool,
    /// Gratuitous ARP bursts (reference §5.5): `garp_master_repeat` on becoming MASTER and
    /// again `garp_master_delay` later (zero: no second burst); every `garp_master_refresh`
    /// (zero: off) `garp_master_refresh_repeat`; on a lower-priority advert
    /// `garp_lower_prio_repeat` (0: none) now and after `garp_lower_prio_delay`. Instances
    /// with the same settings share one.
    pub garp: Rc<Garp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Garp {
    pub repeat: u32,
    pub delay: Duration,
    pub refresh: Duration,
    pub refresh_repeat: u32,
    pub lower_prio_repeat: u32,
    pub lower_prio_delay: Duration,
}

/// A list of addresses, a single one (most instances' VIPs) kept inline: no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addrs {
    One([IpAddr; 1]),
    Many(Box<[IpAddr]>),
}

impl std::ops::Deref for Addrs {
    type Target = [IpAddr];
    fn deref(&self) -> &[IpAddr] {
        match self {
            Addrs::One(a) => a,
            Addrs::Many(v) => v,
        }
    }
}

impl From<Vec<IpAddr>> for Addrs {
    fn from(v: Vec<IpAddr>) -> Self {
        match v[..] {
            [a] => Addrs::One([a]),
            _ => Addrs::Many(v.into()),
        }
    }
}

impl Default for Garp {
    /// keepalived's defaults: 5 now, 5 more after 5 s, no refresh, lower-priority as master.
    fn default() -> Self {
        Garp {
            repeat: 5,
            delay: Duration::from_secs(5),
            refresh: Duration::ZERO,
            refresh_repeat: 1,
            lower_prio_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
        }
    }
}

impl InstanceCfg {
    /// A config with keepalived's defaults around the given essentials (tests, tools).
    pub fn new(
        name: &str,
        vrid: u8,
        priority: u8,
        adver_int_cs: u32,
        local: IpAddr,
        vips: Vec<IpAddr>,
    ) -> Self {
        InstanceCfg {
            name: name.into(),
            vrid,
            version: 2,
            priority,
            adver_int: adver_int_cs,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            local_addr: local,
            vips: vips.into(),
            unicast: false,
            auth: None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            skip_check_adv_addr: false,
            peers: Box::default(),
            check_unicast_src: false,
            sync: false,
            garp: Rc::default(),
        }
    }
}

pub enum Input {
    /// Start (or restart). `resume` is the state the parent last knew (a restarted child that
    /// was MASTER resumes as MASTER without a flap).
    Start { resume: Option<State> },
    /// A packet for this VRID as the socket delivered it: keepalived's receive checks
    /// (reference §6.5), then the state machine.
    Packet(Packet),
    /// An advert that passed the receive checks.
    Advert(Received),
    /// The effective priority the trackers compute (never carried as a delta).
    Priority(u8),
    /// A fault cause appeared (`true`) or every fault cleared (`false`).
    Fault(bool),
    /// Orderly stop.
    Shutdown,
    /// The sync group moves this member (keepalived `vrrp_sync_master`/`vrrp_sync_backup`).
    Sync(State),
    /// Nothing happened but time: fire due timers.
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority (0 on shutdown and leaving for FAULT).
    SendAdvert {
        priority: u8,
    },
    SetVips,
    RemoveVips,
    /// A burst of gratuitous ARPs / unsolicited NAs: `repeat` rounds over the VIPs.
    SendGarps {
        repeat: u32,
    },
    /// The state changed: notify scripts, FIFO, parent report.
    Changed {
        from: State,
        to: State,
    },
    /// A log line in keepalived's words.
    Log(String),
    /// An advert dropped by a receive check: the counter to bump.
    Dropped(Counter),
    /// Counted as a received advert (keepalived's `advert_rcvd`, `pri_zero_rcvd`).
    Received {
        priority_zero: bool,
    },
    /// A sync-group member's down timer expired: it wants MASTER (keepalived `wantstate`).
    WantMaster,
}

pub struct Instance {
    pub cfg: InstanceCfg,
    pub state: State,
    pub effective: u8,
    /// The master's advert interval (v3 backups adopt it), centiseconds.
    pub master_adver_int: u32,
    down_at: Option<Instant>,
    adver_at: Option<Instant>,
    preempt_until: Option<Instant>,
    /// Source of the master we last accepted.
    master_addr: Option<IpAddr>,
    faulted: bool,
    /// The last AH sequence number accepted (replays are dropped).
    pub ah_rx_seq: u32,
    /// keepalived's `wantstate == MASTER`: for sync groups.
    pub want_master: bool,
    /// The priority of the master last heard (keepalived `master_priority`).
    pub master_priority: u8,
    /// Gratuitous ARP bursts due while MASTER: `(when, repeat)`; and the next refresh.
    garp_due: Vec<(Instant, u32)>,
    refresh_at: Option<Instant>,
}

/// Queue a delayed burst: room for one first (most MASTERs only ever have the one of
/// `garp_master_delay`, for its 5 seconds; a `Vec`'s first push makes room for four).
fn push_due(due: &mut Vec<(Instant, u32)>, at: Instant, repeat: u32) {
    if due.capacity() == 0 {
        due.reserve_exact(1);
    }
    due.push((at, repeat));
}

fn cs(c: u32) -> Duration {
    Duration::from_millis(u64::from(c) * 10)
}

impl Instance {
    pub fn new(cfg: InstanceCfg) -> Self {
        let eff = cfg.priority;
        let mai = cfg.adver_int;
        Instance {
            cfg,
            state: State::Init,
            effective: eff,
            master_adver_int: mai,
            down_at: None,
            adver_at: None,
            preempt_until: None,
            master_addr: None,
            faulted: false,
            ah_rx_seq: 0,
            want_master: false,
            master_priority: 0,
            garp_due: Vec::new(),
            refresh_at: None,
        }
    }

    /// Whether a tracker holds the instance in FAULT.
    pub fn faulted(&self) -> bool {
        self.faulted
    }

    /// RFC 5798 §6.1 Skew_Time; v2 (RFC 3768) does not scale it by the interval.
    pub fn skew(&self) -> Duration {
        let p = u64::from(256 - u32::from(self.effective));
        if self.cfg.version == 2 {
            Duration::from_micros(p * 1_000_000 / 256)
        } else {
            Duration::from_micros(p * u64::from(self.master_adver_int) * 10_000 / 256)
        }
    }

    /// Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        cs(self.master_adver_int) * self.cfg.down_timer_adverts + self.skew()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.down_at,
            self.adver_at,
            self.preempt_until.filter(|_| self.state == State::Backup),
            self.refresh_at,
        ]
        .into_iter()
        .flatten()
        .chain(self.garp_due.iter().map(|(t, _)| *t))
        .min()
    }

    /// The one state-change funnel: log line, entry and exit actions, the change report.
    fn change(&mut self, now: Instant, to: State, init: bool, out: &mut Vec<Action>) {
        let from = self.state;
        if from == to {
            return;
        }
        if from == State::Master {
            self.garp_due.clear();
            self.refresh_at = None;
            if to == State::Fault || to == State::Stop {
                out.push(Action::SendAdvert { priority: 0 });
            }
            out.push(Action::RemoveVips);
        }
        self.state = to;
        self.want_master = to == State::Master;
        let suffix = if init { " (init)" } else { "" };
        if to != State::Stop {
            out.push(Action::Log(format!(
                "({}) Entering {} STATE{suffix}",
                self.cfg.name,
                to.name()
            )));
        }
        match to {
            State::Master => {
                // RFC 5798 §6.4.1/§6.4.2: send an advert, then the VIPs and gratuitous ARPs.
                out.push(Action::SendAdvert {
                    priority: self.effective,
                });
                out.push(Action::SetVips);
                let g = &self.cfg.garp;
                out.push(Action::SendGarps { repeat: g.repeat });
                self.garp_due.clear();
                if !g.delay.is_zero() {
                    push_due(&mut self.garp_due, now + g.delay, g.repeat);
                }
                self.refresh_at = (!g.refresh.is_zero()).then(|| now + g.refresh);
                self.adver_at = Some(now + cs(self.cfg.adver_int));
                self.down_at = None;
            }
            State::Backup => {
                self.master_adver_int = self.cfg.adver_int;
                self.down_at = Some(now + self.master_down_interval());
                self.adver_at = None;
                self.preempt_until = None;
            }
            State::Fault | State::Stop | State::Init => {
                self.down_at = None;
                self.adver_at = None;
            }
        }
        out.push(Action::Changed { from, to });
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Start { resume } => {
                if self.faulted {
                    self.change(now, State::Fault, true, &mut out);
                } else if self.cfg.priority == 255 || resume == Some(State::Master) {
                    // The owner takes over at once; a resumed MASTER keeps its VIPs and advertises.
                    if resume == Some(State::Master) {
                        self.state = State::Master;
                        self.adver_at = Some(now + cs(self.cfg.adver_int));
                        out.push(Action::SendAdvert {
                            priority: self.effective,
                        });
                        out.push(Action::Log(format!(
                            "({}) Resuming MASTER STATE",
                            self.cfg.name
                        )));
                    } else {
                        self.change(now, State::Backup, true, &mut out);
                        self.change(now, State::Master, false, &mut out);
                    }
                } else if resume == Some(State::Backup) {
                    // A restarted child: the parent knows this instance is BACKUP and holds
                    // no VIP for it; nothing to notify. The master's adverts queued while
                    // we started re-arm the down timer (ARCHITECTURE §4).
                    self.state = State::Backup;
                    self.master_adver_int = self.cfg.adver_int;
                    self.down_at = Some(now + self.master_down_interval());
                    out.push(Action::Log(format!(
                        "({}) Resuming BACKUP STATE",
                        self.cfg.name
                    )));
                } else {
                    // keepalived: every other instance starts BACKUP, even with `state MASTER`.
                    self.change(now, State::Backup, true, &mut out);
                }
            }
            Input::Tick => self.timers(now, &mut out),
            Input::Packet(p) => {
                self.timers(now, &mut out);
                self.packet(now, &p, &mut out);
            }
            Input::Advert(r) => {
                self.timers(now, &mut out);
                self.advert(now, r, &mut out);
            }
            Input::Priority(p) => self.set_priority(now, p, &mut out),
            Input::Fault(f) => {
                self.faulted = f;
                if f && self.state != State::Fault && self.state != State::Init {
                    self.change(now, State::Fault, false, &mut out);
                } else if !f && self.state == State::Fault {
                    self.change(now, State::Backup, false, &mut out);
                }
            }
            Input::Shutdown => self.change(now, State::Stop, false, &mut out),
            Input::Sync(to) => match (self.state, to) {
                (State::Backup, State::Master) | (State::Master, State::Backup) => {
                    self.change(now, to, false, &mut out)
                }
                _ => {}
            },
        }
        out
    }

    fn timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Master && self.adver_at.is_some_and(|t| now >= t) {
            out.push(Action::SendAdvert {
                priority: self.effective,
            });
            self.adver_at = Some(now + cs(self.cfg.adver_int));
        }
        if self.state == State::Master {
            // Delayed bursts (garp_master_delay, garp_lower_prio_delay), then the refresh.
            self.garp_due.retain(|&(t, repeat)| {
                let due = t <= now;
                if due {
                    out.push(Action::SendGarps { repeat });
                }
                !due
            });
            if self.refresh_at.is_some_and(|t| t <= now) {
                out.push(Action::SendGarps {
                    repeat: self.cfg.garp.refresh_repeat,
                });
                self.refresh_at = Some(now + self.cfg.garp.refresh);
            }
        }
        if self.state == State::Backup && self.down_at.is_some_and(|t| now >= t) {
            out.push(Action::Log(format!(
                "({}) Receive advertisement timeout",
                self.cfg.name
            )));
            if self.cfg.sync {
                // keepalived `vrrp_sync_can_goto_master`: wait for the group, timer re-armed.
                self.want_master = true;
                self.down_at = Some(now + self.master_down_interval());
                out.push(Action::WantMaster);
            } else {
                self.change(now, State::Master, false, out);
            }
        }
    }

    /// Effective priority from the trackers: clamp(base + Σ weights, 1, 254) is computed by the
    /// caller; the owner's 255 is never adjusted. A BACKUP's running down timer moves by the
    /// skew difference (keepalived).
    fn set_priority(&mut self, _now: Instant, p: u8, out: &mut Vec<Action>) {
        if self.cfg.priority == 255 || p == self.effective {
            return;
        }
        if self.state == State::Init {
            // keepalived sets the starting priority silently.
            self.effective = p;
            return;
        }
        let old_skew = self.skew();
        out.push(Action::Log(format!(
            "({}) Changing effective priority from {} to {}",
            self.cfg.name, self.effective, p
        )));
        self.effective = p;
        if self.state == State::Backup {
            if let Some(d) = self.down_at {
                let new_skew = self.skew();
                self.down_at = Some(if new_skew > old_skew {
                    d + (new_skew - old_skew)
                } else {
                    d - (old_skew - new_skew)
                });
            }
        }
    }

    /// keepalived's receive checks in its order (reference §6.5, `rx::check`); a packet
    /// that passes goes to `advert`.
    fn packet(&mut self, now: Instant, p: &Packet, out: &mut Vec<Action>) {
        // keepalived ignores adverts in FAULT and INIT before any check.
        if matches!(self.state, State::Init | State::Fault | State::Stop) {
            return;
        }
        let src = match &p.six {
            Some(s) => Some(IpAddr::V6(s.src)),
            None => p
                .bytes
                .get(12..16)
                .map(|a| IpAddr::V4(std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        };
        let same_master = self.state == State::Backup && src.is_some() && self.master_addr == src;
        let c = &self.cfg;
        let rc = RxCfg {
            name: &c.name,
            vrid: c.vrid,
            version: c.version,
            auth: c.auth,
            adver_int: c.adver_int,
            vips: &c.vips,
            unicast: c.unicast,
            peers: &c.peers,
            check_unicast_src: c.check_unicast_src,
        };
        match rx::check(
            &rc,
            p,
            !(c.skip_check_adv_addr && same_master),
            &mut self.ah_rx_seq,
        ) {
            Ok(r) => {
                out.push(Action::Received {
                    priority_zero: r.advert.priority == 0,
                });
                self.advert(now, r, out);
            }
            Err(e) => {
                if e.received {
                    out.push(Action::Received {
                        priority_zero: false,
                    });
                }
                out.extend(e.log.map(Action::Log));
                out.push(Action::Dropped(e.counter));
            }
        }
    }

    /// A valid advert: RFC 5798 §6.4.2/§6.4.3.
    fn advert(&mut self, now: Instant, r: Received, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => self.backup_rx(now, &r, out),
            State::Master => self.master_rx(now, &r, out),
            _ => {}
        }
    }

    /// RFC 5798 §6.4.2 (Backup), with keepalived's `nopreempt` and `preempt_delay`.
    fn backup_rx(&mut self, now: Instant, r: &Received, out: &mut Vec<Action>) {
        let a = &r.advert;
        if a.priority == 0 {
            out.push(Action::Log(format!(
                "({}) Backup received priority 0 advertisement",
                self.cfg.name
            )));
            self.down_at = Some(now + self.skew());
            return;
        }
        let lower = a.priority < self.effective;
        let delaying = !self.cfg.preempt_delay.is_zero() && lower && {
            let until = *self
                .preempt_until
                .get_or_insert(now + self.cfg.preempt_delay);
            now < until
        };
        if !lower || self.cfg.nopreempt || delaying {
            if !lower {
                self.preempt_until = None;
            }
            if a.version == 3 {
                self.master_adver_int = u32::from(a.adver_int);
            }
            self.master_addr = Some(r.src);
            self.master_priority = a.priority;
            self.want_master = false;
            self.down_at = Some(now + self.master_down_interval());
        } else {
            out.push(Action::Log(format!(
                "({}) received lower priority ({}) advert from {} - discarding",
                self.cfg.name, a.priority, r.src
            )));
        }
    }

    /// RFC 5798 §6.4.3 (Master).
    fn master_rx(&mut self, now: Instant, r: &Received, out: &mut Vec<Action>) {
        let a = &r.advert;
        if a.priority == 0 {
            out.push(Action::SendAdvert {
                priority: self.effective,
            });
            self.adver_at = Some(now + cs(self.cfg.adver_int));
            return;
        }
        let higher = a.priority > self.effective
            || (a.priority == self.effective && r.src > self.cfg.local_addr);
        if higher {
            if a.priority == self.effective {
                out.push(Action::Log(format!("({}) Master received advert from {} with same priority {} but higher IP address than ours", self.cfg.name, r.src, a.priority)));
            } else {
                out.push(Action::Log(format!(
                    "({}) Master received advert from {} with higher priority {}, ours {}",
                    self.cfg.name, r.src, a.priority, self.effective
                )));
            }
            if self.cfg.higher_prio_send_advert {
                out.push(Action::SendAdvert {
                    priority: self.effective,
                });
            }
            self.master_addr = Some(r.src);
            self.change(now, State::Backup, false, out);
            if a.version == 3 {
                self.master_adver_int = u32::from(a.adver_int);
                self.down_at = Some(now + self.master_down_interval());
            }
        } else {
            let tail = if self.cfg.lower_prio_no_advert {
                ""
            } else {
                ", forcing new election"
            };
            out.push(Action::Log(format!(
                "({}) Received advert from {} with lower priority {}, ours {}{tail}",
                self.cfg.name, r.src, a.priority, self.effective
            )));
            if !self.cfg.lower_prio_no_advert {
                out.push(Action::SendAdvert {
                    priority: self.effective,
                });
            }
            let g = &self.cfg.garp;
            if g.lower_prio_repeat > 0 {
                out.push(Action::SendGarps {
                    repeat: g.lower_prio_repeat,
                });
                if !g.lower_prio_delay.is_zero() {
                    push_due(
                        &mut self.garp_due,
                        now + g.lower_prio_delay,
                        g.lower_prio_repeat,
                    );
                }
            }
        }
    }
}

/// The PASS key for a v2 config (`auth_pass`, zero-padded).
pub fn pass_key(pass: &str) -> [u8; 8] {
    auth_key(pass)
}
