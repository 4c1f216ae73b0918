//! BFD: the control packet codec and the session state machine, on virtual time.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use vrrp_child::bfd::*;

/// Randomness that returns what it is told (then repeats the last value).
struct Fixed(Vec<u32>);
impl Random for Fixed {
    fn next_u32(&mut self) -> u32 {
        if self.0.len() > 1 {
            self.0.remove(0)
        } else {
            self.0.first().copied().unwrap_or(0)
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(name: &str, neighbor: &str) -> Config {
    Config {
        name: name.into(),
        neighbor: ip(neighbor),
        source: None,
        min_rx: 10_000,
        min_tx: 10_000,
        idle_tx: 1_000_000,
        mult: 5,
        passive: false,
        ttl: 255,
        max_hops: 0,
    }
}

fn pkt(state: State, my: u32, your: u32) -> Packet {
    Packet {
        version: 1,
        diag: 0,
        state,
        poll: false,
        final_: false,
        cplane: false,
        auth: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        length: 24,
        my_discr: my,
        your_discr: your,
        desired_min_tx: 1_000_000,
        required_min_rx: 10_000,
        required_min_echo_rx: 0,
    }
}

fn sends(out: &[Action]) -> Vec<Packet> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn events(out: &[Action]) -> Vec<bool> {
    out.iter()
        .filter_map(|a| match a {
            Action::Event { up } => Some(*up),
            _ => None,
        })
        .collect()
}

fn logs(out: &[Action]) -> Vec<String> {
    out.iter()
        .filter_map(|a| match a {
            Action::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

/// Two sessions joined by a lossless, instant wire, on virtual time.
struct Pair {
    s: [Session; 2],
    rng: [XorShift; 2],
    alive: [bool; 2],
    now: Instant,
    /// Everything either side asked for, with the time: (side, when, action).
    log: Vec<(usize, Instant, Action)>,
}

impl Pair {
    fn new(a: Config, b: Config) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            s: [Session::new(a, 0x1111_1111), Session::new(b, 0x2222_2222)],
            rng: [XorShift(7), XorShift(99)],
            alive: [true, true],
            now,
            log: Vec::new(),
        };
        for i in 0..2 {
            let mut out = Vec::new();
            p.s[i].start(now, &mut p.rng[i], &mut out);
            p.push(i, out);
        }
        p
    }

    /// Record what side `i` asked for and carry its packets across (answers too).
    fn push(&mut self, i: usize, out: Vec<Action>) {
        let mut q: VecDeque<(usize, Action)> = out.into_iter().map(|a| (i, a)).collect();
        while let Some((side, a)) = q.pop_front() {
            self.log.push((side, self.now, a.clone()));
            if let Action::Send(p) = a {
                let other = 1 - side;
                if !self.alive[other] || !self.alive[side] {
                    continue;
                }
                let wire = p.encode();
                let rx = Packet::decode(&wire).expect("our own packets decode");
                let mut o = Vec::new();
                if self.s[other]
                    .receive(&rx, 255, self.now, &mut self.rng[other], &mut o)
                    .is_ok()
                {
                    q.extend(o.into_iter().map(|a| (other, a)));
                }
            }
        }
    }

    /// Run the live sessions' deadlines until `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = (0..2)
                .filter(|&i| self.alive[i])
                .filter_map(|i| self.s[i].next_deadline())
                .min();
            let Some(t) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = t;
            for i in 0..2 {
                if self.alive[i] && self.s[i].next_deadline().is_some_and(|d| d <= t) {
                    let mut out = Vec::new();
                    self.s[i].tick(t, &mut self.rng[i], &mut out);
                    self.push(i, out);
                }
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, d: Duration) {
        let u = self.now + d;
        self.run_until(u);
    }

    fn events(&self, side: usize) -> Vec<(Instant, bool)> {
        self.log
            .iter()
            .filter_map(|(s, t, a)| match a {
                Action::Event { up } if *s == side => Some((*t, *up)),
                _ => None,
            })
            .collect()
    }

    fn logs(&self, side: usize) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(s, _, a)| match a {
                Action::Log(l) if *s == side => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    fn sent(&self, side: usize) -> Vec<(Instant, Packet)> {
        self.log
            .iter()
            .filter_map(|(s, t, a)| match a {
                Action::Send(p) if *s == side => Some((*t, *p)),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------- codec

#[test]
fn encode_matches_the_rfc_layout() {
    let mut p = pkt(State::Up, 0x0102_0304, 0x0a0b_0c0d);
    p.diag = DIAG_EXPIRED;
    p.poll = true;
    p.desired_min_tx = 10_000;
    p.required_min_rx = 20_000;
    let b = p.encode();
    assert_eq!(
        b,
        [
            0x21, // version 1, diag 1
            0xe0, // state Up (3 << 6) | P
            3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0x27, 0x10, 0, 0, 0x4e, 0x20, 0, 0, 0,
            0
        ]
    );
    assert_eq!(Packet::decode(&b), Ok(p));
}

#[test]
fn every_flag_round_trips() {
    for bits in 0..=0xffu8 {
        let mut b = pkt(State::Down, 5, 0).encode();
        b[1] = bits;
        // Only decode-valid combinations.
        let Ok(p) = Packet::decode(&b) else { continue };
        assert_eq!(p.encode(), b);
        assert_eq!(p.state as u8, bits >> 6);
    }
}

#[test]
fn reception_checks_drop_bogus_packets() {
    let good = pkt(State::Up, 5, 6).encode();
    assert!(Packet::decode(&good).is_ok());
    assert_eq!(Packet::decode(&good[..23]), Err(Bogus::TooShort(23)));

    let mut longer = good.to_vec();
    longer.push(0);
    assert_eq!(
        Packet::decode(&longer),
        Err(Bogus::LengthMismatch { field: 24, len: 25 })
    );
    let mut b = good;
    b[3] = 20;
    assert_eq!(
        Packet::decode(&b),
        Err(Bogus::LengthMismatch { field: 20, len: 24 })
    );

    let m = |f: &dyn Fn(&mut Packet)| {
        let mut p = pkt(State::Up, 5, 6);
        f(&mut p);
        Packet::decode(&p.encode())
    };
    assert_eq!(m(&|p| p.version = 0), Err(Bogus::Version(0)));
    assert_eq!(m(&|p| p.version = 2), Err(Bogus::Version(2)));
    assert_eq!(m(&|p| p.detect_mult = 0), Err(Bogus::DetectMultZero));
    assert_eq!(m(&|p| p.multipoint = true), Err(Bogus::Multipoint));
    assert_eq!(m(&|p| p.my_discr = 0), Err(Bogus::MyDiscrZero));
    assert_eq!(m(&|p| p.your_discr = 0), Err(Bogus::YourDiscrZero));
    assert_eq!(
        m(&|p| {
            p.your_discr = 0;
            p.state = State::Init
        }),
        Err(Bogus::YourDiscrZero)
    );
    // Your Discriminator zero is fine in Down and AdminDown.
    assert!(m(&|p| {
        p.your_discr = 0;
        p.state = State::Down
    })
    .is_ok());
    assert!(m(&|p| {
        p.your_discr = 0;
        p.state = State::AdminDown
    })
    .is_ok());
    assert_eq!(
        m(&|p| {
            p.poll = true;
            p.final_ = true
        }),
        Err(Bogus::PollAndFinal)
    );
    assert_eq!(m(&|p| p.diag = 9), Err(Bogus::BadDiag(9)));
    assert_eq!(m(&|p| p.auth = true), Err(Bogus::AuthTooShort(24)));
    assert_eq!(
        Bogus::DetectMultZero.to_string(),
        "Packet 'detection multiplier' field is zero"
    );
}

#[test]
fn decode_never_panics_on_garbage() {
    let mut r = XorShift(12345);
    for len in 0..64 {
        for _ in 0..200 {
            let buf: Vec<u8> = (0..len).map(|_| r.next_u32() as u8).collect();
            let _ = Packet::decode(&buf);
        }
    }
}

// ---------------------------------------------------------------- session

#[test]
fn comes_up_with_a_peer_in_three_packets() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    let mut b = Session::new(cfg("b", "10.99.0.1"), 0xbbbb);
    let mut out = Vec::new();
    a.start(t0, &mut rng, &mut out);
    assert_eq!(events(&out), [false], "the trackers hear Down at start");
    let p1 = sends(&out);
    assert_eq!(p1.len(), 1, "an active session sends at once");
    assert_eq!((p1[0].state, p1[0].your_discr), (State::Down, 0));
    assert_eq!(p1[0].desired_min_tx, 1_000_000, "1 s while not Up");

    // 1: Down → the peer goes Init.
    let mut ob = Vec::new();
    b.receive(&p1[0], 255, t0, &mut rng, &mut ob).unwrap();
    assert_eq!(b.state, State::Init);
    assert!(events(&ob).is_empty());
    // 2: the peer's next packet says Init → we go Up.
    let t1 = b.next_tx.unwrap();
    let mut ob = Vec::new();
    b.tick(t1, &mut rng, &mut ob);
    let p2 = sends(&ob);
    assert_eq!((p2[0].state, p2[0].your_discr), (State::Init, 0xaaaa));
    let mut oa = Vec::new();
    a.receive(&p2[0], 255, t1, &mut rng, &mut oa).unwrap();
    assert_eq!(a.state, State::Up);
    assert_eq!(events(&oa), [true]);
    assert_eq!(logs(&oa).last().unwrap(), "(a) Entering Up state");
    // 3: our Up → the peer goes Up.
    let t2 = a.next_tx.unwrap();
    let mut oa = Vec::new();
    a.tick(t2, &mut rng, &mut oa);
    let p3 = sends(&oa);
    assert_eq!(p3[0].state, State::Up);
    let mut ob = Vec::new();
    b.receive(&p3[0], 255, t2, &mut rng, &mut ob).unwrap();
    assert_eq!(b.state, State::Up);
    assert_eq!(events(&ob), [true]);
}

#[test]
fn pair_comes_up_then_runs_at_the_fast_rate() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    assert_eq!((n.s[0].state, n.s[1].state), (State::Up, State::Up));
    assert_eq!(
        n.events(0).iter().map(|e| e.1).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(
        n.events(1).iter().map(|e| e.1).collect::<Vec<_>>(),
        [false, true]
    );
    // Once the poll sequences are done, both send every 7.5–10 ms (min_tx 10 ms).
    assert_eq!(
        (n.s[0].local_tx_intv, n.s[1].local_tx_intv),
        (10_000, 10_000)
    );
    let late: Vec<Instant> = n
        .sent(0)
        .into_iter()
        .filter(|(t, _)| *t > n.now - Duration::from_secs(1))
        .map(|x| x.0)
        .collect();
    assert!(late.len() >= 100 && late.len() <= 134, "{}", late.len());
    for w in late.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_micros(7_500) && gap <= Duration::from_millis(10),
            "{gap:?}"
        );
    }
    // Detection time: the peer's multiplier × max(our min_rx, its min_tx) = 5 × 10 ms.
    assert_eq!(n.s[0].detect_time, 50_000);
    // Nobody expired.
    assert!(n.logs(0).iter().all(|l| !l.contains("Expired")));
}

#[test]
fn goes_down_after_the_detection_time_without_packets() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    assert_eq!(n.s[0].state, State::Up);
    let last_rx = n.s[0].last_seen.unwrap();
    n.alive[1] = false;
    n.run_for(Duration::from_millis(49));
    assert_eq!(n.s[0].state, State::Up, "still within the detection time");
    n.run_for(Duration::from_millis(20));
    assert_eq!(n.s[0].state, State::Down);
    let (t, up) = *n.events(0).last().unwrap();
    assert!(!up);
    assert_eq!(t - last_rx, Duration::from_millis(50), "exactly 5 × 10 ms");
    let l = n.logs(0);
    assert!(
        l.iter()
            .any(|x| x == "(a) Expired after 50 ms (0 usec overdue)"),
        "{l:?}"
    );
    assert!(l.iter().any(|x| x
        == "(a) Entering Down state (Local diagnostic - Control Detection Time Expired, Remote diagnostic - No Diagnostic)"));
    assert_eq!(n.s[0].local_diag, DIAG_EXPIRED);
    assert_eq!(n.s[0].remote_discr, 0);
    // Back to 1 s (less jitter) while Down.
    let before = n.sent(0).len();
    n.run_for(Duration::from_secs(10));
    let k = n.sent(0).len() - before;
    assert!((10..=14).contains(&k), "{k} packets in 10 s");
}

#[test]
fn comes_back_up_when_the_peer_returns_with_a_new_discriminator() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    let d_up = n.s[0].local_discr;
    n.alive[1] = false;
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.s[0].state, State::Down);
    assert_ne!(
        n.s[0].local_discr, d_up,
        "a new discriminator after Up → Down"
    );
    // The peer restarts from scratch.
    n.s[1] = Session::new(cfg("b", "10.99.0.1"), 0x3333_3333);
    n.alive[1] = true;
    let mut out = Vec::new();
    let now = n.now;
    n.s[1].start(now, &mut n.rng[1], &mut out);
    n.push(1, out);
    n.run_for(Duration::from_secs(3));
    assert_eq!((n.s[0].state, n.s[1].state), (State::Up, State::Up));
    assert_eq!(
        n.events(0).iter().map(|e| e.1).collect::<Vec<_>>(),
        [false, true, false, true]
    );
}

#[test]
fn slow_rate_while_not_up() {
    let t0 = Instant::now();
    let mut rng = XorShift(3);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 1);
    let mut out = Vec::new();
    a.start(t0, &mut rng, &mut out);
    let mut times = vec![t0];
    let mut now = t0;
    for _ in 0..50 {
        now = a.next_deadline().unwrap();
        let mut o = Vec::new();
        a.tick(now, &mut rng, &mut o);
        assert_eq!(sends(&o).len(), 1);
        assert_eq!(sends(&o)[0].desired_min_tx, 1_000_000);
        times.push(now);
    }
    for w in times.windows(2) {
        let g = w[1] - w[0];
        assert!(
            g >= Duration::from_millis(750) && g <= Duration::from_secs(1),
            "{g:?}"
        );
    }
    assert_eq!(a.state, State::Down, "nothing heard, still Down");
    assert!(now - t0 > Duration::from_secs(37));
}

#[test]
fn jitter_is_up_to_a_quarter_and_at_least_a_tenth_with_multiplier_one() {
    let mut s = Session::new(cfg("a", "10.99.0.2"), 1);
    s.local_tx_intv = 1_000_000;
    assert_eq!(s.tx_interval(&mut Fixed(vec![0])), Duration::from_secs(1));
    assert_eq!(
        s.tx_interval(&mut Fixed(vec![250_000])),
        Duration::from_millis(750)
    );
    assert_eq!(
        s.tx_interval(&mut Fixed(vec![250_001])),
        Duration::from_secs(1),
        "wraps inside the range"
    );
    let mut one = cfg("a", "10.99.0.2");
    one.mult = 1;
    let mut s = Session::new(one, 1);
    s.local_tx_intv = 1_000_000;
    assert_eq!(
        s.tx_interval(&mut Fixed(vec![0])),
        Duration::from_millis(900)
    );
    assert_eq!(
        s.tx_interval(&mut Fixed(vec![150_000])),
        Duration::from_millis(750)
    );
    let mut r = XorShift(5);
    for _ in 0..1000 {
        let d = s.tx_interval(&mut r);
        assert!(d >= Duration::from_millis(750) && d <= Duration::from_millis(900));
    }
}

#[test]
fn poll_final_moves_from_idle_to_fast_rate() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    let mut o = Vec::new();
    a.start(t0, &mut rng, &mut o);
    // The peer says Init: we go Up and start a poll sequence.
    let mut p = pkt(State::Init, 0xbbbb, 0xaaaa);
    p.desired_min_tx = 1_000_000;
    p.required_min_rx = 20_000;
    let mut o = Vec::new();
    a.receive(&p, 255, t0, &mut rng, &mut o).unwrap();
    assert_eq!(a.state, State::Up);
    assert!(a.poll);
    // The new rate applies only once the peer answers with a Final.
    assert_eq!(a.local_tx_intv, 1_000_000);
    let mut o = Vec::new();
    let t1 = a.next_tx.unwrap();
    a.tick(t1, &mut rng, &mut o);
    let s = sends(&o);
    assert!(s[0].poll && !s[0].final_);
    assert_eq!(s[0].desired_min_tx, 10_000, "Up advertises min_tx");
    // A plain Up packet changes nothing.
    let mut up = pkt(State::Up, 0xbbbb, 0xaaaa);
    up.required_min_rx = 20_000;
    a.receive(&up, 255, t1, &mut rng, &mut Vec::new()).unwrap();
    assert_eq!(a.local_tx_intv, 1_000_000);
    assert!(a.poll, "still polling");
    // The Final: poll over, transmit at max(min_tx, peer's min_rx) = 20 ms, at once.
    let mut fin = up;
    fin.final_ = true;
    a.receive(&fin, 255, t1, &mut rng, &mut Vec::new()).unwrap();
    assert!(!a.poll);
    assert_eq!(a.local_tx_intv, 20_000);
    assert!(a.next_tx.unwrap() <= t1 + Duration::from_millis(20));
    let mut o = Vec::new();
    let t2 = a.next_tx.unwrap();
    a.tick(t2, &mut rng, &mut o);
    assert!(!sends(&o)[0].poll);
}

#[test]
fn a_poll_is_answered_at_once_with_final() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    a.start(t0, &mut rng, &mut Vec::new());
    let mut o = Vec::new();
    a.receive(&pkt(State::Init, 0xbbbb, 0xaaaa), 255, t0, &mut rng, &mut o)
        .unwrap();
    let mut p = pkt(State::Up, 0xbbbb, 0xaaaa);
    p.poll = true;
    let mut o = Vec::new();
    a.receive(&p, 255, t0, &mut rng, &mut o).unwrap();
    let s = sends(&o);
    assert_eq!(s.len(), 1, "the answer does not wait for the timer");
    assert!(s[0].final_);
    assert!(!s[0].poll, "our own pending poll rides on the Final");
    // The Final goes out once.
    let mut o = Vec::new();
    let t1 = a.next_tx.unwrap();
    a.tick(t1, &mut rng, &mut o);
    assert!(!sends(&o)[0].final_);
}

