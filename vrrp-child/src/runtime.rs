//! The VRRP child's I/O around the state machines: adverts in and out on the raw socket the
//! parent handed over, gratuitous ARPs on the packet socket, VIP changes and notifies asked
//! of the parent by instance id, and effective priorities recomputed from tracker state.
//! IPv4 (v2 and v3, multicast and unicast, PASS and AH) and IPv6 (v3, multicast and
//! unicast; the kernel fills the checksum, adverts leave from the link-local address).

use crate::fsm::{Action, Garp, Input, Instance, InstanceCfg, State};
use crate::packet::{self, auth_key, encode_ipv4, Advert, Ipv4Send, VRRP_MCAST_V4};
use crate::rx::{self, Counter, Packet, Six};
use crate::track::{evaluate, Level, TrackKey, Tracked};
use conf::model::{AuthType, SyncGroup, TrackRef, VrrpInstance};
use conf::project::{ObjId, VrrpSnapshot};
use ipc::{FdKind, InstanceState, ScriptRef, VrrpState, VrrpToParent};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The counters keepalived prints on SIGUSR2 (`vrrp_print_stats`).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
    /// The drop counters, made at the first drop (most instances never see one: at 1000
    /// instances they were 96 kB of zeros).
    errors: Option<Box<Errors>>,
}

/// The counters of dropped adverts (`Stats::errors`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Errors {
    pub packet_len_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub advert_interval_err: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    /// keepalived's SNMP-only counters (`chk_err`, `vers_err`), and ours.
    pub chk_err: u64,
    pub vers_err: u64,
    pub unicast_src_err: u64,
    pub other_err: u64,
}

/// Drops no instance can be blamed for (keepalived's SNMP `vrrpRouterVrIdErrors`, and ours).
#[derive(Clone, Debug, Default)]
pub struct GlobalStats {
    pub too_short: u64,
    pub vrid_err: u64,
}

impl GlobalStats {
    /// The lines after the instances in `keepalived.stats` (keepalived-rs only).
    pub fn render(&self) -> String {
        format!(
            "VRRP (all instances):\n  Too Short: {}\n  Unknown VRID: {}\n",
            self.too_short, self.vrid_err
        )
    }
}

impl Stats {
    fn count(&mut self, counter: Counter) {
        let e = self.errors.get_or_insert_with(Box::default);
        let c = match counter {
            Counter::PacketLen => &mut e.packet_len_err,
            Counter::IpTtl => &mut e.ip_ttl_err,
            Counter::InvalidType => &mut e.invalid_type_rcvd,
            Counter::AdvertInterval => &mut e.advert_interval_err,
            Counter::AddrList => &mut e.addr_list_err,
            Counter::InvalidAuthType => &mut e.invalid_authtype,
            Counter::AuthTypeMismatch => &mut e.authtype_mismatch,
            Counter::AuthFailure => &mut e.auth_failure,
            Counter::Checksum => &mut e.chk_err,
            Counter::Version => &mut e.vers_err,
            Counter::UnicastSrc => &mut e.unicast_src_err,
            Counter::Other => &mut e.other_err,
        };
        *c += 1;
    }

    /// The drop counters (all zero before the first drop).
    pub fn errors(&self) -> Errors {
        self.errors.as_deref().copied().unwrap_or_default()
    }

    /// keepalived's `keepalived.stats` block for one instance, then ours (`Other Errors`:
    /// the checks keepalived counts only for SNMP or not at all).
    pub fn render(&self, name: &str) -> String {
        let e = self.errors();
        format!(
            "VRRP Instance: {name}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}\n  Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}\n  Priority Zero:\n    Received: {}\n    Sent: {}\n  Other Errors:\n    Checksum: {}\n    Version: {}\n    Unicast Source: {}\n    Not VRRP: {}\n",
            self.advert_rcvd, self.advert_sent, self.become_master, self.release_master, e.packet_len_err, e.ip_ttl_err,
            e.invalid_type_rcvd, e.advert_interval_err, e.addr_list_err, e.invalid_authtype, e.authtype_mismatch,
            e.auth_failure, self.pri_zero_rcvd, self.pri_zero_sent, e.chk_err, e.vers_err, e.unicast_src_err, e.other_err
        )
    }
}

/// One running instance and what its I/O needs. Its advert source, unicast peers, VIPs and
/// authentication are its state machine's (`fsm.cfg`), kept once; what instances share (the
/// interface, the tracker list, the gratuitous ARP settings) is shared.
pub struct Slot {
    pub id: ObjId,
    pub fsm: Instance,
    /// keepalived's per-instance statistics (`keepalived.stats`).
    pub stats: Stats,
    ifindex: u32,
    iface: Rc<Iface>,
    ttl: u8,
    ip_id: u16,
    ah_seq: u32,
    /// An IPv6 instance: VRRPv3 from the link-local address (unless configured).
    six: bool,
    /// Everything the instance tracks, with the weight in force.
    tracks: Rc<[Tracked]>,
    /// For the JSON dump: `dont_track_primary`, strict mode, the wall-clock time of the
    /// last transition (seconds since the epoch).
    pub dont_track_primary: bool,
    pub strict: bool,
    pub last_transition: f64,
    /// `smtp_alert` (its own, else `smtp_alert_vrrp`, else `smtp_alert`), the state last
    /// mailed, and whether any notify went out yet (keepalived `notifies_sent`).
    pub smtp_alert: bool,
    last_email: Option<State>,
    notified: bool,
}

/// An interface as the instances of one family on it see it.
#[derive(Debug, PartialEq, Eq)]
struct Iface {
    name: String,
    mac: [u8; 6],
    /// `garp_interval` (IPv4) or `gna_interval` (IPv6) of the interface.
    garp_gap: Duration,
    /// The multicast group adverts go to (unicast ones go to the peers of the family;
    /// unspecified for them).
    group: IpAddr,
}

/// What the instances of a load have in common, made once and shared.
#[derive(Default)]
struct Shared {
    ifaces: HashMap<String, Vec<Rc<Iface>>>,
    tracks: HashSet<Rc<[Tracked]>>,
    garps: HashSet<Rc<Garp>>,
}

impl Shared {
    fn iface(
        &mut self,
        info: &conf::project::IfInfo,
        garp_gap: Duration,
        group: IpAddr,
    ) -> Rc<Iface> {
        let same = |f: &&Rc<Iface>| f.mac == info.mac && f.garp_gap == garp_gap && f.group == group;
        if let Some(f) = self
            .ifaces
            .get(&info.name)
            .and_then(|l| l.iter().find(same))
        {
            return f.clone();
        }
        let f = Rc::new(Iface {
            name: info.name.clone(),
            mac: info.mac,
            garp_gap,
            group,
        });
        self.ifaces
            .entry(info.name.clone())
            .or_default()
            .push(f.clone());
        f
    }

    fn tracks(&mut self, list: Vec<Tracked>) -> Rc<[Tracked]> {
        if let Some(t) = self.tracks.get(&list[..]) {
            return t.clone();
        }
        let t: Rc<[Tracked]> = list.into();
        self.tracks.insert(t.clone());
        t
    }

    fn garp(&mut self, g: Garp) -> Rc<Garp> {
        if let Some(x) = self.garps.get(&g) {
            return x.clone();
        }
        let x = Rc::new(g);
        self.garps.insert(x.clone());
        x
    }
}

#[derive(Default)]
pub struct Runtime {
    pub slots: Vec<Slot>,
    sock4: Option<OwnedFd>,
    /// keepalived's AH adverts are IP protocol 51: they arrive on this socket.
    sock_ah: Option<OwnedFd>,
    sock6: Option<OwnedFd>,
    packet: Option<OwnedFd>,
    configured: bool,
    next_req: u64,
    pub global_stats: GlobalStats,
    /// `log_unknown_vrids`.
    log_unknown_vrids: bool,
    /// Sync groups with their members (instance ids) and last state.
    pub groups: Vec<Group>,
    /// A group is moving its members (their own changes must not start another move).
    syncing: bool,
    /// Gratuitous ARPs waiting for their interface's gap, and when each interface is free.
    garp_queue: Vec<Queued>,
    garp_free: Vec<(u32, Instant)>,
    /// `AddVips` requests not answered yet: `(req_id, instance, GARP rounds held back)`.
    vips_pending: Vec<(u64, ObjId, u32)>,
    /// Slots by (IPv6, VRID) as `(IPv6 << 8 | VRID, slot)`, sorted (in slot order for a
    /// key): the receive path's lookup.
    by_vrid: Vec<(u16, u32)>,
    /// The IPv4 socket's current `IP_MULTICAST_IF`.
    mcast_if: Option<Ipv4Addr>,
    /// IPv4 adverts built this turn of the loop, sent together by `flush_tx` (sendmmsg).
    tx4: Vec<Tx4>,
    /// Every instance's next deadline as last computed, and a heap of them (entries that no
    /// longer match `due` are stale and skipped): finding what is due costs O(log n) per
    /// change instead of a scan of every instance per turn of the loop (at 1000 instances
    /// the scans were a third of the backup's CPU).
    due: Vec<Option<Instant>>,
    /// Receive buffers for `recvmmsg` (taken while a batch is dispatched).
    rx: Option<Box<RxBufs>>,
    timers: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>>,
    /// `smtp_alert` mails asked for by state changes, for the child to send.
    pub alerts: Vec<crate::mail::Alert>,
    /// `no_email_faults`.
    no_email_faults: bool,
    /// The group being moved by `sync_to`, and where (its members' own mails are
    /// suppressed, as keepalived's `send_instance_notifies` does).
    sync_target: Option<(usize, State)>,
}

