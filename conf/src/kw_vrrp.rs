//! VRRP sections: `vrrp_script`, `vrrp_sync_group`, `vrrp_instance`, trackers, static
//! addresses/routes/rules, BFD (keepalived's `vrrp_parser.c`, `track_file.c`, `bfd_parser.c`).

use crate::diag::Category;
use crate::model::*;
use crate::parse::{Parser, Words, IFNAMSIZ};
use crate::specs;
use crate::Build;

pub fn vrrp_script(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut s = VrrpScript {
        name: name.clone(),
        interval: 1,
        rise: 1,
        fall: 1,
        ..Default::default()
    };
    let mut have_script = false;
    p.block(&mut |p, w| {
        match w.kw() {
            "script" => {
                if let Some(sc) = p.script(w) {
                    s.script = sc;
                    have_script = true;
                }
            }
            "interval" => {
                if let Some(v) = p.unsigned_arg(w, 1, 0, u32::MAX as u64) {
                    s.interval = (v as u32).max(1);
                }
            }
            "timeout" => {
                if let Some(v) = p.unsigned_arg(w, 1, 0, u32::MAX as u64) {
                    s.timeout = (v as u32).max(1);
                }
            }
            "weight" => {
                if let Some((wt, rev)) = weight(p, w, 253) {
                    s.weight = wt;
                    s.reverse = rev;
                }
            }
            "rise" => {
                if let Some(v) = p.unsigned_arg(w, 1, 1, u32::MAX as u64) {
                    s.rise = v as u32;
                }
            }
            "fall" => {
                if let Some(v) = p.unsigned_arg(w, 1, 1, u32::MAX as u64) {
                    s.fall = v as u32;
                }
            }
            "user" => {
                if let Some(u) = p.arg(w, 1) {
                    s.script.user = Some(u.to_string());
                    s.script.group = w.get(2).map(str::to_string);
                }
            }
            "init_fail" => s.init_fail = true,
            _ => return false,
        }
        true
    });
    if !have_script {
        p.report(
            Category::GeneralError,
            format!("No script set for vrrp_script {name} - removing"),
        );
        return;
    }
    b.cfg.scripts.push(s);
}

/// `weight W [reverse]` with keepalived's range message.
fn weight(p: &mut Parser, w: &Words, max: i64) -> Option<(i32, bool)> {
    let s = p.arg(w, 1)?.to_string();
    let v = p.int(&s, -max, max)? as i32;
    Some((v, w.get(2) == Some("reverse")))
}