#[test]
fn peer_signalling_down_brings_us_down() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    let d = n.s[0].local_discr;
    let mut p = pkt(State::Down, n.s[1].local_discr, d);
    p.diag = DIAG_EXPIRED;
    let mut o = Vec::new();
    let now = n.now;
    n.s[0].receive(&p, 255, now, &mut n.rng[0], &mut o).unwrap();
    assert_eq!(n.s[0].state, State::Down);
    assert_eq!(n.s[0].local_diag, DIAG_NBR_DOWN);
    assert_eq!(events(&o), [false]);
    assert!(logs(&o).contains(
        &"(a) Entering Down state (Local diagnostic - Neighbor Signaled Session Down, Remote diagnostic - Control Detection Time Expired)".to_string()
    ));
}

#[test]
fn peer_admin_down_is_no_failure_for_the_trackers() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    let p = pkt(State::AdminDown, n.s[1].local_discr, n.s[0].local_discr);
    let mut o = Vec::new();
    let now = n.now;
    n.s[0].receive(&p, 255, now, &mut n.rng[0], &mut o).unwrap();
    assert_eq!(n.s[0].state, State::Down);
    assert!(events(&o).is_empty());
}

#[test]
fn remote_state_is_forgotten_a_detection_time_after_down() {
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    let p = pkt(State::Down, n.s[1].local_discr, n.s[0].local_discr);
    n.alive[1] = false;
    let now = n.now;
    n.s[0]
        .receive(&p, 255, now, &mut n.rng[0], &mut Vec::new())
        .unwrap();
    assert_ne!(n.s[0].remote_discr, 0);
    // Detection time: that packet's multiplier (3) × the peer's interval as last
    // negotiated (10 ms): while Up, a packet without Poll or Final changes no interval.
    assert_eq!(n.s[0].detect_time, 30_000);
    n.run_for(Duration::from_millis(29));
    assert_ne!(n.s[0].remote_discr, 0);
    n.run_for(Duration::from_millis(2));
    assert_eq!(n.s[0].remote_discr, 0);
    assert_eq!(n.s[0].state, State::Down);
}