/// A `vrrp_sync_group` at run time.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub members: Vec<ObjId>,
    pub state: Option<State>,
    pub smtp_alert: bool,
    last_email: Option<State>,
}

fn to_state(s: State) -> VrrpState {
    match s {
        State::Init => VrrpState::Init,
        State::Backup => VrrpState::Backup,
        State::Master => VrrpState::Master,
        State::Fault => VrrpState::Fault,
        State::Stop => VrrpState::Stop,
    }
}

fn from_state(s: VrrpState) -> State {
    match s {
        VrrpState::Init => State::Init,
        VrrpState::Backup => State::Backup,
        VrrpState::Master => State::Master,
        VrrpState::Fault => State::Fault,
        VrrpState::Stop => State::Stop,
    }
}

impl Slot {
    pub fn ifname(&self) -> &str {
        &self.iface.name
    }

    /// The IPv4 advert source (unspecified for an IPv6 instance).
    fn src4(&self) -> Ipv4Addr {
        match self.fsm.cfg.local_addr {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The IPv6 advert source (unspecified for an IPv4 instance).
    fn src6(&self) -> Ipv6Addr {
        match self.fsm.cfg.local_addr {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
        }
    }

    /// Where adverts go: the unicast peers of the instance's family, else its group.
    fn dsts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let c = &self.fsm.cfg;
        let (peers, group) = if c.unicast {
            (&c.peers[..], None)
        } else {
            (&[][..], Some(self.iface.group))
        };
        let six = self.six;
        peers
            .iter()
            .map(|p| p.0)
            .filter(move |a| a.is_ipv6() == six)
            .chain(group)
    }

    /// The v2 authentication (the state machine keeps it as keepalived's type number).
    fn auth(&self) -> Option<(AuthType, [u8; 8])> {
        self.fsm
            .cfg
            .auth
            .map(|(t, k)| (if t == 1 { AuthType::Pass } else { AuthType::Ah }, k))
    }

    /// `track_interface` names (not the instance's own interface).
    pub fn tracked_links(&self) -> impl Iterator<Item = &str> {
        self.tracks
            .iter()
            .skip(usize::from(!self.dont_track_primary))
            .filter(|t| matches!(t.key, TrackKey::Interface(_)))
            .map(|t| t.name.as_str())
    }

    pub fn tracked_scripts(&self) -> impl Iterator<Item = &str> {
        self.tracks
            .iter()
            .filter(|t| matches!(t.key, TrackKey::Script(_)))
            .map(|t| t.name.as_str())
    }
}

impl Runtime {
    /// Build the instances of a snapshot (IPv4 ones; IPv6 are logged and skipped).
    pub fn load(&mut self, snap: &VrrpSnapshot, log: fn(&str)) {
        // Statistics survive a reload for the instances that stay (keepalived's do).
        let kept: Vec<(ObjId, Stats, Option<State>, bool)> = self
            .slots
            .drain(..)
            .map(|s| (s.id, s.stats, s.last_email, s.notified))
            .collect();
        self.configured = false;
        self.log_unknown_vrids = snap.global.log_unknown_vrids;
        self.no_email_faults = snap.global.no_email_faults;
        self.load_instances(snap, log);
        self.due = vec![None; self.slots.len()];
        self.timers.clear();
        self.by_vrid = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, sl)| (vrid_key(sl.six, sl.fsm.cfg.vrid), i as u32))
            .collect();
        // Stable: a key's slots stay in slot order.
        self.by_vrid.sort_by_key(|e| e.0);
        let old = std::mem::take(&mut self.groups);
        for sg in &snap.sync_groups {
            let members: Vec<ObjId> = snap
                .instances
                .iter()
                .filter(|(_, v)| sg.group.contains(&v.name))
                .map(|(id, _)| *id)
                .collect();
            for sl in self.slots.iter_mut().filter(|s| members.contains(&s.id)) {
                sl.fsm.cfg.sync = true;
            }
            let prev = old.iter().find(|g| g.name == sg.name);
            self.groups.push(Group {
                name: sg.name.clone(),
                members,
                state: prev.and_then(|g| g.state),
                smtp_alert: sg.smtp_alert.or(snap.global.smtp_alert).unwrap_or(false),
                last_email: prev.and_then(|g| g.last_email),
            });
        }
        for sl in self.slots.iter_mut() {
            if let Some((_, st, mailed, notified)) = kept.iter().find(|k| k.0 == sl.id) {
                sl.stats = st.clone();
                sl.last_email = *mailed;
                sl.notified = *notified;
            }
        }
    }

    fn load_instances(&mut self, snap: &VrrpSnapshot, log: fn(&str)) {
        let mut shared = Shared::default();
        self.slots.reserve_exact(snap.instances.len());
        for (id, v) in &snap.instances {
            let Some(ifname) = v.interface.as_deref() else {
                continue;
            };
            let Some(info) = snap.interfaces.iter().find(|i| i.name == ifname) else {
                continue;
            };
            if v.family6 {
                self.load6(*id, v, snap, info, &mut shared, log);
                continue;
            }
            let src = match v.unicast_src_ip.or(v.mcast_src_ip).or(info.ipv4) {
                Some(IpAddr::V4(a)) => a,
                _ => {
                    log(&format!(
                        "({}) Cannot find an IP address to use for interface {ifname}",
                        v.name
                    ));
                    continue;
                }
            };
            let vips: Vec<IpAddr> = v
                .vips
                .iter()
                .map(|a| a.addr)
                .filter(IpAddr::is_ipv4)
                .collect();
            let unicast = v.is_unicast();
            let group = if unicast {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(match v.mcast_dst_ip.or(snap.global.mcast_group4) {
                    Some(IpAddr::V4(g)) => g,
                    _ => VRRP_MCAST_V4,
                })
            };
            let mut cfg = InstanceCfg::new(
                &v.name,
                v.vrid,
                v.priority,
                v.advert_int,
                IpAddr::V4(src),
                vips,
            );
            cfg.version = v.version;
            common_cfg(&mut cfg, v, snap, &mut shared);
            cfg.auth = v.auth.as_ref().map(|a| {
                (
                    if a.auth_type == AuthType::Pass { 1 } else { 2 },
                    auth_key(&a.pass),
                )
            });
            let tracks = shared.tracks(track_list(v, snap));
            self.slots.push(Slot {
                id: *id,
                fsm: Instance::new(cfg),
                stats: Stats::default(),
                ifindex: info.index,
                iface: shared.iface(info, garp_gap(v, &info.name, snap), group),
                ttl: v.unicast_ttl.filter(|_| unicast).unwrap_or(255),
                ip_id: 0,
                ah_seq: 0,
                six: false,
                dont_track_primary: v.dont_track_primary,
                strict: v.strict_mode.unwrap_or(snap.global.strict),
                last_transition: 0.0,
                smtp_alert: v.smtp_alert.or(snap.global.smtp_alert).unwrap_or(false),
                last_email: None,
                notified: false,
                tracks,
            });
        }
        self.slots.shrink_to_fit();
    }

    /// An IPv6 instance: VRRPv3 from the link-local address (or the configured source).
    fn load6(
        &mut self,
        id: ObjId,
        v: &VrrpInstance,
        snap: &VrrpSnapshot,
        info: &conf::project::IfInfo,
        shared: &mut Shared,
        log: fn(&str),
    ) {
        let src = match v.unicast_src_ip.or(v.mcast_src_ip).or(info.ipv6_ll) {
            Some(IpAddr::V6(a)) => a,
            _ => {
                log(&format!(
                    "({}) Cannot find an IPv6 link-local address for interface {}",
                    v.name, info.name
                ));
                return;
            }
        };
        let vips: Vec<IpAddr> = v
            .vips
            .iter()
            .map(|a| a.addr)
            .filter(IpAddr::is_ipv6)
            .collect();
        let group = if v.is_unicast() {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(match v.mcast_dst_ip.or(snap.global.mcast_group6) {
                Some(IpAddr::V6(g)) => g,
                _ => packet::VRRP_MCAST_V6,
            })
        };
        let mut cfg = InstanceCfg::new(
            &v.name,
            v.vrid,
            v.priority,
            v.advert_int,
            IpAddr::V6(src),
            vips,
        );
        cfg.version = 3;
        common_cfg(&mut cfg, v, snap, shared);
        let tracks = shared.tracks(track_list(v, snap));
        self.slots.push(Slot {
            id,
            fsm: Instance::new(cfg),
            stats: Stats::default(),
            ifindex: info.index,
            iface: shared.iface(info, garp_gap(v, &info.name, snap), group),
            ttl: 255,
            ip_id: 0,
            ah_seq: 0,
            six: true,
            dont_track_primary: v.dont_track_primary,
            strict: v.strict_mode.unwrap_or(snap.global.strict),
            last_transition: 0.0,
            smtp_alert: v.smtp_alert.or(snap.global.smtp_alert).unwrap_or(false),
            last_email: None,
            notified: false,
            tracks,
        });
    }

    pub fn set_sockets(&mut self, fds: Vec<(FdKind, OwnedFd)>) {
        for (k, fd) in fds {
            match k {
                FdKind::RawVrrp4 => self.sock4 = Some(fd),
                FdKind::RawAh4 => self.sock_ah = Some(fd),
                FdKind::RawVrrp6 => self.sock6 = Some(fd),
                FdKind::Packet => self.packet = Some(fd),
                _ => {}
            }
        }
    }

    /// Once both the configuration and the sockets are here: socket options, multicast
    /// membership, and every instance started (resuming the states the parent knew).
    pub fn start(
        &mut self,
        now: Instant,
        resume: &[InstanceState],
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        if self.configured || (self.sock4.is_none() && self.sock6.is_none()) {
            return;
        }
        self.configured = true;
        for s in self.sock4.iter().chain(self.sock_ah.iter()) {
            let sock = socket2::SockRef::from(s);
            let _ = sock.set_header_included_v4(true);
            let _ = sock.set_multicast_loop_v4(false);
            let _ =
                nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Ipv4PacketInfo, &true);
            // Each advert's arrival time (see `readable`).
            let _ = nix::sys::socket::setsockopt(
                s,
                nix::sys::socket::sockopt::ReceiveTimestampns,
                &true,
            );
            // One membership per interface and group, whatever family the instances
            // before it on that interface have (an IPv6 instance first must not keep an
            // IPv4 one from its group: it would hear no peer and become a second master).
            let mut joined: Vec<(u32, std::net::Ipv4Addr)> = Vec::new();
            for sl in self.slots.iter().filter(|s| !s.fsm.cfg.unicast && !s.six) {
                for g in sl.dsts().filter_map(|a| match a {
                    IpAddr::V4(g) => Some(g),
                    IpAddr::V6(_) => None,
                }) {
                    if joined.contains(&(sl.ifindex, g)) {
                        continue;
                    }
                    joined.push((sl.ifindex, g));
                    if let Err(e) = sock.join_multicast_v4_n(
                        &g,
                        &socket2::InterfaceIndexOrAddress::Index(sl.ifindex),
                    ) {
                        if e.raw_os_error() != Some(libc::EADDRINUSE) {
                            // EADDRINUSE: already a member (a reload).
                            log(&format!("({}) cannot join {g}: {e}", sl.fsm.cfg.name));
                        }
                    }
                }
            }
        }
        if let Some(s) = &self.sock6 {
            let sock = socket2::SockRef::from(s);
            let _ = sock.set_multicast_hops_v6(255);
            let _ = sock.set_unicast_hops_v6(255);
            let _ = sock.set_multicast_loop_v6(false);
            let _ = nix::sys::socket::setsockopt(
                s,
                nix::sys::socket::sockopt::Ipv6RecvPacketInfo,
                &true,
            );
            let _ =
                nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true);
            let _ = nix::sys::socket::setsockopt(
                s,
                nix::sys::socket::sockopt::ReceiveTimestampns,
                &true,
            );
            // The kernel computes (and checks) the VRRP checksum at offset 6 (RFC 5798 §5.2.8).
            let off: libc::c_int = 6;
            // SAFETY: setsockopt with a pointer to a local c_int of the size passed.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_CHECKSUM,
                    &off as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as u32,
                );
            }
            let mut joined: Vec<(u32, std::net::Ipv6Addr)> = Vec::new();
            for sl in self.slots.iter().filter(|s| !s.fsm.cfg.unicast && s.six) {
                for g in sl.dsts().filter_map(|a| match a {
                    IpAddr::V6(g) => Some(g),
                    IpAddr::V4(_) => None,
                }) {
                    if joined.contains(&(sl.ifindex, g)) {
                        continue;
                    }
                    joined.push((sl.ifindex, g));
                    if let Err(e) = sock.join_multicast_v6(&g, sl.ifindex) {
                        if e.raw_os_error() != Some(libc::EADDRINUSE) {
                            // EADDRINUSE: already a member (a reload).
                            log(&format!("({}) cannot join {g}: {e}", sl.fsm.cfg.name));
                        }
                    }
                }
            }
        }
        let mut acts = Vec::new();
        for i in 0..self.slots.len() {
            let r = resume
                .iter()
                .find(|s| s.instance == self.slots[i].id)
                .map(|s| from_state(s.state));
            let a = self.slots[i].fsm.handle(now, Input::Start { resume: r });
            acts.push((i, a));
        }
        for (i, a) in acts {
            self.apply(i, a, now, out, log);
        }
        self.settle();
    }

    /// Whether `start` ran since the last load (configuration and sockets were there).
    pub fn started(&self) -> bool {
        self.configured
    }

    pub fn fds(&self) -> Vec<RawFd> {
        self.sock4
            .iter()
            .chain(self.sock_ah.iter())
            .chain(self.sock6.iter())
            .filter(|_| self.configured)
            .map(|s| s.as_raw_fd())
            .collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        // A stale entry on top only wakes the loop early; `tick` drops it.
        self.timers
            .peek()
            .map(|r| r.0 .0)
            .into_iter()
            .chain(self.garp_queue.iter().filter_map(|q| {
                self.garp_free
                    .iter()
                    .find(|(x, _)| *x == q.ifindex)
                    .map(|(_, t)| *t)
            }))
            .min()
    }

    pub fn tick(&mut self, now: Instant, out: &mut Vec<VrrpToParent>, log: fn(&str)) {
        self.send_due_garps(now);
        let mut fire = Vec::new();
        while let Some(std::cmp::Reverse((t, i))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.due.get(i) == Some(&Some(t)) {
                fire.push(i);
            }
        }
        for i in fire {
            // Re-armed by `apply` (`touch`) with whatever deadline the machine has next.
            self.due[i] = None;
            let a = self.slots[i].fsm.handle(now, Input::Tick);
            self.apply(i, a, now, out, log);
        }
        self.settle();
    }

    /// Drop stale entries off the top of the heap, so that `next_deadline` wakes the loop
    /// only for a real deadline (every advert a backup takes leaves one behind).
    fn settle(&mut self) {
        while let Some(std::cmp::Reverse((t, i))) = self.timers.peek().copied() {
            if self.due.get(i) == Some(&Some(t)) {
                return;
            }
            self.timers.pop();
        }
    }

    /// Slot `i`'s state machine may have moved its timers: keep the heap in step.
    fn touch(&mut self, i: usize) {
        let d = self.slots[i].fsm.next_deadline();
        if let Some(slot) = self.due.get_mut(i) {
            if *slot != d {
                *slot = d;
                if let Some(t) = d {
                    self.timers.push(std::cmp::Reverse((t, i)));
                }
            }
        }
    }

    /// Drain the raw socket: each advert goes to the instance with its VRID on its interface.
    pub fn readable(
        &mut self,
        fd: RawFd,
        _now: Instant,
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        if !self.fds().contains(&fd) {
            return;
        }
        let six = self.sock6.as_ref().is_some_and(|s| s.as_raw_fd() == fd);
        // Each advert is handled at the time it arrived (the kernel's receive timestamp),
        // not when we got to it: after a long turn of the loop (a thousand instances
        // started or resumed at once) the queue holds adverts that came in time, and their
        // instances' down timers must not expire first (the soak's flap after a restart).
        let mut clock = Arrival::now();
        if six {
            for k in 0u32.. {
                let Some((p, ifindex, stamp)) = recv6(fd) else {
                    return self.settle();
                };
                if k % 256 == 255 {
                    clock = Arrival::now();
                }
                let at = clock.instant(stamp);
                self.dispatch(p, ifindex, at, out, log);
            }
        }
        // IPv4: up to RX_BATCH adverts per system call (recvmmsg), into buffers kept for
        // the purpose (1000 instances at 0.1 s are 10,000 adverts a second).
        let mut bufs = self.rx.take().unwrap_or_default();
        loop {
            let got = bufs.recv(fd);
            for k in 0..got {
                let (bytes, ifindex, stamp) = bufs.get(k);
                let p = Packet {
                    bytes: bytes.to_vec(),
                    six: None,
                };
                let at = clock.instant(stamp);
                self.dispatch(p, ifindex, at, out, log);
            }
            if got < RX_BATCH {
                break;
            }
            clock = Arrival::now();
        }
        self.rx = Some(bufs);
        self.settle();
    }

    /// keepalived's `vrrp_dispatcher_read`: enough bytes for the headers, a VRID configured
    /// on this interface and family, not our own advert; then the instance's checks.
    fn dispatch(
        &mut self,
        p: Packet,
        ifindex: u32,
        now: Instant,
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        let off = match rx::header_offset(&p) {
            Ok(o) => o,
            Err(l) => {
                self.global_stats.too_short += 1;
                return log(&l);
            }
        };
        let vrid = p.bytes[off + 1];
        let six = p.six.is_some();
        let key = vrid_key(six, vrid);
        let from = self.by_vrid.partition_point(|e| e.0 < key);
        let hit = self.by_vrid[from..]
            .iter()
            .take_while(|e| e.0 == key)
            .map(|e| e.1 as usize)
            .find(|&i| ifindex == 0 || self.slots[i].ifindex == ifindex);
        let Some(i) = hit else {
            self.global_stats.vrid_err += 1;
            if self.log_unknown_vrids {
                let ifname = self
                    .slots
                    .iter()
                    .find(|s| s.ifindex == ifindex)
                    .map(|s| s.ifname())
                    .unwrap_or("?");
                log(&format!(
                    "Unknown VRID({vrid}) received on interface({ifname}). ignoring..."
                ));
            }
            return;
        };
        let sl = &self.slots[i];
        let own = match (&p.six, sl.six) {
            (Some(x), true) => x.src == sl.src6(),
            (None, _) => p.bytes[12..16] == sl.src4().octets(),
            _ => false,
        };
        if own {
            return;
        }
        let a = self.slots[i].fsm.handle(now, Input::Packet(p));
        let sl = &mut self.slots[i];
        // Take over the peer's AH sequence so a later takeover continues it.
        sl.ah_seq = sl.ah_seq.max(sl.fsm.ah_rx_seq);
        self.apply(i, a, now, out, log);
    }

    /// Tracker state changed: recompute every instance's effective priority and FAULT from
    /// the level of everything it tracks (keepalived §5.2). Before the start, a fault is
    /// logged with its cause, as keepalived's initialisation does.
    pub fn trackers_changed(
        &mut self,
        now: Instant,
        level: &dyn Fn(&TrackKey) -> Option<Level>,
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        // Each instance's own verdict: (effective priority, the fault's log line).
        let mut verdicts: Vec<(u8, Option<String>)> = Vec::new();
        for sl in &self.slots {
            let (eff, fault) = evaluate(
                sl.fsm.cfg.priority,
                sl.tracks.iter().map(|t| (t, level(&t.key))),
            );
            let name = &sl.fsm.cfg.name;
            let why = fault.map(|k| {
                let t = sl
                    .tracks
                    .iter()
                    .find(|t| t.key == *k)
                    .map(|t| t.name.as_str())
                    .unwrap_or("?");
                match k {
                    TrackKey::Script(_) => {
                        format!("({name}): entering FAULT state due to script {t}")
                    }
                    TrackKey::Interface(_) => {
                        format!("({name}): entering FAULT state (interface {t} down)")
                    }
                    TrackKey::File(_) => {
                        format!("({name}): entering FAULT state (tracked file {t} has status -254)")
                    }
                    TrackKey::Process(_) => format!(
                        "({name}) entering FAULT state (tracked process {t} quorum not achieved)"
                    ),
                    // keepalived says nothing of a BFD holding an instance in FAULT.
                    TrackKey::Bfd(_) => String::new(),
                }
            });
            verdicts.push((eff, why));
        }
        // A member in FAULT puts its whole sync group in FAULT (keepalived `vrrp_sync_fault`).
        let mut group_fault = vec![false; self.slots.len()];
        for g in 0..self.groups.len() {
            let members = self.members(g);
            if members.iter().any(|&j| verdicts[j].1.is_some()) {
                if self.groups[g].state != Some(State::Fault)
                    && members
                        .iter()
                        .any(|&j| self.slots[j].fsm.state != State::Init)
                {
                    log(&format!(
                        "VRRP_Group({}) Syncing instances to FAULT state",
                        self.groups[g].name
                    ));
                }
                for j in members {
                    group_fault[j] = true;
                }
            }
        }
        for (i, (eff, why)) in verdicts.into_iter().enumerate() {
            let fault = why.is_some() || group_fault[i];
            let mut acts = Vec::new();
            acts.extend(self.slots[i].fsm.handle(now, Input::Priority(eff)));
            if fault != self.slots[i].fsm.faulted() {
                if let (Some(w), State::Init) = (&why, self.slots[i].fsm.state) {
                    if !w.is_empty() {
                        log(w);
                    }
                }
                acts.extend(self.slots[i].fsm.handle(now, Input::Fault(fault)));
            }
            self.apply(i, acts, now, out, log);
        }
        self.settle();
    }

    /// The names of the instances that track `key` (themselves or through their group).
    pub fn tracking(&self, key: &TrackKey) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.tracks.iter().any(|t| t.key == *key))
            .map(|s| s.fsm.cfg.name.to_string())
            .collect()
    }

    /// The parent set an instance's VIPs: the gratuitous ARPs held back go out now.
    pub fn vips_set(&mut self, req_id: u64, now: Instant, log: fn(&str)) {
        let Some(k) = self.vips_pending.iter().position(|p| p.0 == req_id) else {
            return;
        };
        let (_, id, repeat) = self.vips_pending.swap_remove(k);
        // A thousand instances becoming MASTER at once left room for a thousand.
        if self.vips_pending.is_empty() && self.vips_pending.capacity() > 64 {
            self.vips_pending = Vec::new();
        }
        let Some(i) = self.slots.iter().position(|s| s.id == id) else {
            return;
        };
        if repeat > 0 && self.slots[i].fsm.state == State::Master {
            self.send_garps(i, repeat, now, log);
        }
    }

    /// Reload: a MASTER whose instance the new config no longer has sends priority 0 (as
    /// keepalived's `clear_diff_vrrp`); the parent removes its VIPs.
    pub fn retire(&mut self, keep: &[ObjId], log: fn(&str)) {
        for i in 0..self.slots.len() {
            if self.slots[i].fsm.state == State::Master && !keep.contains(&self.slots[i].id) {
                self.send_advert(i, 0, log);
            }
        }
    }

    /// Orderly stop: masters send priority 0 and release.
    pub fn shutdown(&mut self, now: Instant, out: &mut Vec<VrrpToParent>, log: fn(&str)) {
        for i in 0..self.slots.len() {
            let a = self.slots[i].fsm.handle(now, Input::Shutdown);
            self.apply(i, a, now, out, log);
        }
        self.settle();
    }

    fn apply(
        &mut self,
        i: usize,
        actions: Vec<Action>,
        now: Instant,
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        // Every call of a slot's `handle` is followed by this `apply`.
        self.touch(i);
        let (mut want_master, mut to_backup) = (false, false);
        let mut changed_to = None;
        for a in actions {
            match a {
                Action::WantMaster => want_master = true,
                Action::SendAdvert { priority } => self.send_advert(i, priority, log),
                Action::SetVips => {
                    self.next_req += 1;
                    out.push(VrrpToParent::AddVips {
                        req_id: self.next_req,
                        instance: self.slots[i].id,
                    });
                    // keepalived sends the first gratuitous ARPs once the VIPs are set.
                    self.vips_pending.push((self.next_req, self.slots[i].id, 0));
                }
                Action::RemoveVips => {
                    self.next_req += 1;
                    out.push(VrrpToParent::DelVips {
                        req_id: self.next_req,
                        instance: self.slots[i].id,
                    });
                }
                Action::SendGarps { repeat } => {
                    let id = self.slots[i].id;
                    match self.vips_pending.iter_mut().find(|p| p.1 == id) {
                        Some(p) => p.2 += repeat,
                        None => self.send_garps(i, repeat, now, log),
                    }
                }
                Action::Changed { from, to } => {
                    to_backup |= from == State::Master && to == State::Backup;
                    changed_to = Some(to);
                    self.slots[i].last_transition = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    if to == State::Master {
                        self.slots[i].stats.become_master += 1;
                    } else if from == State::Master {
                        self.slots[i].stats.release_master += 1;
                    }
                    let sl = &self.slots[i];
                    let st = InstanceState {
                        instance: sl.id,
                        state: to_state(to),
                        effective_priority: sl.fsm.effective,
                    };
                    out.push(VrrpToParent::StateChanged(st));
                    self.next_req += 1;
                    out.push(VrrpToParent::RunScript {
                        req_id: self.next_req,
                        script: ScriptRef::Notify {
                            instance: sl.id,
                            state: to_state(to),
                        },
                    });
                }
                Action::Log(l) => log(&l),
                Action::Dropped(c) => self.slots[i].stats.count(c),
                Action::Received { priority_zero } => {
                    let st = &mut self.slots[i].stats;
                    st.advert_rcvd += 1;
                    st.pri_zero_rcvd += u64::from(priority_zero);
                }
            }
        }
        let Some(g) = self
            .groups
            .iter()
            .position(|g| g.members.contains(&self.slots[i].id))
        else {
            if let Some(to) = changed_to {
                self.instance_alert(i, to, false);
            }
            return;
        };
        if let Some(to) = changed_to {
            let in_group_state =
                self.groups[g].state == Some(to) || self.sync_target == Some((g, to));
            self.instance_alert(i, to, in_group_state);
        }
        if !self.syncing && (want_master || to_backup) {
            self.syncing = true;
            if want_master {
                self.sync_master(g, now, out, log);
            }
            if to_backup {
                self.sync_to(g, State::Backup, now, out, log);
            }
            self.syncing = false;
        }
        self.group_state(g, out);
    }

    fn members(&self, g: usize) -> Vec<usize> {
        let m = &self.groups[g].members;
        (0..self.slots.len())
            .filter(|&j| m.contains(&self.slots[j].id))
            .collect()
    }

    /// keepalived `vrrp_sync_can_goto_master` + `vrrp_sync_master`: MASTER only when every
    /// member wants it (prefer BACKUP, to avoid thrashing).
    fn sync_master(&mut self, g: usize, now: Instant, out: &mut Vec<VrrpToParent>, log: fn(&str)) {
        let members = self.members(g);
        let all = members.iter().all(|&j| {
            let f = &self.slots[j].fsm;
            f.want_master || f.state == State::Master
        });
        if all {
            self.sync_to(g, State::Master, now, out, log);
        }
    }

    /// Move every member to `to` (keepalived `vrrp_sync_master`/`vrrp_sync_backup`).
    fn sync_to(
        &mut self,
        g: usize,
        to: State,
        now: Instant,
        out: &mut Vec<VrrpToParent>,
        log: fn(&str),
    ) {
        if self.groups[g].state == Some(to) {
            return;
        }
        log(&format!(
            "VRRP_Group({}) Syncing instances to {} state",
            self.groups[g].name,
            to.name()
        ));
        let before = self.sync_target.replace((g, to));
        for j in self.members(g) {
            let a = self.slots[j].fsm.handle(now, Input::Sync(to));
            self.apply(j, a, now, out, log);
        }
        self.sync_target = before;
    }

    /// keepalived `vrrp_smtp_notifier`: one mail per state entered (not twice the same,
    /// none for FAULT with `no_email_faults`), none for a sync-group member moved into its
    /// group's state once it has notified (`send_instance_notifies`).
    fn instance_alert(&mut self, i: usize, to: State, in_group_state: bool) {
        let sl = &mut self.slots[i];
        let suppressed = in_group_state && sl.notified;
        sl.notified = true;
        if suppressed
            || !sl.smtp_alert
            || (self.no_email_faults && to == State::Fault)
            || sl.last_email == Some(to)
            || crate::mail::instance_text(to.name()).is_none()
        {
            return;
        }
        sl.last_email = Some(to);
        self.alerts.push(crate::mail::Alert {
            group: false,
            name: sl.fsm.cfg.name.to_string(),
            state: to.name(),
        });
    }

    /// The group's state from its members'; a change runs the group's notifies.
    fn group_state(&mut self, g: usize, out: &mut Vec<VrrpToParent>) {
        let sts: Vec<State> = self
            .members(g)
            .iter()
            .map(|&j| self.slots[j].fsm.state)
            .collect();
        let st = if sts.iter().all(|s| *s == State::Init) {
            None
        } else if sts.contains(&State::Fault) {
            Some(State::Fault)
        } else if sts.iter().all(|s| *s == State::Master) {
            Some(State::Master)
        } else if sts.iter().all(|s| *s == State::Stop) {
            Some(State::Stop)
        } else {
            Some(State::Backup)
        };
        let grp = &mut self.groups[g];
        if st == grp.state {
            return;
        }
        grp.state = st;
        if let Some(st) = st.filter(|s| {
            grp.smtp_alert
                && grp.last_email != Some(*s)
                && !(self.no_email_faults && *s == State::Fault)
        }) {
            grp.last_email = Some(st);
            self.alerts.push(crate::mail::Alert {
                group: true,
                name: grp.name.clone(),
                state: st.name(),
            });
        }
        if let Some(st) = st {
            self.next_req += 1;
            out.push(VrrpToParent::RunScript {
                req_id: self.next_req,
                script: ScriptRef::GroupNotify {
                    group: grp.name.clone(),
                    state: to_state(st),
                },
            });
        }
    }

    fn send_advert(&mut self, i: usize, priority: u8, log: fn(&str)) {
        self.slots[i].stats.advert_sent += 1;
        if priority == 0 {
            self.slots[i].stats.pri_zero_sent += 1;
        }
        if self.slots[i].six {
            return self.send_advert6(i, priority, log);
        }
        let Some(fd) = self.sock4.as_ref() else {
            return;
        };
        // One setsockopt per change of source, not per advert (1000 instances at 0.1 s);
        // what was queued for the old source goes first.
        let (src, unicast) = (self.slots[i].src4(), self.slots[i].fsm.cfg.unicast);
        if !unicast && self.mcast_if != Some(src) {
            flush_tx4(fd.as_raw_fd(), &mut self.tx4, &self.slots, log);
            let _ = socket2::SockRef::from(fd).set_multicast_if_v4(&src);
            self.mcast_if = Some(src);
        }
        let sl = &mut self.slots[i];
        let auth = sl.auth();
        let cfg = &sl.fsm.cfg;
        let (auth_type, auth_data) = match auth {
            Some((AuthType::Pass, k)) => (1, k),
            Some((AuthType::Ah, _)) => (2, [0; 8]),
            None => (0, [0; 8]),
        };
        let advert = Advert {
            version: cfg.version,
            vrid: cfg.vrid,
            priority,
            adver_int: if cfg.version == 2 {
                (cfg.adver_int / 100) as u16
            } else {
                cfg.adver_int as u16
            },
            auth_type: if cfg.version == 2 { auth_type } else { 0 },
            auth_data: if cfg.version == 2 { auth_data } else { [0; 8] },
            addrs: cfg.vips.to_vec(),
        };
        let ah_key = match auth {
            Some((AuthType::Ah, k)) => Some(k),
            _ => None,
        };
        if ah_key.is_some() {
            sl.ah_seq = sl.ah_seq.wrapping_add(1);
        }
        sl.ip_id = sl.ip_id.wrapping_add(1).max(1);
        for dst in sl.dsts() {
            let IpAddr::V4(dst) = dst else {
                continue;
            };
            let s = Ipv4Send {
                src,
                dst,
                ttl: sl.ttl,
                ip_id: sl.ip_id,
                ah: ah_key.map(|k| (k, sl.ah_seq)),
                unicast: cfg.unicast,
            };
            let bytes = encode_ipv4(&advert, &s);
            self.tx4.push(Tx4 {
                bytes,
                dst,
                slot: i,
            });
        }
        if self.tx4.len() >= TX_BATCH {
            self.flush_tx(log);
        }
    }

    /// Send the adverts queued this turn of the loop (the shell calls it before it waits,
    /// and before anything else goes to the parent).
    pub fn flush_tx(&mut self, log: fn(&str)) {
        if let Some(fd) = self.sock4.as_ref() {
            flush_tx4(fd.as_raw_fd(), &mut self.tx4, &self.slots, log);
        }
        self.tx4.clear();
    }

    fn send_advert6(&mut self, i: usize, priority: u8, log: fn(&str)) {
        let Some(fd) = self.sock6.as_ref() else {
            return;
        };
        let sl = &self.slots[i];
        if !sl.six {
            return;
        }
        let src = &sl.src6();
        let cfg = &sl.fsm.cfg;
        let advert = Advert {
            version: 3,
            vrid: cfg.vrid,
            priority,
            adver_int: cfg.adver_int as u16,
            auth_type: 0,
            auth_data: [0; 8],
            addrs: cfg.vips.to_vec(),
        };
        for dst in sl.dsts() {
            let IpAddr::V6(ref dst) = dst else {
                continue;
            };
            let bytes = packet::encode_vrrp(&advert, IpAddr::V6(*src), IpAddr::V6(*dst));
            let pi = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: src.octets(),
                },
                ipi6_ifindex: sl.ifindex,
            };
            let cmsg = [nix::sys::socket::ControlMessage::Ipv6PacketInfo(&pi)];
            let to = nix::sys::socket::SockaddrIn6::from(std::net::SocketAddrV6::new(
                *dst, 0, 0, sl.ifindex,
            ));
            let iov = [std::io::IoSlice::new(&bytes)];
            if let Err(e) = nix::sys::socket::sendmsg(
                fd.as_raw_fd(),
                &iov,
                &cmsg,
                nix::sys::socket::MsgFlags::empty(),
                Some(&to),
            ) {
                log(&format!("({}) cannot send advert to {dst}: {e}", cfg.name));
            }
        }
    }

    /// One burst: `repeat` rounds over the VIPs (keepalived `vrrp_send_link_update`), each
    /// frame sent now or, with a `garp_interval`/`gna_interval` on the interface, queued
    /// behind the last one by that gap.
    fn send_garps(&mut self, i: usize, repeat: u32, now: Instant, log: fn(&str)) {
        let sl = &self.slots[i];
        let (what, ethertype, dst): (_, u16, [u8; 6]) = if sl.six {
            (
                "Unsolicited Neighbour Adverts",
                libc::ETH_P_IPV6 as u16,
                [0x33, 0x33, 0, 0, 0, 1],
            )
        } else {
            ("gratuitous ARPs", libc::ETH_P_ARP as u16, [0xff; 6])
        };
        let vips = &sl.fsm.cfg.vips;
        if self.packet.is_none() || vips.is_empty() {
            return;
        }
        for v in vips.iter() {
            log(&format!(
                "({}) Sending/queueing {what} on {} for {v}",
                sl.fsm.cfg.name,
                sl.ifname()
            ));
        }
        let mac = sl.iface.mac;
        let frames: Vec<Vec<u8>> = vips
            .iter()
            .map(|vip| match vip {
                IpAddr::V6(a) => ethernet(dst, mac, ethertype, &packet::unsolicited_na(mac, *a)),
                IpAddr::V4(a) => ethernet(dst, mac, ethertype, &packet::garp(mac, *a)),
            })
            .collect();
        let (ifindex, gap) = (sl.ifindex, sl.iface.garp_gap);
        for _ in 0..repeat {
            for f in &frames {
                self.garp_queue.push(Queued {
                    ifindex,
                    gap,
                    frame: f.clone(),
                    ethertype,
                    dst,
                });
            }
        }
        self.send_due_garps(now);
    }

    /// Send queued frames in order, each interface's at least its gap after the previous
    /// one actually sent (keepalived: `garp_next_time = now + garp_interval` at each send).
    fn send_due_garps(&mut self, now: Instant) {
        let mut blocked: Vec<u32> = Vec::new();
        let queue = std::mem::take(&mut self.garp_queue);
        for q in queue {
            let free = self
                .garp_free
                .iter()
                .find(|(x, _)| *x == q.ifindex)
                .map(|(_, t)| *t);
            if blocked.contains(&q.ifindex) || free.is_some_and(|t| t > now) {
                blocked.push(q.ifindex);
                self.garp_queue.push(q);
                continue;
            }
            self.send_queued(&q);
            self.garp_free.retain(|(x, _)| *x != q.ifindex);
            if !q.gap.is_zero() {
                self.garp_free.push((q.ifindex, now + q.gap));
            }
        }
    }

    fn send_queued(&self, q: &Queued) {
        if let Some(fd) = &self.packet {
            send_frame(fd.as_raw_fd(), q.ifindex, &q.frame, q.ethertype, q.dst);
        }
    }
}

