//! The model printed back as keepalived.conf. Parsing the output gives the same model
//! (`tests/roundtrip.rs`), which is what `keepalived -d` dumps and reloads rely on.

use crate::model::*;
use std::fmt::Write;

struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, text: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
        self.s.push_str(text.as_ref());
        self.s.push('\n');
    }
    fn open(&mut self, head: impl AsRef<str>) {
        self.line(format!("{} {{", head.as_ref()));
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth -= 1;
        self.line("}");
    }
    fn opt<T: std::fmt::Display>(&mut self, kw: &str, v: &Option<T>) {
        if let Some(v) = v {
            self.line(format!("{kw} {v}"));
        }
    }
    fn flag(&mut self, kw: &str, v: bool) {
        if v {
            self.line(kw);
        }
    }
    fn opt_bool(&mut self, kw: &str, v: Option<bool>) {
        if let Some(b) = v {
            self.line(format!("{kw} {}", if b { "true" } else { "false" }));
        }
    }
    fn timer(&mut self, kw: &str, v: Option<Usecs>) {
        if let Some(t) = v {
            self.line(format!("{kw} {}", usecs(t)));
        }
    }
}

/// Microseconds as keepalived's decimal seconds.
pub fn usecs(t: Usecs) -> String {
    if t.is_multiple_of(USEC_PER_SEC) {
        format!("{}", t / USEC_PER_SEC)
    } else {
        let s = format!("{}.{:06}", t / USEC_PER_SEC, t % USEC_PER_SEC);
        s.trim_end_matches('0').to_string()
    }
}

/// Quote a word when it needs it.
fn q(s: &str) -> String {
    if s.is_empty() || s.contains([' ', '\t', '#', '!', '{', '}', '\'', '\\']) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

fn script_line(kw: &str, s: &Script) -> String {
    let mut l = format!(
        "{kw} \"{}\"",
        s.cmd.replace('\\', "\\\\").replace('"', "\\\"")
    );
    if let Some(u) = &s.user {
        let _ = write!(l, " {}", q(u));
        if let Some(g) = &s.group {
            let _ = write!(l, " {}", q(g));
        }
    }
    l
}

fn addr_spec(a: &IpAddress) -> String {
    let mut l = format!("{}/{}", a.addr, a.prefix);
    for (k, v) in [
        ("dev", &a.dev),
        ("scope", &a.scope),
        ("brd", &a.brd),
        ("label", &a.label),
        ("peer", &a.peer),
    ] {
        if let Some(v) = v {
            let _ = write!(l, " {k} {v}");
        }
    }
    for f in &a.flags {
        let _ = write!(l, " {f}");
    }
    if let Some(v) = &a.preferred_lft {
        let _ = write!(l, " preferred_lft {v}");
    }
    if let Some(v) = &a.track_group {
        let _ = write!(l, " track_group {v}");
    }
    if a.no_track {
        l.push_str(" no_track");
    }
    if a.use_vmac {
        l.push_str(" use_vmac");
    }
    l
}

fn route_spec(r: &Route) -> String {
    let mut l = String::new();
    if let Some(s) = r.src {
        let _ = write!(l, "src {s} ");
    }
    if let Some(t) = &r.rtype {
        let _ = write!(l, "{t} ");
    }
    match r.dst {
        Some((a, len)) => {
            let _ = write!(l, "{a}/{len}");
        }
        None => l.push_str("default"),
    }
    if let Some(v) = r.via {
        let _ = write!(l, " via {v}");
    }
    if let Some(v) = r.or_via {
        let _ = write!(l, " or {v}");
    }
    for (k, v) in [
        ("dev", &r.dev),
        ("table", &r.table),
        ("scope", &r.scope),
        ("proto", &r.proto),
    ] {
        if let Some(v) = v {
            let _ = write!(l, " {k} {v}");
        }
    }
    if let Some(m) = r.metric {
        let _ = write!(l, " metric {m}");
    }
    if r.family6 && r.dst.is_none() && !r.other.iter().any(|o| o == "inet6") {
        l.push_str(" inet6");
    }
    // Before `other`: a `nexthop` or `encap` there takes the rest of the line.
    if let Some(g) = &r.track_group {
        let _ = write!(l, " track_group {g}");
    }
    if r.no_track {
        l.push_str(" no_track");
    }
    for o in &r.other {
        let _ = write!(l, " {o}");
    }
    l
}

fn rule_spec(r: &Rule) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in [("from", r.from), ("to", r.to)] {
        if let Some((a, len)) = v {
            parts.push(format!("{k} {a}/{len}"));
        }
    }
    if r.family6 && r.from.is_none() && r.to.is_none() {
        parts.push("inet6".into());
    }
    for (k, v) in [
        ("table", &r.table),
        ("iif", &r.iif),
        ("oif", &r.oif),
        ("fwmark", &r.fwmark),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k} {v}"));
        }
    }
    if r.preference_set {
        parts.push(format!("preference {}", r.preference));
    }
    parts.extend(r.other.iter().cloned());
    if let Some(g) = &r.track_group {
        parts.push(format!("track_group {g}"));
    }
    if r.no_track {
        parts.push("no_track".into());
    }
    parts.join(" ")
}