#[test]
fn passive_waits_for_the_peer() {
    let mut pc = cfg("a", "10.99.0.2");
    pc.passive = true;
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(pc.clone(), 0xaaaa);
    let mut o = Vec::new();
    a.start(t0, &mut rng, &mut o);
    assert!(sends(&o).is_empty());
    assert_eq!(a.next_deadline(), None, "silent until it hears something");

    // Against an active peer it comes up.
    let mut n = Pair::new(pc, cfg("b", "10.99.0.1"));
    assert!(n.sent(0).is_empty());
    n.run_for(Duration::from_secs(3));
    assert_eq!((n.s[0].state, n.s[1].state), (State::Up, State::Up));
    // Two passive sessions never do.
    let mut pb = cfg("b", "10.99.0.1");
    pb.passive = true;
    let mut pa = cfg("a", "10.99.0.2");
    pa.passive = true;
    let mut n = Pair::new(pa, pb);
    n.run_for(Duration::from_secs(10));
    assert!(n.sent(0).is_empty() && n.sent(1).is_empty());
    assert_eq!(n.s[0].state, State::Down);
}

#[test]
fn passive_goes_silent_again_when_the_peer_expires() {
    let mut pc = cfg("a", "10.99.0.2");
    pc.passive = true;
    let mut n = Pair::new(pc, cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    n.alive[1] = false;
    n.run_for(Duration::from_secs(1));
    assert_eq!(n.s[0].state, State::Down);
    let before = n.sent(0).len();
    n.run_for(Duration::from_secs(10));
    assert_eq!(n.sent(0).len(), before);
}

#[test]
fn ttl_below_255_is_dropped_unless_max_hops_allows() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    let p = pkt(State::Down, 0xbbbb, 0);
    assert_eq!(
        a.receive(&p, 254, t0, &mut rng, &mut Vec::new()),
        Err(Discard::Ttl { ttl: 254, min: 255 })
    );
    assert_eq!(a.state, State::Down);
    assert_eq!(a.remote_discr, 0, "a dropped packet changes nothing");
    // TTL unknown (no control message): accepted, as keepalived.
    assert!(a.receive(&p, 0, t0, &mut rng, &mut Vec::new()).is_ok());
    let mut c = cfg("a", "10.99.0.2");
    c.max_hops = 2;
    let mut a = Session::new(c.clone(), 0xaaaa);
    assert!(a.receive(&p, 253, t0, &mut rng, &mut Vec::new()).is_ok());
    let mut a = Session::new(c, 0xaaaa);
    assert!(a.receive(&p, 252, t0, &mut rng, &mut Vec::new()).is_err());
    let mut c = cfg("a", "10.99.0.2");
    c.max_hops = 255;
    let mut a = Session::new(c, 0xaaaa);
    assert!(a.receive(&p, 1, t0, &mut rng, &mut Vec::new()).is_ok());
}

