//! `global_defs` (keepalived's `core/global_parser.c`).

use crate::diag::Category;
use crate::model::*;
use crate::parse::{Parser, Words};
use crate::Build;

fn u32_arg(p: &mut Parser, w: &Words, min: u64, max: u64) -> Option<u32> {
    p.unsigned_arg(w, 1, min, max).map(|x| x as u32)
}

fn i32_arg(p: &mut Parser, w: &Words, min: i64, max: i64) -> Option<i32> {
    let s = p.arg(w, 1)?.to_string();
    p.int(&s, min, max).map(|x| x as i32)
}

fn string(p: &mut Parser, w: &Words) -> Option<String> {
    p.arg(w, 1).map(str::to_string)
}

fn fifo(p: &mut Parser, w: &Words) -> Option<Fifo> {
    let path = string(p, w)?;
    Some(Fifo {
        path,
        user: w.get(2).map(str::to_string),
        group: w.get(3).map(str::to_string),
        script: None,
    })
}

fn cpus(p: &mut Parser, w: &Words) -> Vec<u32> {
    let mut out = Vec::new();
    for s in w.rest(1) {
        if let Some(n) = p.unsigned(&s, 0, 4095) {
            out.push(n as u32);
        }
    }
    out
}

pub fn global_defs(p: &mut Parser, b: &mut Build) {
    let g = &mut b.cfg.global;
    p.block(&mut |p, w| {
        match w.kw() {
            "router_id" => g.router_id = string(p, w),
            "notification_email" => {
                let entries = p.value_block(w);
                if entries.is_empty() {
                    p.report(
                        Category::Warning,
                        "Warning - empty notification_email block",
                    );
                }
                for e in entries {
                    p.loc = Some(e.line.loc());
                    g.notification_email.extend(e.rest(0));
                }
            }
            "notification_email_from" => g.notification_email_from = string(p, w),
            "smtp_server" => {
                if let Some(s) = string(p, w) {
                    let port = match w.get(2) {
                        Some(ps) => {
                            let ps = ps.to_string();
                            p.unsigned(&ps, 1, 65535).unwrap_or(25) as u16
                        }
                        None => 25,
                    };
                    g.smtp_server = Some((s, port));
                }
            }
            "smtp_helo_name" => g.smtp_helo_name = string(p, w),
            "smtp_connect_timeout" => g.smtp_connect_timeout = u32_arg(p, w, 1, 3600),
            "smtp_alert" => g.smtp_alert = p.opt_bool(w, 1),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = p.opt_bool(w, 1),
            "smtp_alert_checker" => g.smtp_alert_checker = p.opt_bool(w, 1),
            "checker_log_all_failures" => {
                g.checker_log_all_failures = p.opt_bool(w, 1).unwrap_or(false)
            }
            "no_email_faults" => g.no_email_faults = true,
            "no_checker_emails" => g.no_checker_emails = true,
            "process_names" => g.process_names = true,
            "process_name" => g.process_name = string(p, w),
            "vrrp_process_name" => g.vrrp_process_name = string(p, w),
            "checker_process_name" | "lvs_process_name" => g.checker_process_name = string(p, w),
            "bfd_process_name" => g.bfd_process_name = string(p, w),
            "startup_script" => g.startup_script = p.script(w),
            "startup_script_timeout" => g.startup_script_timeout = u32_arg(p, w, 1, 1000),
            "shutdown_script" => g.shutdown_script = p.script(w),
            "shutdown_script_timeout" => g.shutdown_script_timeout = u32_arg(p, w, 1, 1000),
            "max_auto_priority" => {
                g.max_auto_priority = if w.len() > 1 {
                    i32_arg(p, w, -1, 99)
                } else {
                    Some(99)
                };
            }
            "min_auto_priority_delay" => {
                g.min_auto_priority_delay = u32_arg(p, w, 1, u32::MAX as u64)
            }
            "vrrp_priority" => g.vrrp_priority = i32_arg(p, w, -20, 19),
            "checker_priority" => g.checker_priority = i32_arg(p, w, -20, 19),
            "bfd_priority" => g.bfd_priority = i32_arg(p, w, -20, 19),
            "vrrp_no_swap" => g.vrrp_no_swap = true,
            "checker_no_swap" => g.checker_no_swap = true,
            "bfd_no_swap" => g.bfd_no_swap = true,
            "vrrp_rt_priority" => g.vrrp_rt_priority = u32_arg(p, w, 1, 99),
            "checker_rt_priority" => g.checker_rt_priority = u32_arg(p, w, 1, 99),
            "bfd_rt_priority" => g.bfd_rt_priority = u32_arg(p, w, 1, 99),
            "vrrp_cpu_affinity" => g.vrrp_cpu_affinity = cpus(p, w),
            "checker_cpu_affinity" => g.checker_cpu_affinity = cpus(p, w),
            "bfd_cpu_affinity" => g.bfd_cpu_affinity = cpus(p, w),
            "vrrp_rlimit_rttime" | "vrrp_rlimit_rtime" => {
                g.vrrp_rlimit_rttime = u32_arg(p, w, 2, u32::MAX as u64)
            }
            "checker_rlimit_rttime" | "checker_rlimit_rtime" => {
                g.checker_rlimit_rttime = u32_arg(p, w, 2, u32::MAX as u64)
            }
            "bfd_rlimit_rttime" | "bfd_rlimit_rtime" => {
                g.bfd_rlimit_rttime = u32_arg(p, w, 2, u32::MAX as u64)
            }
            "dynamic_interfaces" => {
                g.dynamic_interfaces = Some(w.get(1) == Some("allow_if_changes"));
                p.ifs.dynamic = true;
            }
            "default_interface" => g.default_interface = string(p, w),
            "disable_local_igmp" => g.disable_local_igmp = true,
            "lvs_timeouts" => {
                let (mut tcp, mut fin, mut udp) = (None, None, None);
                let words = w.rest(1);
                let mut i = 0;
                while i + 1 < words.len() {
                    let v = p.unsigned(&words[i + 1], 0, 86400 * 31).map(|x| x as u32);
                    match words[i].as_str() {
                        "tcp" => tcp = v,
                        "tcpfin" => fin = v,
                        "udp" => udp = v,
                        o => {
                            let o = o.to_string();
                            p.report(
                                Category::GeneralError,
                                format!("Unknown option {o} specified for lvs_timeouts"),
                            );
                        }
                    }
                    i += 2;
                }
                g.lvs_timeouts = Some((tcp, fin, udp));
            }
            "lvs_flush" => g.lvs_flush = true,
            "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                g.lvs_flush_on_stop = Some(w.get(1).unwrap_or("").to_string())
            }
            "lvs_sync_daemon" => {
                if let Some(ifname) = string(p, w) {
                    let mut s = LvsSyncDaemon {
                        interface: ifname,
                        ..Default::default()
                    };
                    let words = w.rest(2);
                    let mut i = 0;
                    while i < words.len() {
                        let val = words.get(i + 1).cloned();
                        match words[i].as_str() {
                            "id" => {
                                s.syncid =
                                    val.and_then(|v| p.unsigned(&v, 0, 255)).map(|x| x as u32)
                            }
                            "maxlen" => {
                                s.maxlen = val
                                    .and_then(|v| p.unsigned(&v, 1, 65535 - 20 - 8))
                                    .map(|x| x as u32)
                            }
                            "port" => {
                                s.port =
                                    val.and_then(|v| p.unsigned(&v, 1, 65535)).map(|x| x as u16)
                            }
                            "ttl" => {
                                s.ttl = val.and_then(|v| p.unsigned(&v, 1, 255)).map(|x| x as u8)
                            }
                            "group" => s.group = val.and_then(|v| p.ip(&v)),
                            "inst" => s.instance = val,
                            name if i == 0 => {
                                s.instance = Some(name.to_string());
                                i += 1;
                                continue;
                            }
                            o => {
                                let o = o.to_string();
                                p.report(
                                    Category::GeneralError,
                                    format!("Unknown option {o} specified for lvs_sync_daemon"),
                                );
                            }
                        }
                        i += 2;
                    }
                    g.lvs_sync_daemon = Some(s);
                }
            }
            "vrrp_mcast_group4" | "vrrp_mcast_group6" => {
                if let Some(s) = string(p, w) {
                    let a = p.ip(&s);
                    if w.kw().ends_with('4') {
                        g.vrrp_mcast_group4 = a;
                    } else {
                        g.vrrp_mcast_group6 = a;
                    }
                }
            }
            "vrrp_garp_master_delay" => g.vrrp_garp_master_delay = u32_arg(p, w, 0, 255),
            "vrrp_garp_master_repeat" => g.vrrp_garp_master_repeat = u32_arg(p, w, 1, 255),
            "vrrp_garp_master_refresh" => {
                g.vrrp_garp_master_refresh = u32_arg(p, w, 0, u32::MAX as u64)
            }
            "vrrp_garp_master_refresh_repeat" => {
                g.vrrp_garp_master_refresh_repeat = u32_arg(p, w, 1, 255)
            }
            "vrrp_garp_lower_prio_delay" => g.vrrp_garp_lower_prio_delay = u32_arg(p, w, 0, 255),
            "vrrp_garp_lower_prio_repeat" => g.vrrp_garp_lower_prio_repeat = u32_arg(p, w, 1, 255),
            "vrrp_garp_interval" => g.vrrp_garp_interval = p.timer(w, 1, 0, 1000 * USEC_PER_SEC),
            "vrrp_gna_interval" => g.vrrp_gna_interval = p.timer(w, 1, 0, 1000 * USEC_PER_SEC),
            "vrrp_min_garp" => g.vrrp_min_garp = p.opt_bool(w, 1).unwrap_or(false),
            "vrrp_garp_extra_if" | "vrrp_vmac_garp_intvl" => {
                let all = w.get(1) == Some("all");
                let idx = if all { 2 } else { 1 };
                if let Some(n) = p.unsigned_arg(w, idx, 0, 86400) {
                    g.vrrp_garp_extra_if = Some((all, n as u32));
                }
            }
            "vrrp_down_timer_adverts" => g.vrrp_down_timer_adverts = u32_arg(p, w, 1, 100),
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = p.opt_bool(w, 1),
            "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = p.opt_bool(w, 1),
            "vrrp_version" => g.vrrp_version = u32_arg(p, w, 2, 3).map(|x| x as u8),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_skip_check_adv_addr" => {
                g.vrrp_skip_check_adv_addr = p.opt_bool(w, 1).unwrap_or(false)
            }
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_iptables" => g.vrrp_iptables = Some(w.rest(1)),
            "vrrp_ipsets" => g.vrrp_ipsets = Some(w.rest(1)),
            "nftables" => g.nftables = Some(w.get(1).unwrap_or("keepalived").to_string()),
            "nftables_priority" => {
                g.nftables_priority = i32_arg(p, w, i32::MIN as i64, i32::MAX as i64)
            }
            "nftables_ifindex" => g.nftables_ifindex = true,
            "nftables_counters" => g.nftables_counters = true,
            "vrrp_startup_delay" => g.vrrp_startup_delay = p.timer(w, 1, 0, 3600 * USEC_PER_SEC),
            "log_unknown_vrids" => g.log_unknown_vrids = true,
            "vmac_prefix" => g.vmac_prefix = string(p, w),
            "vmac_addr_prefix" => g.vmac_addr_prefix = string(p, w),
            "vrrp_rx_bufs_policy" => g.vrrp_rx_bufs_policy = Some(w.rest(1).join(" ")),
            "vrrp_rx_bufs_multiplier" => {
                g.vrrp_rx_bufs_multiplier = u32_arg(p, w, 1, u32::MAX as u64)
            }
            "vrrp_notify_priority_changes" => g.vrrp_notify_priority_changes = p.opt_bool(w, 1),
            "notify_fifo" => g.notify_fifo = fifo(p, w),
            "vrrp_notify_fifo" => g.vrrp_notify_fifo = fifo(p, w),
            "lvs_notify_fifo" => g.lvs_notify_fifo = fifo(p, w),
            "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
                let script = p.script(w);
                let slot = match w.kw() {
                    "notify_fifo_script" => &mut g.notify_fifo,
                    "vrrp_notify_fifo_script" => &mut g.vrrp_notify_fifo,
                    _ => &mut g.lvs_notify_fifo,
                };
                match slot {
                    Some(f) => f.script = script,
                    None => {
                        let msg = format!("{} specified without fifo - ignoring", w.kw());
                        p.report(Category::GeneralError, msg);
                    }
                }
            }
            "fifo_write_vrrp_states_on_reload" => g.fifo_write_vrrp_states_on_reload = true,
            "rs_init_notifies" => g.rs_init_notifies = true,
            "script_user" => {
                if let Some(u) = string(p, w) {
                    g.script_user = Some((u, w.get(2).map(str::to_string)));
                }
            }
            "enable_script_security" => g.enable_script_security = true,
            "snmp_socket" => g.snmp_socket = string(p, w),
            "enable_traps" => g.enable_traps = true,
            "enable_snmp_vrrp"
            | "enable_snmp_keepalived"
            | "enable_snmp_checker"
            | "enable_snmp_rfc"
            | "enable_snmp_rfcv2"
            | "enable_snmp_rfcv3" => g.enable_snmp.push(w.kw().to_string()),
            "enable_dbus" => g.enable_dbus = true,
            "dbus_service_name" => g.dbus_service_name = string(p, w),
            "umask" => {
                if let Some(s) = string(p, w) {
                    match parse_umask(&w.rest(1).join(" ")) {
                        Some(m) => g.umask = Some(m),
                        None => {
                            p.report(Category::GeneralError, format!("Invalid umask value {s}"))
                        }
                    }
                }
            }
            "random_seed" => g.random_seed = u32_arg(p, w, 0, u32::MAX as u64),
            "reload_check_config" => g.reload_check_config = Some(w.get(1).map(str::to_string)),
            "reload_time_file" => g.reload_time_file = string(p, w),
            "reload_repeat" => g.reload_repeat = true,
            "reload_file" => g.reload_file = Some(w.get(1).map(str::to_string)),
            "include_check" => {
                let words = w.rest(1);
                let mut bits = if words.is_empty() {
                    crate::preproc::INCLUDE_ALL
                } else {
                    p.pp.include_check
                };
                for x in &words {
                    let (neg, name) = match x.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, x.strip_prefix('+').unwrap_or(x)),
                    };
                    let bit = match name {
                        "readable" => crate::preproc::INCLUDE_R,
                        "match" => crate::preproc::INCLUDE_M,
                        "wildcard_match" => crate::preproc::INCLUDE_W,
                        "brace_match" => crate::preproc::INCLUDE_B,
                        o => {
                            let o = o.to_string();
                            p.report(
                                Category::GeneralError,
                                format!("Unknown include_check type {o}"),
                            );
                            0
                        }
                    };
                    if neg {
                        bits &= !bit;
                    } else {
                        bits |= bit;
                    }
                }
                p.pp.include_check = bits;
                g.include_check = Some(words);
            }
            "config_save_dir" => g.config_save_dir = string(p, w),
            "tmp_config_directory" => g.tmp_config_directory = string(p, w),
            "data_use_instance" => g.data_use_instance = p.opt_bool(w, 1),
            k if k.ends_with("_rcv_bufs") || k.ends_with("_rcv_bufs_force") => {
                if k.ends_with("_force") {
                    let base = k.trim_end_matches("_force").to_string();
                    let force = p.opt_bool(w, 1).unwrap_or(true);
                    match g.netlink_bufs.iter_mut().find(|(n, _, _)| *n == base) {
                        Some(e) => e.2 = force,
                        None => g.netlink_bufs.push((base, 0, force)),
                    }
                } else if let Some(n) = u32_arg(p, w, 0, u32::MAX as u64) {
                    g.netlink_bufs.push((k.to_string(), n, false));
                }
            }
            _ => return false,
        }
        true
    });
}

/// `umask NUMBER` (octal with a leading 0, decimal otherwise, as strtol base 0) or
/// `IWGRP | IWOTH …`.
pub fn parse_umask(s: &str) -> Option<u32> {
    let t = s.trim();
    if t.chars().next()?.is_ascii_digit() {
        return if let Some(h) = t.strip_prefix("0x") {
            u32::from_str_radix(h, 16).ok()
        } else if t.len() > 1 && t.starts_with('0') {
            u32::from_str_radix(&t[1..], 8).ok()
        } else {
            t.parse().ok()
        }
        .filter(|m| *m <= 0o777);
    }
    let mut m = 0;
    for part in t.split('|').map(str::trim) {
        m |= match part {
            "IRUSR" => 0o400,
            "IWUSR" => 0o200,
            "IXUSR" => 0o100,
            "IRGRP" => 0o40,
            "IWGRP" => 0o20,
            "IXGRP" => 0o10,
            "IROTH" => 0o4,
            "IWOTH" => 0o2,
            "IXOTH" => 0o1,
            _ => return None,
        };
    }
    Some(m)
}