/// An Ethernet frame: destination, source, ethertype, payload.
fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A gratuitous ARP / NA frame waiting for its interface's gap.
#[derive(Clone, Debug)]
struct Queued {
    ifindex: u32,
    /// The interface's `garp_interval` / `gna_interval`.
    gap: Duration,
    frame: Vec<u8>,
    ethertype: u16,
    dst: [u8; 6],
}

/// An IPv4 advert waiting for `flush_tx`.
pub struct Tx4 {
    bytes: Vec<u8>,
    dst: Ipv4Addr,
    slot: usize,
}

/// Adverts sent per `sendmmsg`.
const TX_BATCH: usize = 64;

/// Send `queue` with as few `sendmmsg` calls as it takes; a packet the kernel refuses is
/// logged and skipped, the rest still go. Empties `queue`.
fn flush_tx4(fd: RawFd, queue: &mut Vec<Tx4>, slots: &[Slot], log: fn(&str)) {
    let mut at = 0;
    while at < queue.len() {
        let batch = &queue[at..queue.len().min(at + TX_BATCH)];
        // SAFETY: every iovec points into a packet of `batch` and every msg_name at an
        // address in `addrs`; both outlive the call, with the lengths given.
        let n = unsafe {
            let mut iov: Vec<libc::iovec> = batch
                .iter()
                .map(|t| libc::iovec {
                    iov_base: t.bytes.as_ptr() as *mut libc::c_void,
                    iov_len: t.bytes.len(),
                })
                .collect();
            let mut addrs: Vec<libc::sockaddr_in> = batch
                .iter()
                .map(|t| {
                    let mut a: libc::sockaddr_in = std::mem::zeroed();
                    a.sin_family = libc::AF_INET as libc::sa_family_t;
                    a.sin_addr.s_addr = u32::from_ne_bytes(t.dst.octets());
                    a
                })
                .collect();
            let mut hdr: Vec<libc::mmsghdr> =
                (0..batch.len()).map(|_| std::mem::zeroed()).collect();
            for (k, h) in hdr.iter_mut().enumerate() {
                h.msg_hdr.msg_iov = &mut iov[k];
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_name = &mut addrs[k] as *mut libc::sockaddr_in as *mut libc::c_void;
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            }
            libc::sendmmsg(fd, hdr.as_mut_ptr(), batch.len() as u32, 0)
        };
        if n > 0 {
            at += n as usize;
        } else {
            let e = std::io::Error::last_os_error();
            let name = slots.get(queue[at].slot).map_or("", |s| &s.fsm.cfg.name);
            log(&format!(
                "({name}) cannot send advert to {}: {e}",
                queue[at].dst
            ));
            at += 1;
        }
    }
    queue.clear();
}