#[test]
fn auth_and_admin_down_drop() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    let mut p = pkt(State::Down, 0xbbbb, 0);
    p.auth = true;
    assert_eq!(
        a.receive(&p, 255, t0, &mut rng, &mut Vec::new()),
        Err(Discard::Auth)
    );
    let mut o = Vec::new();
    a.admin_down(&mut o);
    assert_eq!(logs(&o), ["(a) Entering AdminDown state"]);
    assert_eq!(a.next_deadline(), None);
    let mut o = Vec::new();
    a.start(t0, &mut rng, &mut o);
    assert!(sends(&o).is_empty(), "AdminDown sends nothing");
    assert_eq!(
        a.receive(
            &pkt(State::Down, 0xbbbb, 0),
            255,
            t0,
            &mut rng,
            &mut Vec::new()
        ),
        Err(Discard::AdminDown)
    );
    a.enable(t0, &mut rng);
    assert_eq!(a.state, State::Down);
    assert!(a.next_tx.is_some());
}

#[test]
fn detection_time_changes_are_logged_as_keepalived() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("ab", "10.99.0.2"), 0xaaaa);
    let mut o = Vec::new();
    a.receive(&pkt(State::Down, 0xbbbb, 0), 255, t0, &mut rng, &mut o)
        .unwrap();
    assert_eq!(logs(&o), ["     Detection time is 3000000 us (was 0 us)"]);
    let mut o = Vec::new();
    a.receive(&pkt(State::Down, 0xbbbb, 0), 255, t0, &mut rng, &mut o)
        .unwrap();
    assert!(logs(&o).is_empty(), "unchanged: not logged");
}

