//! `keepalived.json` (keepalived `vrrp_json.c`, on `--signum=JSON`): an array with one
//! `{ "data": {…}, "stats": {…} }` object per instance, from the child's own state and
//! counters. The child does not know script commands (the parent runs them), so the
//! `script_*` keys are left out.

use crate::fsm::State;
use crate::runtime::Slot;

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// keepalived's state numbers: INIT 0, BACKUP 1, MASTER 2, FAULT 3, STOP 98.
fn state_num(s: State) -> u32 {
    match s {
        State::Init => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
        State::Stop => 98,
    }
}

fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", string(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The whole file.
pub fn render(slots: &[Slot]) -> String {
    let items: Vec<String> = slots.iter().map(instance).collect();
    format!("[{}]\n", items.join(","))
}

fn instance(s: &Slot) -> String {
    let f = &s.fsm;
    let c = &f.cfg;
    let secs = |cs: u32| format!("{:.6}", f64::from(cs) / 100.0);
    let list = |v: Vec<String>| format!("[{}]", v.join(","));
    let want = if f.state == State::Master || f.want_master {
        State::Master
    } else {
        f.state
    };
    let data = object(&[
        ("iname", string(&c.name)),
        (
            "dont_track_primary",
            u8::from(s.dont_track_primary).to_string(),
        ),
        (
            "skip_check_adv_addr",
            u8::from(c.skip_check_adv_addr).to_string(),
        ),
        ("strict_mode", u8::from(s.strict).to_string()),
        ("ifp_ifname", string(s.ifname())),
        ("master_priority", f.master_priority.to_string()),
        ("last_transition", format!("{:.6}", s.last_transition)),
        ("garp_delay", format!("{:.6}", c.garp.delay.as_secs_f64())),
        ("garp_refresh", c.garp.refresh.as_secs().to_string()),
        ("garp_rep", c.garp.repeat.to_string()),
        ("garp_refresh_rep", c.garp.refresh_repeat.to_string()),
        (
            "garp_lower_prio_delay",
            c.garp.lower_prio_delay.as_secs().to_string(),
        ),
        ("garp_lower_prio_rep", c.garp.lower_prio_repeat.to_string()),
        (
            "lower_prio_no_advert",
            u8::from(c.lower_prio_no_advert).to_string(),
        ),
        (
            "higher_prio_send_advert",
            u8::from(c.higher_prio_send_advert).to_string(),
        ),
        ("vrid", c.vrid.to_string()),
        ("base_priority", c.priority.to_string()),
        ("effective_priority", f.effective.to_string()),
        ("vipset", (f.state == State::Master).to_string()),
        ("adver_int", secs(c.adver_int)),
        ("master_adver_int", secs(f.master_adver_int)),
        ("nopreempt", c.nopreempt.to_string()),
        ("preempt_delay", c.preempt_delay.as_secs().to_string()),
        ("state", state_num(f.state).to_string()),
        ("wantstate", state_num(want).to_string()),
        ("version", c.version.to_string()),
        (
            "vips",
            list(c.vips.iter().map(|a| string(&a.to_string())).collect()),
        ),
        ("track_ifp", list(s.tracked_links().map(string).collect())),
        (
            "track_script",
            list(s.tracked_scripts().map(string).collect()),
        ),
        ("auth_type", c.auth.map(|(t, _)| t).unwrap_or(0).to_string()),
    ]);
    let st = &s.stats;
    let e = st.errors();
    let stats = object(&[
        ("advert_rcvd", st.advert_rcvd.to_string()),
        ("advert_sent", st.advert_sent.to_string()),
        ("become_master", st.become_master.to_string()),
        ("release_master", st.release_master.to_string()),
        ("packet_len_err", e.packet_len_err.to_string()),
        ("advert_interval_err", e.advert_interval_err.to_string()),
        ("ip_ttl_err", e.ip_ttl_err.to_string()),
        ("invalid_type_rcvd", e.invalid_type_rcvd.to_string()),
        ("addr_list_err", e.addr_list_err.to_string()),
        ("invalid_authtype", e.invalid_authtype.to_string()),
        ("authtype_mismatch", e.authtype_mismatch.to_string()),
        ("auth_failure", e.auth_failure.to_string()),
        ("pri_zero_rcvd", st.pri_zero_rcvd.to_string()),
        ("pri_zero_sent", st.pri_zero_sent.to_string()),
    ]);
    object(&[("data", data), ("stats", stats)])
}