/// Entries of a `track_*` block: `NAME [weight W [reverse|noreverse]]`.
fn track_refs(p: &mut Parser, w: &Words, max: i64) -> Vec<TrackRef> {
    track_refs_at(p, w, max)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// Like `track_refs`, with each entry's location (name look-ups report there).
fn track_refs_at(p: &mut Parser, w: &Words, max: i64) -> Vec<(TrackRef, crate::diag::Loc)> {
    let mut out = Vec::new();
    for e in p.value_block(w) {
        p.loc = Some(e.line.loc());
        out.push((track_ref(p, &e, max), e.line.loc()));
    }
    out
}

/// One entry of a `track_*` block: `NAME [weight W [reverse|noreverse]]`.
fn track_ref(p: &mut Parser, e: &Words, max: i64) -> TrackRef {
    let mut t = TrackRef {
        name: e.kw().to_string(),
        weight: None,
        reverse: false,
    };
    if e.get(1) == Some("weight") {
        match e.get(2) {
            Some(v) => {
                let v = v.to_string();
                if let Some(n) = p.int(&v, -max, max) {
                    t.weight = Some(n as i32);
                }
            }
            None => p.report(
                Category::MissingParameter,
                format!("track {} weight missing", t.name),
            ),
        }
        match e.get(3) {
            Some("reverse") => t.reverse = true,
            Some("noreverse") | Some("no_reverse") | None => {}
            Some(o) => p.report(Category::GeneralError, format!("Unknown track option {o}")),
        }
    } else if let Some(o) = e.get(1) {
        p.report(Category::GeneralError, format!("Unknown track option {o}"));
    }
    t
}

/// A `track_interface` block of instance or sync group `owner`: keepalived's
/// `alloc_track_if`, with its messages; an interface that does not exist is dropped.
fn track_interfaces(p: &mut Parser, w: &Words, owner: &str) -> Vec<TrackRef> {
    let mut out: Vec<TrackRef> = Vec::new();
    for e in p.value_block(w) {
        p.loc = Some(e.line.loc());
        let name = e.kw();
        if !p.interface_usable(name) {
            p.report(
                Category::GeneralError,
                format!("({owner}) tracked interface {name} doesn't exist"),
            );
            continue;
        }
        if out.iter().any(|t| t.name == name) {
            p.report(
                Category::GeneralError,
                format!("({owner}) duplicate track_interface {name} - ignoring"),
            );
            continue;
        }
        let mut t = TrackRef {
            name: name.to_string(),
            weight: None,
            reverse: false,
        };
        if let Some(opt) = e.get(1) {
            if opt != "weight" {
                p.report(
                    Category::GeneralError,
                    format!("({owner}) unknown track_interface {name} option {opt} - ignoring"),
                );
                continue;
            }
            let Some(v) = e.get(2) else {
                p.report(
                    Category::GeneralError,
                    format!(
                        "({owner}) weight without value specified for track_interface {name} - ignoring"
                    ),
                );
                continue;
            };
            match p.int(v, -254, 254) {
                None => p.report(
                    Category::GeneralError,
                    format!("({owner}) weight {v} for {name} must be between [-253..253] inclusive. Ignoring..."),
                ),
                Some(n) if n.abs() == 254 => {
                    p.report(
                        Category::GeneralError,
                        format!("({owner}) weight for {name} cannot be +/-254. Setting to +/-253"),
                    );
                    t.weight = Some(n.signum() as i32 * 253);
                }
                Some(n) => t.weight = Some(n as i32),
            }
            match e.get(3) {
                Some("reverse") => t.reverse = true,
                Some(o) => p.report(
                    Category::GeneralError,
                    format!("({owner}) unknown track_interace {name} weight option {o} - ignoring"),
                ),
                None => {}
            }
        }
        out.push(t);
    }
    out
}

fn notify_kw(p: &mut Parser, n: &mut Notify, w: &Words) -> bool {
    let slot = match w.kw() {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify" => &mut n.generic,
        "notify_master_rx_lower_pri" => &mut n.master_rx_lower_pri,
        _ => return false,
    };
    *slot = p.script(w);
    true
}

pub fn sync_group(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut g = SyncGroup {
        name,
        ..Default::default()
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "group" => {
                for e in p.value_block(w) {
                    p.loc = Some(e.line.loc());
                    g.group.extend(e.iter_from(0).map(str::to_string));
                }
            }
            "track_interface" => g.track_interface = track_interfaces(p, w, &g.name),
            "track_script" => g.track_script = track_refs(p, w, 254),
            "track_file" => g.track_file = track_refs(p, w, 254),
            "track_process" => g.track_process = track_refs(p, w, 254),
            "track_bfd" => g.track_bfd = track_refs(p, w, 254),
            "smtp_alert" => g.smtp_alert = p.opt_bool(w, 1),
            "global_tracking" => g.global_tracking = true,
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            "notify_priority_changes" => g.notify_priority_changes = p.opt_bool(w, 1),
            _ => return notify_kw(p, &mut g.notify, w),
        }
        true
    });
    b.cfg.sync_groups.push(g);
}

/// An instance's address family (`Some(true)`: IPv6) as keepalived's `vrrp->family`: set by
/// the first address (source, multicast group, unicast peer, virtual address) or
/// `native_ipv6`; later addresses must match it.
#[derive(Default)]
struct Family(Option<bool>);

impl Family {
    /// Set the family if unset; false if it is set to the other family.
    fn set(&mut self, v6: bool) -> bool {
        *self.0.get_or_insert(v6) == v6
    }
}

