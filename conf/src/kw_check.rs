//! Checker sections: `virtual_server_group`, `virtual_server`, `real_server`, every checker,
//! and the `SSL` context (keepalived's `check_parser.c` and `check_*.c`).

use crate::body_regex::{compile, OPTIONS};
use crate::diag::Category;
use crate::lexer::split_quoted_escaped;
use crate::model::*;
use crate::parse::{Parser, Words};
use crate::values::{parse_status_list, parse_vsg_range};
use crate::Build;

const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];
const VS_FLAGS: &[&str] = &[
    "ops",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "hashed",
];

pub fn vs_group(p: &mut Parser, b: &mut Build, w: &Words) {
    let Some(name) = p.arg(w, 1).map(str::to_string) else {
        return p.skip_block();
    };
    let mut g = VsGroup {
        name,
        entries: Vec::new(),
    };
    for e in p.value_block_args(w, 2) {
        p.loc = Some(e.line.loc());
        p.loc = Some(e.line.loc());
        if e.kw() == "fwmark" {
            let Some(s) = e.get(1).map(str::to_string) else {
                p.report(
                    Category::MissingParameter,
                    "virtual server group fwmark missing",
                );
                continue;
            };
            if let Some(m) = p.unsigned(&s, 1, u32::MAX as u64) {
                let fam = match e.get(2) {
                    Some("inet") => Some(false),
                    Some("inet6") => Some(true),
                    _ => None,
                };
                g.entries.push(VsgEntry::Fwmark {
                    mark: m as u32,
                    family6: fam,
                });
            }
            continue;
        }
        let text = e.kw().to_string();
        let Some((first, last)) = parse_vsg_range(&text) else {
            p.report(
                Category::GeneralError,
                format!("Invalid virtual server group IP address/range {text} - skipping"),
            );
            continue;
        };
        let port = match e.get(1) {
            Some(ps) => match p.unsigned(ps, 0, 65535) {
                Some(n) => n as u16,
                None => continue,
            },
            None => 0,
        };
        g.entries.push(VsgEntry::Range { first, last, port });
    }
    b.cfg.vs_groups.push(g);
}

fn lvs_method(p: &mut Parser, w: &Words) -> Option<LvsMethod> {
    match p.arg(w, 1)? {
        "NAT" => Some(LvsMethod::Nat),
        "DR" => Some(LvsMethod::Dr),
        "TUN" => Some(LvsMethod::Tun(w.rest(2))),
        o => {
            let o = o.to_string();
            p.report(
                Category::GeneralError,
                format!("LVS forwarding method {o} not supported"),
            );
            None
        }
    }
}

/// Keywords a virtual server and a real server share (`delay_loop`, `retry`, …).
fn defaults_kw(p: &mut Parser, d: &mut CheckDefaults, w: &Words) -> bool {
    match w.kw() {
        "delay_loop" => d.delay_loop = p.timer(w, 1, 1, 0),
        "connect_timeout" => d.connect_timeout = p.timer(w, 1, 1, 0),
        "retry" => d.retry = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32),
        "delay_before_retry" => d.delay_before_retry = p.timer(w, 1, 0, 0),
        "warmup" => d.warmup = p.timer(w, 1, 0, 0),
        "alpha" => d.alpha = p.opt_bool(w, 1),
        "inhibit_on_failure" => d.inhibit_on_failure = p.opt_bool(w, 1),
        "virtualhost" => d.virtualhost = p.arg(w, 1).map(str::to_string),
        "smtp_alert" => d.smtp_alert = p.opt_bool(w, 1),
        _ => return false,
    }
    true
}