#[test]
fn remote_demand_stops_our_packets_once_both_are_up() {
    let t0 = Instant::now();
    let mut rng = XorShift(1);
    let mut a = Session::new(cfg("a", "10.99.0.2"), 0xaaaa);
    a.start(t0, &mut rng, &mut Vec::new());
    a.receive(
        &pkt(State::Init, 0xbbbb, 0xaaaa),
        255,
        t0,
        &mut rng,
        &mut Vec::new(),
    )
    .unwrap();
    let mut p = pkt(State::Up, 0xbbbb, 0xaaaa);
    p.demand = true;
    a.receive(&p, 255, t0, &mut rng, &mut Vec::new()).unwrap();
    assert_eq!(a.next_tx, None);
}

#[test]
fn sessions_find_packets_by_discriminator_or_address() {
    let mut rng = XorShift(42);
    let mut s = Sessions::default();
    let mut c2 = cfg("two", "10.99.0.3");
    c2.source = Some(ip("10.99.0.1"));
    s.configure(vec![cfg("one", "10.99.0.2"), c2], &mut rng);
    assert_ne!(s.list[0].local_discr, s.list[1].local_discr);
    assert!(s.list.iter().all(|x| x.local_discr != 0));
    let t0 = Instant::now();
    let mut out = Out::new();
    s.start(t0, &mut rng, &mut out);
    assert_eq!(
        out.iter()
            .filter(|(_, a)| matches!(a, Action::Send(_)))
            .count(),
        2
    );

    let down = pkt(State::Down, 0x77, 0).encode();
    let mut out = Out::new();
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &down,
                src: ip("10.99.0.2"),
                dst: None,
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Ok(0)
    );
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &down,
                src: ip("10.99.0.3"),
                dst: Some(ip("10.99.0.1")),
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Ok(1)
    );
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &down,
                src: ip("10.99.0.3"),
                dst: Some(ip("10.99.0.9")),
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Err(RxError::Discard(Discard::NoSession(0)))
    );
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &down,
                src: ip("10.99.0.9"),
                dst: None,
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Err(RxError::Discard(Discard::NoSession(0)))
    );
    let d1 = s.list[1].local_discr;
    let init = pkt(State::Init, 0x77, d1).encode();
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &init,
                src: ip("10.99.0.200"),
                dst: None,
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Ok(1),
        "by discriminator, whatever the address"
    );
    let other = pkt(State::Init, 0x77, d1 ^ 1).encode();
    let d = Datagram {
        buf: &other,
        src: ip("10.99.0.2"),
        dst: None,
        ttl: 255,
    };
    assert_eq!(
        s.receive(&d, t0, &mut rng, &mut out),
        Err(RxError::Discard(Discard::NoSession(d1 ^ 1)))
    );
    assert_eq!(
        s.receive(
            &Datagram {
                buf: &down[..10],
                src: ip("10.99.0.2"),
                dst: None,
                ttl: 255
            },
            t0,
            &mut rng,
            &mut out
        ),
        Err(RxError::Bogus(Bogus::TooShort(10)))
    );
}