pub fn instance(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut v = VrrpInstance::new(&name);
    let mut raw = crate::InstanceRaw::default();
    let mut family = Family::default();
    p.block(&mut |p, w| {
        let iname = v.name.clone();
        match w.kw() {
            "state" => match p.arg(w, 1) {
                Some("MASTER") => {
                    v.state = InitialState::Master;
                    v.state_set = true;
                }
                Some("BACKUP") => {
                    v.state = InitialState::Backup;
                    v.state_set = true;
                }
                Some(o) => {
                    let o = o.to_string();
                    p.report(Category::GeneralError, format!("({iname}) unknown state '{o}', defaulting to BACKUP"));
                }
                None => {}
            },
            "interface" => {
                if let Some(name) = p.arg(w, 1) {
                    if name.len() >= IFNAMSIZ {
                        p.report(Category::GeneralError, format!("Interface name '{name}' too long - ignoring"));
                    } else {
                        if !p.interface_usable(name) {
                            p.report(Category::GeneralError, format!("WARNING - interface {name} for vrrp_instance {iname} doesn't exist"));
                        }
                        v.interface = Some(name.to_string());
                    }
                }
            }
            "virtual_router_id" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    match p.unsigned(&s, 1, 255) {
                        Some(n) => v.vrid = n as u8,
                        None => p.report(
                            Category::GeneralError,
                            format!("({iname}): VRID '{s}' not valid - must be between 1 & 255"),
                        ),
                    }
                }
            }
            "priority" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    match p.unsigned(&s, 1, 255) {
                        Some(n) => v.priority = n as u8,
                        None => p.report(
                            Category::GeneralError,
                            format!("({iname}) Priority not valid! must be between 1 & 255. Reconfigure !"),
                        ),
                    }
                }
            }
            "advert_int" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    // Centiseconds; the per-version range and rounding are checked at the end.
                    match p.decimal(&s, 1, 25500, 2) {
                        Some(n) => {
                            v.advert_int = n as u32;
                            raw.advert_int_text = Some(s);
                        }
                        None => p.report(
                            Category::GeneralError,
                            format!("({iname}) Advert interval (in sec) not valid! must be between 0.01 & 255. Using default 1"),
                        ),
                    }
                }
            }
            "version" => {
                if let Some(n) = p.unsigned_arg(w, 1, 2, 3) {
                    v.version = n as u8;
                }
            }
            "authentication" => {
                let mut ty = None;
                let mut pass = None;
                p.block(&mut |p, w| {
                    match w.kw() {
                        "auth_type" => match p.arg(w, 1) {
                            Some("PASS") => ty = Some(AuthType::Pass),
                            Some("AH") => ty = Some(AuthType::Ah),
                            Some(o) => {
                                let o = o.to_string();
                                p.report(Category::GeneralError, format!("({iname}) unknown authentication type '{o}'"));
                            }
                            None => {}
                        },
                        "auth_pass" => {
                            if let Some(s) = p.arg(w, 1).map(str::to_string) {
                                let mut s = s;
                                if s.len() > 8 {
                                    p.report(Category::GeneralError, "Truncating auth_pass to 8 characters");
                                    let mut cut = 8;
                                    while !s.is_char_boundary(cut) {
                                        cut -= 1;
                                    }
                                    s.truncate(cut);
                                }
                                pass = Some(s);
                            }
                        }
                        _ => return false,
                    }
                    true
                });
                if let Some(t) = ty {
                    v.auth = Some(Auth { auth_type: t, pass: pass.unwrap_or_default() });
                }
            }
            "virtual_ipaddress" => {
                for e in p.value_block(w) {
                    p.loc = Some(e.line.loc());
                    if let Some(a) = specs::ip_address(p, &e, true) {
                        // keepalived's alloc_vrrp_vip: the first address family seen is the instance's.
                        if !family.set(a.addr.is_ipv6()) {
                            p.report(Category::GeneralError, format!("({iname}): address family must match VRRP instance [{}] - ignoring", e.kw()));
                            continue;
                        }
                        v.vips.push(a);
                    }
                }
            }
            "virtual_ipaddress_excluded" => {
                for e in p.value_block(w) {
        p.loc = Some(e.line.loc());
                    if let Some(a) = specs::ip_address(p, &e, true) {
                        v.evips.push(a);
                    }
                }
            }
            "virtual_routes" => {
                for e in p.value_block(w) {
        p.loc = Some(e.line.loc());
                    if let Some(r) = specs::route(p, &e) {
                        v.vroutes.push(r);
                    }
                }
            }
            "virtual_rules" => {
                for e in p.value_block(w) {
        p.loc = Some(e.line.loc());
                    if let Some(r) = specs::rule(p, &e, &mut b.next_rule_pref) {
                        v.vrules.push(r);
                    }
                }
            }
            "track_interface" => v.track_interface.extend(track_interfaces(p, w, &iname)),
            "track_script" => {
                for (t, loc) in track_refs_at(p, w, 254) {
                    if !b.cfg.scripts.iter().any(|s| s.name == t.name) {
                        p.diags.push(Category::GeneralError, Some(loc), format!("({iname}) track script {} not found, ignoring...", t.name));
                    } else {
                        v.track_script.push(t);
                    }
                }
            }
            "track_file" => {
                for (t, loc) in track_refs_at(p, w, 254) {
                    if !b.cfg.track_files.iter().any(|s| s.name == t.name) {
                        p.diags.push(Category::GeneralError, Some(loc), format!("({iname}) track file {} not found, ignoring...", t.name));
                    } else {
                        v.track_file.push(t);
                    }
                }
            }
            "track_process" => {
                for (t, loc) in track_refs_at(p, w, 254) {
                    if !b.cfg.track_processes.iter().any(|s| s.name == t.name) {
                        p.diags.push(Category::GeneralError, Some(loc), format!("({iname}) track process {} not found, ignoring...", t.name));
                    } else {
                        v.track_process.push(t);
                    }
                }
            }
            "track_bfd" => v.track_bfd.extend(track_refs(p, w, 253)),
            "dont_track_primary" => v.dont_track_primary = true,
            "mcast_src_ip" | "unicast_src_ip" => {
                if w.kw() == "unicast_src_ip" {
                    raw.unicast_configured = true;
                }
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    if let Some(a) = p.ip(&s) {
                        if !family.set(a.is_ipv6()) {
                            p.report(Category::GeneralError, format!("Configuration error: VRRP instance[{iname}] and src address[{s}] MUST be of the same family !!! Skipping..."));
                        } else if w.kw() == "mcast_src_ip" {
                            v.mcast_src_ip = Some(a);
                        } else {
                            v.unicast_src_ip = Some(a);
                        }
                    }
                }
            }
            "unicast_peer" => {
                raw.unicast_configured = true;
                for e in p.value_block(w) {
                    p.loc = Some(e.line.loc());
                    let s = e.kw().to_string();
                    let Some(addr) = p.ip(&s) else { continue };
                    if !family.set(addr.is_ipv6()) {
                        p.report(Category::GeneralError, format!("Configuration error: VRRP instance[{iname}] and unicast peer address[{s}] MUST be of the same family !!! Skipping..."));
                        continue;
                    }
                    let mut peer = UnicastPeer { addr, min_ttl: None, max_ttl: None };
                    let mut i = 1;
                    while i < e.len() {
                        match (e.get(i), e.get(i + 1)) {
                            (Some("min_ttl"), Some(t)) => peer.min_ttl = p.unsigned(t, 0, 255).map(|x| x as u8),
                            (Some("max_ttl"), Some(t)) => peer.max_ttl = p.unsigned(t, 0, 255).map(|x| x as u8),
                            (Some(o), _) => {
                                let o = o.to_string();
                                p.report(Category::GeneralError, format!("Unknown unicast_peer option {o}"));
                            }
                            _ => {}
                        }
                        i += 2;
                    }
                    v.unicast_peers.push(peer);
                }
            }
            "unicast_ttl" => v.unicast_ttl = p.unsigned_arg(w, 1, 0, 255).map(|x| x as u8),
            "unicast_fault_no_peer" => {
                v.unicast_fault_no_peer = true;
                raw.unicast_configured = true;
            }
            "check_unicast_src" => {
                v.check_unicast_src = true;
                raw.unicast_configured = true;
            }
            "mcast_dst_ip" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    if let Some(a) = p.ip(&s) {
                        if family.set(a.is_ipv6()) {
                            v.mcast_dst_ip = Some(a);
                        } else {
                            p.report(Category::GeneralError, format!("({iname}) mcast dest address {s} MUST match VRRP instance family. Skipping..."));
                        }
                    }
                }
            }
            "track_src_ip" => v.track_src_ip = true,
            "old_unicast_checksum" => {
                v.old_unicast_checksum = Some(w.get(1) != Some("never"));
                raw.unicast_configured = true;
            }
            "native_ipv6" => {
                if family.0 == Some(false) {
                    p.report(Category::GeneralError, format!("({iname}) Cannot specify native_ipv6 with IPv4 addresses"));
                } else {
                    family.0 = Some(true);
                    v.version = 3;
                }
            }
            "vrf" => {
                if let Some(name) = p.arg(w, 1) {
                    if name.len() >= IFNAMSIZ {
                        p.report(Category::GeneralError, format!("({iname}) VRF interface name '{name}' too long - ignoring"));
                    } else if v.interface.is_some() {
                        p.report(Category::GeneralError, format!("({iname}) Cannot specify VRF interface and interface - ignoring"));
                    } else if let Some(old) = &v.vrf {
                        let msg = format!("({iname}) VRF interface already specified as '{old}' - ignoring");
                        p.report(Category::GeneralError, msg);
                    } else {
                        if !p.interface_usable(name) {
                            p.report(Category::GeneralError, format!("({iname}) WARNING - VRF interface {name} doesn't exist"));
                        }
                        v.vrf = Some(name.to_string());
                    }
                }
            }
            "use_vmac" => v.use_vmac = Some((w.get(1).map(str::to_string), w.get(2).map(str::to_string))),
            "use_vmac_addr" => v.use_vmac_addr = true,
            "vmac_xmit_base" => v.vmac_xmit_base = true,
            "use_ipvlan" => v.use_ipvlan = Some(w.rest(1)),
            "nopreempt" => v.nopreempt = true,
            "preempt" => v.nopreempt = false,
            "preempt_delay" => {
                if let Some(t) = p.timer(w, 1, 0, 1000 * USEC_PER_SEC) {
                    v.preempt_delay = t;
                }
            }
            "accept" => v.accept = Some(true),
            "no_accept" => v.accept = Some(false),
            "skip_check_adv_addr" => v.skip_check_adv_addr = p.opt_bool(w, 1),
            "strict_mode" => v.strict_mode = p.opt_bool(w, 1),
            "promote_secondaries" => v.promote_secondaries = true,
            "notify_deleted" => v.notify.deleted = Some(if w.len() > 1 { p.script(w) } else { None }),
            "notify_priority_changes" => v.notify_priority_changes = p.opt_bool(w, 1),
            "smtp_alert" => v.smtp_alert = p.opt_bool(w, 1),
            "lvs_sync_daemon_interface" => {
                v.lvs_sync_daemon_interface = p.arg(w, 1).map(str::to_string);
                p.report(Category::Deprecated, format!("({iname}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated."));
                p.report(Category::Deprecated, "        Please use global lvs_sync_daemon");
            }
            "garp_master_delay" => v.garp.master_delay = p.unsigned_arg(w, 1, 0, 255).map(|x| x as u32),
            "garp_master_repeat" => v.garp.master_repeat = p.unsigned_arg(w, 1, 1, 255).map(|x| x as u32),
            "garp_master_refresh" => v.garp.master_refresh = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32),
            "garp_master_refresh_repeat" => v.garp.master_refresh_repeat = p.unsigned_arg(w, 1, 1, 255).map(|x| x as u32),
            "garp_lower_prio_delay" => v.garp.lower_prio_delay = p.unsigned_arg(w, 1, 0, 255).map(|x| x as u32),
            "garp_lower_prio_repeat" => v.garp.lower_prio_repeat = p.unsigned_arg(w, 1, 1, 255).map(|x| x as u32),
            "garp_extra_if" | "vmac_garp_intvl" => {
                let all = w.get(1) == Some("all");
                let idx = if all { 2 } else { 1 };
                if let Some(n) = p.unsigned_arg(w, idx, 0, 86400) {
                    v.garp.extra_if = Some((all, n as u32));
                }
            }
            "down_timer_adverts" => v.down_timer_adverts = p.unsigned_arg(w, 1, 1, 100).map(|x| x as u32),
            "lower_prio_no_advert" => v.lower_prio_no_advert = p.opt_bool(w, 1),
            "higher_prio_send_advert" => v.higher_prio_send_advert = p.opt_bool(w, 1),
            "kernel_rx_buf_size" => v.kernel_rx_buf_size = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32),
            "linkbeat_use_polling" => v.linkbeat_use_polling = true,
            "debug" => v.debug = p.unsigned_arg(w, 1, 0, 4).map(|x| x as u32),
            _ => return notify_kw(p, &mut v.notify, w),
        }
        true
    });
    v.vips = crate::kw_check::exact(v.vips);
    // keepalived defaults to IPv4 when nothing has set the family.
    v.family6 = family.0 == Some(true);
    b.instance_raw.push(raw);
    b.cfg.instances.push(v);
}

