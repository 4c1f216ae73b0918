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
