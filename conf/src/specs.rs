//! Address, route and rule specifications (keepalived's `parse_ipaddress`, `parse_route`,
//! `parse_rule` in `keepalived/vrrp/vrrp_ipaddress.c`, `vrrp_iproute.c`, `vrrp_iprule.c`).

use crate::diag::Category;
use crate::model::{IpAddress, Route, Rule};
use crate::parse::{Parser, Words};
use crate::values::{parse_fwmark, parse_num_range, parse_prefix};

const ADDR_FLAGS: &[&str] = &[
    "home",
    "-nodad",
    "nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
];

/// One `ADDR-SPEC` line. `None` (after a diagnostic) when the address is invalid.
pub fn ip_address(p: &mut Parser, w: &Words, allow_vmac: bool) -> Option<IpAddress> {
    let first = w.kw();
    let Some((addr, prefix)) = parse_prefix(first) else {
        p.report(
            Category::GeneralError,
            format!("VRRP parsed invalid IP {first}. skipping IP..."),
        );
        return None;
    };
    let mut a = IpAddress {
        addr,
        prefix,
        dev: None,
        scope: None,
        brd: None,
        label: None,
        peer: None,
        flags: Vec::new(),
        preferred_lft: None,
        track_group: None,
        no_track: false,
        use_vmac: false,
    };
    let mut i = 1;
    while i < w.len() {
        let k = w.get(i).unwrap_or_default();
        let val = w.get(i + 1).map(str::to_string);
        let needs = |p: &mut Parser, v: &Option<String>| {
            if v.is_none() {
                p.report(Category::GeneralError, format!("{k} requires a value"));
            }
            v.clone()
        };
        match k {
            "dev" => {
                if let Some(dev) = &val {
                    if !p.interface_usable(dev) {
                        p.report(
                            Category::GeneralError,
                            format!(
                                "WARNING - interface {dev} for ip address {first} doesn't exist"
                            ),
                        );
                        return None;
                    }
                }
                a.dev = needs(p, &val);
                i += 1;
            }
            "scope" => {
                a.scope = needs(p, &val);
                i += 1;
            }
            "brd" | "broadcast" => {
                a.brd = needs(p, &val);
                i += 1;
            }
            "label" => {
                a.label = needs(p, &val);
                i += 1;
            }
            "peer" => {
                a.peer = needs(p, &val);
                i += 1;
            }
            "preferred_lft" => {
                a.preferred_lft = needs(p, &val);
                i += 1;
            }
            "track_group" => {
                a.track_group = needs(p, &val);
                i += 1;
            }
            "no_track" => a.no_track = true,
            "use_vmac" if allow_vmac => a.use_vmac = true,
            f if ADDR_FLAGS.contains(&f) => a.flags.push(f.to_string()),
            other => {
                p.report(
                    Category::GeneralError,
                    format!("Unknown configuration entry '{other}' for ip address - ignoring"),
                );
            }
        }
        i += 1;
    }
    Some(a)
}

const ROUTE_TYPES: &[&str] = &[
    "unicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "local",
    "broadcast",
    "anycast",
    "multicast",
    "nat",
];
/// Route options that take one value and are kept as written.
const ROUTE_VALUE_OPTS: &[&str] = &[
    "tos",
    "dsfield",
    "realms",
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "initcwnd",
    "initrwnd",
    "rto_min",
    "hoplimit",
    "features",
    "congctl",
    "pref",
    "expires",
    "vrf",
    "quickack",
    "fastopen_no_cookie",
    "ttl-propagate",
    "nhid",
];
const ROUTE_FLAG_OPTS: &[&str] = &["onlink", "append", "inet6", "inet"];

/// keepalived's message for a route or next-hop device that does not exist.
fn route_dev_missing(p: &mut Parser, dev: &str) {
    p.report(
        Category::GeneralError,
        format!("WARNING - interface {dev} for VROUTE nexthop doesn't exist"),
    );
}