pub fn track_file(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut t = TrackFile {
        name,
        weight: 1,
        ..Default::default()
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "file" => t.file = p.arg(w, 1).map(str::to_string),
            "weight" => {
                if let Some((wt, rev)) = weight(p, w, i32::MAX as i64) {
                    t.weight = wt;
                    t.reverse = rev;
                }
            }
            "init_file" => {
                let mut val = None;
                let mut over = false;
                for x in w.rest(1) {
                    if x == "overwrite" {
                        over = true;
                    } else if let Some(n) = p.int(&x, i32::MIN as i64, i32::MAX as i64) {
                        val = Some(n as i32);
                    }
                }
                t.init_file = Some((val, over));
            }
            _ => return false,
        }
        true
    });
    if t.file.is_none() {
        p.report(
            Category::GeneralError,
            format!("No file set for track_file {} - removing", t.name),
        );
        return;
    }
    b.cfg.track_files.push(t);
}

pub fn track_process(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut t = TrackProcess {
        name,
        quorum: 1,
        ..Default::default()
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "process" => t.process = w.rest(1),
            "param_match" => t.param_match = p.arg(w, 1).map(str::to_string),
            "weight" => {
                if let Some((wt, rev)) = weight(p, w, 254) {
                    t.weight = wt;
                    t.reverse = rev;
                }
            }
            "quorum" => t.quorum = p.unsigned_arg(w, 1, 1, 65535).unwrap_or(1) as u32,
            "quorum_max" => t.quorum_max = p.unsigned_arg(w, 1, 0, 65535).map(|x| x as u32),
            "fork_delay" => t.fork_delay = p.timer(w, 1, 0, 0),
            "terminate_delay" => t.terminate_delay = p.timer(w, 1, 0, 0),
            "delay" => {
                t.fork_delay = p.timer(w, 1, 0, 0);
                t.terminate_delay = t.fork_delay;
            }
            "full_command" => t.full_command = true,
            _ => return false,
        }
        true
    });
    b.cfg.track_processes.push(t);
}