pub fn virtual_server(p: &mut Parser, b: &mut Build, w: &Words) {
    // FILE_CHECK names a track_file defined before it (check_file.c looks it up then), and
    // BFD_CHECK a bfd_instance (check_bfd.c): one whose events go to the checker.
    let known = Known {
        track_files: b.cfg.track_files.iter().map(|t| t.name.clone()).collect(),
        bfds: b
            .cfg
            .bfd_instances
            .iter()
            .filter(|t| t.to_checker())
            .map(|t| t.name.clone())
            .collect(),
    };
    let key = match w.get(1) {
        Some("fwmark") => {
            let Some(s) = p.arg(w, 2).map(str::to_string) else {
                return p.skip_block();
            };
            match p.unsigned(&s, 1, u32::MAX as u64) {
                Some(m) => VsKey::Fwmark(m as u32),
                None => return p.skip_block(),
            }
        }
        Some("group") => {
            let Some(s) = p.arg(w, 2).map(str::to_string) else {
                return p.skip_block();
            };
            VsKey::Group(s)
        }
        Some(a) => {
            let Some(addr) = p.ip(a) else {
                return p.skip_block();
            };
            let port = match w.get(2) {
                Some(ps) => match p.unsigned(ps, 0, 65535) {
                    Some(n) => n as u16,
                    None => return p.skip_block(),
                },
                None => 0,
            };
            VsKey::Addr { addr, port }
        }
        None => {
            p.arg(w, 1);
            return p.skip_block();
        }
    };
    let mut vs = VirtualServer {
        key,
        protocol: Protocol::Tcp,
        protocol_set: false,
        lb_algo: "wlc".into(),
        lb_algo_set: false,
        lb_kind: LvsMethod::Nat,
        lb_kind_set: false,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        flags: Vec::new(),
        ip_family6: None,
        ha_suspend: false,
        omega: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        sorry_server_inhibit: false,
        sorry_server_lvs_method: None,
        weight: 1,
        defaults: CheckDefaults::default(),
        snmp_name: None,
        real_servers: Vec::new(),
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "lb_algo" | "lvs_sched" => match p.arg(w, 1) {
                Some(s) if SCHEDULERS.contains(&s) => {
                    vs.lb_algo = s.to_string();
                    vs.lb_algo_set = true;
                }
                Some(s) => {
                    let s = s.to_string();
                    p.report(
                        Category::GeneralError,
                        format!("Invalid lvs_scheduler '{s}' - ignoring"),
                    );
                }
                None => {}
            },
            "lb_kind" | "lvs_method" => {
                if let Some(m) = lvs_method(p, w) {
                    vs.lb_kind = m;
                    vs.lb_kind_set = true;
                }
            }
            "persistence_timeout" => {
                vs.persistence_timeout = match w.get(1) {
                    None => Some(360),
                    Some(s) => {
                        let s = s.to_string();
                        p.unsigned(&s, 1, 2678400).map(|x| x as u32)
                    }
                }
            }
            "persistence_granularity" => {
                vs.persistence_granularity = p.arg(w, 1).map(str::to_string)
            }
            "persistence_engine" => vs.persistence_engine = p.arg(w, 1).map(str::to_string),
            "protocol" => match p.arg(w, 1).map(str::to_ascii_lowercase).as_deref() {
                Some("tcp") => {
                    vs.protocol = Protocol::Tcp;
                    vs.protocol_set = true;
                }
                Some("udp") => {
                    vs.protocol = Protocol::Udp;
                    vs.protocol_set = true;
                }
                Some("sctp") => {
                    vs.protocol = Protocol::Sctp;
                    vs.protocol_set = true;
                }
                Some(o) => {
                    let o = o.to_string();
                    p.report(
                        Category::GeneralError,
                        format!("Unknown protocol {o} - ignoring"),
                    );
                }
                None => {}
            },
            f if VS_FLAGS.contains(&f) => vs.flags.push(f.to_string()),
            "ip_family" => match p.arg(w, 1) {
                Some("inet") => vs.ip_family6 = Some(false),
                Some("inet6") => vs.ip_family6 = Some(true),
                Some(o) => {
                    let o = o.to_string();
                    p.report(
                        Category::GeneralError,
                        format!("Unknown address family {o}"),
                    );
                }
                None => {}
            },
            "ha_suspend" => vs.ha_suspend = true,
            "omega" => vs.omega = p.opt_bool(w, 1),
            "quorum" => vs.quorum = p.unsigned_arg(w, 1, 1, u32::MAX as u64).unwrap_or(1) as u32,
            "hysteresis" => {
                vs.hysteresis = p.unsigned_arg(w, 1, 0, u32::MAX as u64).unwrap_or(0) as u32
            }
            "quorum_up" => vs.quorum_up = p.script(w),
            "quorum_down" => vs.quorum_down = p.script(w),
            "sorry_server" => {
                if let Some(a) = p.arg(w, 1).map(str::to_string) {
                    if let Some(addr) = p.ip(&a) {
                        let port = w.get(2).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
                        vs.sorry_server = Some((addr, port));
                    }
                }
            }
            "sorry_server_inhibit" => vs.sorry_server_inhibit = true,
            "sorry_server_lvs_method" => vs.sorry_server_lvs_method = lvs_method(p, w),
            "weight" => vs.weight = p.unsigned_arg(w, 1, 0, i32::MAX as u64).unwrap_or(1) as u32,
            "snmp_name" => vs.snmp_name = p.arg(w, 1).map(str::to_string),
            "real_server" => {
                if let Some(rs) = real_server(p, w, &known, vs.protocol) {
                    vs.real_servers.push(rs);
                }
            }
            _ => return defaults_kw(p, &mut vs.defaults, w),
        }
        true
    });
    vs.real_servers = exact(vs.real_servers);
    b.cfg.virtual_servers.push(vs);
}

