//! Need-to-know snapshots for the children, with stable object ids, and the reload diff.
//!
//! Ids are derived from what keepalived uses to match objects across a reload — a VRRP
//! instance by (VRID, family, interface, unicast/multicast, source and multicast address), a
//! virtual server by its key and protocol, a real server by address and port — never by name,
//! so an unchanged object keeps its id when the file is edited around it.

use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// A stable id: a hash of the object's matching key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjId(pub u64);

fn id_of<T: Hash>(t: &T) -> ObjId {
    // DefaultHasher with fixed keys (SipHash 1-3, keys 0): stable across runs and builds.
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    ObjId(h.finish())
}

/// keepalived's reload match key of a VRRP instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstanceKey {
    pub vrid: u8,
    pub family6: bool,
    pub interface: Option<String>,
    pub unicast: bool,
    pub src: Option<IpAddr>,
    pub mcast_dst: Option<IpAddr>,
}

pub fn instance_key(v: &VrrpInstance) -> InstanceKey {
    InstanceKey {
        vrid: v.vrid,
        family6: v.family6,
        interface: v.interface.clone(),
        unicast: v.is_unicast(),
        src: v.unicast_src_ip.or(v.mcast_src_ip),
        mcast_dst: v.mcast_dst_ip,
    }
}

pub fn instance_id(v: &VrrpInstance) -> ObjId {
    id_of(&("vrrp", instance_key(v)))
}

pub fn vs_id(vs: &VirtualServer) -> ObjId {
    id_of(&("vs", &vs.key, vs.protocol_set.then_some(vs.protocol)))
}

pub fn rs_id(vs: &VirtualServer, rs: &RealServer) -> ObjId {
    rs_id_in(vs_id(vs), rs)
}

/// [`rs_id`] with its virtual server's id already known (a loop over a service's real
/// servers hashes the service once).
pub fn rs_id_in(vs: ObjId, rs: &RealServer) -> ObjId {
    id_of(&("rs", vs, rs.addr, rs.port))
}

/// A fast hash (rustc's FxHash: rotate, xor, multiply per word) for maps and sets keyed by
/// the configuration's own data, [`ObjId`]s and addresses: SipHash's resistance to chosen
/// keys is not needed for a file root wrote, and at 10,000 real servers it cost more than
/// the rest of building the index it served.
#[derive(Clone, Copy, Default)]
pub struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }
    fn write_u16(&mut self, n: u16) {
        self.add(n as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A map keyed by [`ObjId`].
pub type IdMap<V> = std::collections::HashMap<ObjId, V, FxBuild>;

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// keepalived's `FMT_VS`: `[10.0.0.1]:tcp:80`, `FWM 5`, `[group]:0`.
pub fn fmt_vs(vs: &VirtualServer) -> String {
    match &vs.key {
        VsKey::Addr { addr, port } => fmt_svc(*addr, *port, vs.protocol),
        VsKey::Fwmark(m) => format!("FWM {m}"),
        VsKey::Group(g) => format!("[{g}]:0"),
    }
}

/// keepalived's `FMT_RS` (`inet_sockaddrtotrio`): `[192.168.1.2]:tcp:80`.
pub fn fmt_svc(addr: IpAddr, port: u16, p: Protocol) -> String {
    SvcLabel(addr, port, p).to_string()
}

/// `[addr]:proto:port` as a value that is formatted only when a message uses it (parsing
/// 10,000 real servers spent a sixth of its time formatting labels no message needed).
pub struct SvcLabel(pub IpAddr, pub u16, pub Protocol);

impl std::fmt::Display for SvcLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]:{}:{}", self.0, proto_name(self.2), self.1)
    }
}

pub fn script_id(name: &str) -> ObjId {
    id_of(&("script", name))
}

/// A `bfd_instance`'s id (keepalived matches BFD instances by name).
pub fn bfd_id(name: &str) -> ObjId {
    id_of(&("bfd", name))
}

/// A sync group's id (keepalived matches groups by name).
pub fn group_id(name: &str) -> ObjId {
    id_of(&("sync_group", name))
}

/// What the VRRP child needs: instances, sync groups, trackers, VRRP globals. No checker data,
/// no script commands (the parent runs scripts; the child names them by id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VrrpSnapshot {
    pub instances: Vec<(ObjId, VrrpInstance)>,
    pub sync_groups: Vec<SyncGroup>,
    /// Track scripts: id, name, interval, timeout, rise, fall, weight, reverse, init_fail.
    pub scripts: Vec<(ObjId, VrrpScript)>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    /// `bfd_instance` blocks: the VRRP child runs the BFD sessions.
    pub bfd_instances: Vec<BfdInstance>,
    pub global: VrrpGlobals,
    /// Facts about the interfaces the instances use, read by the parent (the child cannot).
    pub interfaces: Vec<IfInfo>,
}

