//! BFD (RFC 5880 asynchronous mode, RFC 5881 single hop) for `bfd_instance` and
//! `track_bfd`, with keepalived 2.2.7's semantics (`keepalived/bfd/bfd.c`,
//! `bfd_scheduler.c`). Sans-IO: the control packet codec and the session state machines
//! take a packet or the time and push [`Action`]s; timers are deadlines; randomness (transmit
//! jitter, discriminators) comes in through [`Random`].
//!
//! Intervals are kept in microseconds, as on the wire (configuration is in milliseconds).
//!
//! Where keepalived and the RFC differ:
//! * jitter: keepalived reduces every interval by 10–25 % (its test for a multiplier of 1
//!   is always true); we follow RFC 5880 §6.8.7: 0–25 %, and 10–25 % only when the
//!   detection multiplier is 1.
//! * a session in AdminDown discards packets (keepalived first retries to open its send
//!   socket; that is the shell's business: [`Session::enable`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// UDP port of single-hop control packets (RFC 5881 §4).
pub const PORT: u16 = 3784;
/// Source ports of control packets (RFC 5881 §4).
pub const SRC_PORT_MIN: u16 = 49152;
pub const SRC_PORT_MAX: u16 = 65535;
/// TTL we send with and expect (RFC 5881 §5), and the IPv6 hop limit keepalived uses.
pub const TTL: u8 = 255;
pub const HOPLIMIT: u8 = 64;
/// A control packet without authentication.
pub const LEN: usize = 24;
pub const VERSION: u8 = 1;

/// Diagnostic codes (RFC 5880 §4.1).
pub const DIAG_NONE: u8 = 0;
pub const DIAG_EXPIRED: u8 = 1;
pub const DIAG_NBR_DOWN: u8 = 3;
pub const DIAG_ADMIN_DOWN: u8 = 7;

/// keepalived's names of the diagnostic codes.
pub fn diag_str(d: u8) -> &'static str {
    match d {
        0 => "No Diagnostic",
        1 => "Control Detection Time Expired",
        2 => "Echo Function Failed",
        3 => "Neighbor Signaled Session Down",
        4 => "Forwarding Plane Reset",
        5 => "Path Down",
        6 => "Concatenated Path Down",
        7 => "Administratively Down",
        8 => "Reverse Concatenated Path Down",
        _ => "Unknown",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// keepalived's `BFD_STATE_STR`.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

/// A control packet (RFC 5880 §4.1), without the authentication section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub version: u8,
    pub diag: u8,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub cplane: bool,
    pub auth: bool,
    pub demand: bool,
    pub multipoint: bool,
    pub detect_mult: u8,
    pub length: u8,
    pub my_discr: u32,
    pub your_discr: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    pub required_min_rx: u32,
    pub required_min_echo_rx: u32,
}

/// Why a packet was discarded before any session saw it (RFC 5880 §6.8.6, keepalived's
/// `bfd_check_packet`). `Display` gives keepalived's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bogus {
    TooShort(usize),
    /// The length field does not match the datagram (keepalived wants them equal).
    LengthMismatch {
        field: u8,
        len: usize,
    },
    /// The A bit is set and the length field is below 26.
    AuthTooShort(u8),
    Version(u8),
    DetectMultZero,
    Multipoint,
    MyDiscrZero,
    /// Your Discriminator is zero and State is neither Down nor AdminDown.
    YourDiscrZero,
    PollAndFinal,
    BadDiag(u8),
}

