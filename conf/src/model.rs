//! The typed configuration model: every section of keepalived.conf 2.2.x.
//!
//! Values are stored as keepalived holds them after parsing and validation: defaults applied,
//! timers in microseconds, auth passwords truncated. Printing the model back (`print.rs`) and
//! parsing it again gives the same model.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Microseconds.
pub type Usecs = u64;
pub const USEC_PER_SEC: Usecs = 1_000_000;

/// A script reference: the raw command string, its argv and an optional `USER [GROUP]`.
/// Boxed, so the many `Option<Script>` slots of a large config cost a pointer each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Script(Box<ScriptData>);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptData {
    pub cmd: String,
    pub args: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
}

impl Script {
    pub fn new(
        cmd: String,
        args: Vec<String>,
        user: Option<String>,
        group: Option<String>,
    ) -> Self {
        Script(Box::new(ScriptData {
            cmd,
            args,
            user,
            group,
        }))
    }
}

impl std::ops::Deref for Script {
    type Target = ScriptData;
    fn deref(&self) -> &ScriptData {
        &self.0
    }
}

impl std::ops::DerefMut for Script {
    fn deref_mut(&mut self) -> &mut ScriptData {
        &mut self.0
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub global: GlobalDefs,
    pub net_namespace: Option<String>,
    pub net_namespace_ipvs: Option<String>,
    pub namespace_with_ipsets: bool,
    pub use_pid_dir: bool,
    pub instance: Option<String>,
    pub child_wait_time: Option<u32>,
    pub linkbeat_use_polling: bool,
    pub linkbeat_interfaces: Vec<(String, Option<String>)>,
    pub interface_up_down_delays: Vec<(String, Usecs, Option<Usecs>)>,
    pub track_groups: Vec<TrackGroup>,
    pub garp_groups: Vec<GarpGroup>,
    pub static_ipaddress: Vec<IpAddress>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub bfd_instances: Vec<BfdInstance>,
    pub scripts: Vec<VrrpScript>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
    pub ssl: Option<SslConf>,
    pub vs_groups: Vec<VsGroup>,
    pub virtual_servers: Vec<VirtualServer>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<(String, u16)>,
    pub smtp_helo_name: Option<String>,
    pub smtp_connect_timeout: Option<u32>,
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    pub checker_log_all_failures: bool,
    pub no_email_faults: bool,
    pub no_checker_emails: bool,
    pub process_names: bool,
    pub process_name: Option<String>,
    pub vrrp_process_name: Option<String>,
    pub checker_process_name: Option<String>,
    pub bfd_process_name: Option<String>,
    pub startup_script: Option<Script>,
    pub startup_script_timeout: Option<u32>,
    pub shutdown_script: Option<Script>,
    pub shutdown_script_timeout: Option<u32>,
    pub max_auto_priority: Option<i32>,
    pub min_auto_priority_delay: Option<u32>,
    pub vrrp_priority: Option<i32>,
    pub checker_priority: Option<i32>,
    pub bfd_priority: Option<i32>,
    pub vrrp_no_swap: bool,
    pub checker_no_swap: bool,
    pub bfd_no_swap: bool,
    pub vrrp_rt_priority: Option<u32>,
    pub checker_rt_priority: Option<u32>,
    pub bfd_rt_priority: Option<u32>,
    pub vrrp_cpu_affinity: Vec<u32>,
    pub checker_cpu_affinity: Vec<u32>,
    pub bfd_cpu_affinity: Vec<u32>,
    pub vrrp_rlimit_rttime: Option<u32>,
    pub checker_rlimit_rttime: Option<u32>,
    pub bfd_rlimit_rttime: Option<u32>,
    pub dynamic_interfaces: Option<bool>,
    pub default_interface: Option<String>,
    pub disable_local_igmp: bool,
    pub lvs_timeouts: Option<(Option<u32>, Option<u32>, Option<u32>)>,
    pub lvs_flush: bool,
    pub lvs_flush_on_stop: Option<String>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub vrrp_mcast_group4: Option<IpAddr>,
    pub vrrp_mcast_group6: Option<IpAddr>,
    pub vrrp_garp_master_delay: Option<u32>,
    pub vrrp_garp_master_repeat: Option<u32>,
    pub vrrp_garp_master_refresh: Option<u32>,
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_garp_interval: Option<Usecs>,
    pub vrrp_gna_interval: Option<Usecs>,
    pub vrrp_min_garp: bool,
    pub vrrp_garp_extra_if: Option<(bool, u32)>,
    pub vrrp_down_timer_adverts: Option<u32>,
    pub vrrp_lower_prio_no_advert: Option<bool>,
    pub vrrp_higher_prio_send_advert: Option<bool>,
    pub vrrp_version: Option<u8>,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_strict: bool,
    pub vrrp_iptables: Option<Vec<String>>,
    pub vrrp_ipsets: Option<Vec<String>>,
    pub nftables: Option<String>,
    pub nftables_priority: Option<i32>,
    pub nftables_ifindex: bool,
    pub nftables_counters: bool,
    pub vrrp_startup_delay: Option<Usecs>,
    pub log_unknown_vrids: bool,
    pub vmac_prefix: Option<String>,
    pub vmac_addr_prefix: Option<String>,
    pub vrrp_rx_bufs_policy: Option<String>,
    pub vrrp_rx_bufs_multiplier: Option<u32>,
    pub vrrp_notify_priority_changes: Option<bool>,
    pub notify_fifo: Option<Fifo>,
    pub vrrp_notify_fifo: Option<Fifo>,
    pub lvs_notify_fifo: Option<Fifo>,
    pub fifo_write_vrrp_states_on_reload: bool,
    pub rs_init_notifies: bool,
    pub script_user: Option<(String, Option<String>)>,
    pub enable_script_security: bool,
    pub snmp_socket: Option<String>,
    pub enable_traps: bool,
    pub enable_snmp: Vec<String>,
    pub enable_dbus: bool,
    pub dbus_service_name: Option<String>,
    pub umask: Option<u32>,
    pub random_seed: Option<u32>,
    pub reload_check_config: Option<Option<String>>,
    pub reload_time_file: Option<String>,
    pub reload_repeat: bool,
    pub reload_file: Option<Option<String>>,
    pub include_check: Option<Vec<String>>,
    pub config_save_dir: Option<String>,
    pub tmp_config_directory: Option<String>,
    pub data_use_instance: Option<bool>,
    /// Netlink/process-monitor buffer sizes: (keyword, bytes, force).
    pub netlink_bufs: Vec<(String, u32, bool)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fifo {
    pub path: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub script: Option<Script>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: Option<String>,
    pub syncid: Option<u32>,
    pub maxlen: Option<u32>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackGroup {
    pub name: String,
    pub group: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpGroup {
    pub garp_interval: Option<Usecs>,
    pub gna_interval: Option<Usecs>,
    pub interfaces: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslConf {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

/// `IP[/LEN] [dev IF] [scope S] [brd IP|-|+] [label L] [peer IP] …` (keepalived `parse_ipaddress`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    pub addr: IpAddr,
    pub prefix: u8,
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub brd: Option<String>,
    pub label: Option<String>,
    pub peer: Option<String>,
    pub flags: Vec<String>,
    pub preferred_lft: Option<String>,
    pub track_group: Option<String>,
    pub no_track: bool,
    pub use_vmac: bool,
}

/// `ip route`-like spec; the common options typed, the rest kept in order as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `None` for `default`.
    pub dst: Option<(IpAddr, u8)>,
    pub family6: bool,
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    pub or_via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: Option<String>,
    pub metric: Option<u32>,
    pub scope: Option<String>,
    pub proto: Option<String>,
    pub rtype: Option<String>,
    pub no_track: bool,
    pub track_group: Option<String>,
    /// Other options (`mtu 1400`, `onlink`, `nexthop …`), as written.
    pub other: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub family6: bool,
    pub table: Option<String>,
    pub preference: u32,
    pub preference_set: bool,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<String>,
    pub no_track: bool,
    pub track_group: Option<String>,
    pub other: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: String,
    pub file: Option<String>,
    pub weight: i32,
    pub reverse: bool,
    pub init_file: Option<(Option<i32>, bool)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProcess {
    pub name: String,
    pub process: Vec<String>,
    pub param_match: Option<String>,
    pub weight: i32,
    pub reverse: bool,
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub fork_delay: Option<Usecs>,
    pub terminate_delay: Option<Usecs>,
    pub full_command: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdInstance {
    pub name: String,
    pub neighbor_ip: Option<IpAddr>,
    pub source_ip: Option<IpAddr>,
    pub min_rx: u32,
    pub min_tx: u32,
    pub idle_tx: u32,
    pub multiplier: u32,
    pub passive: bool,
    pub ttl: Option<u32>,
    pub max_hops: Option<u32>,
    pub weight: i32,
    pub reverse: bool,
    pub vrrp: bool,
    pub checker: bool,
}

impl BfdInstance {
    /// Whether the session's events go to VRRP (`track_bfd`): unless `checker` alone was
    /// given (keepalived's `bfd_end_handler`).
    pub fn to_vrrp(&self) -> bool {
        self.vrrp || !self.checker
    }

    /// Whether they go to the checker (`BFD_CHECK`): unless `vrrp` alone was given.
    pub fn to_checker(&self) -> bool {
        self.checker || !self.vrrp
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    pub script: Script,
    /// Seconds.
    pub interval: u32,
    /// Seconds; 0 = use `interval`.
    pub timeout: u32,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

/// A tracker reference inside an instance or sync group: `NAME [weight W [reverse]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub deleted: Option<Option<Script>>,
    pub generic: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub track_interface: Vec<TrackRef>,
    pub track_script: Vec<TrackRef>,
    pub track_file: Vec<TrackRef>,
    pub track_process: Vec<TrackRef>,
    pub track_bfd: Vec<TrackRef>,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub notify_priority_changes: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    Pass,
    Ah,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    pub auth_type: AuthType,
    /// At most 8 bytes (keepalived truncates).
    pub pass: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarpTuning {
    pub master_delay: Option<u32>,
    pub master_repeat: Option<u32>,
    pub master_refresh: Option<u32>,
    pub master_refresh_repeat: Option<u32>,
    pub lower_prio_delay: Option<u32>,
    pub lower_prio_repeat: Option<u32>,
    pub extra_if: Option<(bool, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: String,
    pub state: InitialState,
    /// Whether `state` was written (it is printed back only then).
    pub state_set: bool,
    pub interface: Option<String>,
    pub vrid: u8,
    pub priority: u8,
    /// Centiseconds.
    pub advert_int: u32,
    pub version: u8,
    pub family6: bool,
    pub auth: Option<Auth>,
    pub vips: Vec<IpAddress>,
    pub evips: Vec<IpAddress>,
    pub vroutes: Vec<Route>,
    pub vrules: Vec<Rule>,
    pub track_interface: Vec<TrackRef>,
    pub track_script: Vec<TrackRef>,
    pub track_file: Vec<TrackRef>,
    pub track_process: Vec<TrackRef>,
    pub track_bfd: Vec<TrackRef>,
    pub dont_track_primary: bool,
    pub mcast_src_ip: Option<IpAddr>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    pub mcast_dst_ip: Option<IpAddr>,
    pub track_src_ip: bool,
    pub old_unicast_checksum: Option<bool>,
    pub vrf: Option<String>,
    pub use_vmac: Option<(Option<String>, Option<String>)>,
    pub use_vmac_addr: bool,
    pub vmac_xmit_base: bool,
    pub use_ipvlan: Option<Vec<String>>,
    pub nopreempt: bool,
    /// Microseconds.
    pub preempt_delay: Usecs,
    pub accept: Option<bool>,
    pub skip_check_adv_addr: Option<bool>,
    pub strict_mode: Option<bool>,
    pub promote_secondaries: bool,
    pub notify: Notify,
    pub notify_priority_changes: Option<bool>,
    pub smtp_alert: Option<bool>,
    pub lvs_sync_daemon_interface: Option<String>,
    pub garp: GarpTuning,
    pub down_timer_adverts: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub kernel_rx_buf_size: Option<u32>,
    pub linkbeat_use_polling: bool,
    pub debug: Option<u32>,
}

impl VrrpInstance {
    pub fn new(name: &str) -> Self {
        VrrpInstance {
            name: name.to_string(),
            state: InitialState::Backup,
            state_set: false,
            interface: None,
            vrid: 0,
            priority: 0,
            advert_int: 100,
            version: 0,
            family6: false,
            auth: None,
            vips: Vec::new(),
            evips: Vec::new(),
            vroutes: Vec::new(),
            vrules: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            track_bfd: Vec::new(),
            dont_track_primary: false,
            mcast_src_ip: None,
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            unicast_fault_no_peer: false,
            check_unicast_src: false,
            mcast_dst_ip: None,
            track_src_ip: false,
            old_unicast_checksum: None,
            vrf: None,
            use_vmac: None,
            use_vmac_addr: false,
            vmac_xmit_base: false,
            use_ipvlan: None,
            nopreempt: false,
            preempt_delay: 0,
            accept: None,
            skip_check_adv_addr: None,
            strict_mode: None,
            promote_secondaries: false,
            notify: Notify::default(),
            notify_priority_changes: None,
            smtp_alert: None,
            lvs_sync_daemon_interface: None,
            garp: GarpTuning::default(),
            down_timer_adverts: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            kernel_rx_buf_size: None,
            linkbeat_use_polling: false,
            debug: None,
        }
    }

    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// VRRPv3 Accept_Mode as keepalived sets it (`vrrp_complete_instance`): `accept` /
    /// `no_accept` if written, else on for the address owner and off under strict mode
    /// (`strict_mode`, else the global `vrrp_strict`).
    pub fn accept_mode(&self, global_strict: bool) -> bool {
        self.accept
            .unwrap_or(self.priority == 255 || !self.strict_mode.unwrap_or(global_strict))
    }
}

/// `virtual_server_group` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VsgEntry {
    /// First address, last address (equal for a single address), port (0 = none).
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family6: Option<bool>,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VsKey {
    Addr { addr: IpAddr, port: u16 },
    Fwmark(u32),
    Group(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LvsMethod {
    Nat,
    Dr,
    /// `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`, options as written.
    Tun(Vec<String>),
}

/// Settings a real server inherits from its virtual server and passes on to its checkers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDefaults {
    pub delay_loop: Option<Usecs>,
    pub connect_timeout: Option<Usecs>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Usecs>,
    pub warmup: Option<Usecs>,
    pub alpha: Option<bool>,
    pub inhibit_on_failure: Option<bool>,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub key: VsKey,
    pub protocol: Protocol,
    pub protocol_set: bool,
    pub lb_algo: String,
    pub lb_algo_set: bool,
    pub lb_kind: LvsMethod,
    pub lb_kind_set: bool,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
    pub persistence_engine: Option<String>,
    pub flags: Vec<String>,
    pub ip_family6: Option<bool>,
    pub ha_suspend: bool,
    pub omega: Option<bool>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub sorry_server: Option<(IpAddr, u16)>,
    pub sorry_server_inhibit: bool,
    pub sorry_server_lvs_method: Option<LvsMethod>,
    pub weight: u32,
    pub defaults: CheckDefaults,
    pub snmp_name: Option<String>,
    pub real_servers: Vec<RealServer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub lvs_method: Option<LvsMethod>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub notify_up: Option<Script>,
    pub notify_down: Option<Script>,
    pub defaults: CheckDefaults,
    pub snmp_name: Option<String>,
    pub checkers: Vec<Checker>,
}

/// Connection settings common to the network checkers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnOpts {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub connect_timeout: Option<Usecs>,
    pub fwmark: Option<u32>,
}

/// Retry and timing settings common to all checkers but BFD and FILE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryOpts {
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Usecs>,
    pub delay_loop: Option<Usecs>,
    pub warmup: Option<Usecs>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub path: Option<String>,
    pub digest: Option<String>,
    /// Inclusive ranges of accepted HTTP status codes.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    /// PCRE2 option names (keepalived's table), as written.
    pub regex_options: Vec<String>,
    /// A match must start at or after this body offset ...
    pub regex_min_offset: usize,
    /// ... and at or before this one.
    pub regex_max_offset: Option<usize>,
    /// `regex_stack START MAX`: PCRE2's JIT stack; accepted, no meaning for our matcher.
    pub regex_stack: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    Tcp,
    Http {
        ssl: bool,
        urls: Vec<Url>,
        virtualhost: Option<String>,
        http_protocol: Option<String>,
        enable_sni: bool,
        fast_recovery: bool,
    },
    Smtp {
        helo_name: Option<String>,
        hosts: Vec<ConnOpts>,
    },
    Dns {
        qtype: String,
        name: String,
    },
    Misc {
        path: Option<Script>,
        timeout: Option<u32>,
        dynamic: bool,
        user: Option<(String, Option<String>)>,
    },
    Ping,
    Udp {
        payload: Option<String>,
        require_reply: Option<Option<String>>,
        min_reply_length: Option<u32>,
        max_reply_length: Option<u32>,
    },
    File {
        track_file: Option<String>,
        dynamic: bool,
        weight: Option<(i32, bool)>,
    },
    Bfd {
        name: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    pub kind: CheckKind,
    pub conn: ConnOpts,
    pub retry: RetryOpts,
}

impl CheckKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http { ssl: false, .. } => "HTTP_GET",
            CheckKind::Http { ssl: true, .. } => "SSL_GET",
            CheckKind::Smtp { .. } => "SMTP_CHECK",
            CheckKind::Dns { .. } => "DNS_CHECK",
            CheckKind::Misc { .. } => "MISC_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Udp { .. } => "UDP_CHECK",
            CheckKind::File { .. } => "FILE_CHECK",
            CheckKind::Bfd { .. } => "BFD_CHECK",
        }
    }
}
