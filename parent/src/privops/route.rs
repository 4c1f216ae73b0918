//! Routes and policy rules over rtnetlink: `static_routes`, `static_rules`, and an
//! instance's `virtual_routes` / `virtual_rules` (added with its VIPs, removed with them).
//! Routes carry `proto keepalived` (18) unless configured otherwise, as keepalived's do.

use super::addr::{err, octets, NlError, Rtnl};
use conf::model::{Route, Rule};
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{FrAct, Frattr, RtAddrFamily, RtScope, RtTable, Rta, Rtm, Rtn, Rtprot};
use neli::rtnl::{FibmsgBuilder, RtattrBuilder, RtmsgBuilder};
use neli::types::{Buffer, RtBuffer};

/// keepalived's routing protocol number (`RTPROT_KEEPALIVED`).
const RTPROT_KEEPALIVED: u8 = 18;

/// A table name or number (`/etc/iproute2/rt_tables` names beyond the standard ones are not read).
pub fn table_id(name: Option<&str>) -> Result<u32, NlError> {
    Ok(match name {
        None | Some("main") => 254,
        Some("local") => 255,
        Some("default") => 253,
        Some(n) => n
            .parse()
            .map_err(|_| err(format!("unknown routing table {n}")))?,
    })
}

fn route_type(t: Option<&str>) -> Result<Rtn, NlError> {
    Ok(match t {
        None | Some("unicast") => Rtn::Unicast,
        Some("local") => Rtn::Local,
        Some("broadcast") => Rtn::Broadcast,
        Some("anycast") => Rtn::Anycast,
        Some("multicast") => Rtn::Multicast,
        Some("blackhole") => Rtn::Blackhole,
        Some("unreachable") => Rtn::Unreachable,
        Some("prohibit") => Rtn::Prohibit,
        Some("throw") => Rtn::Throw,
        Some("nat") => Rtn::Nat,
        Some(o) => return Err(err(format!("unknown route type {o}"))),
    })
}

fn scope_of(r: &Route, ty: Rtn) -> Result<RtScope, NlError> {
    Ok(match r.scope.as_deref() {
        Some("global") | Some("universe") => RtScope::Universe,
        Some("site") => RtScope::Site,
        Some("link") => RtScope::Link,
        Some("host") => RtScope::Host,
        Some("nowhere") => RtScope::Nowhere,
        Some(n) => RtScope::from(
            n.parse::<u8>()
                .map_err(|_| err(format!("unknown scope {n}")))?,
        ),
        // iproute2's defaults: host for local routes, link for direct unicast routes.
        None if ty == Rtn::Local => RtScope::Host,
        None if ty == Rtn::Unicast && r.via.is_none() => RtScope::Link,
        None => RtScope::Universe,
    })
}

fn proto_of(p: Option<&str>) -> Result<u8, NlError> {
    Ok(match p {
        None | Some("keepalived") => RTPROT_KEEPALIVED,
        Some("boot") => 3,
        Some("static") => 4,
        Some("kernel") => 2,
        Some(n) => n
            .parse()
            .map_err(|_| err(format!("unknown route protocol {n}")))?,
    })
}