impl std::fmt::Display for Bogus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bogus::TooShort(n) => write!(f, "Packet is too small: {n} bytes"),
            Bogus::LengthMismatch { field, len } => write!(
                f,
                "Packet size mismatch: length field: {field} bytes, buffer size: {len} bytes"
            ),
            Bogus::AuthTooShort(n) => {
                write!(f, "Packet has 'auth' flag and length field {n} below 26")
            }
            Bogus::Version(v) => write!(f, "Packet is of unsupported version: {v}"),
            Bogus::DetectMultZero => write!(f, "Packet 'detection multiplier' field is zero"),
            Bogus::Multipoint => write!(f, "Packet has 'multipoint' flag"),
            Bogus::MyDiscrZero => write!(f, "Packet 'my discriminator' field is zero"),
            Bogus::YourDiscrZero => write!(
                f,
                "Packet 'your discriminator' field is zero and 'state' field is not Down or AdminDown"
            ),
            Bogus::PollAndFinal => write!(f, "Packet has both poll and final flags set"),
            Bogus::BadDiag(d) => write!(f, "Packet has invalid 'diag' field: {d}"),
        }
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Packet {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = (self.version << 5) | (self.diag & 0x1f);
        b[1] = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cplane) << 3)
            | (u8::from(self.auth) << 2)
            | (u8::from(self.demand) << 1)
            | u8::from(self.multipoint);
        b[2] = self.detect_mult;
        b[3] = self.length;
        b[4..8].copy_from_slice(&self.my_discr.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discr.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        b
    }

    /// Parse a received datagram and apply the reception checks that need no session.
    pub fn decode(buf: &[u8]) -> Result<Packet, Bogus> {
        if buf.len() < LEN {
            return Err(Bogus::TooShort(buf.len()));
        }
        let p = Packet {
            version: buf[0] >> 5,
            diag: buf[0] & 0x1f,
            state: State::from_bits(buf[1] >> 6),
            poll: buf[1] & 0x20 != 0,
            final_: buf[1] & 0x10 != 0,
            cplane: buf[1] & 0x08 != 0,
            auth: buf[1] & 0x04 != 0,
            demand: buf[1] & 0x02 != 0,
            multipoint: buf[1] & 0x01 != 0,
            detect_mult: buf[2],
            length: buf[3],
            my_discr: be32(buf, 4),
            your_discr: be32(buf, 8),
            desired_min_tx: be32(buf, 12),
            required_min_rx: be32(buf, 16),
            required_min_echo_rx: be32(buf, 20),
        };
        if usize::from(p.length) != buf.len() {
            return Err(Bogus::LengthMismatch {
                field: p.length,
                len: buf.len(),
            });
        }
        if p.auth && p.length < 26 {
            return Err(Bogus::AuthTooShort(p.length));
        }
        if p.version != VERSION {
            return Err(Bogus::Version(p.version));
        }
        if p.detect_mult == 0 {
            return Err(Bogus::DetectMultZero);
        }
        if p.multipoint {
            return Err(Bogus::Multipoint);
        }
        if p.my_discr == 0 {
            return Err(Bogus::MyDiscrZero);
        }
        if p.your_discr == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Bogus::YourDiscrZero);
        }
        if p.poll && p.final_ {
            return Err(Bogus::PollAndFinal);
        }
        if p.diag > 8 {
            return Err(Bogus::BadDiag(p.diag));
        }
        Ok(p)
    }
}

/// Why a session discarded a well-formed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// No session has that Your Discriminator (or, when it is zero, that address pair).
    NoSession(u32),
    /// The TTL is below `ttl - max_hops` (RFC 5881 §5 GTSM, keepalived's `max_hops`).
    Ttl { ttl: u8, min: u8 },
    /// The A bit is set: we do no authentication.
    Auth,
    /// The session is administratively down.
    AdminDown,
}

/// The source of randomness: transmit jitter and discriminators.
pub trait Random {
    fn next_u32(&mut self) -> u32;
}

/// xorshift64*: plenty for jitter and discriminators; seed it from the clock or getrandom.
pub struct XorShift(pub u64);

impl Random for XorShift {
    fn next_u32(&mut self) -> u32 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// A session's configuration, from a `bfd_instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub neighbor: IpAddr,
    pub source: Option<IpAddr>,
    /// Required Min RX Interval, µs.
    pub min_rx: u32,
    /// Desired Min TX Interval while Up, µs.
    pub min_tx: u32,
    /// Desired Min TX Interval while not Up, µs (keepalived's `idle_tx`).
    pub idle_tx: u32,
    pub mult: u8,
    pub passive: bool,
    /// TTL (hop limit) we send with.
    pub ttl: u8,
    /// Hops a received packet may have crossed; 255 = no check.
    pub max_hops: u8,
}