/// An interface as the VRRP child needs to know it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfInfo {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// The primary IPv4 address (adverts' default source).
    pub ipv4: Option<IpAddr>,
    /// The IPv6 link-local address.
    pub ipv6_ll: Option<IpAddr>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VrrpGlobals {
    pub router_id: Option<String>,
    pub mcast_group4: Option<IpAddr>,
    pub mcast_group6: Option<IpAddr>,
    pub garp_master_delay: u32,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: u32,
    pub garp_master_refresh_repeat: u32,
    /// Unset: the master values (keepalived).
    pub garp_lower_prio_delay: Option<u32>,
    pub garp_lower_prio_repeat: Option<u32>,
    /// Minimum gap between gratuitous ARPs / NAs on one interface, microseconds
    /// (`vrrp_garp_interval`, `vrrp_gna_interval`, `garp_group`).
    pub garp_interval: Usecs,
    pub gna_interval: Usecs,
    pub garp_groups: Vec<GarpGroup>,
    /// `vrrp_min_garp`: one gratuitous ARP, no repeat, no delayed burst.
    pub min_garp: bool,
    pub down_timer_adverts: u32,
    pub check_unicast_src: bool,
    pub log_unknown_vrids: bool,
    pub strict: bool,
    pub smtp_server: Option<(String, u16)>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_helo_name: Option<String>,
    /// Seconds (keepalived's default 30).
    pub smtp_connect_timeout: u32,
    /// `smtp_alert_vrrp`, else `smtp_alert`: the default of instances and groups.
    pub smtp_alert: Option<bool>,
    pub no_email_faults: bool,
}

/// What the checker child needs: virtual servers with their real servers and checks, minus
/// script commands (MISC_CHECK and notify scripts are run by the parent, by id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerSnapshot {
    pub virtual_servers: Vec<(ObjId, VirtualServer)>,
    pub vs_groups: Vec<VsGroup>,
    pub ssl: Option<SslConf>,
    pub smtp_server: Option<(String, u16)>,
    pub notification_email: Vec<String>,
    pub router_id: Option<String>,
    pub notification_email_from: Option<String>,
    pub smtp_helo_name: Option<String>,
    /// `smtp_alert_checker`, else `smtp_alert`.
    pub smtp_alert: Option<bool>,
    pub no_checker_emails: bool,
    /// The `track_file` definitions FILE_CHECKs name (the checker reads the files itself).
    pub track_files: Vec<TrackFile>,
}

fn strip(s: &mut Option<Script>) {
    if let Some(x) = s {
        x.cmd.clear();
        x.args.clear();
    }
}

fn strip_notify(n: &mut Notify) {
    for s in [
        &mut n.master,
        &mut n.backup,
        &mut n.fault,
        &mut n.stop,
        &mut n.generic,
        &mut n.master_rx_lower_pri,
    ] {
        strip(s);
    }
    if let Some(d) = &mut n.deleted {
        strip(d);
    }
}