fn track_block(o: &mut Out, kw: &str, refs: &[TrackRef]) {
    if refs.is_empty() {
        return;
    }
    o.open(kw);
    for t in refs {
        match t.weight {
            Some(w) => o.line(format!(
                "{} weight {w}{}",
                t.name,
                if t.reverse { " reverse" } else { "" }
            )),
            None => o.line(&t.name),
        }
    }
    o.close();
}

fn notify(o: &mut Out, n: &Notify) {
    for (kw, s) in [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify", &n.generic),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ] {
        if let Some(s) = s {
            o.line(script_line(kw, s));
        }
    }
    match &n.deleted {
        Some(Some(s)) => o.line(script_line("notify_deleted", s)),
        Some(None) => o.line("notify_deleted"),
        None => {}
    }
}

fn lvs_method(m: &LvsMethod) -> String {
    match m {
        LvsMethod::Nat => "NAT".into(),
        LvsMethod::Dr => "DR".into(),
        LvsMethod::Tun(o) if o.is_empty() => "TUN".into(),
        LvsMethod::Tun(o) => format!("TUN {}", o.join(" ")),
    }
}

fn defaults(o: &mut Out, d: &CheckDefaults) {
    o.timer("delay_loop", d.delay_loop);
    o.timer("connect_timeout", d.connect_timeout);
    o.opt("retry", &d.retry);
    o.timer("delay_before_retry", d.delay_before_retry);
    o.timer("warmup", d.warmup);
    o.opt_bool("alpha", d.alpha);
    o.opt_bool("inhibit_on_failure", d.inhibit_on_failure);
    o.opt("virtualhost", &d.virtualhost);
    o.opt_bool("smtp_alert", d.smtp_alert);
}

fn conn(o: &mut Out, c: &ConnOpts) {
    o.opt("connect_ip", &c.connect_ip);
    o.opt("connect_port", &c.connect_port);
    o.opt("bindto", &c.bindto);
    o.opt("bind_port", &c.bind_port);
    o.opt("bind_if", &c.bind_if);
    o.timer("connect_timeout", c.connect_timeout);
    o.opt("fwmark", &c.fwmark);
}