impl Rtnl {
    /// Add or delete one route. Already there (add) or already gone (delete) is fine.
    pub fn route(&mut self, r: &Route, add: bool) -> Result<(), NlError> {
        let six = r.family6
            || r.dst.is_some_and(|(a, _)| a.is_ipv6())
            || r.via.is_some_and(|a| a.is_ipv6());
        let ty = route_type(r.rtype.as_deref())?;
        let table = table_id(r.table.as_deref())?;
        let b = |e: neli::rtnl::RtattrBuilderError| err(e.to_string());
        let mut attrs = RtBuffer::<Rta, Buffer>::new();
        if let Some((a, _)) = r.dst {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Dst)
                    .rta_payload(&octets(a)[..])
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(s) = r.src {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Prefsrc)
                    .rta_payload(&octets(s)[..])
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(g) = r.via {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Gateway)
                    .rta_payload(&octets(g)[..])
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(dev) = &r.dev {
            let idx = nix::net::if_::if_nametoindex(dev.as_str()).map_err(|e| NlError {
                errno: e as i32,
                text: format!("interface {dev}: {e}"),
            })?;
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Oif)
                    .rta_payload(idx)
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(m) = r.metric {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Priority)
                    .rta_payload(m)
                    .build()
                    .map_err(b)?,
            );
        }
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Rta::Table)
                .rta_payload(table)
                .build()
                .map_err(b)?,
        );
        let msg = RtmsgBuilder::default()
            .rtm_family(if six {
                RtAddrFamily::Inet6
            } else {
                RtAddrFamily::Inet
            })
            .rtm_dst_len(r.dst.map(|(_, l)| l).unwrap_or(0))
            .rtm_src_len(0)
            .rtm_tos(0)
            .rtm_table(if table < 256 {
                RtTable::from(table as u8)
            } else {
                RtTable::Unspec
            })
            .rtm_protocol(Rtprot::from(proto_of(r.proto.as_deref())?))
            .rtm_scope(scope_of(r, ty)?)
            .rtm_type(ty)
            .rtattrs(attrs)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let res = if add {
            self.request(Rtm::Newroute, NlmF::CREATE | NlmF::EXCL, msg)
        } else {
            self.request(Rtm::Delroute, NlmF::empty(), msg)
        };
        match res {
            Err(e) if add && e.errno == libc::EEXIST => Ok(()),
            Err(e) if !add && e.errno == libc::ESRCH => Ok(()),
            r => r,
        }
    }

    /// Add or delete one policy rule.
    pub fn rule(&mut self, r: &Rule, add: bool) -> Result<(), NlError> {
        let table = table_id(r.table.as_deref())?;
        let b = |e: neli::rtnl::RtattrBuilderError| err(e.to_string());
        let mut attrs = RtBuffer::<Frattr, Buffer>::new();
        if let Some((a, _)) = r.from {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Frattr::Src)
                    .rta_payload(&octets(a)[..])
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some((a, _)) = r.to {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Frattr::Dst)
                    .rta_payload(&octets(a)[..])
                    .build()
                    .map_err(b)?,
            );
        }
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Frattr::Priority)
                .rta_payload(r.preference)
                .build()
                .map_err(b)?,
        );
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Frattr::Table)
                .rta_payload(table)
                .build()
                .map_err(b)?,
        );
        if let Some(i) = &r.iif {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Frattr::Iifname)
                    .rta_payload(i.as_str())
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(o) = &r.oif {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Frattr::Oifname)
                    .rta_payload(o.as_str())
                    .build()
                    .map_err(b)?,
            );
        }
        if let Some(fw) = &r.fwmark {
            if let Some((mark, mask)) = conf::values::parse_fwmark(fw) {
                attrs.push(
                    RtattrBuilder::default()
                        .rta_type(Frattr::Fwmark)
                        .rta_payload(mark)
                        .build()
                        .map_err(b)?,
                );
                if let Some(m) = mask {
                    attrs.push(
                        RtattrBuilder::default()
                            .rta_type(Frattr::Fwmask)
                            .rta_payload(m)
                            .build()
                            .map_err(b)?,
                    );
                }
            }
        }
        let six = r.family6
            || r.from.is_some_and(|(a, _)| a.is_ipv6())
            || r.to.is_some_and(|(a, _)| a.is_ipv6());
        let msg = FibmsgBuilder::default()
            .fib_family(if six {
                RtAddrFamily::Inet6
            } else {
                RtAddrFamily::Inet
            })
            .fib_dst_len(r.to.map(|(_, l)| l).unwrap_or(0))
            .fib_src_len(r.from.map(|(_, l)| l).unwrap_or(0))
            .fib_tos(0)
            .fib_table(if table < 256 {
                RtTable::from(table as u8)
            } else {
                RtTable::Unspec
            })
            .fib_action(FrAct::FrActToTbl)
            .rtattrs(attrs)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let res = if add {
            self.request(Rtm::Newrule, NlmF::CREATE | NlmF::EXCL, msg)
        } else {
            self.request(Rtm::Delrule, NlmF::empty(), msg)
        };
        match res {
            Err(e) if add && e.errno == libc::EEXIST => Ok(()),
            Err(e) if !add && e.errno == libc::ENOENT => Ok(()),
            r => r,
        }
    }
}

/// A route as `ip route` would name it, for logs.
pub fn show_route(r: &Route) -> String {
    match r.dst {
        Some((a, l)) => format!("{a}/{l}"),
        None => "default".into(),
    }
}
