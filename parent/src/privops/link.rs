//! VMAC interfaces for `use_vmac` (keepalived's `vrrp_vmac.c`, reference §6.6): a macvlan in
//! private mode on the instance's interface, named `vrrp.<VRID>` unless configured, with the
//! VRRP virtual MAC `00:00:5e:00:01:<VRID>` (IPv4) or `00:00:5e:00:02:<VRID>` (IPv6).

use super::addr::{err, NlError, Rtnl};
use conf::model::VrrpInstance;
use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Iff, Ifla, IflaInfo, IflaVlan, RtAddrFamily, Rtm};
use neli::rtnl::{IfinfomsgBuilder, RtattrBuilder};
use neli::types::{Buffer, RtBuffer};

/// `MACVLAN_MODE_PRIVATE` (linux/if_link.h).
const MACVLAN_MODE_PRIVATE: u32 = 1;
/// `IFLA_MACVLAN_MODE` is attribute 1 inside macvlan's `IFLA_INFO_DATA`; neli has no macvlan
/// enum, and its VLAN enum's `Id` carries the same number.
const IFLA_MACVLAN_MODE: IflaVlan = IflaVlan::Id;

/// `vmac_prefix` (VMAC names are PREFIX.VRID), keepalived's default "vrrp".
pub fn vmac_prefix(cfg: &conf::model::Config) -> String {
    cfg.global
        .vmac_prefix
        .clone()
        .unwrap_or_else(|| "vrrp".into())
}

/// The VMAC name and MAC of an instance with `use_vmac`.
pub fn vmac_of(v: &VrrpInstance, prefix: &str) -> Option<(String, [u8; 6])> {
    let (name, mac) = v.use_vmac.as_ref()?;
    let name = name
        .clone()
        .unwrap_or_else(|| format!("{prefix}.{}", v.vrid));
    let mut m = [
        0x00,
        0x00,
        0x5e,
        0x00,
        if v.family6 { 0x02 } else { 0x01 },
        v.vrid,
    ];
    if let Some(text) = mac {
        let parts: Vec<u8> = text
            .split(':')
            .filter_map(|p| u8::from_str_radix(p, 16).ok())
            .collect();
        match parts.len() {
            6 => m.copy_from_slice(&parts),
            5 => {
                m[..5].copy_from_slice(&parts);
                m[5] = v.vrid;
            }
            _ => {}
        }
    }
    Some((name, m))
}

fn ifindex(name: &str) -> Result<u32, NlError> {
    nix::net::if_::if_nametoindex(name).map_err(|e| NlError {
        errno: e as i32,
        text: format!("interface {name}: {e}"),
    })
}

impl Rtnl {
    /// Create (and bring up) a macvlan VMAC on `base`. One that exists already is deleted and
    /// made again, as keepalived does, so its mode and MAC are ours.
    pub fn create_vmac(&mut self, name: &str, base: &str, mac: [u8; 6]) -> Result<(), NlError> {
        let base_index = ifindex(base)?;
        if ifindex(name).is_ok() {
            self.delete_link(name)?;
        }
        let b = |e: neli::rtnl::RtattrBuilderError| err(e.to_string());
        let mut data = RtBuffer::<IflaVlan, Buffer>::new();
        data.push(
            RtattrBuilder::default()
                .rta_type(IFLA_MACVLAN_MODE)
                .rta_payload(MACVLAN_MODE_PRIVATE)
                .build()
                .map_err(b)?,
        );
        let mut info = RtBuffer::<IflaInfo, Buffer>::new();
        info.push(
            RtattrBuilder::default()
                .rta_type(IflaInfo::Kind)
                .rta_payload("macvlan")
                .build()
                .map_err(b)?,
        );
        info.push(
            RtattrBuilder::default()
                .rta_type(IflaInfo::Data)
                .rta_payload(data)
                .build()
                .map_err(b)?,
        );
        let mut attrs = RtBuffer::<Ifla, Buffer>::new();
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Ifname)
                .rta_payload(name)
                .build()
                .map_err(b)?,
        );
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Link)
                .rta_payload(base_index)
                .build()
                .map_err(b)?,
        );
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Address)
                .rta_payload(&mac[..])
                .build()
                .map_err(b)?,
        );
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Ifla::Linkinfo)
                .rta_payload(info)
                .build()
                .map_err(b)?,
        );
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_flags(Iff::UP)
            .ifi_change(Iff::UP)
            .rtattrs(attrs)
            .build()
            .map_err(|e| err(e.to_string()))?;
        self.request(Rtm::Newlink, NlmF::CREATE | NlmF::EXCL, msg)
    }

    /// Delete a link by name; one already gone is fine.
    pub fn delete_link(&mut self, name: &str) -> Result<(), NlError> {
        let Ok(index) = ifindex(name) else {
            return Ok(());
        };
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index as i32)
            .build()
            .map_err(|e| err(e.to_string()))?;
        match self.request(Rtm::Dellink, NlmF::empty(), msg) {
            Err(e) if e.errno == libc::ENODEV => Ok(()),
            r => r,
        }
    }
}