impl Config {
    /// `None` without a `neighbor_ip` (keepalived refuses such an instance).
    pub fn from_conf(b: &conf::model::BfdInstance) -> Option<Config> {
        let neighbor = b.neighbor_ip?;
        let ms = |x: u32| x.saturating_mul(1000);
        let default_ttl = if neighbor.is_ipv4() { TTL } else { HOPLIMIT };
        let ttl = b.ttl.map_or(default_ttl, |t| t.clamp(1, 255) as u8);
        Some(Config {
            name: b.name.clone(),
            neighbor,
            source: b.source_ip,
            min_rx: ms(b.min_rx.max(1)),
            min_tx: ms(b.min_tx.max(1)),
            idle_tx: ms(b.idle_tx.max(1)),
            mult: b.multiplier.clamp(1, 255) as u8,
            passive: b.passive,
            ttl,
            // keepalived: `max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit`.
            max_hops: b.max_hops.map_or(0, |t| t.min(255) as u8).min(ttl),
        })
    }
}

/// What a session asks of its shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this packet to the neighbour.
    Send(Packet),
    /// Tell the trackers (keepalived's `bfd_event_send`): the session is Up, or not.
    Event { up: bool },
    /// A line for syslog.
    Log(String),
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// One BFD session (keepalived's `bfd_t`).
#[derive(Clone, Debug)]
pub struct Session {
    pub cfg: Config,
    pub state: State,
    pub remote_state: State,
    pub local_discr: u32,
    pub remote_discr: u32,
    pub local_diag: u8,
    pub remote_diag: u8,
    pub remote_min_tx: u32,
    pub remote_min_rx: u32,
    pub remote_demand: bool,
    pub remote_mult: u8,
    pub poll: bool,
    pub final_: bool,
    /// The interval we transmit at, and the one we expect the peer to, µs.
    pub local_tx_intv: u32,
    pub remote_tx_intv: u32,
    /// µs.
    pub detect_time: u64,
    pub remote_detect_time: u64,
    pub last_seen: Option<Instant>,
    /// Deadlines: the next periodic packet, the detection-time expiry, and the reset of
    /// the remote state a detection time after going Down.
    pub next_tx: Option<Instant>,
    pub expire: Option<Instant>,
    pub reset: Option<Instant>,
}

/// A discriminator: never zero.
pub fn discr(rng: &mut dyn Random) -> u32 {
    loop {
        let d = rng.next_u32();
        if d != 0 {
            return d;
        }
    }
}