impl Config {
    pub fn for_vrrp(&self) -> VrrpSnapshot {
        let g = &self.global;
        let instances = self
            .instances
            .iter()
            .map(|v| {
                let mut v = v.clone();
                strip_notify(&mut v.notify);
                if let Some(a) = &mut v.auth {
                    // The child needs the key to build and verify adverts.
                    a.pass = a.pass.clone();
                }
                (instance_id(&v), v)
            })
            .collect();
        let scripts = self
            .scripts
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.script = Script::default();
                (script_id(&s.name), s)
            })
            .collect();
        let mut sync_groups = self.sync_groups.clone();
        for sg in &mut sync_groups {
            strip_notify(&mut sg.notify);
        }
        VrrpSnapshot {
            instances,
            sync_groups,
            scripts,
            track_files: self.track_files.clone(),
            track_processes: self.track_processes.clone(),
            bfd_instances: self.bfd_instances.clone(),
            interfaces: Vec::new(),
            global: VrrpGlobals {
                router_id: g.router_id.clone(),
                mcast_group4: g.vrrp_mcast_group4,
                mcast_group6: g.vrrp_mcast_group6,
                garp_master_delay: g.vrrp_garp_master_delay.unwrap_or(5),
                garp_master_repeat: g.vrrp_garp_master_repeat.unwrap_or(5),
                garp_master_refresh: g.vrrp_garp_master_refresh.unwrap_or(0),
                garp_master_refresh_repeat: g.vrrp_garp_master_refresh_repeat.unwrap_or(1),
                garp_lower_prio_delay: g.vrrp_garp_lower_prio_delay,
                garp_lower_prio_repeat: g.vrrp_garp_lower_prio_repeat,
                garp_interval: g.vrrp_garp_interval.unwrap_or(0),
                gna_interval: g.vrrp_gna_interval.unwrap_or(0),
                garp_groups: self.garp_groups.clone(),
                min_garp: g.vrrp_min_garp,
                down_timer_adverts: g.vrrp_down_timer_adverts.unwrap_or(3),
                check_unicast_src: g.vrrp_check_unicast_src,
                log_unknown_vrids: g.log_unknown_vrids,
                strict: g.vrrp_strict,
                smtp_server: g.smtp_server.clone(),
                notification_email: g.notification_email.clone(),
                notification_email_from: g.notification_email_from.clone(),
                smtp_helo_name: g.smtp_helo_name.clone(),
                smtp_connect_timeout: g.smtp_connect_timeout.unwrap_or(30),
                smtp_alert: g.smtp_alert_vrrp.or(g.smtp_alert),
                no_email_faults: g.no_email_faults,
            },
        }
    }

    pub fn for_checker(&self) -> CheckerSnapshot {
        let virtual_servers = self
            .virtual_servers
            .iter()
            .map(|vs| {
                let mut vs = vs.clone();
                strip(&mut vs.quorum_up);
                strip(&mut vs.quorum_down);
                for rs in &mut vs.real_servers {
                    strip(&mut rs.notify_up);
                    strip(&mut rs.notify_down);
                    for c in &mut rs.checkers {
                        if let CheckKind::Misc { path, .. } = &mut c.kind {
                            strip(path);
                        }
                    }
                }
                (vs_id(&vs), vs)
            })
            .collect();
        CheckerSnapshot {
            virtual_servers,
            vs_groups: self.vs_groups.clone(),
            ssl: self.ssl.clone(),
            smtp_server: self.global.smtp_server.clone(),
            notification_email: self.global.notification_email.clone(),
            router_id: self.global.router_id.clone(),
            notification_email_from: self.global.notification_email_from.clone(),
            smtp_helo_name: self.global.smtp_helo_name.clone(),
            smtp_alert: self.global.smtp_alert_checker.or(self.global.smtp_alert),
            no_checker_emails: self.global.no_checker_emails,
            track_files: self
                .track_files
                .iter()
                .filter(|t| {
                    self.virtual_servers.iter().any(|vs| {
                        vs.real_servers.iter().any(|rs| {
                            rs.checkers.iter().any(|c| {
                                matches!(&c.kind, CheckKind::File { track_file: Some(n), .. } if *n == t.name)
                            })
                        })
                    })
                })
                .cloned()
                .collect(),
        }
    }

    /// What a reload from `old` to `new` changes, matched the way keepalived matches.
    pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
        let mut d = ConfigDiff::default();
        for v in &new.instances {
            match old
                .instances
                .iter()
                .find(|o| instance_key(o) == instance_key(v))
            {
                None => d.instances_added.push(instance_id(v)),
                Some(o) if o != v => d.instances_changed.push(instance_id(v)),
                Some(_) => d.instances_unchanged.push(instance_id(v)),
            }
        }
        for o in &old.instances {
            if !new
                .instances
                .iter()
                .any(|v| instance_key(v) == instance_key(o))
            {
                d.instances_removed.push(instance_id(o));
            }
        }
        for vs in &new.virtual_servers {
            let id = vs_id(vs);
            match old.virtual_servers.iter().find(|o| vs_id(o) == id) {
                None => d.vs_added.push(id),
                Some(o) => {
                    let mut svc_o = o.clone();
                    let mut svc_n = vs.clone();
                    svc_o.real_servers.clear();
                    svc_n.real_servers.clear();
                    if svc_o != svc_n {
                        d.vs_changed.push(id);
                    }
                    for rs in &vs.real_servers {
                        match o
                            .real_servers
                            .iter()
                            .find(|r| r.addr == rs.addr && r.port == rs.port)
                        {
                            None => d.rs_added.push(rs_id(vs, rs)),
                            Some(r) if r != rs => d.rs_changed.push(rs_id(vs, rs)),
                            Some(_) => {}
                        }
                    }
                    for r in &o.real_servers {
                        if !vs
                            .real_servers
                            .iter()
                            .any(|x| x.addr == r.addr && x.port == r.port)
                        {
                            d.rs_removed.push(rs_id(o, r));
                        }
                    }
                }
            }
        }
        for o in &old.virtual_servers {
            if !new.virtual_servers.iter().any(|v| vs_id(v) == vs_id(o)) {
                d.vs_removed.push(vs_id(o));
            }
        }
        d
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    pub instances_added: Vec<ObjId>,
    pub instances_removed: Vec<ObjId>,
    pub instances_changed: Vec<ObjId>,
    pub instances_unchanged: Vec<ObjId>,
    pub vs_added: Vec<ObjId>,
    pub vs_removed: Vec<ObjId>,
    pub vs_changed: Vec<ObjId>,
    pub rs_added: Vec<ObjId>,
    pub rs_removed: Vec<ObjId>,
    pub rs_changed: Vec<ObjId>,
}