/// Adverts read per `recvmmsg`.
const RX_BATCH: usize = 32;
const RX_BUF: usize = 2048;
const RX_CMSG: usize = 128;

/// Buffers for one `recvmmsg` of IPv4 adverts: the packets, their control messages
/// (`IP_PKTINFO`, `SO_TIMESTAMPNS`), and what the kernel said about each.
pub struct RxBufs {
    data: Vec<u8>,
    cmsg: Vec<u64>,
    lens: [usize; RX_BATCH],
    ifindex: [u32; RX_BATCH],
    stamp: [Option<std::time::SystemTime>; RX_BATCH],
}

impl Default for RxBufs {
    fn default() -> Self {
        RxBufs {
            data: vec![0; RX_BATCH * RX_BUF],
            cmsg: vec![0; RX_BATCH * RX_CMSG / 8],
            lens: [0; RX_BATCH],
            ifindex: [0; RX_BATCH],
            stamp: [None; RX_BATCH],
        }
    }
}

impl RxBufs {
    /// Read up to `RX_BATCH` packets without blocking; how many came.
    fn recv(&mut self, fd: RawFd) -> usize {
        // SAFETY: every iovec and control buffer points into `self.data` / `self.cmsg`,
        // which outlive the call, with the lengths given; mmsghdr and iovec are plain data
        // (zeroed, then filled).
        let n = unsafe {
            let mut iov: [libc::iovec; RX_BATCH] = std::mem::zeroed();
            let mut hdr: [libc::mmsghdr; RX_BATCH] = std::mem::zeroed();
            let data = self.data.as_mut_ptr();
            let cmsg = self.cmsg.as_mut_ptr() as *mut u8;
            for k in 0..RX_BATCH {
                iov[k].iov_base = data.add(k * RX_BUF) as *mut libc::c_void;
                iov[k].iov_len = RX_BUF;
                hdr[k].msg_hdr.msg_iov = &mut iov[k];
                hdr[k].msg_hdr.msg_iovlen = 1;
                hdr[k].msg_hdr.msg_control = cmsg.add(k * RX_CMSG) as *mut libc::c_void;
                hdr[k].msg_hdr.msg_controllen = RX_CMSG;
            }
            let n = libc::recvmmsg(
                fd,
                hdr.as_mut_ptr(),
                RX_BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            );
            for (k, h) in hdr.iter().enumerate().take(usize::try_from(n).unwrap_or(0)) {
                self.lens[k] = (h.msg_len as usize).min(RX_BUF);
                self.ifindex[k] = 0;
                self.stamp[k] = None;
                let m = &h.msg_hdr;
                let mut c = libc::CMSG_FIRSTHDR(m);
                while !c.is_null() {
                    let d = libc::CMSG_DATA(c);
                    match ((*c).cmsg_level, (*c).cmsg_type) {
                        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                            let pi = std::ptr::read_unaligned(d as *const libc::in_pktinfo);
                            self.ifindex[k] = pi.ipi_ifindex as u32;
                        }
                        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                            let ts = std::ptr::read_unaligned(d as *const libc::timespec);
                            self.stamp[k] = stamp_of(&nix::sys::time::TimeSpec::from(ts));
                        }
                        _ => {}
                    }
                    c = libc::CMSG_NXTHDR(m, c);
                }
            }
            n
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Packet `k` of the last batch: bytes, interface, arrival.
    fn get(&self, k: usize) -> (&[u8], u32, Option<std::time::SystemTime>) {
        let at = k * RX_BUF;
        (
            &self.data[at..at + self.lens[k]],
            self.ifindex[k],
            self.stamp[k],
        )
    }
}