#[test]
fn reload_keeps_the_state_of_a_session_of_the_same_name() {
    let mut rng = XorShift(42);
    let mut s = Sessions::default();
    s.configure(vec![cfg("one", "10.99.0.2")], &mut rng);
    s.list[0].state = State::Up;
    let d = s.list[0].local_discr;
    let mut c = cfg("one", "10.99.0.2");
    c.mult = 3;
    s.configure(vec![cfg("new", "10.99.0.5"), c], &mut rng);
    assert_eq!(s.list.len(), 2);
    let one = s.list.iter().find(|x| x.cfg.name == "one").unwrap();
    assert_eq!(
        (one.state, one.local_discr, one.cfg.mult),
        (State::Up, d, 3)
    );
    let new = s.list.iter().find(|x| x.cfg.name == "new").unwrap();
    assert_eq!(new.state, State::Down);
    assert!(!one.poll, "the multiplier alone starts no poll sequence");
    // A new min_tx does (keepalived's bfd_cmp_timers): the peer must acknowledge it.
    let mut c = cfg("one", "10.99.0.2");
    c.min_tx = 50_000;
    s.configure(vec![c], &mut rng);
    assert!(s.list[0].poll);
    assert_eq!(s.list[0].local_discr, d);
}

#[test]
fn config_from_keepalived_defaults() {
    let b = conf::model::BfdInstance {
        name: "x".into(),
        neighbor_ip: Some(ip("10.99.0.2")),
        min_rx: 10,
        min_tx: 10,
        idle_tx: 1000,
        multiplier: 5,
        ..Default::default()
    };
    let c = Config::from_conf(&b).unwrap();
    assert_eq!(
        (c.min_rx, c.min_tx, c.idle_tx, c.mult, c.ttl, c.max_hops),
        (10_000, 10_000, 1_000_000, 5, 255, 0)
    );
    let mut v6 = b.clone();
    v6.neighbor_ip = Some(ip("fd00::2"));
    assert_eq!(Config::from_conf(&v6).unwrap().ttl, 64);
    let mut hops = b.clone();
    hops.ttl = Some(10);
    hops.max_hops = Some(255);
    let c = Config::from_conf(&hops).unwrap();
    assert_eq!(
        (c.ttl, c.max_hops),
        (10, 10),
        "max_hops is capped at the ttl"
    );
    let mut none = b;
    none.neighbor_ip = None;
    assert!(Config::from_conf(&none).is_none());
}

