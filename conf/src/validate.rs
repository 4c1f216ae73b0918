//! keepalived's completion phase: defaults that depend on other settings, and the checks of
//! `vrrp_complete_instance`, `check_vrid_conflicts` (`vrrp/vrrp.c`), `validate_check_config`
//! (`check/check_data.c`) and the script-security pass (`lib/notify.c`), with their messages.

use crate::diag::Category;
use crate::kw_check::vs_name;
use crate::model::*;
use crate::parse::Parser;
use crate::{Build, LoadOptions};
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

pub fn complete(p: &mut Parser, b: &mut Build, opts: &LoadOptions) {
    // keepalived's VRRP process stops as soon as it has read a config naming an interface
    // that does not exist, before any of its completion checks.
    let vrrp_stopped = p.ifs.missing;
    if vrrp_stopped {
        p.report_global(
            Category::BadInterface,
            "Non-existent interface specified in configuration",
        );
    } else {
        complete_vrrp(p, b, opts);
    }
    complete_check(p, b);
    if opts.check_scripts {
        script_security(p, b, !vrrp_stopped);
    }
}

fn complete_vrrp(p: &mut Parser, b: &mut Build, opts: &LoadOptions) {
    let g = b.cfg.global.clone();
    // chk_min_cfg: an instance without a VRID stops keepalived's VRRP set-up; we drop it.
    let mut keep = Vec::new();
    // keepalived's VRRP_FLAG_UNICAST_CONFIGURED of each instance kept.
    let mut unicast_configured = Vec::new();
    let raws = std::mem::take(&mut b.instance_raw);
    for (i, v) in std::mem::take(&mut b.cfg.instances).into_iter().enumerate() {
        if v.vrid == 0 {
            p.report_global(
                Category::GeneralError,
                format!("({}) the virtual router id must be set", v.name),
            );
            continue;
        }
        if v.interface.is_none() && v.unicast_src_ip.is_none() {
            p.report_global(
                Category::GeneralError,
                format!("({}) Unknown interface!", v.name),
            );
            continue;
        }
        // Not checked: keepalived 2.2.7's "Unicast peers are not supported in strict mode"
        // looks at interface flags not read yet at that point, so it never fires (a strict
        // unicast instance runs, in `-t` and at run time alike) — and neither do we.
        unicast_configured.push(raws.get(i).is_some_and(|r| r.unicast_configured));
        keep.push(v);
    }
    b.cfg.instances = keep;

    // Sync groups: members must exist; a group without members is removed.
    let names: HashSet<String> = b.cfg.instances.iter().map(|v| v.name.clone()).collect();
    let mut groups = Vec::new();
    for mut sg in std::mem::take(&mut b.cfg.sync_groups) {
        if sg.group.is_empty() {
            p.report_global(
                Category::GeneralError,
                format!("Sync group {} has no virtual router(s). removing", sg.name),
            );
            continue;
        }
        sg.group.retain(|m| {
            let ok = names.contains(m);
            if !ok {
                p.diags.push(
                    Category::GeneralError,
                    None,
                    format!(
                        "Virtual router {m} specified in sync group {} doesn't exist - ignoring",
                        sg.name
                    ),
                );
            }
            ok
        });
        if sg.group.len() == 1 {
            p.report_global(
                Category::GeneralError,
                format!("Sync group {} has only 1 virtual router(s) - this probably isn't what you want", sg.name),
            );
        }
        groups.push(sg);
    }
    b.cfg.sync_groups = groups;

    for (v, unicast_configured) in b.cfg.instances.iter_mut().zip(unicast_configured) {
        let name = v.name.clone();
        let strict = v.strict_mode.unwrap_or(g.vrrp_strict);
        // A unicast keyword without peers: multicast after all (deprecated since 2.2.4).
        if unicast_configured && v.unicast_peers.is_empty() && !v.unicast_fault_no_peer {
            p.report_global(
                Category::Deprecated,
                format!("({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
            );
        }
        if v.version == 0 {
            v.version = if v.family6 {
                3
            } else {
                g.vrrp_version.unwrap_or(2)
            };
        } else if v.family6 && v.version == 2 {
            if strict {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) cannot use IPv6 with VRRP version 2; setting version 3"),
                );
            }
            v.version = 3;
        }
        if v.vips.is_empty() {
            if v.version == 3 || strict {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) No VIP specified; at least one is required"),
                );
            } else {
                p.report_global(
                    Category::Warning,
                    format!("({name}) No VIP specified; at least one is sensible"),
                );
            }
        }
        // Priority from the state, then the state from the priority.
        if v.priority == 0 {
            v.priority = if v.state_set && v.state == InitialState::Master {
                255
            } else {
                100
            };
        }
        if !v.state_set {
            v.state = if v.priority == 255 {
                InitialState::Master
            } else {
                InitialState::Backup
            };
        } else if strict && ((v.state == InitialState::Master) != (v.priority == 255)) {
            p.report_global(
                Category::GeneralError,
                format!("({name}) State MASTER must match being address owner"),
            );
            v.state = if v.priority == 255 {
                InitialState::Master
            } else {
                InitialState::Backup
            };
        }
        if let Some(a) = &v.auth {
            let mut clear = false;
            if strict {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Strict mode does not support authentication. Ignoring."),
                );
                clear = true;
            } else if v.version == 3 {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) VRRP version 3 does not support authentication. Ignoring."),
                );
                clear = true;
            } else if a.pass.is_empty() {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Authentication specified but no password given. Ignoring"),
                );
                clear = true;
            } else if v.family6 && a.auth_type == AuthType::Ah {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Cannot use AH authentication with IPv6. ignoring"),
                );
                clear = true;
            } else if a.auth_type == AuthType::Ah
                && v.state == InitialState::Master
                && v.priority != 255
            {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Initial state master is incompatible with AH authentication - clearing"),
                );
                v.state = InitialState::Backup;
            }
            if clear {
                v.auth = None;
            }
        }
        if v.priority == 255 && v.nopreempt {
            p.report_global(
                Category::GeneralError,
                format!(
                    "({name}) nopreempt is incompatible with priority 255. resetting nopreempt"
                ),
            );
            v.nopreempt = false;
        }
        if v.state == InitialState::Master {
            if v.nopreempt {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Warning - nopreempt will not work with initial state MASTER - clearing"),
                );
                v.nopreempt = false;
            }
            if v.preempt_delay > 0 {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Warning - preempt delay will not work with initial state MASTER - clearing"),
                );
                v.preempt_delay = 0;
            }
        }
        if v.preempt_delay > 0 && strict {
            p.report_global(
                Category::GeneralError,
                format!("({name}) preempt_delay is incompatible with strict mode - resetting"),
            );
            v.preempt_delay = 0;
        }
        if strict {
            if v.down_timer_adverts.is_some_and(|d| d != 3) {
                p.report_global(
                    Category::GeneralError,
                    format!(
                        "({name}) down_timer_adverts is incompatible with strict mode - resetting"
                    ),
                );
                v.down_timer_adverts = Some(3);
            }
            if v.accept == Some(true) && v.priority != 255 && v.version == 2 {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"),
                );
                v.accept = Some(false);
            }
            if v.garp.lower_prio_repeat.is_some_and(|r| r > 0) {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Strict mode requires no repeat garps. resetting"),
                );
                v.garp.lower_prio_repeat = Some(0);
            }
            if v.garp.lower_prio_delay.is_some_and(|d| d > 0) {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Strict mode requires no repeat garp delay. resetting"),
                );
                v.garp.lower_prio_delay = Some(0);
            }
            if v.lower_prio_no_advert == Some(false) {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) Strict mode requires no lower priority advert. resetting"),
                );
                v.lower_prio_no_advert = Some(true);
            }
            if v.higher_prio_send_advert == Some(true) {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) strict mode requires higher_prio_send_advert to be clear. resetting"),
                );
                v.higher_prio_send_advert = Some(false);
            }
            if v.vmac_xmit_base && v.use_vmac.is_some() {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) xmit_base is incompatible with strict mode - resetting"),
                );
                v.vmac_xmit_base = false;
            }
        }
        // RFC 5798 §5.2.9: the first IPv6 address must be the link-local one.
        if v.family6 && !v.is_unicast() {
            if let Some(std::net::IpAddr::V6(a)) = v.vips.first().map(|a| a.addr) {
                if (a.segments()[0] & 0xffc0) != 0xfe80 && strict {
                    p.report_global(
                        Category::GeneralError,
                        format!("({name}) the first IPv6 VIP address must be link local"),
                    );
                }
            }
        }
        if v.preempt_delay > 0 && v.nopreempt {
            p.report_global(
                Category::GeneralError,
                format!("({name}) preempt_delay is incompatible with nopreempt mode - resetting"),
            );
            v.preempt_delay = 0;
        }
        // Advert interval per version (RFC 3768: whole seconds < 256; RFC 5798: centiseconds < 4096).
        if v.version == 2 {
            if v.advert_int >= 256 * 100 {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) VRRPv2 advertisement interval {:.2}s is out of range. Must be less than 256s. Setting to 255s", v.advert_int as f64 / 100.0),
                );
                v.advert_int = 255 * 100;
            } else if v.advert_int % 100 != 0 {
                p.report_global(
                    Category::GeneralError,
                    format!("({name}) VRRPv2 advertisement interval {:.6}s must be an integer. rounding", v.advert_int as f64 / 100.0),
                );
                v.advert_int = (v.advert_int + 50) / 100 * 100;
                if v.advert_int == 0 {
                    v.advert_int = 100;
                }
            }
        } else if v.advert_int >= 4096 {
            p.report_global(
                Category::GeneralError,
                format!("({name}) VRRPv3 advertisement interval {:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s", v.advert_int as f64 / 100.0),
            );
            v.advert_int = 4095;
        }
        // Tracking our own interface (or, for a macvlan, its base) is ignored.
        if let Some(own) = v.interface.clone() {
            let ifn = if opts.check_interfaces && opts.interface_names.is_none() {
                base_interface(&own)
            } else {
                own
            };
            v.track_interface.retain(|t| {
                if t.name == ifn {
                    p.diags.push(
                        Category::GeneralError,
                        None,
                        format!("({name}) Ignoring track_interface {ifn} since own interface"),
                    );
                    false
                } else {
                    true
                }
            });
        }
    }

    // VRID conflicts: the same VRID and family on one interface (unicast with disjoint peers excepted).
    let mut msgs = Vec::new();
    let inst = &b.cfg.instances;
    for (i, a) in inst.iter().enumerate() {
        for b2 in inst.iter().skip(i + 1) {
            if a.vrid != b2.vrid || a.family6 != b2.family6 {
                continue;
            }
            if a.is_unicast() || b2.is_unicast() {
                if a.is_unicast()
                    && b2.is_unicast()
                    && a.unicast_peers
                        .iter()
                        .any(|x| b2.unicast_peers.iter().any(|y| x.addr == y.addr))
                {
                    msgs.push(format!(
                        "({}) duplicate VRID conflict with {} VRID {}",
                        a.name, b2.name, a.vrid
                    ));
                }
                continue;
            }
            if a.interface != b2.interface || a.mcast_dst_ip != b2.mcast_dst_ip {
                continue;
            }
            msgs.push(format!(
                "{} and {} both use VRID {} with IPv{} on interface {}",
                a.name,
                b2.name,
                a.vrid,
                if a.family6 { 6 } else { 4 },
                a.interface.clone().unwrap_or_default()
            ));
        }
    }
    for m in msgs {
        p.report_global(Category::GeneralError, m);
    }
}