/// Wall-clock receive timestamps mapped onto the monotonic clock the state machines use.
struct Arrival {
    wall: std::time::SystemTime,
    mono: Instant,
}

impl Arrival {
    fn now() -> Arrival {
        Arrival {
            wall: std::time::SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The monotonic instant of a packet stamped `stamp` (never later than now).
    fn instant(&self, stamp: Option<std::time::SystemTime>) -> Instant {
        match stamp.and_then(|t| self.wall.duration_since(t).ok()) {
            // A stamp a wall-clock step put far off is ignored.
            Some(age) if age < Duration::from_secs(60) => {
                self.mono.checked_sub(age).unwrap_or(self.mono)
            }
            _ => self.mono,
        }
    }
}

fn stamp_of(ts: &nix::sys::time::TimeSpec) -> Option<std::time::SystemTime> {
    let secs = u64::try_from(ts.tv_sec()).ok()?;
    let nanos = u32::try_from(ts.tv_nsec()).ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// One VRRP message from the IPv6 raw socket, with source, destination, hop limit and
/// arrival time.
fn recv6(fd: RawFd) -> Option<(Packet, u32, Option<std::time::SystemTime>)> {
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::timespec);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let r = nix::sys::socket::recvmsg::<nix::sys::socket::SockaddrIn6>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let mut dst = Ipv6Addr::UNSPECIFIED;
    let mut idx = 0u32;
    let mut hop_limit = None;
    let mut stamp = None;
    for c in r.cmsgs().into_iter().flatten() {
        match c {
            nix::sys::socket::ControlMessageOwned::Ipv6PacketInfo(pi) => {
                dst = Ipv6Addr::from(pi.ipi6_addr.s6_addr);
                idx = pi.ipi6_ifindex;
            }
            nix::sys::socket::ControlMessageOwned::Ipv6HopLimit(h) => {
                hop_limit = u8::try_from(h).ok();
            }
            nix::sys::socket::ControlMessageOwned::ScmTimestampns(ts) => stamp = stamp_of(&ts),
            _ => {}
        }
    }
    let src = r.address.map(|a| a.ip())?;
    let n = r.bytes;
    Some((
        Packet {
            bytes: buf[..n].to_vec(),
            six: Some(Six {
                src,
                dst,
                hop_limit,
            }),
        },
        idx,
        stamp,
    ))
}

/// Send one Ethernet frame on a packet socket.
fn send_frame(fd: RawFd, ifindex: u32, frame: &[u8], proto: u16, dst: [u8; 6]) {
    // SAFETY: sockaddr_ll is plain data, zero-initialised then filled; the pointers passed to
    // sendto point at live locals of the right sizes.
    unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&dst);
        libc::sendto(
            fd,
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            0,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
    }
}

/// What an instance tracks, with the weight in force (the reference's, else the object's):
/// its own interface (weight 0, unless `dont_track_primary`), `track_interface`,
/// `track_script`, `track_file`, `track_process`. Unknown names were reported by the config
/// check and are skipped.
fn track_list(v: &VrrpInstance, snap: &VrrpSnapshot) -> Vec<Tracked> {
    let group = snap.sync_groups.iter().find(|g| g.group.contains(&v.name));
    // keepalived forces the weights of a sync-group member's trackers (and its group's) to
    // 0 unless `sync_group_tracking_weight`: any failure is then a FAULT of the group.
    let forced = group.is_some_and(|g| !g.sync_group_tracking_weight);
    let pick = |r: &TrackRef, w: i32, rev: bool| -> (i32, bool) {
        let (w, rev) = match r.weight {
            Some(x) => (x, r.reverse),
            None => (w, rev),
        };
        if forced {
            (0, rev)
        } else {
            (w, rev)
        }
    };
    let mut out = Vec::new();
    if let Some(ifname) = v.interface.as_ref().filter(|_| !v.dont_track_primary) {
        out.push(Tracked {
            key: TrackKey::Interface(ifname.clone()),
            name: ifname.clone(),
            weight: 0,
            reverse: false,
        });
    }
    // The instance's references, then its group's.
    let all = |own: &[TrackRef], grp: fn(&SyncGroup) -> &Vec<TrackRef>| -> Vec<TrackRef> {
        own.iter()
            .cloned()
            .chain(group.into_iter().flat_map(|g| grp(g).iter().cloned()))
            .collect()
    };
    let mut push = |key: TrackKey, name: &str, r: &TrackRef, w: i32, rev: bool| {
        let (weight, reverse) = pick(r, w, rev);
        out.push(Tracked {
            key,
            name: name.to_string(),
            weight,
            reverse,
        });
    };
    for r in all(&v.track_interface, |g| &g.track_interface) {
        push(TrackKey::Interface(r.name.clone()), &r.name, &r, 0, false);
    }
    for r in all(&v.track_script, |g| &g.track_script) {
        if let Some((id, s)) = snap.scripts.iter().find(|(_, s)| s.name == r.name) {
            push(TrackKey::Script(*id), &s.name, &r, s.weight, s.reverse);
        }
    }
    for r in all(&v.track_file, |g| &g.track_file) {
        if let Some(f) = snap.track_files.iter().find(|f| f.name == r.name) {
            push(
                TrackKey::File(f.name.clone()),
                &f.name,
                &r,
                f.weight,
                f.reverse,
            );
        }
    }
    for r in all(&v.track_bfd, |g| &g.track_bfd) {
        if let Some(b) = snap.bfd_instances.iter().find(|b| b.name == r.name) {
            push(
                TrackKey::Bfd(b.name.clone()),
                &b.name,
                &r,
                b.weight,
                b.reverse,
            );
        }
    }
    for r in all(&v.track_process, |g| &g.track_process) {
        if let Some(p) = snap.track_processes.iter().find(|p| p.name == r.name) {
            push(
                TrackKey::Process(p.name.clone()),
                &p.name,
                &r,
                p.weight,
                p.reverse,
            );
        }
    }
    out
}

/// The receive path's key of an instance (`Runtime::by_vrid`).
fn vrid_key(six: bool, vrid: u8) -> u16 {
    u16::from(six) << 8 | u16::from(vrid)
}

/// Settings of an instance's state machine common to both families.
fn common_cfg(cfg: &mut InstanceCfg, v: &VrrpInstance, snap: &VrrpSnapshot, shared: &mut Shared) {
    cfg.nopreempt = v.nopreempt;
    cfg.preempt_delay = Duration::from_micros(v.preempt_delay);
    cfg.down_timer_adverts = v
        .down_timer_adverts
        .unwrap_or(snap.global.down_timer_adverts)
        .max(1);
    cfg.unicast = v.is_unicast();
    // vrrp_strict / strict_mode (reference §5.1): lower_prio_no_advert on,
    // higher_prio_send_advert off.
    let strict = v.strict_mode.unwrap_or(snap.global.strict);
    cfg.lower_prio_no_advert = v.lower_prio_no_advert.unwrap_or(false) || strict;
    cfg.higher_prio_send_advert = v.higher_prio_send_advert.unwrap_or(false) && !strict;
    cfg.skip_check_adv_addr = v.skip_check_adv_addr.unwrap_or(false);
    cfg.peers = v
        .unicast_peers
        .iter()
        .map(|p| (p.addr, p.min_ttl.unwrap_or(0), p.max_ttl.unwrap_or(255)))
        .collect();
    cfg.check_unicast_src = v.check_unicast_src || snap.global.check_unicast_src;
    cfg.garp = shared.garp(garp_cfg(v, snap));
}

/// An instance's gratuitous ARP settings: its own, else the globals, else keepalived's
/// defaults; `vrrp_min_garp` means one packet and no delayed burst; strict mode sends no
/// lower-priority bursts; the lower-priority ones default to the master ones.
fn garp_cfg(v: &VrrpInstance, snap: &VrrpSnapshot) -> crate::fsm::Garp {
    let (g, t) = (&snap.global, &v.garp);
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let min = g.min_garp;
    let repeat = t
        .master_repeat
        .unwrap_or(if min { 1 } else { g.garp_master_repeat })
        .max(1);
    let delay = secs(
        t.master_delay
            .unwrap_or(if min { 0 } else { g.garp_master_delay }),
    );
    let strict = v.strict_mode.unwrap_or(g.strict);
    crate::fsm::Garp {
        repeat,
        delay,
        refresh: secs(t.master_refresh.unwrap_or(g.garp_master_refresh)),
        refresh_repeat: t
            .master_refresh_repeat
            .unwrap_or(g.garp_master_refresh_repeat)
            .max(1),
        lower_prio_repeat: if strict {
            0
        } else {
            t.lower_prio_repeat
                .or(g.garp_lower_prio_repeat)
                .unwrap_or(repeat)
        },
        lower_prio_delay: t
            .lower_prio_delay
            .or(g.garp_lower_prio_delay)
            .map(secs)
            .unwrap_or(delay),
    }
}

/// The gap between gratuitous ARPs (IPv4) or NAs (IPv6) on an interface: its `garp_group`,
/// else `vrrp_garp_interval` / `vrrp_gna_interval`.
fn garp_gap(v: &VrrpInstance, ifname: &str, snap: &VrrpSnapshot) -> Duration {
    let g = &snap.global;
    let grp = g
        .garp_groups
        .iter()
        .find(|x| x.interfaces.iter().any(|i| i == ifname));
    let us = if v.family6 {
        grp.and_then(|x| x.gna_interval).unwrap_or(g.gna_interval)
    } else {
        grp.and_then(|x| x.garp_interval).unwrap_or(g.garp_interval)
    };
    Duration::from_micros(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> Runtime {
        let l = conf::load_str("k.conf", text, &conf::LoadOptions::default());
        let mut snap = l.config.for_vrrp();
        for (k, name) in ["eth0", "eth1"].iter().enumerate() {
            snap.interfaces.push(conf::project::IfInfo {
                name: name.to_string(),
                index: 2 + k as u32,
                mac: [2, 0, 0, 0, 0, k as u8],
                ipv4: Some(IpAddr::V4(Ipv4Addr::new(10, 0, k as u8, 1))),
                ipv6_ll: Some(IpAddr::V6(Ipv6Addr::new(
                    0xfe80,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    1 + k as u16,
                ))),
            });
        }
        let mut rt = Runtime::default();
        rt.load(&snap, |_| {});
        rt
    }

    /// What a slot no longer keeps twice comes out of its state machine's config as it
    /// was: advert sources and destinations (multicast group, unicast peers of the
    /// family), VIPs, authentication; the interface, tracker list and gratuitous ARP
    /// settings are shared by the instances that have the same.
    #[test]
    fn a_slot_derives_what_it_sends_and_shares_what_is_common() {
        let rt = loaded(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n mcast_dst_ip 224.0.0.99\n virtual_ipaddress {\n 10.1.0.1/32\n 10.1.0.2/32\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 100\n unicast_src_ip 10.0.0.5\n unicast_peer {\n 10.0.0.7\n 10.0.0.8 min_ttl 3\n }\n authentication {\n auth_type PASS\n auth_pass secret\n }\n virtual_ipaddress {\n 10.1.0.3/32\n }\n}\n\
             vrrp_instance C {\n interface eth1\n virtual_router_id 1\n priority 100\n version 3\n virtual_ipaddress {\n fd00::1/128\n }\n}\n\
             vrrp_instance D {\n interface eth0\n virtual_router_id 3\n priority 100\n virtual_ipaddress {\n 10.1.0.4/32\n }\n}\n\
             vrrp_instance E {\n interface eth0\n virtual_router_id 4\n priority 100\n virtual_ipaddress {\n 10.1.0.5/32\n }\n}\n",
        );
        assert_eq!(rt.slots.len(), 5);
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| &rt.slots[i]);
        let v4 = |x: [u8; 4]| IpAddr::V4(Ipv4Addr::from(x));
        assert_eq!(a.src4(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.dsts().collect::<Vec<_>>(), [v4([224, 0, 0, 99])]);
        assert_eq!(&a.fsm.cfg.vips[..], [v4([10, 1, 0, 1]), v4([10, 1, 0, 2])]);
        assert_eq!(a.auth(), None);
        assert!(!a.six);
        assert_eq!(b.src4(), Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(
            b.dsts().collect::<Vec<_>>(),
            [v4([10, 0, 0, 7]), v4([10, 0, 0, 8])]
        );
        assert_eq!(&b.fsm.cfg.peers[1..], [(v4([10, 0, 0, 8]), 3, 255)]);
        assert_eq!(b.auth(), Some((AuthType::Pass, auth_key("secret"))));
        assert!(c.six);
        assert_eq!(c.src6(), Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
        assert_eq!(c.src4(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            c.dsts().collect::<Vec<_>>(),
            [IpAddr::V6(packet::VRRP_MCAST_V6)]
        );
        assert_eq!(c.ifname(), "eth1");
        assert_eq!(d.dsts().collect::<Vec<_>>(), [IpAddr::V4(VRRP_MCAST_V4)]);
        // Shared: D and E (eth0, the default group); A (its own group), B (unicast) and C
        // (eth1) have their own; A, B, D, E the same tracker list (their interface).
        assert!(Rc::ptr_eq(&d.iface, &e.iface));
        for x in [a, b, c] {
            assert!(!Rc::ptr_eq(&x.iface, &d.iface), "{}", x.fsm.cfg.name);
        }
        assert_eq!(b.ifname(), "eth0");
        assert!(Rc::ptr_eq(&a.tracks, &d.tracks) && Rc::ptr_eq(&a.tracks, &b.tracks));
        assert!(Rc::ptr_eq(&a.tracks, &e.tracks) && !Rc::ptr_eq(&a.tracks, &c.tracks));
        assert_eq!(a.tracks.len(), 1);
        assert!(Rc::ptr_eq(&a.fsm.cfg.garp, &c.fsm.cfg.garp));
        // The receive path finds each by family and VRID.
        let find = |six: bool, vrid: u8| -> Vec<usize> {
            let k = vrid_key(six, vrid);
            rt.by_vrid
                .iter()
                .filter(|e| e.0 == k)
                .map(|e| e.1 as usize)
                .collect()
        };
        assert_eq!(find(false, 1), [0]);
        assert_eq!(find(true, 1), [2]);
        assert_eq!(find(false, 3), [3]);
        assert!(rt.by_vrid.windows(2).all(|w| w[0] <= w[1]));
    }

    /// At 1000 instances every byte of a slot is a kB of the VRRP child (it was 696).
    #[test]
    fn a_slot_stays_small() {
        assert!(
            std::mem::size_of::<Slot>() <= 368,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    /// One address inline, none or several boxed; the same slice either way.
    #[test]
    fn address_lists() {
        use crate::fsm::Addrs;
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert!(matches!(Addrs::from(vec![a]), Addrs::One(_)));
        assert_eq!(&Addrs::from(vec![a])[..], [a]);
        assert_eq!(&Addrs::from(vec![a, b])[..], [a, b]);
        assert!(Addrs::from(Vec::new()).is_empty());
    }

    /// Receive timestamps map onto the monotonic clock: a packet stamped 300 ms ago is
    /// dated 300 ms before now; no stamp, a future one or one a wall-clock step put far off
    /// is dated now.
    #[test]
    fn arrival_times() {
        let c = Arrival::now();
        let ago = c.instant(Some(c.wall - Duration::from_millis(300)));
        assert_eq!(c.mono - ago, Duration::from_millis(300));
        assert_eq!(c.instant(None), c.mono);
        assert_eq!(c.instant(Some(c.wall + Duration::from_secs(1))), c.mono);
        assert_eq!(c.instant(Some(c.wall - Duration::from_secs(3600))), c.mono);
    }

    /// The kernel's SO_TIMESTAMPNS and IP_PKTINFO reach us through the batched receive
    /// path: a datagram that waited 200 ms in the queue carries its arrival time.
    #[test]
    fn the_receive_path_reads_the_kernel_stamp() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .unwrap();
        let _ = nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::Ipv4PacketInfo, &true);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // The kernel turns receive stamping on a moment after the first socket asks
        // (a deferred static key); until then a packet is dated when it is read.
        std::thread::sleep(Duration::from_millis(50));
        tx.send_to(&[0x45; 40], rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut bufs = RxBufs::default();
        assert_eq!(bufs.recv(rx.as_raw_fd()), 1, "one datagram");
        let (bytes, ifindex, stamp) = bufs.get(0);
        assert_eq!(bytes, &[0x45; 40][..]);
        assert_eq!(ifindex, 1, "IP_PKTINFO: the loopback");
        let at = Arrival::now().instant(stamp);
        let age = Instant::now() - at;
        assert!(age >= Duration::from_millis(190), "dated {age:?} ago");
    }
}