#[test]
fn bfd_instance_parses_with_keepalived_ranges_and_reaches_the_vrrp_snapshot() {
    let l = conf::load_str(
        "k.conf",
        "bfd_instance b1 {\n neighbor_ip 10.99.0.2\n min_rx 20000\n idle_tx 2000\n max_hops -1\n}\n\
         bfd_instance b2 {\n neighbor_ip 10.99.0.3\n idle_tx 999\n min_tx 0\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n track_bfd {\n  b1 weight -20\n }\n virtual_ipaddress { 10.99.0.7 }\n}\n",
        &conf::LoadOptions::default(),
    );
    let snap = l.config.for_vrrp();
    assert_eq!(snap.bfd_instances.len(), 2);
    let b1 = Config::from_conf(&snap.bfd_instances[0]).unwrap();
    assert_eq!(
        (b1.min_rx, b1.idle_tx, b1.max_hops),
        (20_000_000, 2_000_000, 255)
    );
    // Out of range (idle_tx below 1000 ms, min_tx 0): the defaults stay.
    let b2 = Config::from_conf(&snap.bfd_instances[1]).unwrap();
    assert_eq!((b2.idle_tx, b2.min_tx), (1_000_000, 10_000));
    let vi = &snap.instances[0].1;
    assert_eq!(vi.track_bfd[0].name, "b1");
    assert_eq!(vi.track_bfd[0].weight, Some(-20));
}