impl Session {
    /// A new session in Down (keepalived's `bfd_init_state`); nothing runs until `start`.
    pub fn new(cfg: Config, local_discr: u32) -> Session {
        let idle = cfg.idle_tx;
        Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: DIAG_NONE,
            remote_diag: DIAG_NONE,
            remote_min_tx: 0,
            remote_min_rx: 0,
            remote_demand: false,
            remote_mult: 0,
            poll: false,
            final_: false,
            local_tx_intv: idle,
            remote_tx_intv: 0,
            detect_time: 0,
            remote_detect_time: 0,
            last_seen: None,
            next_tx: None,
            expire: None,
            reset: None,
        }
    }

    /// The session starts (keepalived's `bfd_register_workers` at start-up): the trackers
    /// hear its state; an active session sends a packet at once and then periodically.
    pub fn start(&mut self, now: Instant, rng: &mut dyn Random, out: &mut Vec<Action>) {
        out.push(Action::Event {
            up: self.state == State::Up,
        });
        if self.state == State::AdminDown || self.cfg.passive {
            return;
        }
        self.schedule_tx(now, rng);
        let p = self.build();
        out.push(Action::Send(p));
    }

    /// No way to send (keepalived: `Unable to open output socket, disabling instance`).
    pub fn admin_down(&mut self, out: &mut Vec<Action>) {
        self.state = State::AdminDown;
        self.local_diag = DIAG_ADMIN_DOWN;
        self.next_tx = None;
        out.push(Action::Log(format!(
            "({}) Entering {} state",
            self.cfg.name,
            State::AdminDown.name()
        )));
        self.fall(false, out);
    }

    /// Back from AdminDown once the send socket could be opened (keepalived's
    /// `bfd_open_fd_out_thread`).
    pub fn enable(&mut self, now: Instant, rng: &mut dyn Random) {
        if self.state != State::AdminDown {
            return;
        }
        self.state = State::Down;
        if !self.cfg.passive {
            self.schedule_tx(now, rng);
        }
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.next_tx, self.expire, self.reset]
            .into_iter()
            .flatten()
            .min()
    }

    /// The interval to the next periodic packet: `local_tx_intv` less 0–25 % jitter
    /// (10–25 % with a multiplier of 1), RFC 5880 §6.8.7.
    pub fn tx_interval(&self, rng: &mut dyn Random) -> Duration {
        let t = self.local_tx_intv;
        let min = if self.cfg.mult == 1 { t / 10 } else { 0 };
        let max = t / 4;
        let jitter = min + rng.next_u32() % (max - min + 1);
        Duration::from_micros(u64::from(t - jitter))
    }

    fn schedule_tx(&mut self, now: Instant, rng: &mut dyn Random) {
        self.next_tx = Some(now + self.tx_interval(rng));
    }

    /// The packet to send now (keepalived's `bfd_build_packet`); a Final goes out once.
    fn build(&mut self) -> Packet {
        // Answering a poll while wanting to poll: the Final carries the new parameters.
        if self.poll && self.final_ {
            self.poll = false;
        }
        let p = Packet {
            version: VERSION,
            diag: self.local_diag,
            state: self.state,
            poll: self.poll,
            final_: self.final_,
            cplane: false,
            auth: false,
            demand: false,
            multipoint: false,
            detect_mult: self.cfg.mult,
            length: LEN as u8,
            my_discr: self.local_discr,
            your_discr: self.remote_discr,
            desired_min_tx: if self.state == State::Up {
                self.cfg.min_tx
            } else {
                self.cfg.idle_tx
            },
            required_min_rx: self.cfg.min_rx,
            required_min_echo_rx: 0,
        };
        self.final_ = false;
        p
    }

    fn update_local_tx(&mut self) {
        self.local_tx_intv = self.cfg.min_tx.max(self.remote_min_rx);
    }

    fn idle_local_tx(&mut self) {
        self.local_tx_intv = self.cfg.idle_tx.max(self.remote_min_rx);
    }

    fn update_remote_tx(&mut self) {
        self.remote_tx_intv = self.cfg.min_rx.max(self.remote_min_tx);
    }

    /// Fire the deadlines that are due.
    pub fn tick(&mut self, now: Instant, rng: &mut dyn Random, out: &mut Vec<Action>) {
        if self.expire.is_some_and(|t| t <= now) {
            self.expire = None;
            let dead = self
                .last_seen
                .map_or(0, |s| us(now.saturating_duration_since(s)));
            if self.state == State::Up {
                let overdue = dead.saturating_sub(self.detect_time);
                out.push(Action::Log(format!(
                    "({}) Expired after {} ms ({} usec overdue)",
                    self.cfg.name,
                    dead / 1000,
                    overdue
                )));
            }
            // RFC 5880 §6.8.1: bfd.RemoteDiscr is zeroed after a detection time of silence.
            self.remote_discr = 0;
            self.state_down(DIAG_EXPIRED, now, rng, out);
        }
        if self.reset.is_some_and(|t| t <= now) {
            // keepalived's bfd_reset_state: forget the peer, back to the idle rate.
            self.reset = None;
            self.state = State::Down;
            self.remote_state = State::Down;
            self.remote_discr = 0;
            self.remote_diag = DIAG_NONE;
            self.remote_demand = false;
            self.poll = false;
            self.final_ = false;
            self.idle_local_tx();
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            let p = self.build();
            out.push(Action::Send(p));
            self.schedule_tx(now, rng);
        }
    }

    /// A packet for this session (already through [`Packet::decode`]); `ttl` as received,
    /// 0 when unknown. Keepalived's `bfd_handle_packet` from the session lookup on.
    pub fn receive(
        &mut self,
        pkt: &Packet,
        ttl: u8,
        now: Instant,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> Result<(), Discard> {
        if self.cfg.max_hops != 255
            && ttl != 0
            && u16::from(self.cfg.max_hops) + u16::from(ttl) < u16::from(self.cfg.ttl)
        {
            return Err(Discard::Ttl {
                ttl,
                min: self.cfg.ttl.saturating_sub(self.cfg.max_hops),
            });
        }
        if pkt.auth {
            return Err(Discard::Auth);
        }
        if self.state == State::AdminDown {
            return Err(Discard::AdminDown);
        }
        let old_local_tx = self.local_tx_intv;
        let old_detect = self.detect_time;

        self.remote_discr = pkt.my_discr;
        self.remote_state = pkt.state;
        self.remote_diag = pkt.diag;
        self.remote_min_rx = pkt.required_min_rx;
        self.remote_min_tx = pkt.desired_min_tx;
        self.remote_demand = pkt.demand;
        self.remote_mult = pkt.detect_mult;

        if pkt.final_ {
            self.poll = false;
        }
        // Timers change only with a Poll or a Final once Up (RFC 5880 §6.8.3).
        if self.state != State::Up || pkt.poll || pkt.final_ {
            if self.remote_state == State::Up && matches!(self.state, State::Init | State::Up) {
                self.update_local_tx();
            } else {
                self.idle_local_tx();
            }
            self.update_remote_tx();
        }
        self.detect_time = u64::from(self.remote_mult) * u64::from(self.remote_tx_intv);
        self.remote_detect_time = u64::from(self.cfg.mult) * u64::from(self.local_tx_intv);

        if self.local_tx_intv < old_local_tx && self.next_tx.is_some() {
            self.schedule_tx(now, rng);
        }
        if self.detect_time != old_detect {
            out.push(Action::Log(format!(
                "{:w$} Detection time is {} us (was {} us)",
                "",
                self.detect_time,
                old_detect,
                w = self.cfg.name.len() + 2
            )));
        }

        if self.remote_state == State::AdminDown && self.state != State::Down {
            self.state_down(DIAG_NBR_DOWN, now, rng, out);
        } else {
            match (self.state, self.remote_state) {
                (State::Down, State::Down) => self.state_init(now, rng, out),
                (State::Down, State::Init) => self.state_up(now, out),
                (State::Init, State::Init | State::Up) => self.state_up(now, out),
                (State::Up, State::Down) => self.state_down(DIAG_NBR_DOWN, now, rng, out),
                _ => {}
            }
        }

        let quiet = self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        if quiet {
            self.next_tx = None;
        } else if self.next_tx.is_none() {
            self.schedule_tx(now, rng);
        }
        if pkt.poll {
            // Answer at once, off the periodic schedule.
            self.final_ = true;
            let p = self.build();
            out.push(Action::Send(p));
        }
        self.last_seen = Some(now);
        if self.state == State::Up && self.expire.is_some() {
            self.expire = Some(now + Duration::from_micros(self.detect_time));
        }
        Ok(())
    }

    fn state_down(&mut self, diag: u8, now: Instant, rng: &mut dyn Random, out: &mut Vec<Action>) {
        let old = self.state;
        if old == State::Up {
            self.local_discr = discr(rng);
            out.push(Action::Log(format!(
                "({}) Entering {} state (Local diagnostic - {}, Remote diagnostic - {})",
                self.cfg.name,
                State::Down.name(),
                diag_str(diag),
                diag_str(self.remote_diag)
            )));
        }
        self.state = State::Down;
        self.local_diag = diag;
        self.reset = Some(now + Duration::from_micros(self.detect_time));
        if self.cfg.passive {
            self.next_tx = None;
        }
        self.fall(old == State::Up, out);
    }

    /// Down or AdminDown: back to the idle rate (RFC 5880 §6.8.3: ≥ 1 s while not Up).
    fn fall(&mut self, event: bool, out: &mut Vec<Action>) {
        self.idle_local_tx();
        self.expire = None;
        // A peer going AdminDown is no failure (RFC 5880 §6.8.6): the trackers hear nothing.
        if event && self.remote_state != State::AdminDown {
            out.push(Action::Event { up: false });
        }
    }

    fn rise(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.local_diag = DIAG_NONE;
        if self.state == State::Up {
            out.push(Action::Log(format!(
                "({}) Entering {} state",
                self.cfg.name,
                State::Up.name()
            )));
        }
        self.reset = None;
        if self.expire.is_none() {
            self.expire = Some(now + Duration::from_micros(self.detect_time));
        }
    }

    fn state_up(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Up;
        self.rise(now, out);
        // Up: move from idle_tx to min_tx with a poll sequence.
        if self.cfg.idle_tx != self.cfg.min_tx && !self.final_ {
            self.poll = true;
        }
        out.push(Action::Event { up: true });
    }

    fn state_init(&mut self, now: Instant, rng: &mut dyn Random, out: &mut Vec<Action>) {
        self.state = State::Init;
        self.rise(now, out);
        if self.cfg.passive && self.next_tx.is_none() {
            self.schedule_tx(now, rng);
        }
    }
}