/// The objects defined so far that checkers may name.
struct Known {
    track_files: Vec<String>,
    bfds: Vec<String>,
}

fn real_server(p: &mut Parser, w: &Words, known: &Known, proto: Protocol) -> Option<RealServer> {
    let Some(a) = p.arg(w, 1) else {
        p.skip_block();
        return None;
    };
    let Some(addr) = p.ip(a) else {
        p.skip_block();
        return None;
    };
    let port = match w.get(2) {
        Some(ps) => p.unsigned(ps, 0, 65535).unwrap_or(0) as u16,
        None => 0,
    };
    let mut rs = RealServer {
        addr,
        port,
        weight: u32::MAX,
        lvs_method: None,
        uthreshold: None,
        lthreshold: None,
        notify_up: None,
        notify_down: None,
        defaults: CheckDefaults::default(),
        snmp_name: None,
        checkers: Vec::new(),
    };
    p.block(&mut |p, w| {
        match w.kw() {
            "weight" => {
                if let Some(n) = p.unsigned_arg(w, 1, 0, i32::MAX as u64) {
                    rs.weight = n as u32;
                }
            }
            "lvs_method" => rs.lvs_method = lvs_method(p, w),
            "uthreshold" => {
                rs.uthreshold = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32)
            }
            "lthreshold" => {
                rs.lthreshold = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32)
            }
            "notify_up" => rs.notify_up = p.script(w),
            "notify_down" => rs.notify_down = p.script(w),
            "snmp_name" => rs.snmp_name = p.arg(w, 1).map(str::to_string),
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "SMTP_CHECK" | "DNS_CHECK" | "MISC_CHECK"
            | "PING_CHECK" | "ICMP_CHECK" | "UDP_CHECK" | "FILE_CHECK" | "BFD_CHECK" => {
                let label = crate::project::SvcLabel(rs.addr, rs.port, proto);
                if let Some(c) = checker(p, w, known, &label, &rs.checkers) {
                    rs.checkers.push(c);
                }
            }
            _ => return defaults_kw(p, &mut rs.defaults, w),
        }
        true
    });
    // Vec growth would keep room for 4 checkers per real server (three times the memory
    // 10,000 real servers use), and shrinking in place leaves a hole after each one.
    rs.checkers = exact(rs.checkers);
    Some(rs)
}

/// Keywords every network checker takes.
fn conn_kw(p: &mut Parser, c: &mut ConnOpts, w: &Words) -> bool {
    match w.kw() {
        "connect_ip" => {
            if let Some(s) = p.arg(w, 1).map(str::to_string) {
                c.connect_ip = p.ip(&s);
            }
        }
        "connect_port" => c.connect_port = p.unsigned_arg(w, 1, 0, 65535).map(|x| x as u16),
        "bindto" => {
            if let Some(s) = p.arg(w, 1).map(str::to_string) {
                c.bindto = p.ip(&s);
            }
        }
        "bind_port" => c.bind_port = p.unsigned_arg(w, 1, 0, 65535).map(|x| x as u16),
        "bind_if" => c.bind_if = p.arg(w, 1).map(str::to_string),
        "connect_timeout" => c.connect_timeout = p.timer(w, 1, 1, 0),
        "fwmark" => c.fwmark = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32),
        _ => return false,
    }
    true
}

fn retry_kw(p: &mut Parser, r: &mut RetryOpts, w: &Words) -> bool {
    match w.kw() {
        "retry" | "nb_get_retry" | "nb_sock_retry" => {
            r.retry = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32)
        }
        "delay_before_retry" => r.delay_before_retry = p.timer(w, 1, 0, 0),
        "delay_loop" => r.delay_loop = p.timer(w, 1, 1, 0),
        "warmup" => r.warmup = p.timer(w, 1, 0, 0),
        "alpha" => r.alpha = p.opt_bool(w, 1),
        "log_all_failures" => r.log_all_failures = p.opt_bool(w, 1),
        _ => return false,
    }
    true
}

