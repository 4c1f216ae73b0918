//! What real servers send back, on arbitrary bytes: HTTP replies fed in arbitrary pieces,
//! DNS and UDP replies, ICMP echo replies. Never a panic; an HTTP reply fed whole or in
//! pieces gets the same verdict, with a digest and with a body regex.
#![no_main]

use checker_child::engine::{BodyRegex, HttpUrl};
use checker_child::{ping, probe};
use libfuzzer_sys::fuzz_target;

fn verdict(data: &[u8], cut: usize, regex: bool) -> Result<(), String> {
    let url = HttpUrl {
        path: "/".into(),
        digest: (!regex).then(|| "b1946ac92492d2347c6235b4d2611184".into()),
        status: vec![(200, 299)],
        host: None,
        regex: regex.then(|| BodyRegex {
            re: conf::body_regex::compile("[Oo][Kk]{1,3}|^x", &[]).expect("a valid pattern"),
            options: Vec::new(),
            no_match: false,
            min: 2,
            max: Some(4000),
            firstline: false,
        }),
    };
    let mut r = probe::HttpReply::for_url(&url);
    let (a, b) = data.split_at(cut.min(data.len()));
    if !r.feed(a) {
        r.feed(b);
    }
    probe::judge(&url, r)
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().copied().unwrap_or(0) as usize;
    for regex in [false, true] {
        let whole = verdict(data, data.len(), regex);
        let pieces = verdict(data, cut, regex);
        // A reply complete by Content-Length before the cut may stop early; otherwise alike.
        if whole.is_ok() != pieces.is_ok() {
            let mut r = probe::HttpReply::default();
            assert!(r.feed(&data[..cut.min(data.len())]), "verdict changed with the split");
        }
    }
    let id = u16::from_be_bytes([*data.first().unwrap_or(&0), *data.get(1).unwrap_or(&0)]);
    let _ = probe::dns_reply_ok(id, data);
    let pat: Vec<Option<u8>> = data.iter().take(8).map(|b| (b & 0x10 == 0).then_some(b & 0xf)).collect();
    let _ = probe::udp_reply_ok(&pat, 0, 255, data);
    let _ = ping::echo_reply(false, data);
    let _ = ping::echo_reply(true, data);
});