fn checker(o: &mut Out, c: &Checker) {
    o.open(c.kind.keyword());
    match &c.kind {
        CheckKind::Http {
            urls,
            virtualhost,
            http_protocol,
            enable_sni,
            fast_recovery,
            ..
        } => {
            for u in urls {
                o.open("url");
                o.opt("path", &u.path.as_deref().map(q));
                o.opt("digest", &u.digest);
                if !u.status_code.is_empty() {
                    let list: Vec<String> = u
                        .status_code
                        .iter()
                        .map(|(a, b)| {
                            if a == b {
                                a.to_string()
                            } else {
                                format!("{a}-{b}")
                            }
                        })
                        .collect();
                    o.line(format!("status_code {}", list.join(",")));
                }
                o.opt("virtualhost", &u.virtualhost);
                if let Some(re) = &u.regex {
                    // Read back with quotes and escapes (keepalived's regex_handler).
                    let mut e = String::new();
                    for c in re.chars() {
                        match c {
                            '\\' => e.push_str("\\\\"),
                            '"' => e.push_str("\\\""),
                            '\n' => e.push_str("\\n"),
                            '\r' => e.push_str("\\r"),
                            '\t' => e.push_str("\\t"),
                            c => e.push(c),
                        }
                    }
                    o.line(format!("regex \"{e}\""));
                }
                o.flag("regex_no_match", u.regex_no_match);
                if !u.regex_options.is_empty() {
                    o.line(format!("regex_options {}", u.regex_options.join(" ")));
                }
                if u.regex_min_offset > 0 {
                    o.line(format!("regex_min_offset {}", u.regex_min_offset));
                }
                if let Some(m) = u.regex_max_offset {
                    o.line(format!("regex_max_offset {m}"));
                }
                if let Some((a, b)) = u.regex_stack {
                    o.line(format!("regex_stack {a} {b}"));
                }
                o.close();
            }
            o.opt("virtualhost", virtualhost);
            o.opt("http_protocol", http_protocol);
            o.flag("enable_sni", *enable_sni);
            o.flag("fast_recovery", *fast_recovery);
        }
        CheckKind::Smtp { helo_name, hosts } => {
            o.opt("helo_name", helo_name);
            for h in hosts {
                o.open("host");
                conn(o, h);
                o.close();
            }
        }
        CheckKind::Dns { qtype, name } => {
            o.line(format!("type {qtype}"));
            o.line(format!("name {}", q(name)));
        }
        CheckKind::Misc {
            path,
            timeout,
            dynamic,
            user,
        } => {
            if let Some(s) = path {
                o.line(script_line("misc_path", s));
            }
            o.opt("misc_timeout", timeout);
            o.flag("misc_dynamic", *dynamic);
            if let Some((u, g)) = user {
                o.line(format!(
                    "user {u}{}",
                    g.as_ref().map(|g| format!(" {g}")).unwrap_or_default()
                ));
            }
        }
        CheckKind::Udp {
            payload,
            require_reply,
            min_reply_length,
            max_reply_length,
        } => {
            o.opt("payload", payload);
            match require_reply {
                Some(Some(r)) => o.line(format!("require_reply {r}")),
                Some(None) => o.line("require_reply"),
                None => {}
            }
            o.opt("min_reply_length", min_reply_length);
            o.opt("max_reply_length", max_reply_length);
        }
        CheckKind::File {
            track_file,
            dynamic,
            weight,
        } => {
            o.opt("track_file", track_file);
            o.flag("dynamic", *dynamic);
            if let Some((w, r)) = weight {
                o.line(format!("weight {w}{}", if *r { " reverse" } else { "" }));
            }
        }
        CheckKind::Bfd { name } => o.opt("name", name),
        CheckKind::Tcp | CheckKind::Ping => {}
    }
    conn(o, &c.conn);
    let r = &c.retry;
    o.opt("retry", &r.retry);
    o.timer("delay_before_retry", r.delay_before_retry);
    o.timer("delay_loop", r.delay_loop);
    o.timer("warmup", r.warmup);
    o.opt_bool("alpha", r.alpha);
    o.opt_bool("log_all_failures", r.log_all_failures);
    o.close();
}