/// A checker block. `rs` is keepalived's `FMT_RS` of its real server (as known at this
/// point of the file), `before` the real server's checkers so far.
fn checker(
    p: &mut Parser,
    w: &Words,
    refs: &Known,
    rs: &dyn std::fmt::Display,
    before: &[Checker],
) -> Option<Checker> {
    let track_files = &refs.track_files;
    let mut kind = match w.kw() {
        "TCP_CHECK" => CheckKind::Tcp,
        "HTTP_GET" | "SSL_GET" => CheckKind::Http {
            ssl: w.kw() == "SSL_GET",
            urls: Vec::new(),
            virtualhost: None,
            http_protocol: None,
            enable_sni: false,
            fast_recovery: false,
        },
        "SMTP_CHECK" => CheckKind::Smtp {
            helo_name: None,
            hosts: Vec::new(),
        },
        "DNS_CHECK" => CheckKind::Dns {
            qtype: "SOA".into(),
            name: ".".into(),
        },
        "MISC_CHECK" => CheckKind::Misc {
            path: None,
            timeout: None,
            dynamic: false,
            user: None,
        },
        "PING_CHECK" | "ICMP_CHECK" => CheckKind::Ping,
        "UDP_CHECK" => CheckKind::Udp {
            payload: None,
            require_reply: None,
            min_reply_length: None,
            max_reply_length: None,
        },
        "FILE_CHECK" => CheckKind::File {
            track_file: None,
            dynamic: false,
            weight: None,
        },
        _ => CheckKind::Bfd { name: None },
    };
    let mut conn = ConnOpts::default();
    let mut retry = RetryOpts::default();
    let network = !matches!(
        kind,
        CheckKind::Misc { .. } | CheckKind::File { .. } | CheckKind::Bfd { .. }
    );
    let retries = !matches!(kind, CheckKind::File { .. } | CheckKind::Bfd { .. });
    let mut dropped = false;
    p.block(&mut |p, w| {
        let known = match &mut kind {
            CheckKind::Http {
                urls,
                virtualhost,
                http_protocol,
                enable_sni,
                fast_recovery,
                ssl,
            } => match w.kw() {
                "url" => {
                    urls.push(url_block(p));
                    true
                }
                "virtualhost" => {
                    *virtualhost = p.arg(w, 1).map(str::to_string);
                    true
                }
                "http_protocol" => {
                    *http_protocol = p.arg(w, 1).map(str::to_string);
                    true
                }
                "enable_sni" if *ssl => {
                    *enable_sni = true;
                    true
                }
                "fast_recovery" => {
                    *fast_recovery = p.opt_bool(w, 1).unwrap_or(false);
                    true
                }
                _ => false,
            },
            CheckKind::Smtp { helo_name, hosts } => match w.kw() {
                "helo_name" => {
                    *helo_name = p.arg(w, 1).map(str::to_string);
                    true
                }
                "host" => {
                    let mut h = ConnOpts::default();
                    p.block(&mut |p, w| conn_kw(p, &mut h, w));
                    hosts.push(h);
                    true
                }
                _ => false,
            },
            CheckKind::Dns { qtype, name } => match w.kw() {
                "type" => {
                    if let Some(t) = p.arg(w, 1) {
                        let t = t.to_ascii_uppercase();
                        if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"].contains(&t.as_str()) {
                            *qtype = t;
                        } else {
                            p.report(
                                Category::GeneralError,
                                format!("DNS_CHECK: unknown type '{t}'"),
                            );
                        }
                    }
                    true
                }
                "name" => {
                    if let Some(n) = p.arg(w, 1) {
                        *name = n.to_string();
                    }
                    true
                }
                _ => false,
            },
            CheckKind::Misc {
                path,
                timeout,
                dynamic,
                user,
            } => match w.kw() {
                "misc_path" => {
                    *path = p.script(w);
                    true
                }
                "misc_timeout" => {
                    *timeout = p.unsigned_arg(w, 1, 0, u32::MAX as u64).map(|x| x as u32);
                    true
                }
                "misc_dynamic" => {
                    *dynamic = true;
                    true
                }
                "user" => {
                    *user = p
                        .arg(w, 1)
                        .map(|u| (u.to_string(), w.get(2).map(str::to_string)));
                    true
                }
                _ => false,
            },
            CheckKind::Udp {
                payload,
                require_reply,
                min_reply_length,
                max_reply_length,
            } => match w.kw() {
                "payload" => {
                    *payload = Some(w.rest(1).join(""));
                    true
                }
                "require_reply" => {
                    *require_reply = Some(if w.len() > 1 {
                        Some(w.rest(1).join(""))
                    } else {
                        None
                    });
                    true
                }
                "min_reply_length" => {
                    *min_reply_length = p.unsigned_arg(w, 1, 0, 65535).map(|x| x as u32);
                    true
                }
                "max_reply_length" => {
                    *max_reply_length = p.unsigned_arg(w, 1, 0, 65535).map(|x| x as u32);
                    true
                }
                _ => false,
            },
            CheckKind::File {
                track_file,
                dynamic,
                weight,
            } => match w.kw() {
                "track_file" => {
                    if let Some(t) = p.arg(w, 1).map(str::to_string) {
                        if track_files.contains(&t) {
                            *track_file = Some(t);
                        } else {
                            p.report(Category::GeneralError, format!("track_file {t} not found"));
                        }
                    }
                    true
                }
                "dynamic" => {
                    *dynamic = true;
                    true
                }
                "weight" => {
                    if let Some(s) = p.arg(w, 1).map(str::to_string) {
                        if let Some(n) = p.int(&s, i32::MIN as i64 + 1, i32::MAX as i64) {
                            *weight = Some((n as i32, w.get(2) == Some("reverse")));
                        }
                    }
                    true
                }
                _ => false,
            },
            // check_bfd.c bfd_name_handler: any error drops the checker.
            CheckKind::Bfd { name } => match w.kw() {
                "name" => {
                    let n = w.get(1).map(str::to_string);
                    let err = match &n {
                        _ if w.len() != 2 => Some(format!(
                            "({rs}) BFD_CHECK - No or too many names specified - skipping checker"
                        )),
                        Some(n) if !refs.bfds.contains(n) => {
                            Some(format!("({rs}) BFD_CHECK - BFD {n} not configured"))
                        }
                        Some(n) if name.is_some() => Some(format!(
                            "({rs}) BFD_CHECK - BFD {n} already specified as {}",
                            name.as_deref().unwrap_or_default()
                        )),
                        Some(n)
                            if before.iter().any(
                                |c| matches!(&c.kind, CheckKind::Bfd { name: Some(o) } if o == n),
                            ) =>
                        {
                            Some(format!("({rs}) BFD_CHECK - RS already monitoring {n}"))
                        }
                        _ => None,
                    };
                    match err {
                        Some(e) => {
                            p.report(Category::GeneralError, e);
                            dropped = true;
                        }
                        None => *name = n,
                    }
                    true
                }
                "alpha" => {
                    retry.alpha = p.opt_bool(w, 1).or(retry.alpha);
                    true
                }
                _ => false,
            },
            CheckKind::Tcp | CheckKind::Ping => false,
        };
        known || (network && conn_kw(p, &mut conn, w)) || (retries && retry_kw(p, &mut retry, w))
    });
    if dropped {
        return None;
    }
    // check_bfd.c bfd_end_handler.
    if let CheckKind::Bfd { name: None } = kind {
        p.report(
            Category::GeneralError,
            format!("({rs}) No name has been specified for BFD_CHECKER - skipping"),
        );
        return None;
    }
    // check_file.c file_end_handler.
    if let CheckKind::File {
        track_file: None, ..
    } = kind
    {
        p.report(
            Category::GeneralError,
            "FILE_CHECK has no track_file specified - ignoring",
        );
        return None;
    }
    Some(Checker { kind, conn, retry })
}

