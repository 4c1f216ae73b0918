//! Child snapshots and the reload diff.

use conf::project::{instance_id, vs_id};
use conf::{load_str, Config, LoadOptions};

fn cfg(text: &str) -> Config {
    let l = load_str("keepalived.conf", text, &LoadOptions::default());
    l.config
}

const BASE: &str = "
vrrp_script chk { script \"/bin/check arg\" }
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 priority 150
 virtual_ipaddress { 10.99.0.10 }
 track_script { chk }
 notify_master \"/usr/local/bin/notify master\"
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 52
 virtual_ipaddress { 10.99.0.20 }
}
virtual_server 10.99.0.10 80 {
 protocol TCP
 lb_algo rr
 lb_kind NAT
 real_server 10.99.1.1 8080 { weight 1
  MISC_CHECK { misc_path \"/usr/local/bin/probe x\" }
 }
 real_server 10.99.1.2 8080 { weight 1 }
}
";

#[test]
fn snapshots_carry_no_script_commands() {
    let c = cfg(BASE);
    let v = c.for_vrrp();
    assert_eq!(v.instances.len(), 2);
    assert!(v.instances.iter().all(|(_, i)| i
        .notify
        .master
        .as_ref()
        .is_none_or(|s| s.cmd.is_empty())));
    assert!(v.scripts.iter().all(|(_, s)| s.script.args.is_empty()));
    let k = c.for_checker();
    let text = format!("{k:?}");
    assert!(!text.contains("/usr/local/bin/probe"), "{text}");
    assert_eq!(k.virtual_servers[0].1.real_servers.len(), 2);
}

#[test]
fn ids_are_stable_and_name_independent() {
    let a = cfg(BASE);
    let b = cfg(&BASE.replace("VI_1", "RENAMED"));
    assert_eq!(instance_id(&a.instances[0]), instance_id(&b.instances[0]));
    assert_ne!(instance_id(&a.instances[0]), instance_id(&a.instances[1]));
    assert_eq!(vs_id(&a.virtual_servers[0]), vs_id(&b.virtual_servers[0]));
}

#[test]
fn reload_diff_matches_like_keepalived() {
    let old = cfg(BASE);
    // Renaming an instance changes nothing keepalived matches on.
    let d = Config::diff(&old, &cfg(&BASE.replace("VI_1", "RENAMED")));
    assert!(d.instances_added.is_empty() && d.instances_removed.is_empty());
    // A priority change is a change of the same instance; a new VRID is a new instance.
    let d = Config::diff(&old, &cfg(&BASE.replace("priority 150", "priority 120")));
    assert_eq!(d.instances_changed, vec![instance_id(&old.instances[0])]);
    assert_eq!(d.instances_unchanged, vec![instance_id(&old.instances[1])]);
    let d = Config::diff(
        &old,
        &cfg(&BASE.replace("virtual_router_id 52", "virtual_router_id 53")),
    );
    assert_eq!((d.instances_added.len(), d.instances_removed.len()), (1, 1));
    // One real server's weight: exactly one real-server change, no service change.
    let d = Config::diff(
        &old,
        &cfg(&BASE.replace(
            "real_server 10.99.1.2 8080 { weight 1 }",
            "real_server 10.99.1.2 8080 { weight 3 }",
        )),
    );
    assert_eq!(
        (
            d.rs_changed.len(),
            d.rs_added.len(),
            d.rs_removed.len(),
            d.vs_changed.len()
        ),
        (1, 0, 0, 0)
    );
    let d = Config::diff(&old, &old);
    assert_eq!(d.instances_unchanged.len(), 2);
    assert!(d.rs_changed.is_empty() && d.vs_added.is_empty());
}

/// vrrp_strict as keepalived's `vrrp_complete_instance` applies it: unicast instances
/// kept (keepalived 2.2.7's check for them never fires), accept mode off for non-owners (v2 `accept` reset), the receive-side knobs
/// reset with keepalived's messages.
#[test]
fn strict_mode_at_load() {
    let l = load_str(
        "keepalived.conf",
        "global_defs {
 vrrp_strict
}
vrrp_instance U {
 interface eth0
 virtual_router_id 1
 priority 100
 unicast_peer {
  10.99.0.12
 }
 virtual_ipaddress {
  10.99.0.1
 }
}
vrrp_instance A {
 interface eth0
 virtual_router_id 2
 priority 100
 accept
 down_timer_adverts 5
 garp_lower_prio_repeat 3
 lower_prio_no_advert false
 higher_prio_send_advert
 virtual_ipaddress {
  10.99.0.2
 }
}
vrrp_instance B {
 interface eth0
 virtual_router_id 3
 priority 100
 version 3
 virtual_ipaddress {
  10.99.0.3
 }
}
vrrp_instance O {
 interface eth0
 virtual_router_id 4
 priority 255
 virtual_ipaddress {
  10.99.0.4
 }
}
vrrp_instance C {
 interface eth0
 virtual_router_id 5
 priority 100
 version 3
 accept
 virtual_ipaddress {
  10.99.0.5
 }
}
",
        &LoadOptions::default(),
    );
    let msgs: Vec<&str> = l.diags.list.iter().map(|d| d.msg.as_str()).collect();
    for m in [
        "(A) down_timer_adverts is incompatible with strict mode - resetting",
        "(A) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting",
        "(A) Strict mode requires no repeat garps. resetting",
        "(A) Strict mode requires no lower priority advert. resetting",
        "(A) strict mode requires higher_prio_send_advert to be clear. resetting",
    ] {
        assert!(msgs.contains(&m), "{m} not in {msgs:?}");
    }
    let c = &l.config;
    let names: Vec<&str> = c.instances.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["U", "A", "B", "O", "C"]);
    let accept = |n: &str| {
        c.instances
            .iter()
            .find(|v| v.name == n)
            .unwrap()
            .accept_mode(c.global.vrrp_strict)
    };
    assert!(!accept("A"), "v2 accept reset");
    assert!(!accept("B"), "strict non-owner: no_accept by default");
    assert!(accept("O"), "the owner accepts");
    assert!(accept("C"), "v3 accept kept");
    let a = c.instances.iter().find(|v| v.name == "A").unwrap();
    assert_eq!(a.down_timer_adverts, Some(3));
    assert_eq!(a.garp.lower_prio_repeat, Some(0));
}