/// A received datagram with what the socket said about it.
pub struct Datagram<'a> {
    pub buf: &'a [u8],
    pub src: IpAddr,
    /// Our address it came to (`IP_PKTINFO`), if known.
    pub dst: Option<IpAddr>,
    /// The TTL it came with (`IP_RECVTTL`), 0 if unknown.
    pub ttl: u8,
}

/// What a [`Sessions`] call asks of the shell, by session index.
pub type Out = Vec<(usize, Action)>;

/// All sessions, with the lookup of received packets (keepalived's `find_bfd_by_discr`,
/// `find_bfd_by_addr`) and unique discriminators.
#[derive(Default)]
pub struct Sessions {
    pub list: Vec<Session>,
}

impl Sessions {
    /// keepalived's `keepalived_bfd.data` (SIGUSR1): the BFD topology with each session's
    /// parameters and state, in its words (`dump_bfd`), without its thread pointers and
    /// timer internals. `wall` is the time of day of `now` (UTC: the child reads no zone).
    /// `events(i)`: whether session `i`'s events go to VRRP and to the checker.
    pub fn dump(
        &self,
        now: Instant,
        wall: std::time::SystemTime,
        events: impl Fn(usize) -> (bool, bool),
    ) -> String {
        use std::fmt::Write;
        let yes = |b: bool| if b { "Yes" } else { "No" };
        let mut t = String::from("------< BFD Topology >------\n");
        for (i, s) in self.list.iter().enumerate() {
            let c = &s.cfg;
            let _ = writeln!(t, " BFD Instance = {}", c.name);
            let _ = writeln!(t, "   Neighbor IP = {}", c.neighbor);
            if let Some(src) = c.source {
                let _ = writeln!(t, "   Source IP = {src}");
            }
            let _ = writeln!(t, "   Required min RX interval = {} us", c.min_rx);
            let _ = writeln!(t, "   Desired min TX interval = {} us", c.min_tx);
            let _ = writeln!(t, "   Desired idle TX interval = {} us", c.idle_tx);
            let _ = writeln!(t, "   Detection multiplier = {}", c.mult);
            let ttl = if c.neighbor.is_ipv4() {
                "TTL"
            } else {
                "hoplimit"
            };
            let _ = writeln!(t, "   {ttl} = {}", c.ttl);
            let _ = writeln!(t, "   max_hops = {}", c.max_hops);
            let _ = writeln!(t, "   passive = {}", c.passive);
            let (vrrp, checker) = events(i);
            let _ = writeln!(t, "   send event to VRRP process = {}", yes(vrrp));
            let _ = writeln!(t, "   send event to checker process = {}", yes(checker));
            let _ = writeln!(t, "   local state = {}", s.state.name());
            let _ = writeln!(t, "   remote state = {}", s.remote_state.name());
            let _ = writeln!(t, "   local discriminator = 0x{:x}", s.local_discr);
            let _ = writeln!(t, "   remote discriminator = 0x{:x}", s.remote_discr);
            let _ = writeln!(t, "   local diag = {}", diag_str(s.local_diag));
            let _ = writeln!(t, "   remote diag = {}", diag_str(s.remote_diag));
            let _ = writeln!(t, "   remote min tx intv = {} us", s.remote_min_tx);
            let _ = writeln!(t, "   remote min rx intv = {} us", s.remote_min_rx);
            let _ = writeln!(t, "   local demand = 0");
            let _ = writeln!(t, "   remote demand = {}", u8::from(s.remote_demand));
            let _ = writeln!(t, "   remote detect multiplier = {}", s.remote_mult);
            let flag = |on: bool| if on { "" } else { "!" };
            let _ = writeln!(t, "   {}poll, {}final", flag(s.poll), flag(s.final_));
            let _ = writeln!(t, "   local tx intv = {} us", s.local_tx_intv);
            let _ = writeln!(t, "   remote tx intv = {} us", s.remote_tx_intv);
            let _ = writeln!(t, "   local detection time = {} us", s.detect_time);
            let _ = writeln!(t, "   remote detection time = {} us", s.remote_detect_time);
            match s.last_seen {
                None => t.push_str("   last_seen = [never]\n"),
                Some(at) => {
                    let seen = wall
                        .checked_sub(now.saturating_duration_since(at))
                        .and_then(|w| w.duration_since(std::time::UNIX_EPOCH).ok())
                        .unwrap_or_default();
                    let (secs, us) = (seen.as_secs() as i64, seen.subsec_micros());
                    let _ = writeln!(
                        t,
                        "   last seen = {secs}.{us:06} ({}.{us:06})",
                        ipc::clock::ctime(secs)
                    );
                }
            }
        }
        t
    }

