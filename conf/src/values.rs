//! Value grammars (pest): address prefixes, group ranges, status-code lists, numeric ranges.

use pest::Parser as _;
use pest_derive::Parser;
use std::net::IpAddr;

#[derive(Parser)]
#[grammar = "values.pest"]
struct Values;

/// `IP[/LEN]`: the address and its prefix length (default /32 or /128).
pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let mut pairs = Values::parse(Rule::prefix, s)
        .ok()?
        .next()?
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI);
    let addr: IpAddr = pairs.next()?.as_str().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match pairs.next() {
        Some(p) if p.as_rule() == Rule::uint => {
            p.as_str().parse::<u8>().ok().filter(|l| *l <= max)?
        }
        _ => max,
    };
    Some((addr, len))
}

/// A `virtual_server_group` address entry: (first, last).
pub fn parse_vsg_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    let mut pairs = Values::parse(Rule::vsg_range, s)
        .ok()?
        .next()?
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI);
    let first: IpAddr = pairs.next()?.as_str().parse().ok()?;
    let Some(end) = pairs.next() else {
        return Some((first, first));
    };
    let text = end.as_str();
    match (end.as_rule(), first) {
        (Rule::uint, _) if s.contains('/') => {
            // PREFIX/LEN: the range covers the whole prefix.
            let len: u32 = text.parse().ok()?;
            match first {
                IpAddr::V4(a) => {
                    if len > 32 {
                        return None;
                    }
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                    let base = u32::from(a) & mask;
                    Some((IpAddr::V4(base.into()), IpAddr::V4((base | !mask).into())))
                }
                IpAddr::V6(a) => {
                    if len > 128 {
                        return None;
                    }
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - len)
                    };
                    let base = u128::from(a) & mask;
                    Some((IpAddr::V6(base.into()), IpAddr::V6((base | !mask).into())))
                }
            }
        }
        (_, IpAddr::V4(a)) => {
            if let Ok(full) = text.parse::<IpAddr>() {
                return full.is_ipv4().then_some((first, full));
            }
            let last: u8 = text.parse().ok()?;
            let o = a.octets();
            (last >= o[3]).then(|| (first, IpAddr::V4([o[0], o[1], o[2], last].into())))
        }
        (_, IpAddr::V6(a)) => {
            if let Ok(full) = text.parse::<IpAddr>() {
                return full.is_ipv6().then_some((first, full));
            }
            let last = u16::from_str_radix(text, 16).ok()?;
            let mut seg = a.segments();
            if last < seg[7] {
                return None;
            }
            seg[7] = last;
            Some((first, IpAddr::V6(seg.into())))
        }
    }
}

/// `status_code 200-299,301`: inclusive ranges, each code 100..=999.
pub fn parse_status_list(s: &str) -> Option<Vec<(u16, u16)>> {
    let list = Values::parse(Rule::status_list, s).ok()?.next()?;
    let mut out = Vec::new();
    for item in list
        .into_inner()
        .filter(|p| p.as_rule() == Rule::status_item)
    {
        let mut nums = item.into_inner();
        let a: u16 = nums.next()?.as_str().parse().ok()?;
        let b: u16 = match nums.next() {
            Some(n) => n.as_str().parse().ok()?,
            None => a,
        };
        if !(100..=999).contains(&a) || !(100..=999).contains(&b) || b < a {
            return None;
        }
        out.push((a, b));
    }
    Some(out)
}

/// `A[-B]`.
pub fn parse_num_range(s: &str) -> Option<(u32, u32)> {
    let mut nums = Values::parse(Rule::num_range, s)
        .ok()?
        .next()?
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI);
    let a: u32 = nums.next()?.as_str().parse().ok()?;
    let b: u32 = match nums.next() {
        Some(n) => n.as_str().parse().ok()?,
        None => a,
    };
    (b >= a).then_some((a, b))
}

/// `fwmark M[/MASK]`, decimal or hex.
pub fn parse_fwmark(s: &str) -> Option<(u32, Option<u32>)> {
    let mut parts = Values::parse(Rule::fwmark, s)
        .ok()?
        .next()?
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI);
    let num = |t: &str| -> Option<u32> {
        match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => t.parse().ok(),
        }
    };
    let m = num(parts.next()?.as_str())?;
    let mask = match parts.next() {
        Some(p) => Some(num(p.as_str())?),
        None => None,
    };
    Some((m, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("10.0.0.1"),
            Some(("10.0.0.1".parse().unwrap(), 32))
        );
        assert_eq!(
            parse_prefix("10.0.0.0/8"),
            Some(("10.0.0.0".parse().unwrap(), 8))
        );
        assert_eq!(
            parse_prefix("fd99::1/64"),
            Some(("fd99::1".parse().unwrap(), 64))
        );
        assert_eq!(parse_prefix("192.168.100./24"), None);
        assert_eq!(parse_prefix("10.0.0.1/33"), None);
    }

    #[test]
    fn ranges() {
        let (a, b) = parse_vsg_range("192.168.201.1-10").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("192.168.201.1".into(), "192.168.201.10".into())
        );
        let (a, b) = parse_vsg_range("10.0.0.0/30").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("10.0.0.0".into(), "10.0.0.3".into())
        );
        assert!(parse_vsg_range("10.0.0.9-3").is_none());
        let (_, b) = parse_vsg_range("fd99::1-a").unwrap();
        assert_eq!(b.to_string(), "fd99::a");
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            parse_status_list("200-299,301"),
            Some(vec![(200, 299), (301, 301)])
        );
        assert_eq!(parse_status_list("99"), None);
        assert_eq!(parse_num_range("1000-2000"), Some((1000, 2000)));
        assert_eq!(parse_fwmark("0x10/0xff"), Some((16, Some(255))));
    }
}