/// The `dev` of each next hop (`nexthop via ADDR dev IF weight N …`, from word `i` on) must
/// exist; keepalived stops reading the next hops at the first that does not (the route
/// itself is kept).
fn nexthop_devs(p: &mut Parser, w: &Words, mut i: usize) {
    while i < w.len() {
        match w.get(i) {
            Some("dev") => {
                let Some(dev) = w.get(i + 1) else { return };
                if !p.interface_usable(dev) {
                    route_dev_missing(p, dev);
                    return;
                }
                i += 2;
            }
            // Options with one value: skip the value (it may be any word).
            Some("weight" | "realms") => i += 2,
            Some("via") => {
                i += 1;
                if matches!(w.get(i), Some("inet" | "inet6")) {
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// One `ROUTE-SPEC` line (virtual or static).
pub fn route(p: &mut Parser, w: &Words) -> Option<Route> {
    let mut r = Route::default();
    let mut i = 0;
    let mut have_dst = false;
    while i < w.len() {
        let k = w.get(i).unwrap_or_default().to_string();
        let take = |p: &mut Parser, i: &mut usize| option_value(p, w, i, "Route");
        match k.as_str() {
            "src" => {
                let v = take(p, &mut i)?;
                r.src = Some(p.ip(&v)?);
            }
            "via" | "gw" => {
                if k == "gw" {
                    p.report(
                        Category::Deprecated,
                        "\"gw\" for routes is deprecated. Please use \"via\"",
                    );
                }
                let v = take(p, &mut i)?;
                r.via = Some(p.ip(&v)?);
            }
            "or" => {
                p.report(
                    Category::Deprecated,
                    "\"or\" for routes is deprecated. Please use \"nexthop\"",
                );
                let v = take(p, &mut i)?;
                r.or_via = Some(p.ip(&v)?);
            }
            "dev" | "oif" => {
                let dev = take(p, &mut i);
                if let Some(d) = &dev {
                    if !p.interface_usable(d) {
                        route_dev_missing(p, d);
                        return None;
                    }
                }
                r.dev = dev;
            }
            "table" => r.table = take(p, &mut i),
            "metric" | "priority" | "preference" => {
                let v = take(p, &mut i)?;
                r.metric = Some(p.unsigned(&v, 0, u32::MAX as u64)? as u32);
            }
            "scope" => r.scope = take(p, &mut i),
            "proto" | "protocol" => r.proto = take(p, &mut i),
            "no_track" => r.no_track = true,
            "track_group" => r.track_group = take(p, &mut i),
            "to" => {}
            "default" | "all" => {
                have_dst = true;
                r.dst = None;
            }
            "nexthop" => {
                // The rest of the line describes next hops; keep it as written.
                nexthop_devs(p, w, i);
                r.other.extend(w.rest(i));
                break;
            }
            "encap" => {
                r.other.extend(w.rest(i));
                break;
            }
            t if ROUTE_TYPES.contains(&t) => r.rtype = Some(t.to_string()),
            o if ROUTE_VALUE_OPTS.contains(&o) => {
                let v = take(p, &mut i)?;
                r.other.push(o.to_string());
                r.other.push(v);
            }
            "lock" => r.other.push(k.clone()),
            f if ROUTE_FLAG_OPTS.contains(&f) => {
                if f == "inet6" {
                    r.family6 = true;
                }
                r.other.push(f.to_string());
            }
            // keepalived takes any other word as the destination (a later one replaces an
            // earlier one of the same family).
            other => match parse_prefix(other) {
                Some(d) => {
                    if have_dst && r.dst.is_some_and(|(a, _)| a.is_ipv6() != d.0.is_ipv6()) {
                        p.report(
                            Category::GeneralError,
                            format!("Cannot mix IPv4 and IPv6 addresses for route ({other})"),
                        );
                        return None;
                    }
                    r.dst = Some(d);
                    r.family6 = d.0.is_ipv6();
                    have_dst = true;
                }
                None => {
                    p.report(
                        Category::GeneralError,
                        format!("VRRP parsed invalid IP {other}. skipping IP..."),
                    );
                    p.report(
                        Category::GeneralError,
                        format!("unknown route keyword {other}"),
                    );
                    return None;
                }
            },
        }
        i += 1;
    }
    // keepalived tracks static routes too, so the warning is the same for both.
    if r.dev.is_none() && !r.no_track {
        let dst = match r.dst {
            Some((a, l)) => format!("{a}/{l}"),
            None if r.family6 => "::/0".to_string(),
            None => "0.0.0.0/0".to_string(),
        };
        p.report(
            Category::Warning,
            format!("Warning - cannot track route {dst} with no interface specified, not tracking"),
        );
        r.no_track = true;
    }
    Some(r)
}

const RULE_VALUE_OPTS: &[&str] = &[
    "tos",
    "dsfield",
    "realms",
    "goto",
    "suppress_prefixlength",
    "suppress_ifgroup",
    "protocol",
    "ip_proto",
    "tun_id",
];

/// One `RULE-SPEC` line. `next_pref` is keepalived's decreasing default preference.
pub fn rule(p: &mut Parser, w: &Words, next_pref: &mut u32) -> Option<Rule> {
    let mut r = Rule::default();
    let mut i = 0;
    while i < w.len() {
        let k = w.get(i).unwrap_or_default().to_string();
        let take = |p: &mut Parser, i: &mut usize| option_value(p, w, i, "Rule");
        match k.as_str() {
            "from" | "to" => {
                let v = take(p, &mut i)?;
                let parsed = if v == "all" {
                    Some(None)
                } else {
                    parse_prefix(&v).map(Some)
                };
                match parsed {
                    Some(x) => {
                        if let Some((a, _)) = x {
                            r.family6 = a.is_ipv6();
                        }
                        if k == "from" {
                            r.from = x;
                        } else {
                            r.to = x;
                        }
                    }
                    None => {
                        p.report(
                            Category::GeneralError,
                            format!("VRRP parsed invalid IP {v}. skipping IP..."),
                        );
                        p.report(
                            Category::GeneralError,
                            format!("Invalid rule {k} address {v}"),
                        );
                        return None;
                    }
                }
            }
            "table" | "lookup" => r.table = take(p, &mut i),
            "iif" | "dev" | "oif" => {
                let dev = take(p, &mut i);
                if let Some(d) = &dev {
                    if !p.interface_usable(d) {
                        p.report(
                            Category::GeneralError,
                            format!("WARNING - interface {d} for rule doesn't exist"),
                        );
                        return None;
                    }
                }
                if k == "oif" {
                    r.oif = dev;
                } else {
                    r.iif = dev;
                }
            }
            "fwmark" => {
                let v = take(p, &mut i)?;
                if parse_fwmark(&v).is_none() {
                    p.report(Category::GeneralError, format!("Invalid rule fwmark {v}"));
                    return None;
                }
                r.fwmark = Some(v);
            }
            "preference" | "priority" | "pref" | "order" => {
                let v = take(p, &mut i)?;
                r.preference = p.unsigned(&v, 0, u32::MAX as u64)? as u32;
                r.preference_set = true;
            }
            "uidrange" | "sport" | "dport" => {
                let v = take(p, &mut i)?;
                if parse_num_range(&v).is_none() {
                    p.report(Category::GeneralError, format!("Invalid rule {k} {v}"));
                    return None;
                }
                r.other.push(k.clone());
                r.other.push(v);
            }
            "no_track" => r.no_track = true,
            "track_group" => r.track_group = take(p, &mut i),
            "inet6" => r.family6 = true,
            "l3mdev" | "not" => r.other.push(k.clone()),
            o if RULE_VALUE_OPTS.contains(&o) => {
                let v = take(p, &mut i)?;
                r.other.push(o.to_string());
                r.other.push(v);
            }
            other => {
                p.report(
                    Category::GeneralError,
                    format!("Unknown rule option {other}"),
                );
                return None;
            }
        }
        i += 1;
    }
    if !r.preference_set {
        r.preference = *next_pref;
        p.report(
            Category::Warning,
            format!("Rule has no preference specified - setting to {}. This is probably not what you want.", *next_pref),
        );
        *next_pref = next_pref.saturating_sub(1);
    }
    Some(r)
}

/// The value after the option at `*i` (moving `*i` onto it); a diagnostic when it is missing.
fn option_value(p: &mut Parser, w: &Words, i: &mut usize, what: &str) -> Option<String> {
    let k = w.get(*i).unwrap_or_default().to_string();
    *i += 1;
    let v = w.get(*i).map(str::to_string);
    if v.is_none() {
        p.report(
            Category::GeneralError,
            format!("{what} option {k} requires a value"),
        );
    }
    v
}