pub fn bfd_instance(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut t = BfdInstance {
        name,
        min_rx: 10,
        min_tx: 10,
        idle_tx: 1000,
        multiplier: 5,
        ..Default::default()
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "neighbor_ip" | "neighbour_ip" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    t.neighbor_ip = p.ip(&s);
                }
            }
            "source_ip" => {
                if let Some(s) = p.arg(w, 1).map(str::to_string) {
                    t.source_ip = p.ip(&s);
                }
            }
            "min_rx" => t.min_rx = p.unsigned_arg(w, 1, 1, 1000).unwrap_or(10) as u32,
            "min_tx" => t.min_tx = p.unsigned_arg(w, 1, 1, 1000).unwrap_or(10) as u32,
            "idle_tx" => t.idle_tx = p.unsigned_arg(w, 1, 1, 1000).unwrap_or(1000) as u32,
            "multiplier" => t.multiplier = p.unsigned_arg(w, 1, 1, 255).unwrap_or(5) as u32,
            "passive" => t.passive = true,
            "ttl" | "hoplimit" => t.ttl = p.unsigned_arg(w, 1, 1, 255).map(|x| x as u32),
            "max_hops" => t.max_hops = p.unsigned_arg(w, 1, 0, 255).map(|x| x as u32),
            "weight" => {
                if let Some((wt, rev)) = weight(p, w, 253) {
                    t.weight = wt;
                    t.reverse = rev;
                }
            }
            "vrrp" => t.vrrp = true,
            "checker" => t.checker = true,
            _ => return false,
        }
        true
    });
    b.cfg.bfd_instances.push(t);
}

pub fn static_block(p: &mut Parser, b: &mut Build, w: &Words) {
    let entries = p.value_block(w);
    for e in entries {
        p.loc = Some(e.line.loc());
        match w.kw() {
            "static_ipaddress" => {
                if let Some(a) = specs::ip_address(p, &e, false) {
                    b.cfg.static_ipaddress.push(a);
                }
            }
            "static_routes" => {
                if let Some(r) = specs::route(p, &e) {
                    b.cfg.static_routes.push(r);
                }
            }
            _ => {
                if let Some(r) = specs::rule(p, &e, &mut b.next_rule_pref) {
                    b.cfg.static_rules.push(r);
                }
            }
        }
    }
}