/// keepalived's `IF_BASE_IFP`: a macvlan's lower interface, else the interface itself.
fn base_interface(name: &str) -> String {
    let dir = Path::new("/sys/class/net").join(name);
    let uevent = std::fs::read_to_string(dir.join("uevent")).unwrap_or_default();
    if uevent.lines().any(|l| l == "DEVTYPE=vlan") {
        return name.to_string();
    }
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            if let Some(lower) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("lower_"))
            {
                return lower.to_string();
            }
        }
    }
    name.to_string()
}

fn complete_check(p: &mut Parser, b: &mut Build) {
    let groups = b.cfg.vs_groups.clone();
    let mut keep = Vec::with_capacity(b.cfg.virtual_servers.len());
    for mut vs in std::mem::take(&mut b.cfg.virtual_servers) {
        let name = vs_name(&vs);
        if vs.real_servers.is_empty() {
            p.report_global(
                Category::GeneralError,
                format!("Virtual server {name} has no real servers - ignoring"),
            );
            continue;
        }
        let group = match &vs.key {
            VsKey::Group(g) => groups.iter().find(|x| &x.name == g),
            _ => None,
        };
        let by_addr = match &vs.key {
            VsKey::Addr { .. } => true,
            VsKey::Group(_) => group.is_some_and(|g| {
                g.entries
                    .iter()
                    .any(|e| matches!(e, VsgEntry::Range { .. }))
            }),
            VsKey::Fwmark(_) => false,
        };
        if by_addr {
            if !vs.protocol_set {
                p.report_global(
                    Category::GeneralError,
                    format!("Virtual server {name}: no protocol set - defaulting to UDP"),
                );
                vs.protocol = Protocol::Udp;
                vs.protocol_set = true;
            }
            if let VsKey::Addr { port: 0, .. } = vs.key {
                if vs.persistence_timeout.is_none() {
                    p.report_global(
                        Category::GeneralError,
                        format!("Virtual server {name}: zero port only valid for persistent services - setting"),
                    );
                    vs.persistence_timeout = Some(360);
                }
            }
        } else if vs.protocol_set {
            p.report_global(
                Category::GeneralError,
                format!("Warning: Virtual server {name}: protocol specified for fwmark - protocol will be ignored"),
            );
            vs.protocol_set = false;
        }
        if !vs.lb_algo_set {
            p.report_global(
                Category::GeneralError,
                format!("Virtual server {name}: no scheduler set, setting default 'wlc'"),
            );
            vs.lb_algo_set = true;
        }
        // Duplicate real servers are removed.
        // In place: a copy would grow to the next power of two (and be kept).
        let mut seen = HashSet::with_capacity_and_hasher(
            vs.real_servers.len(),
            crate::project::FxBuild::default(),
        );
        vs.real_servers.retain(|rs| {
            let first = seen.insert((rs.addr, rs.port));
            if !first {
                p.report_global(
                    Category::GeneralError,
                    format!(
                        "VS {name}: real server {} is duplicated - removing second rs",
                        rs_name(rs)
                    ),
                );
            }
            first
        });
        if !vs.lb_kind_set && vs.real_servers.iter().any(|r| r.lvs_method.is_none()) {
            p.report_global(
                Category::GeneralError,
                format!("Virtual server {name}: no forwarding method set, setting default NAT"),
            );
            vs.lb_kind_set = true;
        }
        let mut weight_sum: u64 = 0;
        for rs in vs.real_servers.iter_mut() {
            if rs.weight == u32::MAX {
                rs.weight = vs.weight;
            }
            weight_sum += rs.weight as u64;
            // A NAT real server without a port inherits the service port.
            let nat = matches!(
                rs.lvs_method.as_ref().unwrap_or(&vs.lb_kind),
                LvsMethod::Nat
            );
            if let VsKey::Addr { port, .. } = vs.key {
                if rs.port == 0 && nat {
                    rs.port = port;
                }
            }
        }
        let ws = weight_sum.min(u32::MAX as u64) as u32;
        if vs.quorum > ws {
            p.report_global(
                Category::GeneralError,
                format!("Warning - quorum {} for {name} exceeds total weight of real servers {ws}, reducing quorum to {ws}", vs.quorum),
            );
            vs.quorum = ws;
        }
        if vs.hysteresis >= vs.quorum && vs.hysteresis > 0 {
            let q = vs.quorum;
            p.report_global(
                Category::GeneralError,
                format!(
                    "Virtual server {name}: hysteresis {} >= quorum {q}; setting hysteresis to {}",
                    vs.hysteresis,
                    q.saturating_sub(1)
                ),
            );
            vs.hysteresis = q.saturating_sub(1);
        }
        keep.push(vs);
    }
    b.cfg.virtual_servers = keep;
}

