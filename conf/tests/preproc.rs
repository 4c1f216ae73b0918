//! The preprocessor and the structural rules, each with keepalived 2.2.7's exact semantics.

use conf::{load, load_str, Category, LoadOptions};

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: Some("high".into()),
        ..Default::default()
    }
}

fn parse(text: &str) -> conf::Loaded {
    load_str("keepalived.conf", text, &opts())
}

fn msgs(l: &conf::Loaded) -> Vec<String> {
    l.diags
        .list
        .iter()
        .filter(|d| d.category != Category::Info)
        .map(|d| d.msg.clone())
        .collect()
}

const INST: &str = "interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.99.0.1 }\n";

#[test]
fn comments_and_escapes() {
    let l = parse(&format!(
        "vrrp_instance VI_1 {{ # c\n {INST} priority 90 ! other\n}}\n"
    ));
    assert!(msgs(&l).is_empty(), "{:?}", msgs(&l));
    assert_eq!(l.config.instances[0].priority, 90);
    let l = parse("global_defs {\n router_id a\\#b\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("a#b"));
    let l = parse("global_defs {\n router_id \"x # y\"\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("x # y"));
}

#[test]
fn conditional_lines() {
    let l = parse("global_defs {\n@high router_id H\n@low router_id L\n@^high smtp_helo_name notH\n@^low smtp_helo_name notL\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("H"));
    assert_eq!(l.config.global.smtp_helo_name.as_deref(), Some("notL"));
    // `@ID` alone on a line is dropped.
    let l = parse("@high\n");
    assert!(msgs(&l).is_empty());
}

#[test]
fn definitions_and_substitution() {
    let l =
        parse("$RID=node1\n$P = x\nglobal_defs {\n router_id $RID\n smtp_helo_name ${RID}-b\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("node1"));
    assert_eq!(l.config.global.smtp_helo_name.as_deref(), Some("node1-b"));
    // `$P = x` is not a definition (blank before `=`): an unknown keyword.
    assert!(
        msgs(&l).iter().any(|m| m == "Unknown keyword '$P'"),
        "{:?}",
        msgs(&l)
    );
    // Resolution happens at use time, and unknown names stay as written.
    let l = parse("$A=$B\n$B=late\nglobal_defs {\n router_id $A\n smtp_helo_name $NOPE\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("late"));
    assert_eq!(l.config.global.smtp_helo_name.as_deref(), Some("$NOPE"));
    // Predefined names.
    let l = parse("global_defs {\n router_id ${_INSTANCE}\n smtp_helo_name \"a${_HASH}b\"\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("high"));
    assert_eq!(l.config.global.smtp_helo_name.as_deref(), Some("a#b"));
}

#[test]
fn multiline_definitions_expand_to_lines() {
    let text = "$INST=vrrp_instance VI_$N { \\\n interface eth0 \\\n virtual_router_id $N \\\n virtual_ipaddress { 10.99.0.$N } \\\n}\n$N=7\n$INST\n$N=8\n$INST\n";
    let l = parse(text);
    assert!(msgs(&l).is_empty(), "{:?}", msgs(&l));
    let v: Vec<_> = l
        .config
        .instances
        .iter()
        .map(|i| (i.name.clone(), i.vrid))
        .collect();
    assert_eq!(v, [("VI_7".to_string(), 7), ("VI_8".to_string(), 8)]);
}

#[test]
fn seq_and_lst() {
    let l = parse("~SEQ(n, 1, 3) vrrp_instance VI_$n { interface eth0\n}\n");
    // The body is one line; every repetition opens a block the next line closes.
    assert!(l.config.instances.len() <= 3);
    let l = parse("virtual_server 10.99.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n~SEQ(i, 1, 2, 5) real_server 10.99.1.$i 80 { weight $i }\n}\n");
    let w: Vec<_> = l.config.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| (r.addr.to_string(), r.weight))
        .collect();
    assert_eq!(
        w,
        [
            ("10.99.1.1".into(), 1),
            ("10.99.1.3".into(), 3),
            ("10.99.1.5".into(), 5)
        ]
    );
    let l = parse("global_defs {\n~SEQx(h, 10, 10) router_id r$h\n}\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("ra"));
    let l = parse("virtual_server 10.99.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n~LST({a,w}, {1,4}, {2,6}) real_server 10.99.2.$a 80 { weight $w }\n}\n");
    let w: Vec<_> = l.config.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| (r.addr.to_string(), r.weight))
        .collect();
    assert_eq!(w, [("10.99.2.1".into(), 4), ("10.99.2.2".into(), 6)]);
    let l = parse("~SEQ(i, 1, 0, 5) x\n");
    assert!(
        msgs(&l)
            .iter()
            .any(|m| m.starts_with("Invalid ~SEQ values")),
        "{:?}",
        msgs(&l)
    );
}

#[test]
fn includes_are_relative_to_the_including_file_and_globbed() {
    let dir = std::env::temp_dir().join(format!("kinc-{}", std::process::id()));
    let sub = dir.join("conf.d");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "include conf.d/*.conf\ninclude missing.conf\n",
    )
    .unwrap();
    std::fs::write(sub.join("a.conf"), "global_defs {\n router_id A\n}\n").unwrap();
    std::fs::write(
        sub.join("b.conf"),
        format!("include {{x,y}}.inc\nvrrp_instance VI_1 {{\n{INST}}}\n"),
    )
    .unwrap();
    std::fs::write(sub.join("x.inc"), "vrrp_script s {\n script /bin/true\n}\n").unwrap();
    std::fs::write(sub.join("y.inc"), "bogus_kw\n").unwrap();
    let main = dir.join("main.conf").to_string_lossy().into_owned();
    let l = load(&main, &opts());
    assert_eq!(l.config.global.router_id.as_deref(), Some("A"));
    assert_eq!(l.config.scripts.len(), 1);
    assert_eq!(l.config.instances.len(), 1);
    // The unknown keyword is reported in y.inc, line 1.
    let d = l
        .diags
        .list
        .iter()
        .find(|d| d.msg == "Unknown keyword 'bogus_kw'")
        .expect("reported");
    let loc = d.loc.as_ref().unwrap();
    assert!(
        loc.file.ends_with("conf.d/y.inc") && loc.line == 1,
        "{loc:?}"
    );
    // A missing plain include is not an error; with -e it stops a start, and -t exits 6
    // (keepalived's `had_config_file_error()` ends it before the categories count).
    assert_eq!(l.diags.test_exit_code(), 5);
    assert!(!l.diags.is_fatal());
    let strict = load(
        &main,
        &LoadOptions {
            all_config: true,
            ..opts()
        },
    );
    assert!(strict.diags.is_fatal() && strict.diags.refuses_reload());
    assert_eq!(strict.diags.test_exit_code(), 6);
    std::fs::write(sub.join("y.inc"), "").unwrap();
    let strict = load(
        &main,
        &LoadOptions {
            all_config: true,
            ..opts()
        },
    );
    assert_eq!(strict.diags.test_exit_code(), 6, "{:?}", strict.diags);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn braces_anywhere_on_a_line() {
    let l = parse("vrrp_instance VI_1 { state BACKUP\n interface eth0\n virtual_router_id 5 }\n");
    assert!(
        msgs(&l).iter().all(|m| !m.contains("Unknown")),
        "{:?}",
        msgs(&l)
    );
    assert_eq!(l.config.instances[0].vrid, 5);
    let l = parse("vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 6\n virtual_ipaddress {\n 10.99.0.1 10.99.0.2\n }\n}\n");
    assert_eq!(
        l.config.instances[0].vips.len(),
        1,
        "one VIP per line; the rest are options"
    );
}

#[test]
fn unknown_keyword_block_cascades_like_keepalived() {
    // keepalived does not skip an unknown keyword's block: its `}` closes vrrp_instance.
    let l = parse(&format!(
        "vrrp_instance VI_1 {{\n{INST} weird_kw {{\n xx\n }}\n priority 50\n}}\n"
    ));
    let m = msgs(&l);
    for want in [
        "Unknown keyword 'weird_kw'",
        "Unexpected '{' - ignoring",
        "Unknown keyword 'xx'",
        "Unknown keyword 'priority'",
        "Unknown keyword '}'",
    ] {
        assert!(m.iter().any(|x| x == want), "missing {want}: {m:?}");
    }
    assert_eq!(l.config.instances[0].priority, 100);
    assert_eq!(l.diags.test_exit_code(), 5);
}

#[test]
fn brace_balance_errors_and_locations() {
    let l = parse("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n");
    assert!(msgs(&l)
        .iter()
        .any(|m| m == "There are 1 missing '}'s or extra '{'s"));
    let open = l
        .diags
        .list
        .iter()
        .find(|d| d.msg.contains("never closed"))
        .expect("points at the open brace");
    assert_eq!(open.loc.as_ref().map(|l| l.line), Some(1));
    let l = parse("}\n");
    let m = msgs(&l);
    assert!(
        m.contains(&"Extra '}' found".to_string())
            && m.contains(&"Unknown keyword '}'".to_string()),
        "{m:?}"
    );
}

#[test]
fn long_lines_split_at_keepalived_buffer_size() {
    let long = "x".repeat(1500);
    let l = parse(&format!("{long}\n"));
    let unknown: Vec<_> = msgs(&l)
        .into_iter()
        .filter(|m| m.starts_with("Unknown keyword"))
        .collect();
    assert_eq!(
        unknown.len(),
        2,
        "a 1500-byte line is read as 1023 + 477 bytes"
    );
    assert_eq!(unknown[0].len(), "Unknown keyword ''".len() + 1023);
}

#[test]
fn numbers_and_exit_codes() {
    let l = parse("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n}\n");
    let m = msgs(&l);
    assert!(
        m.contains(&"number '300' outside range [1, 255]".to_string()),
        "{m:?}"
    );
    assert!(
        m.contains(&"(VI_1) the virtual router id must be set".to_string()),
        "{m:?}"
    );
    assert_eq!(l.diags.test_exit_code(), 5);
    let l = parse(&format!("vrrp_instance VI_1 {{\n{INST} authentication {{\n auth_type PASS\n auth_pass 123456789abc\n }}\n}}\n"));
    assert_eq!(
        l.config.instances[0].auth.as_ref().unwrap().pass,
        "12345678"
    );
    assert!(msgs(&l).contains(&"Truncating auth_pass to 8 characters".to_string()));
    let l = parse("global_defs {\n notification_email {\n }\n}\n");
    assert_eq!(
        l.diags.test_exit_code(),
        5,
        "an empty notification_email block is a warning that -t counts"
    );
}

#[test]
fn instance_defaults_and_validation() {
    let l = parse(&format!("vrrp_instance A {{\n state MASTER\n{INST}}}\nvrrp_instance B {{\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {{ 10.99.0.2 }}\n advert_int 1.4\n nopreempt\n}}\n"));
    let a = &l.config.instances[0];
    assert_eq!(
        a.priority, 255,
        "state MASTER without priority is the address owner"
    );
    let b = &l.config.instances[1];
    assert_eq!((b.priority, b.advert_int, b.version), (100, 100, 2));
    assert!(b.nopreempt);
    assert!(msgs(&l).iter().any(
        |m| m.contains("VRRPv2 advertisement interval 1.400000s must be an integer. rounding")
    ));
    let l = parse(&format!(
        "vrrp_instance A {{\n state MASTER\n priority 100\n nopreempt\n{INST}}}\n"
    ));
    assert!(msgs(&l).contains(
        &"(A) Warning - nopreempt will not work with initial state MASTER - clearing".to_string()
    ));
    assert!(!l.config.instances[0].nopreempt);
    let l = parse(&format!(
        "vrrp_instance A {{\n{INST}}}\nvrrp_instance B {{\n{INST}}}\n"
    ));
    assert!(
        // keepalived names the earlier instance first.
        msgs(&l).contains(&"A and B both use VRID 1 with IPv4 on interface eth0".to_string()),
        "{:?}",
        msgs(&l)
    );
    // Unicast instances with disjoint peers may share a VRID.
    let u = |peer: &str| {
        format!(" interface eth0\n virtual_router_id 9\n unicast_src_ip 10.99.0.1\n unicast_peer {{ {peer} }}\n virtual_ipaddress {{ 10.99.0.9 }}\n")
    };
    let l = parse(&format!(
        "vrrp_instance A {{\n{}}}\nvrrp_instance B {{\n{}}}\n",
        u("10.99.0.2"),
        u("10.99.0.3")
    ));
    assert!(
        !msgs(&l).iter().any(|m| m.contains("VRID")),
        "{:?}",
        msgs(&l)
    );
}

#[test]
fn checker_defaults() {
    let l =
        parse("virtual_server 10.99.0.1 80 {\n real_server 10.99.1.1 {\n TCP_CHECK {\n }\n }\n}\n");
    let m = msgs(&l);
    for want in [
        "Virtual server [10.99.0.1]:tcp:80: no protocol set - defaulting to UDP",
        "Virtual server [10.99.0.1]:udp:80: no scheduler set, setting default 'wlc'",
        "Virtual server [10.99.0.1]:udp:80: no forwarding method set, setting default NAT",
    ] {
        // keepalived's name carries the protocol in force at the time of the message.
        let ok = m
            .iter()
            .any(|x| x == want || x.replace("udp", "tcp") == want.replace("udp", "tcp"));
        assert!(ok, "missing {want}: {m:?}");
    }
    let vs = &l.config.virtual_servers[0];
    assert_eq!(
        vs.real_servers[0].port, 80,
        "a NAT real server without a port inherits the service port"
    );
    assert_eq!(vs.real_servers[0].weight, 1);
    // BFD_CHECK names a bfd_instance defined before it whose events go to the checker
    // (check_bfd.c bfd_name_handler); otherwise the checker is dropped.
    let rs = |check: &str| {
        format!("virtual_server 10.99.0.1 80 {{\n protocol TCP\n lb_algo rr\n lb_kind DR\n real_server 10.99.1.1 80 {{\n {check}\n }}\n}}\n")
    };
    let bfd_checks = |l: &conf::Loaded| l.config.virtual_servers[0].real_servers[0].checkers.len();
    let bfd = "bfd_instance b {\n neighbor_ip 10.99.1.1\n}\n";
    let l = parse(&format!("{bfd}{}", rs("BFD_CHECK {\n name b\n alpha\n }")));
    assert!(msgs(&l).is_empty(), "{:?}", msgs(&l));
    assert_eq!(l.diags.test_exit_code(), 0, "BFD_CHECK is run");
    assert_eq!(bfd_checks(&l), 1);
    let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
    assert_eq!(c.retry.alpha, Some(true));
    for (conf, want) in [
        (
            rs("BFD_CHECK {\n name b\n }"),
            "([10.99.1.1]:tcp:80) BFD_CHECK - BFD b not configured",
        ),
        (
            format!("{}{bfd}", rs("BFD_CHECK {\n name b\n }")),
            "([10.99.1.1]:tcp:80) BFD_CHECK - BFD b not configured",
        ),
        (
            format!(
                "bfd_instance b {{\n neighbor_ip 10.99.1.1\n vrrp\n}}\n{}",
                rs("BFD_CHECK {\n name b\n }")
            ),
            "([10.99.1.1]:tcp:80) BFD_CHECK - BFD b not configured",
        ),
        (
            format!("{bfd}{}", rs("BFD_CHECK {\n name b c\n }")),
            "([10.99.1.1]:tcp:80) BFD_CHECK - No or too many names specified - skipping checker",
        ),
        (
            format!("{bfd}{}", rs("BFD_CHECK {\n alpha\n }")),
            "([10.99.1.1]:tcp:80) No name has been specified for BFD_CHECKER - skipping",
        ),
        (
            format!("{bfd}{}", rs("BFD_CHECK {\n name b\n name b\n }")),
            "([10.99.1.1]:tcp:80) BFD_CHECK - BFD b already specified as b",
        ),
    ] {
        let l = parse(&conf);
        assert!(msgs(&l).iter().any(|m| m == want), "{want}: {:?}", msgs(&l));
        assert_eq!(bfd_checks(&l), 0, "{want}: the checker is dropped");
    }
    let l = parse(&format!(
        "{bfd}{}",
        rs("BFD_CHECK {\n name b\n }\n BFD_CHECK {\n name b\n }")
    ));
    assert!(msgs(&l)
        .iter()
        .any(|m| m == "([10.99.1.1]:tcp:80) BFD_CHECK - RS already monitoring b"));
    assert_eq!(bfd_checks(&l), 1, "the second is dropped");
}

/// Inputs the fuzzer once crashed on: each must load without a panic.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let l = conf::load_bytes("fuzz.conf", &data);
        let _ = conf::print::to_conf(&l.config);
        n += 1;
    }
    assert!(n > 0);
    // The first one: a non-ASCII advert_int is an invalid number, not a crash.
    let l = conf::load_bytes(
        "x.conf",
        "vrrp_instance V {\n advert_int 1.\u{bc}\u{bc}\n}\n".as_bytes(),
    );
    assert!(l
        .diags
        .list
        .iter()
        .any(|d| d.msg.starts_with("invalid number")));
}

/// The reader reuses its line, word and physical-line buffers: what a long line, a
/// non-UTF-8 line or an escape leaves behind must not leak into the next line.
#[test]
fn buffers_reused_across_lines_keep_each_line_exact() {
    let mut data = Vec::new();
    // A 2-byte character straddling the 1023-byte split: both halves are replaced.
    data.extend_from_slice(b"global_defs {\n router_id ");
    data.extend(std::iter::repeat_n(b'a', 1023 - " router_id ".len() - 1));
    data.extend_from_slice("é tail\n".as_bytes());
    // Invalid bytes in a value, then a short line that must not see them.
    data.extend_from_slice(b" smtp_server 10.99.0.1\n notification_email_from x\xffy@z\n");
    data.extend_from_slice(b" router_id \\#r\\!s\\\\t # comment\n}\n");
    let l = conf::load_bytes("k.conf", &data);
    let g = &l.config.global;
    assert_eq!(g.router_id.as_deref(), Some("#r!s\\\\t"));
    assert_eq!(
        g.notification_email_from.as_deref(),
        Some("x\u{fffd}y@z"),
        "invalid bytes are replaced, as before"
    );
    let unknown: Vec<_> = msgs(&l)
        .into_iter()
        .filter(|m| m.starts_with("Unknown keyword"))
        .collect();
    // The second half of the split line starts with the character's last byte.
    assert_eq!(unknown, ["Unknown keyword '\u{fffd}'"], "{:?}", msgs(&l));
    assert_eq!(line_col(&l, &unknown[0]), (2, 1));
}

/// Line and column of the diagnostic `msg`.
fn line_col(l: &conf::Loaded, msg: &str) -> (u32, u32) {
    let d = l
        .diags
        .list
        .iter()
        .find(|d| d.msg == msg)
        .expect("reported");
    let loc = d.loc.as_ref().expect("located");
    (loc.line, loc.col)
}

/// Text after a `{` or `}` comes back as the next line, with its column.
#[test]
fn text_after_braces_keeps_its_column() {
    let l = parse("global_defs { router_id r1 } bogus_kw\n");
    assert_eq!(l.config.global.router_id.as_deref(), Some("r1"));
    assert_eq!(line_col(&l, "Unknown keyword 'bogus_kw'"), (1, 30));
}

/// A definition that refers to itself (or two that refer to each other) without growing the
/// line would substitute forever: keepalived 2.2.7 hangs, using ever more memory. We give
/// the line up with a message naming it, and the rest of the file is read.
#[test]
fn self_referring_definitions_end() {
    for text in [
        "$A=$A \\\n  more\n$A\nglobal_defs {\n  router_id R\n}\n",
        "$A=$B x\n$B=$A\n$A\nglobal_defs {\n  router_id R\n}\n",
    ] {
        let l = load_str("self.conf", text, &opts());
        let d = l
            .diags
            .list
            .iter()
            .find(|d| d.msg.contains("does not end"))
            .expect("reported");
        assert_eq!(d.loc.as_ref().map(|l| l.line), Some(3), "{d:?}");
        assert_eq!(l.config.global.router_id.as_deref(), Some("R"));
        assert!(!l.diags.has("Unknown keyword 'more'"), "{:?}", l.diags);
    }
}

/// The logical lines (text, line, column) the preprocessor makes of `text`.
fn logical_lines(text: &str) -> Vec<(String, u32, u32)> {
    let mut pp = conf::preproc::Preprocessor::new(conf::preproc::Options::default());
    pp.open_memory("t.conf", text.as_bytes().to_vec());
    let mut d = conf::Diagnostics::default();
    std::iter::from_fn(|| pp.next_line(&mut d))
        .map(|l| (l.text, l.line, l.col))
        .collect()
}

proptest::proptest! {
    /// A line with nothing to decomment or substitute is read by a one-pass path; the same
    /// line with a comment after it goes through the full treatment: both give the same
    /// logical lines, braces split off at the same columns.
    #[test]
    fn plain_lines_read_as_the_full_treatment_reads_them(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("{".to_string()),
                    proptest::strategy::Just("}".to_string()),
                    proptest::strategy::Just(" ".to_string()),
                    proptest::strategy::Just("\t".to_string()),
                    proptest::strategy::Just("include".to_string()),
                    "[a-z0-9_.:/-]{1,12}",
                ],
                0..8,
            ),
            1..12,
        )
    ) {
        let plain: String = lines.iter().map(|l| l.concat() + "\n").collect();
        let commented: String = lines.iter().map(|l| l.concat() + " # c\n").collect();
        proptest::prop_assert_eq!(logical_lines(&plain), logical_lines(&commented));
    }
}