fn url_block(p: &mut Parser) -> Url {
    let mut u = Url::default();
    p.block(&mut |p, w| {
        match w.kw() {
            "path" => u.path = p.arg(w, 1).map(str::to_string),
            "digest" => {
                if let Some(d) = p.arg(w, 1).map(str::to_string) {
                    if d.len() != 32 || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
                        p.report(
                            Category::GeneralError,
                            format!("digest '{d}' is not a valid MD5 hex digest"),
                        );
                    } else {
                        u.digest = Some(d.to_ascii_lowercase());
                    }
                }
            }
            "status_code" => {
                let text = w.rest(1).join(",");
                match parse_status_list(&text) {
                    Some(list) => u.status_code.extend(list),
                    None => p.report(
                        Category::GeneralError,
                        format!("Invalid HTTP_GET status code '{text}'"),
                    ),
                }
            }
            "virtualhost" => u.virtualhost = p.arg(w, 1).map(str::to_string),
            // check_http.c regex_handler: the whole line split with quotes and escapes,
            // exactly two fields.
            "regex" => match split_quoted_escaped(&format!("regex {}", w.raw_after_kw())) {
                Ok(f) if f.len() == 2 => u.regex = f.into_iter().nth(1),
                Ok(_) => p.report(Category::Info, "regex missing or too many fields"),
                Err(msg) => p.report(Category::UnmatchedQuote, msg),
            },
            "regex_no_match" => u.regex_no_match = true,
            "regex_options" => {
                for o in w.iter_from(1) {
                    // keepalived ignores a name it does not know.
                    if OPTIONS.contains(&o) && !u.regex_options.iter().any(|x| x == o) {
                        u.regex_options.push(o.to_string());
                    }
                }
            }
            "regex_min_offset" | "regex_max_offset" => {
                let kind = if w.kw() == "regex_min_offset" {
                    "min"
                } else {
                    "max"
                };
                let v = match (w.len(), w.get(1).map(str::parse::<usize>)) {
                    (2, Some(Ok(v))) => v,
                    (2, _) => {
                        let a = w.get(1).unwrap_or_default();
                        p.report(
                            Category::Info,
                            format!("Invalid regex_{kind}_offset {a} specified"),
                        );
                        0
                    }
                    _ => {
                        p.report(
                            Category::Info,
                            format!("Missing or too may options for regex_{kind}_offset"),
                        );
                        0
                    }
                };
                if kind == "min" {
                    u.regex_min_offset = v;
                } else {
                    u.regex_max_offset = Some(v);
                }
            }
            "regex_stack" => {
                let nums: Vec<Option<u64>> = w.iter_from(1).map(|x| x.parse().ok()).collect();
                match nums[..] {
                    [Some(a), Some(b)] if a <= b => u.regex_stack = Some((a, b)),
                    [Some(_), Some(_)] => {
                        p.report(Category::Info, "regex stack start cannot exceed max value")
                    }
                    [None, _] => p.report(Category::Info, "regex_stack invalid start value"),
                    [_, None] => p.report(Category::Info, "regex_stack invalid max value"),
                    _ => p.report(Category::Info, "regex_stack requires start and max values"),
                }
            }
            _ => return false,
        }
        true
    });
    // check_http.c url end handler.
    if u.regex.is_none()
        && (!u.regex_options.is_empty()
            || u.regex_no_match
            || u.regex_min_offset > 0
            || u.regex_max_offset.is_some()
            || u.regex_stack.is_some())
    {
        p.report(Category::Info, "regex parameters specified without regex");
        u.regex_options.clear();
        u.regex_no_match = false;
        u.regex_min_offset = 0;
        u.regex_max_offset = None;
        u.regex_stack = None;
    }
    if let Some(max) = u.regex_max_offset {
        if u.regex_min_offset > max {
            p.report(
                Category::Info,
                format!(
                    "regex min offset {} > regex_max_offset {max} - ignoring",
                    u.regex_min_offset
                ),
            );
            u.regex_min_offset = 0;
            u.regex_max_offset = None;
        }
    }
    if let Some(re) = &u.regex {
        if let Err(e) = compile(re, &u.regex_options) {
            // keepalived logs "Invalid regex" for what PCRE2 refuses; what PCRE2 takes and the
            // regex crate does not (backreferences, look-around, …) is a warning here.
            p.report(
                Category::Warning,
                format!("Invalid regex: '{re}': {e} - keepalived-rs matches with the regex crate (no backreferences or look-around); the real server stays down"),
            );
        }
    }
    u
}

pub fn ssl(p: &mut Parser, b: &mut Build) {
    let mut s = SslConf::default();
    p.block(&mut |p, w| {
        let v = p.arg(w, 1).map(str::to_string);
        match w.kw() {
            "password" => s.password = v,
            "ca" => s.ca = v,
            "certificate" => s.certificate = v,
            "key" => s.key = v,
            _ => return false,
        }
        true
    });
    b.cfg.ssl = Some(s);
}

/// keepalived's service name in messages: `[IP]:tcp:PORT`, `FWM n`, `[group]:PORT`.
pub fn vs_name(vs: &VirtualServer) -> String {
    let proto = match vs.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    match &vs.key {
        VsKey::Addr { addr, port } => format!("[{addr}]:{proto}:{port}"),
        VsKey::Fwmark(m) => format!("FWM {m}"),
        VsKey::Group(g) => format!("[{g}]:{proto}:0"),
    }
}

/// The same elements in an allocation of exactly their size; the growing buffer is freed
/// whole and reused by the next object.
pub fn exact<T>(v: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    out.extend(v);
    out
}