    /// Sessions for a configuration. On a reload a session of the same name keeps its
    /// state and timers (keepalived's `bfd_copy_state`, `bfd_copy_sands`) and takes the new
    /// parameters; a changed `min_rx` or `min_tx` starts a poll sequence (RFC 5880 §6.8.3;
    /// keepalived's `bfd_cmp_timers`).
    pub fn configure(&mut self, cfgs: Vec<Config>, rng: &mut dyn Random) {
        let mut old = std::mem::take(&mut self.list);
        for cfg in cfgs {
            let s = match old.iter().position(|s| s.cfg.name == cfg.name) {
                Some(i) => {
                    let mut s = old.swap_remove(i);
                    if (s.cfg.min_rx, s.cfg.min_tx) != (cfg.min_rx, cfg.min_tx) && !s.final_ {
                        s.poll = true;
                    }
                    s.cfg = cfg;
                    s
                }
                None => {
                    let d = self.fresh_discr(rng);
                    Session::new(cfg, d)
                }
            };
            self.list.push(s);
        }
    }

    fn fresh_discr(&self, rng: &mut dyn Random) -> u32 {
        loop {
            let d = discr(rng);
            if self.list.iter().all(|s| s.local_discr != d) {
                return d;
            }
        }
    }

    /// A session that drew a discriminator another one has draws again.
    fn unique(&mut self, i: usize, rng: &mut dyn Random) {
        let d = self.list[i].local_discr;
        if self
            .list
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && s.local_discr == d)
        {
            let mut n = self.fresh_discr(rng);
            while n == d {
                n = self.fresh_discr(rng);
            }
            self.list[i].local_discr = n;
        }
    }

    /// The session a packet is for: by Your Discriminator, or when that is zero by the
    /// neighbour's address (and our address, when the session has a `source_ip`).
    pub fn lookup(&self, pkt: &Packet, src: IpAddr, dst: Option<IpAddr>) -> Option<usize> {
        if pkt.your_discr != 0 {
            return self
                .list
                .iter()
                .position(|s| s.local_discr == pkt.your_discr);
        }
        self.list.iter().position(|s| {
            s.cfg.neighbor == src
                && match (s.cfg.source, dst) {
                    (Some(a), Some(d)) => a == d,
                    _ => true,
                }
        })
    }

    pub fn start(&mut self, now: Instant, rng: &mut dyn Random, out: &mut Out) {
        for (i, s) in self.list.iter_mut().enumerate() {
            let mut v = Vec::new();
            s.start(now, rng, &mut v);
            out.extend(v.into_iter().map(|a| (i, a)));
        }
    }

    /// A received datagram: decode, find the session, run it. `Ok` with the session's
    /// index; the error says why it was dropped (keepalived logs these only with `-D`).
    pub fn receive(
        &mut self,
        d: &Datagram,
        now: Instant,
        rng: &mut dyn Random,
        out: &mut Out,
    ) -> Result<usize, RxError> {
        let pkt = Packet::decode(d.buf).map_err(RxError::Bogus)?;
        let i = self
            .lookup(&pkt, d.src, d.dst)
            .ok_or(RxError::Discard(Discard::NoSession(pkt.your_discr)))?;
        let mut v = Vec::new();
        self.list[i]
            .receive(&pkt, d.ttl, now, rng, &mut v)
            .map_err(RxError::Discard)?;
        self.unique(i, rng);
        out.extend(v.into_iter().map(|a| (i, a)));
        Ok(i)
    }

    pub fn tick(&mut self, now: Instant, rng: &mut dyn Random, out: &mut Out) {
        for i in 0..self.list.len() {
            if self.list[i].next_deadline().is_some_and(|t| t <= now) {
                let mut v = Vec::new();
                self.list[i].tick(now, rng, &mut v);
                self.unique(i, rng);
                out.extend(v.into_iter().map(|a| (i, a)));
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().filter_map(Session::next_deadline).min()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    Bogus(Bogus),
    Discard(Discard),
}

#[cfg(test)]
mod dump_tests {
    use super::*;

    #[test]
    fn the_data_dump_names_each_session_with_its_state_as_keepalived() {
        let cfg = Config {
            name: "bfd1".into(),
            neighbor: "10.99.0.12".parse().unwrap(),
            source: None,
            min_rx: 50_000,
            min_tx: 50_000,
            idle_tx: 1_000_000,
            mult: 3,
            passive: false,
            ttl: 255,
            max_hops: 0,
        };
        let now = Instant::now();
        let wall = std::time::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        let mut s = Session::new(cfg, 0x1234);
        let fresh = Sessions {
            list: vec![s.clone()],
        }
        .dump(now, wall, |_| (true, false));
        assert!(fresh.starts_with(
            "------< BFD Topology >------\n BFD Instance = bfd1\n   Neighbor IP = 10.99.0.12\n"
        ));
        assert!(fresh.contains("\n   TTL = 255\n"));
        assert!(fresh.contains(
            "\n   send event to VRRP process = Yes\n   send event to checker process = No\n"
        ));
        assert!(fresh.contains(
            "\n   local state = Down\n   remote state = Down\n   local discriminator = 0x1234\n"
        ));
        assert!(fresh.contains("\n   local diag = No Diagnostic\n"));
        assert!(fresh.contains("\n   !poll, !final\n"));
        assert!(fresh.ends_with("   last_seen = [never]\n"));
        s.state = State::Up;
        s.last_seen = Some(now - Duration::from_millis(1500));
        let up = Sessions { list: vec![s] }.dump(now, wall, |_| (true, false));
        assert!(up.contains("\n   local state = Up\n"));
        assert!(
            up.ends_with("   last seen = 1796083198.500000 (Mon Nov 30 23:59:58 2026.500000)\n"),
            "{up}"
        );
    }
}