fn rs_name(rs: &RealServer) -> String {
    rs_name_pre(rs.addr, rs.port)
}

fn rs_name_pre(addr: IpAddr, port: u16) -> String {
    format!("[{addr}]:{port}")
}

/// Script flags as keepalived's `check_script_secure` returns them.
const SC_ISSCRIPT: u8 = 1;
const SC_INSECURE: u8 = 2;
const SC_NOTFOUND: u8 = 4;
const SC_SYSTEM: u8 = 8;

/// Where keepalived looks for a bare script name.
const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// keepalived's `check_script_secure`, for a script run as root (the default without
/// `keepalived_script`) or as its configured user.
pub fn script_flags(s: &Script) -> u8 {
    let Some(arg0) = s.args.first() else {
        return SC_NOTFOUND;
    };
    if let Some(rest) = arg0.strip_prefix('<') {
        if rest.trim_start_matches([' ', '\t']).starts_with('/') {
            return SC_SYSTEM;
        }
    }
    let path = if arg0.contains('/') {
        std::path::PathBuf::from(arg0)
    } else {
        match SCRIPT_PATH
            .split(':')
            .map(|d| Path::new(d).join(arg0))
            .find(|p| p.is_file())
        {
            Some(p) => p,
            None => return SC_NOTFOUND,
        }
    };
    let Ok(real) = std::fs::canonicalize(&path) else {
        return SC_NOTFOUND;
    };
    let Ok(meta) = std::fs::metadata(&real) else {
        return SC_NOTFOUND;
    };
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut flags = SC_ISSCRIPT;
    if meta.permissions().mode() & 0o111 == 0 {
        return flags;
    }
    // Every component must be root-owned and not writable by group/other.
    let mut cur = Some(real.as_path());
    while let Some(c) = cur {
        if let Ok(m) = std::fs::metadata(c) {
            let mode = m.permissions().mode();
            let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
            if m.uid() != 0
                || (!sticky_dir && ((m.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0))
            {
                flags |= SC_INSECURE;
            }
        }
        cur = c.parent();
    }
    flags
}

/// `vrrp`: false when keepalived's VRRP process stopped before its checks (its scripts are
/// then not looked at).
fn script_security(p: &mut Parser, b: &mut Build, vrrp: bool) {
    let secure = b.cfg.global.enable_script_security;
    // VRRP side: track scripts, then instance and group notify scripts.
    let mut vflags = 0u8;
    if vrrp && !b.cfg.instances.is_empty() {
        let mut disabled = HashSet::new();
        for s in &b.cfg.scripts {
            let f = script_flags(&s.script);
            if f & SC_NOTFOUND != 0 {
                p.report_global(
                    Category::GeneralError,
                    format!(
                        "Disabling track script {} since not found/accessible",
                        s.name
                    ),
                );
                disabled.insert(s.name.clone());
            } else if secure && f & SC_INSECURE != 0 {
                p.report_global(
                    Category::GeneralError,
                    format!("Disabling track script {} due to insecure", s.name),
                );
                disabled.insert(s.name.clone());
            }
            vflags |= f;
        }
        for v in b.cfg.instances.iter_mut() {
            v.track_script.retain(|t| !disabled.contains(&t.name));
            vflags |= notify_flags(&v.notify);
        }
        for g in b.cfg.sync_groups.iter_mut() {
            g.track_script.retain(|t| !disabled.contains(&t.name));
            vflags |= notify_flags(&g.notify);
        }
        if !secure && vflags & SC_ISSCRIPT != 0 {
            let extra = if vflags & SC_INSECURE != 0 {
                " There are insecure scripts."
            } else {
                ""
            };
            p.report_global(Category::SecurityError, format!("SECURITY VIOLATION - scripts are being executed but script_security not enabled.{extra}"));
        }
    }
    // Checker side: MISC_CHECK, quorum and real-server notify scripts.
    let mut cflags = 0u8;
    if !b.cfg.virtual_servers.is_empty() {
        for vs in &b.cfg.virtual_servers {
            for s in vs.quorum_up.iter().chain(vs.quorum_down.iter()) {
                cflags |= script_flags(s);
            }
            for rs in &vs.real_servers {
                for s in rs.notify_up.iter().chain(rs.notify_down.iter()) {
                    cflags |= script_flags(s);
                }
                for c in &rs.checkers {
                    if let CheckKind::Misc { path: Some(s), .. } = &c.kind {
                        cflags |= script_flags(s);
                    }
                }
            }
        }
        if !secure && cflags & SC_ISSCRIPT != 0 {
            let extra = if cflags & SC_INSECURE != 0 {
                " There are insecure scripts."
            } else {
                ""
            };
            p.report_global(
                Category::SecurityError,
                format!("SECURITY VIOLATION - check scripts are being executed but script_security not enabled.{extra}"),
            );
        }
    }
    let g = &b.cfg.global;
    let mut sflags = 0u8;
    for s in g.startup_script.iter().chain(g.shutdown_script.iter()) {
        sflags |= script_flags(s);
    }
    if !secure && sflags & SC_ISSCRIPT != 0 {
        let extra = if sflags & SC_INSECURE != 0 {
            " There are insecure scripts."
        } else {
            ""
        };
        p.report_global(
            Category::SecurityError,
            format!("SECURITY VIOLATION - start/shutdown scripts are being executed but script_security not enabled.{extra}"),
        );
    }
}

fn notify_flags(n: &Notify) -> u8 {
    let mut f = 0;
    for s in [
        &n.master,
        &n.backup,
        &n.fault,
        &n.stop,
        &n.generic,
        &n.master_rx_lower_pri,
    ]
    .into_iter()
    .flatten()
    {
        f |= script_flags(s);
    }
    if let Some(Some(s)) = &n.deleted {
        f |= script_flags(s);
    }
    f
}
