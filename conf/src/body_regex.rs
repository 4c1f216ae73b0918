//! HTTP_GET / SSL_GET `regex`: keepalived 2.2.7 compiles it with PCRE2; we use the `regex`
//! crate's engine (regex-automata's meta regex, configured as `regex::bytes`), which is close
//! enough for "does the body contain this":
//!
//! * Syntax: Perl-style classes, alternation, repetition, groups, `(?i)`-style flags, `\b`,
//!   `^`/`$` work as in PCRE2. Not available, so such a pattern is refused at load (reported
//!   by `-t`, the real server stays down): backreferences (`\1`), look-ahead and look-behind
//!   (`(?=`, `(?!`, `(?<=`, `(?<!`), atomic groups and possessive quantifiers (`(?>`, `*+`),
//!   recursion, conditionals, `\K`, `\C`, callouts and `(*VERB)`s, `\Q…\E`.
//! * Without `multiline`, PCRE2's `$` also matches before a final newline; ours only at the
//!   very end (as PCRE2 with `dollar_endonly`).
//! * Without `utf`/`ucp` both match bytes and `\w`, `\d`, `\s`, `.` are ASCII/byte classes;
//!   with either, ours is Unicode-aware (UTF-8) for `.`, `\w`, `\d`, `\s` and `\b`. The
//!   binary carries no Unicode property or case-folding tables (they cost every process
//!   ~160 kB of relocated pointers): `\p{…}` is refused at load, `caseless` with
//!   `utf`/`ucp` matches as without them (ASCII case folding, byte classes: a non-ASCII
//!   letter matches only as written), where PCRE2 folds non-ASCII letters too.
//! * The options `caseless`, `multiline`, `dotall`, `extended`, `ungreedy`, `utf`, `ucp` map to
//!   the crate's; `firstline` is applied by the matcher (the match must start on the body's
//!   first line); the others change optimisation, capture or PCRE2-only syntax and are
//!   accepted without effect. `regex_stack` (PCRE2's JIT stack) is accepted and unused: the
//!   crate's matching is linear in the body and needs no stack.
//! * Only the body is searched. keepalived's first search covers the whole first read from
//!   the start of the reply (check_http.c `http_process_response`): when the body came in
//!   the same read as the header, the header lines are searched too and `^` is the status
//!   line's start — so there it depends on how the reply was split (seen in the VM: one run
//!   matched `^probe`, the next did not).
//! * keepalived matches each 4 KiB read with partial matching and keeps the unmatched tail;
//!   the checker matches the body as it streams with a 4 KiB overlap between pieces, so in
//!   both a single match longer than about 4 KiB may be missed.

use regex_automata::meta;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

/// A compiled body regex and its pattern.
#[derive(Clone, Debug)]
pub struct Regex {
    meta: meta::Regex,
    pattern: String,
}

impl Regex {
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.meta.is_match(hay)
    }

    /// Start and end of the leftmost match at or after `start` (what comes before still
    /// counts for `^`, `\b`).
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        if start > hay.len() {
            return None;
        }
        self.meta
            .search(&Input::new(hay).range(start..))
            .map(|m| (m.start(), m.end()))
    }
}

/// keepalived's `regex_options` names (`check_http.c`), all accepted.
pub const OPTIONS: &[&str] = &[
    "allow_empty_class",
    "alt_bsux",
    "auto_callout",
    "caseless",
    "dollar_endonly",
    "dotall",
    "dupnames",
    "extended",
    "firstline",
    "match_unset_backref",
    "multiline",
    "never_ucp",
    "never_utf",
    "no_auto_capture",
    "no_auto_possess",
    "no_dotstar_anchor",
    "no_start_optimize",
    "ucp",
    "ungreedy",
    "utf",
    "never_backslash_c",
    "alt_circumflex",
    "alt_verbnames",
    "use_offset_limit",
];

/// Compile a body regex with keepalived's option names.
pub fn compile(pattern: &str, options: &[String]) -> Result<Regex, String> {
    let has = |o: &str| options.iter().any(|x| x == o);
    // Unicode-aware case folding needs the tables left out (see above).
    let unicode = (has("utf") || has("ucp")) && !has("caseless");
    // As regex::bytes::RegexBuilder builds it (limits, leftmost-first, empty matches
    // anywhere), with one cache: the checker is single-threaded.
    let metac = meta::Config::new()
        .nfa_size_limit(Some(10 * (1 << 20)))
        .hybrid_cache_capacity(2 * (1 << 20))
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(false)
        .pool_capacity(1);
    let syntaxc = syntax::Config::new()
        .case_insensitive(has("caseless"))
        .multi_line(has("multiline"))
        .dot_matches_new_line(has("dotall"))
        .ignore_whitespace(has("extended"))
        .swap_greed(has("ungreedy"))
        .unicode(unicode)
        .utf8(false);
    meta::Builder::new()
        .configure(metac)
        .syntax(syntaxc)
        .build(pattern)
        .map(|meta| Regex {
            meta,
            pattern: pattern.to_string(),
        })
        .map_err(|e| match e.syntax_error() {
            Some(s) => s
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string(),
            None => e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, o: &[&str], body: &[u8]) -> bool {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        compile(p, &o).unwrap().is_match(body)
    }

    #[test]
    fn options_as_pcre2_s() {
        assert!(m("Status: OK", &[], b"<p>Status: OK</p>"));
        assert!(!m("status: ok", &[], b"Status: OK"));
        assert!(m("status: ok", &["caseless"], b"Status: OK"));
        assert!(!m("^OK$", &[], b"x\nOK\ny"));
        assert!(m("^OK$", &["multiline"], b"x\nOK\ny"));
        assert!(!m("a.b", &[], b"a\nb"));
        assert!(m("a.b", &["dotall"], b"a\nb"));
        assert!(m("a b # comment", &["extended"], b"ab"));
        // Bytes by default: a non-UTF-8 body still matches, `.` is one byte.
        assert!(m("a.c", &[], b"a\xffc"));
        assert!(m("caf.", &[], "café".as_bytes()) && !m("^caf.$", &[], "café".as_bytes()));
        assert!(m("^caf.$", &["utf"], "café".as_bytes()));
        assert!(m(r"^\w+$", &["utf"], "café".as_bytes()) && !m(r"^\w+$", &[], "café".as_bytes()));
        // No case-folding tables: `caseless` with `utf` folds ASCII only, on bytes.
        assert!(m("^CAF", &["utf", "caseless"], "café".as_bytes()));
        assert!(!m("^caf.$", &["utf", "caseless"], "café".as_bytes()));
        assert!(m("CAFÉ", &["utf", "caseless"], "cafÉ".as_bytes()));
        assert!(!m("CAFÉ", &["utf", "caseless"], "café".as_bytes()));
    }

    #[test]
    fn pcre2_only_syntax_is_refused_with_a_reason() {
        for p in [r"(a)\1", "a(?=b)", "(?<!x)y", "(?>a+)b"] {
            let e = compile(p, &[]).unwrap_err();
            assert!(!e.is_empty(), "{p}");
        }
    }
}