#[test]
fn hostile_packets_never_panic_and_timers_stay_sane() {
    // Random (but well-formed) packets into an Up session, with random TTLs and times:
    // whatever they say, nothing panics, a session that is not AdminDown always has a
    // deadline, and intervals never fall below what we configured.
    let mut n = Pair::new(cfg("a", "10.99.0.2"), cfg("b", "10.99.0.1"));
    n.run_for(Duration::from_secs(3));
    let mut r = XorShift(2024);
    let mut now = n.now;
    for _ in 0..20_000 {
        let mut b = [0u8; 24];
        for x in b.iter_mut() {
            *x = r.next_u32() as u8;
        }
        b[0] = (1 << 5) | (b[0] & 0x0f).min(8);
        b[3] = 24;
        if r.next_u32().is_multiple_of(2) {
            b[8..12].copy_from_slice(&n.s[0].local_discr.to_be_bytes());
        }
        now += Duration::from_micros(u64::from(r.next_u32() % 20_000));
        let mut out = Vec::new();
        n.s[0].tick(now, &mut n.rng[0], &mut out);
        if let Ok(p) = Packet::decode(&b) {
            let ttl = if r.next_u32().is_multiple_of(8) {
                254
            } else {
                255
            };
            let _ = n.s[0].receive(&p, ttl, now, &mut n.rng[0], &mut out);
        }
        let s = &n.s[0];
        assert!(s.next_deadline().is_some() || (s.remote_demand && s.state == State::Up));
        assert!(s.local_tx_intv >= s.cfg.min_tx);
        assert_ne!(s.local_discr, 0);
        if s.state != State::Up {
            assert!(s.local_tx_intv >= s.cfg.idle_tx, "{:?}", s.state);
        }
    }
}

fn nolog(_: &str) {}

#[test]
fn events_go_to_vrrp_and_the_checker_as_keepalived_routes_them() {
    let l = conf::load_str(
        "k.conf",
        "bfd_instance both {\n neighbor_ip 127.0.0.2\n}\n\
         bfd_instance chk {\n neighbor_ip 127.0.0.3\n checker\n}\n\
         bfd_instance vr {\n neighbor_ip 127.0.0.4\n vrrp\n}\n\
         bfd_instance all {\n neighbor_ip 127.0.0.5\n vrrp\n checker\n}\n",
        &conf::LoadOptions::default(),
    );
    let b = &l.config.bfd_instances;
    let now = Instant::now();
    let mut io = vrrp_child::bfdio::Bfd::default();
    io.configure(b, now, false, nolog);
    let routes: Vec<(bool, bool)> = ["both", "chk", "vr", "all"]
        .iter()
        .map(|n| (io.to_vrrp(n), io.to_checker(n)))
        .collect();
    assert_eq!(
        routes,
        vec![(true, true), (false, true), (true, false), (true, true)]
    );
    // Down from the start (keepalived's BFD child sends Down when it starts a session); the
    // checker hears of the sessions it follows, track_bfd of a checker-only one is down.
    assert_eq!(
        io.checker_levels(),
        vec![
            ("both".to_string(), false),
            ("chk".to_string(), false),
            ("all".to_string(), false)
        ]
    );
    assert_eq!(io.level("chk"), Some(false));
    // A restarted child knows nothing until a session comes up or the grace ends: the
    // parent keeps the last level meanwhile.
    let mut r = vrrp_child::bfdio::Bfd::default();
    r.configure(b, now, true, nolog);
    assert!(r.checker_levels().is_empty());
    let grace = Duration::from_millis(1000) * vrrp_child::bfdio::RESUME_GRACE;
    let changes = r.tick(now + grace, nolog);
    assert!(changes.contains(&("chk".to_string(), false)), "{changes:?}");
    assert_eq!(r.checker_levels().len(), 3);
}