fn global(o: &mut Out, g: &GlobalDefs) {
    o.open("global_defs");
    o.opt("router_id", &g.router_id.as_deref().map(q));
    if !g.notification_email.is_empty() {
        o.open("notification_email");
        for e in &g.notification_email {
            o.line(e);
        }
        o.close();
    }
    o.opt("notification_email_from", &g.notification_email_from);
    if let Some((s, port)) = &g.smtp_server {
        o.line(format!("smtp_server {s} {port}"));
    }
    o.opt("smtp_helo_name", &g.smtp_helo_name);
    o.opt("smtp_connect_timeout", &g.smtp_connect_timeout);
    o.opt_bool("smtp_alert", g.smtp_alert);
    o.opt_bool("smtp_alert_vrrp", g.smtp_alert_vrrp);
    o.opt_bool("smtp_alert_checker", g.smtp_alert_checker);
    o.flag("checker_log_all_failures", g.checker_log_all_failures);
    o.flag("no_email_faults", g.no_email_faults);
    o.flag("no_checker_emails", g.no_checker_emails);
    o.flag("process_names", g.process_names);
    o.opt("process_name", &g.process_name);
    o.opt("vrrp_process_name", &g.vrrp_process_name);
    o.opt("checker_process_name", &g.checker_process_name);
    o.opt("bfd_process_name", &g.bfd_process_name);
    if let Some(s) = &g.startup_script {
        o.line(script_line("startup_script", s));
    }
    o.opt("startup_script_timeout", &g.startup_script_timeout);
    if let Some(s) = &g.shutdown_script {
        o.line(script_line("shutdown_script", s));
    }
    o.opt("shutdown_script_timeout", &g.shutdown_script_timeout);
    o.opt("max_auto_priority", &g.max_auto_priority);
    o.opt("min_auto_priority_delay", &g.min_auto_priority_delay);
    o.opt("vrrp_priority", &g.vrrp_priority);
    o.opt("checker_priority", &g.checker_priority);
    o.opt("bfd_priority", &g.bfd_priority);
    o.flag("vrrp_no_swap", g.vrrp_no_swap);
    o.flag("checker_no_swap", g.checker_no_swap);
    o.flag("bfd_no_swap", g.bfd_no_swap);
    o.opt("vrrp_rt_priority", &g.vrrp_rt_priority);
    o.opt("checker_rt_priority", &g.checker_rt_priority);
    o.opt("bfd_rt_priority", &g.bfd_rt_priority);
    for (kw, v) in [
        ("vrrp_cpu_affinity", &g.vrrp_cpu_affinity),
        ("checker_cpu_affinity", &g.checker_cpu_affinity),
        ("bfd_cpu_affinity", &g.bfd_cpu_affinity),
    ] {
        if !v.is_empty() {
            o.line(format!(
                "{kw} {}",
                v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    o.opt("vrrp_rlimit_rttime", &g.vrrp_rlimit_rttime);
    o.opt("checker_rlimit_rttime", &g.checker_rlimit_rttime);
    o.opt("bfd_rlimit_rttime", &g.bfd_rlimit_rttime);
    match g.dynamic_interfaces {
        Some(true) => o.line("dynamic_interfaces allow_if_changes"),
        Some(false) => o.line("dynamic_interfaces"),
        None => {}
    }
    o.opt("default_interface", &g.default_interface);
    o.flag("disable_local_igmp", g.disable_local_igmp);
    if let Some((t, f, u)) = &g.lvs_timeouts {
        let mut l = "lvs_timeouts".to_string();
        for (k, v) in [("tcp", t), ("tcpfin", f), ("udp", u)] {
            if let Some(v) = v {
                let _ = write!(l, " {k} {v}");
            }
        }
        o.line(l);
    }
    o.flag("lvs_flush", g.lvs_flush);
    if let Some(v) = &g.lvs_flush_on_stop {
        o.line(format!("lvs_flush_on_stop {v}").trim_end());
    }
    if let Some(s) = &g.lvs_sync_daemon {
        let mut l = format!("lvs_sync_daemon {}", s.interface);
        if let Some(i) = &s.instance {
            let _ = write!(l, " {i}");
        }
        for (k, v) in [
            ("id", s.syncid),
            ("maxlen", s.maxlen),
            ("port", s.port.map(u32::from)),
            ("ttl", s.ttl.map(u32::from)),
        ] {
            if let Some(v) = v {
                let _ = write!(l, " {k} {v}");
            }
        }
        if let Some(gr) = s.group {
            let _ = write!(l, " group {gr}");
        }
        o.line(l);
    }
    o.opt("vrrp_mcast_group4", &g.vrrp_mcast_group4);
    o.opt("vrrp_mcast_group6", &g.vrrp_mcast_group6);
    o.opt("vrrp_garp_master_delay", &g.vrrp_garp_master_delay);
    o.opt("vrrp_garp_master_repeat", &g.vrrp_garp_master_repeat);
    o.opt("vrrp_garp_master_refresh", &g.vrrp_garp_master_refresh);
    o.opt(
        "vrrp_garp_master_refresh_repeat",
        &g.vrrp_garp_master_refresh_repeat,
    );
    o.opt("vrrp_garp_lower_prio_delay", &g.vrrp_garp_lower_prio_delay);
    o.opt(
        "vrrp_garp_lower_prio_repeat",
        &g.vrrp_garp_lower_prio_repeat,
    );
    o.timer("vrrp_garp_interval", g.vrrp_garp_interval);
    o.timer("vrrp_gna_interval", g.vrrp_gna_interval);
    o.flag("vrrp_min_garp", g.vrrp_min_garp);
    if let Some((all, n)) = g.vrrp_garp_extra_if {
        o.line(format!(
            "vrrp_garp_extra_if {}{n}",
            if all { "all " } else { "" }
        ));
    }
    o.opt("vrrp_down_timer_adverts", &g.vrrp_down_timer_adverts);
    o.opt_bool("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
    o.opt_bool(
        "vrrp_higher_prio_send_advert",
        g.vrrp_higher_prio_send_advert,
    );
    o.opt("vrrp_version", &g.vrrp_version);
    o.flag("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
    o.flag("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
    o.flag("vrrp_strict", g.vrrp_strict);
    if let Some(v) = &g.vrrp_iptables {
        o.line(format!("vrrp_iptables {}", v.join(" ")).trim_end());
    }
    if let Some(v) = &g.vrrp_ipsets {
        o.line(format!("vrrp_ipsets {}", v.join(" ")).trim_end());
    }
    o.opt("nftables", &g.nftables);
    o.opt("nftables_priority", &g.nftables_priority);
    o.flag("nftables_ifindex", g.nftables_ifindex);
    o.flag("nftables_counters", g.nftables_counters);
    o.timer("vrrp_startup_delay", g.vrrp_startup_delay);
    o.flag("log_unknown_vrids", g.log_unknown_vrids);
    o.opt("vmac_prefix", &g.vmac_prefix);
    o.opt("vmac_addr_prefix", &g.vmac_addr_prefix);
    o.opt("vrrp_rx_bufs_policy", &g.vrrp_rx_bufs_policy);
    o.opt("vrrp_rx_bufs_multiplier", &g.vrrp_rx_bufs_multiplier);
    o.opt_bool(
        "vrrp_notify_priority_changes",
        g.vrrp_notify_priority_changes,
    );
    for (kw, f) in [
        ("notify_fifo", &g.notify_fifo),
        ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
        ("lvs_notify_fifo", &g.lvs_notify_fifo),
    ] {
        if let Some(f) = f {
            let mut l = format!("{kw} {}", q(&f.path));
            if let Some(u) = &f.user {
                let _ = write!(l, " {u}");
                if let Some(gr) = &f.group {
                    let _ = write!(l, " {gr}");
                }
            }
            o.line(l);
            if let Some(s) = &f.script {
                o.line(script_line(&format!("{kw}_script"), s));
            }
        }
    }
    o.flag(
        "fifo_write_vrrp_states_on_reload",
        g.fifo_write_vrrp_states_on_reload,
    );
    o.flag("rs_init_notifies", g.rs_init_notifies);
    if let Some((u, gr)) = &g.script_user {
        o.line(format!(
            "script_user {u}{}",
            gr.as_ref().map(|x| format!(" {x}")).unwrap_or_default()
        ));
    }
    o.flag("enable_script_security", g.enable_script_security);
    o.opt("snmp_socket", &g.snmp_socket);
    o.flag("enable_traps", g.enable_traps);
    for k in &g.enable_snmp {
        o.line(k);
    }
    o.flag("enable_dbus", g.enable_dbus);
    o.opt("dbus_service_name", &g.dbus_service_name);
    if let Some(m) = g.umask {
        o.line(format!("umask 0{m:o}"));
    }
    o.opt("random_seed", &g.random_seed);
    match &g.reload_check_config {
        Some(Some(f)) => o.line(format!("reload_check_config {f}")),
        Some(None) => o.line("reload_check_config"),
        None => {}
    }
    o.opt("reload_time_file", &g.reload_time_file);
    o.flag("reload_repeat", g.reload_repeat);
    match &g.reload_file {
        Some(Some(f)) => o.line(format!("reload_file {f}")),
        Some(None) => o.line("reload_file"),
        None => {}
    }
    if let Some(v) = &g.include_check {
        o.line(format!("include_check {}", v.join(" ")).trim_end());
    }
    o.opt("config_save_dir", &g.config_save_dir);
    o.opt("tmp_config_directory", &g.tmp_config_directory);
    o.opt_bool("data_use_instance", g.data_use_instance);
    for (k, n, force) in &g.netlink_bufs {
        o.line(format!("{k} {n}"));
        if *force {
            o.line(format!("{k}_force true"));
        }
    }
    o.close();
}

fn instance(o: &mut Out, v: &VrrpInstance) {
    o.open(format!("vrrp_instance {}", q(&v.name)));
    if v.state_set {
        o.line(match v.state {
            InitialState::Master => "state MASTER",
            InitialState::Backup => "state BACKUP",
        });
    }
    o.opt("interface", &v.interface);
    o.line(format!("virtual_router_id {}", v.vrid));
    o.line(format!("priority {}", v.priority));
    o.line(format!(
        "advert_int {}",
        usecs(v.advert_int as u64 * 10_000)
    ));
    o.line(format!("version {}", v.version));
    if let Some(a) = &v.auth {
        o.open("authentication");
        o.line(match a.auth_type {
            AuthType::Pass => "auth_type PASS",
            AuthType::Ah => "auth_type AH",
        });
        o.line(format!("auth_pass {}", q(&a.pass)));
        o.close();
    }
    for (kw, list) in [
        ("virtual_ipaddress", &v.vips),
        ("virtual_ipaddress_excluded", &v.evips),
    ] {
        if !list.is_empty() {
            o.open(kw);
            for a in list {
                o.line(addr_spec(a));
            }
            o.close();
        }
    }
    if !v.vroutes.is_empty() {
        o.open("virtual_routes");
        for r in &v.vroutes {
            o.line(route_spec(r));
        }
        o.close();
    }
    if !v.vrules.is_empty() {
        o.open("virtual_rules");
        for r in &v.vrules {
            o.line(rule_spec(r));
        }
        o.close();
    }
    track_block(o, "track_interface", &v.track_interface);
    track_block(o, "track_script", &v.track_script);
    track_block(o, "track_file", &v.track_file);
    track_block(o, "track_process", &v.track_process);
    track_block(o, "track_bfd", &v.track_bfd);
    o.flag("dont_track_primary", v.dont_track_primary);
    o.opt("mcast_src_ip", &v.mcast_src_ip);
    o.opt("unicast_src_ip", &v.unicast_src_ip);
    if !v.unicast_peers.is_empty() {
        o.open("unicast_peer");
        for p in &v.unicast_peers {
            let mut l = p.addr.to_string();
            if let Some(t) = p.min_ttl {
                let _ = write!(l, " min_ttl {t}");
            }
            if let Some(t) = p.max_ttl {
                let _ = write!(l, " max_ttl {t}");
            }
            o.line(l);
        }
        o.close();
    }
    o.opt("unicast_ttl", &v.unicast_ttl);
    o.flag("unicast_fault_no_peer", v.unicast_fault_no_peer);
    o.flag("check_unicast_src", v.check_unicast_src);
    o.opt("mcast_dst_ip", &v.mcast_dst_ip);
    o.flag("track_src_ip", v.track_src_ip);
    match v.old_unicast_checksum {
        Some(true) => o.line("old_unicast_checksum"),
        Some(false) => o.line("old_unicast_checksum never"),
        None => {}
    }
    o.flag("native_ipv6", v.family6 && v.vips.is_empty());
    o.opt("vrf", &v.vrf);
    if let Some((name, mac)) = &v.use_vmac {
        let mut l = "use_vmac".to_string();
        for x in [name, mac].into_iter().flatten() {
            let _ = write!(l, " {x}");
        }
        o.line(l);
    }
    o.flag("use_vmac_addr", v.use_vmac_addr);
    o.flag("vmac_xmit_base", v.vmac_xmit_base);
    if let Some(x) = &v.use_ipvlan {
        o.line(format!("use_ipvlan {}", x.join(" ")).trim_end());
    }
    o.flag("nopreempt", v.nopreempt);
    if v.preempt_delay > 0 {
        o.line(format!("preempt_delay {}", usecs(v.preempt_delay)));
    }
    match v.accept {
        Some(true) => o.line("accept"),
        Some(false) => o.line("no_accept"),
        None => {}
    }
    o.opt_bool("skip_check_adv_addr", v.skip_check_adv_addr);
    o.opt_bool("strict_mode", v.strict_mode);
    o.flag("promote_secondaries", v.promote_secondaries);
    notify(o, &v.notify);
    o.opt_bool("notify_priority_changes", v.notify_priority_changes);
    o.opt_bool("smtp_alert", v.smtp_alert);
    o.opt("lvs_sync_daemon_interface", &v.lvs_sync_daemon_interface);
    let gt = &v.garp;
    o.opt("garp_master_delay", &gt.master_delay);
    o.opt("garp_master_repeat", &gt.master_repeat);
    o.opt("garp_master_refresh", &gt.master_refresh);
    o.opt("garp_master_refresh_repeat", &gt.master_refresh_repeat);
    o.opt("garp_lower_prio_delay", &gt.lower_prio_delay);
    o.opt("garp_lower_prio_repeat", &gt.lower_prio_repeat);
    if let Some((all, n)) = gt.extra_if {
        o.line(format!(
            "garp_extra_if {}{n}",
            if all { "all " } else { "" }
        ));
    }
    o.opt("down_timer_adverts", &v.down_timer_adverts);
    o.opt_bool("lower_prio_no_advert", v.lower_prio_no_advert);
    o.opt_bool("higher_prio_send_advert", v.higher_prio_send_advert);
    o.opt("kernel_rx_buf_size", &v.kernel_rx_buf_size);
    o.flag("linkbeat_use_polling", v.linkbeat_use_polling);
    o.opt("debug", &v.debug);
    o.close();
}

fn virtual_server(o: &mut Out, vs: &VirtualServer) {
    let head = match &vs.key {
        VsKey::Addr { addr, port } if *port == 0 => format!("virtual_server {addr}"),
        VsKey::Addr { addr, port } => format!("virtual_server {addr} {port}"),
        VsKey::Fwmark(m) => format!("virtual_server fwmark {m}"),
        VsKey::Group(g) => format!("virtual_server group {g}"),
    };
    o.open(head);
    if vs.protocol_set {
        o.line(match vs.protocol {
            Protocol::Tcp => "protocol TCP",
            Protocol::Udp => "protocol UDP",
            Protocol::Sctp => "protocol SCTP",
        });
    }
    if vs.lb_algo_set {
        o.line(format!("lb_algo {}", vs.lb_algo));
    }
    if vs.lb_kind_set {
        o.line(format!("lb_kind {}", lvs_method(&vs.lb_kind)));
    }
    o.opt("persistence_timeout", &vs.persistence_timeout);
    o.opt("persistence_granularity", &vs.persistence_granularity);
    o.opt("persistence_engine", &vs.persistence_engine);
    for f in &vs.flags {
        o.line(f);
    }
    match vs.ip_family6 {
        Some(true) => o.line("ip_family inet6"),
        Some(false) => o.line("ip_family inet"),
        None => {}
    }
    o.flag("ha_suspend", vs.ha_suspend);
    o.opt_bool("omega", vs.omega);
    o.line(format!("quorum {}", vs.quorum.max(1)));
    if vs.hysteresis > 0 {
        o.line(format!("hysteresis {}", vs.hysteresis));
    }
    if let Some(s) = &vs.quorum_up {
        o.line(script_line("quorum_up", s));
    }
    if let Some(s) = &vs.quorum_down {
        o.line(script_line("quorum_down", s));
    }
    if let Some((a, p)) = vs.sorry_server {
        o.line(format!("sorry_server {a} {p}"));
    }
    o.flag("sorry_server_inhibit", vs.sorry_server_inhibit);
    if let Some(m) = &vs.sorry_server_lvs_method {
        o.line(format!("sorry_server_lvs_method {}", lvs_method(m)));
    }
    o.line(format!("weight {}", vs.weight));
    defaults(o, &vs.defaults);
    o.opt("snmp_name", &vs.snmp_name);
    for rs in &vs.real_servers {
        o.open(format!("real_server {} {}", rs.addr, rs.port));
        o.line(format!("weight {}", rs.weight));
        if let Some(m) = &rs.lvs_method {
            o.line(format!("lvs_method {}", lvs_method(m)));
        }
        o.opt("uthreshold", &rs.uthreshold);
        o.opt("lthreshold", &rs.lthreshold);
        if let Some(s) = &rs.notify_up {
            o.line(script_line("notify_up", s));
        }
        if let Some(s) = &rs.notify_down {
            o.line(script_line("notify_down", s));
        }
        defaults(o, &rs.defaults);
        o.opt("snmp_name", &rs.snmp_name);
        for c in &rs.checkers {
            checker(o, c);
        }
        o.close();
    }
    o.close();
}

/// The whole configuration as keepalived.conf text.
pub fn to_conf(c: &Config) -> String {
    let mut o = Out {
        s: String::new(),
        depth: 0,
    };
    global(&mut o, &c.global);
    o.opt("net_namespace", &c.net_namespace);
    if let Some(n) = &c.net_namespace_ipvs {
        o.line(format!("net_namespace_ipvs {n}").trim_end());
    }
    o.flag("namespace_with_ipsets", c.namespace_with_ipsets);
    o.flag("use_pid_dir", c.use_pid_dir);
    o.opt("instance", &c.instance);
    o.opt("child_wait_time", &c.child_wait_time);
    o.flag("linkbeat_use_polling", c.linkbeat_use_polling);
    if !c.linkbeat_interfaces.is_empty() {
        o.open("linkbeat_interfaces");
        for (i, m) in &c.linkbeat_interfaces {
            o.line(format!(
                "{i}{}",
                m.as_ref().map(|m| format!(" {m}")).unwrap_or_default()
            ));
        }
        o.close();
    }
    if !c.interface_up_down_delays.is_empty() {
        o.open("interface_up_down_delays");
        for (i, d, u) in &c.interface_up_down_delays {
            o.line(format!(
                "{i} {}{}",
                usecs(*d),
                u.map(|u| format!(" {}", usecs(u))).unwrap_or_default()
            ));
        }
        o.close();
    }
    for g in &c.track_groups {
        o.open(format!("track_group {}", g.name));
        o.open("group");
        for m in &g.group {
            o.line(m);
        }
        o.close();
        o.close();
    }
    for g in &c.garp_groups {
        o.open("garp_group");
        o.timer("garp_interval", g.garp_interval);
        o.timer("gna_interval", g.gna_interval);
        if !g.interfaces.is_empty() {
            o.open("interfaces");
            for i in &g.interfaces {
                o.line(i);
            }
            o.close();
        }
        o.close();
    }
    if !c.static_ipaddress.is_empty() {
        o.open("static_ipaddress");
        for a in &c.static_ipaddress {
            o.line(addr_spec(a));
        }
        o.close();
    }
    if !c.static_routes.is_empty() {
        o.open("static_routes");
        for r in &c.static_routes {
            o.line(route_spec(r));
        }
        o.close();
    }
    if !c.static_rules.is_empty() {
        o.open("static_rules");
        for r in &c.static_rules {
            o.line(rule_spec(r));
        }
        o.close();
    }
    for t in &c.track_files {
        o.open(format!("track_file {}", t.name));
        o.opt("file", &t.file.as_deref().map(q));
        o.line(format!(
            "weight {}{}",
            t.weight,
            if t.reverse { " reverse" } else { "" }
        ));
        if let Some((v, over)) = &t.init_file {
            let mut l = "init_file".to_string();
            if let Some(v) = v {
                let _ = write!(l, " {v}");
            }
            if *over {
                l.push_str(" overwrite");
            }
            o.line(l);
        }
        o.close();
    }
    for t in &c.track_processes {
        o.open(format!("vrrp_track_process {}", t.name));
        if !t.process.is_empty() {
            o.line(format!(
                "process {}",
                t.process.iter().map(|x| q(x)).collect::<Vec<_>>().join(" ")
            ));
        }
        o.opt("param_match", &t.param_match);
        o.line(format!(
            "weight {}{}",
            t.weight,
            if t.reverse { " reverse" } else { "" }
        ));
        o.line(format!("quorum {}", t.quorum));
        o.opt("quorum_max", &t.quorum_max);
        o.timer("fork_delay", t.fork_delay);
        o.timer("terminate_delay", t.terminate_delay);
        o.flag("full_command", t.full_command);
        o.close();
    }
    for t in &c.bfd_instances {
        o.open(format!("bfd_instance {}", t.name));
        o.opt("neighbor_ip", &t.neighbor_ip);
        o.opt("source_ip", &t.source_ip);
        o.line(format!("min_rx {}", t.min_rx));
        o.line(format!("min_tx {}", t.min_tx));
        o.line(format!("idle_tx {}", t.idle_tx));
        o.line(format!("multiplier {}", t.multiplier));
        o.flag("passive", t.passive);
        o.opt("ttl", &t.ttl);
        o.opt("max_hops", &t.max_hops);
        o.line(format!(
            "weight {}{}",
            t.weight,
            if t.reverse { " reverse" } else { "" }
        ));
        o.flag("vrrp", t.vrrp);
        o.flag("checker", t.checker);
        o.close();
    }
    for s in &c.scripts {
        o.open(format!("vrrp_script {}", q(&s.name)));
        o.line(script_line(
            "script",
            &Script::new(s.script.cmd.clone(), s.script.args.clone(), None, None),
        ));
        o.line(format!("interval {}", s.interval));
        if s.timeout > 0 {
            o.line(format!("timeout {}", s.timeout));
        }
        o.line(format!(
            "weight {}{}",
            s.weight,
            if s.reverse { " reverse" } else { "" }
        ));
        o.line(format!("rise {}", s.rise));
        o.line(format!("fall {}", s.fall));
        if let Some(u) = &s.script.user {
            o.line(format!(
                "user {u}{}",
                s.script
                    .group
                    .as_ref()
                    .map(|g| format!(" {g}"))
                    .unwrap_or_default()
            ));
        }
        o.flag("init_fail", s.init_fail);
        o.close();
    }
    for v in &c.instances {
        instance(&mut o, v);
    }
    for g in &c.sync_groups {
        o.open(format!("vrrp_sync_group {}", q(&g.name)));
        o.open("group");
        for m in &g.group {
            o.line(m);
        }
        o.close();
        track_block(&mut o, "track_interface", &g.track_interface);
        track_block(&mut o, "track_script", &g.track_script);
        track_block(&mut o, "track_file", &g.track_file);
        track_block(&mut o, "track_process", &g.track_process);
        track_block(&mut o, "track_bfd", &g.track_bfd);
        notify(&mut o, &g.notify);
        o.opt_bool("smtp_alert", g.smtp_alert);
        o.flag("global_tracking", g.global_tracking);
        o.flag("sync_group_tracking_weight", g.sync_group_tracking_weight);
        o.opt_bool("notify_priority_changes", g.notify_priority_changes);
        o.close();
    }
    if let Some(s) = &c.ssl {
        o.open("SSL");
        o.opt("password", &s.password);
        o.opt("ca", &s.ca);
        o.opt("certificate", &s.certificate);
        o.opt("key", &s.key);
        o.close();
    }
    for g in &c.vs_groups {
        o.open(format!("virtual_server_group {}", g.name));
        for e in &g.entries {
            match e {
                VsgEntry::Range { first, last, port } => {
                    let addr = if first == last {
                        first.to_string()
                    } else {
                        format!("{first}-{last}")
                    };
                    if *port == 0 {
                        o.line(addr);
                    } else {
                        o.line(format!("{addr} {port}"));
                    }
                }
                VsgEntry::Fwmark { mark, family6 } => o.line(format!(
                    "fwmark {mark}{}",
                    match family6 {
                        Some(true) => " inet6",
                        Some(false) => " inet",
                        None => "",
                    }
                )),
            }
        }
        o.close();
    }
    for vs in &c.virtual_servers {
        virtual_server(&mut o, vs);
    }
    o.s
}
