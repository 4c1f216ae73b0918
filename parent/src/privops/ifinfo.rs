//! Interface facts for the VRRP child's snapshot: index, MAC, primary IPv4 address and IPv6
//! link-local address of every interface an instance (or its VMAC) uses.

use conf::model::Config;
use conf::project::IfInfo;
use nix::ifaddrs::getifaddrs;
use std::net::IpAddr;

pub fn read(cfg: &Config) -> Vec<IfInfo> {
    let prefix = super::link::vmac_prefix(cfg);
    let mut names: Vec<String> = Vec::new();
    for v in &cfg.instances {
        names.extend(v.interface.clone());
        if let Some((n, _)) = super::link::vmac_of(v, &prefix) {
            names.push(n);
        }
    }
    names.sort();
    names.dedup();
    let mut out: Vec<IfInfo> = names
        .iter()
        .map(|n| IfInfo {
            name: n.clone(),
            index: nix::net::if_::if_nametoindex(n.as_str()).unwrap_or(0),
            ..Default::default()
        })
        .collect();
    let Ok(addrs) = getifaddrs() else { return out };
    for a in addrs {
        let Some(info) = out.iter_mut().find(|i| i.name == a.interface_name) else {
            continue;
        };
        let Some(addr) = a.address else { continue };
        if let Some(ll) = addr.as_link_addr() {
            if let Some(mac) = ll.addr() {
                info.mac = mac;
            }
        } else if let Some(v4) = addr.as_sockaddr_in() {
            // The first IPv4 address listed is the primary one.
            info.ipv4.get_or_insert(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let ip = v6.ip();
            if ip.segments()[0] & 0xffc0 == 0xfe80 {
                info.ipv6_ll.get_or_insert(IpAddr::V6(ip));
            }
        }
    }
    out
}

/// Every address configured on this host's interfaces (to find VIPs a killed daemon left).
pub fn present_addresses() -> std::collections::HashSet<IpAddr> {
    let mut out = std::collections::HashSet::new();
    let Ok(addrs) = getifaddrs() else { return out };
    for a in addrs {
        let Some(addr) = a.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            out.insert(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            out.insert(IpAddr::V6(v6.ip()));
        }
    }
    out
}
