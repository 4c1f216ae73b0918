//! The keyword-table engine: keepalived's `process_stream` and `alloc_value_block`.
//!
//! Each block is parsed by a handler that matches keywords and returns whether it knew the
//! keyword. The engine does the rest the way keepalived does: a block keyword needs `{`
//! (`Missing '{' at beginning of configuration block`), a stray `{` is ignored with a message,
//! `}` closes the current block, and an unknown keyword is reported and its line dropped — its
//! `{ … }` is not skipped, so its `}` closes the enclosing block and errors cascade.

use crate::diag::{Category, Diagnostics, Loc};
use crate::lexer::{split_quoted_escaped, tokenize_into, Token};
use crate::model::{Script, Usecs};
use crate::preproc::{Line, Preprocessor};
use std::net::IpAddr;
use std::sync::Arc;

/// A logical line split into words.
#[derive(Clone, Debug)]
pub struct Words {
    pub line: Line,
    pub toks: Vec<Token>,
}

impl Words {
    pub fn kw(&self) -> &str {
        self.toks[0].text(&self.line.text)
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        self.toks.get(i).map(|t| t.text(&self.line.text))
    }
    pub fn len(&self) -> usize {
        self.toks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.toks.is_empty()
    }
    /// The words from `from` on.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &str> {
        self.toks.iter().skip(from).map(|t| t.text(&self.line.text))
    }
    pub fn rest(&self, from: usize) -> Vec<String> {
        self.iter_from(from).map(str::to_string).collect()
    }
    /// The raw text after the keyword (script keywords re-parse it with shell-like rules).
    pub fn raw_after_kw(&self) -> &str {
        let t = &self.line.text;
        let start = self
            .toks
            .get(1)
            .map(|t| t.offset as usize)
            .unwrap_or(t.len());
        &t[start..]
    }
}

pub struct Parser {
    pub pp: Preprocessor,
    pub diags: Diagnostics,
    level: usize,
    /// Location of the line being handled.
    pub loc: Option<Loc>,
    /// Lines already handled, kept to be filled again (their buffers are reused).
    spare: Vec<Words>,
    /// Interface look-ups of the VRRP keywords.
    pub ifs: IfLookup,
}

/// keepalived's `IFNAMSIZ`: an interface name has at most `IFNAMSIZ - 1` bytes.
pub const IFNAMSIZ: usize = 16;

/// The interface look-ups of keepalived's `if_get_by_ifname(…, IF_CREATE_IF_DYNAMIC)`: a
/// name that does not exist is an error (and sets `non_existent_interface_specified`, which
/// stops keepalived's VRRP process) unless `dynamic_interfaces` is set in `global_defs`.
#[derive(Clone, Debug, Default)]
pub struct IfLookup {
    /// Look interfaces up at all (`LoadOptions::check_interfaces`); off, every name exists.
    pub check: bool,
    /// The interfaces that exist, instead of `/sys/class/net` (tests).
    pub names: Option<Vec<String>>,
    /// `dynamic_interfaces` is in effect: seen so far, or known from a first reading.
    pub dynamic: bool,
    /// keepalived's `non_existent_interface_specified`: a name was missing while
    /// `dynamic_interfaces` was not (yet) in effect. keepalived knows the global settings
    /// before it reads the VRRP sections (its parent reads them first), so when
    /// `dynamic_interfaces` turns up later the file is read again with it in effect.
    pub missing: bool,
}

impl IfLookup {
    /// True if the interface exists (or is not looked up).
    pub fn exists(&self, name: &str) -> bool {
        if !self.check {
            return true;
        }
        match &self.names {
            Some(names) => names.iter().any(|n| n == name),
            None => interface_exists(name),
        }
    }
}

/// True if `/sys/class/net/NAME` exists (and NAME is a plain file name).
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && std::path::Path::new("/sys/class/net").join(name).exists()
}

/// How many handled lines `Parser` keeps for reuse (one per nesting level is enough).
const SPARE_WORDS: usize = 16;

pub type Handler<'h> = dyn FnMut(&mut Parser, &Words) -> bool + 'h;

impl Parser {
    pub fn new(pp: Preprocessor) -> Self {
        Parser {
            pp,
            diags: Diagnostics::default(),
            level: 0,
            loc: None,
            spare: Vec::new(),
            ifs: IfLookup::default(),
        }
    }

    /// keepalived's `if_get_by_ifname(NAME, IF_CREATE_IF_DYNAMIC)`: true if the interface
    /// can be used, i.e. it exists or `dynamic_interfaces` is set. Otherwise the caller
    /// reports the name and drops what named it, and the configuration cannot be run.
    pub fn interface_usable(&mut self, name: &str) -> bool {
        if self.ifs.dynamic || self.ifs.exists(name) {
            return true;
        }
        self.ifs.missing = true;
        false
    }

    /// The next non-empty line, tokenized.
    pub fn next_words(&mut self) -> Option<Words> {
        let mut w = self.spare.pop().unwrap_or_else(|| Words {
            line: Line {
                file: Arc::from(""),
                line: 0,
                col: 1,
                text: String::new(),
            },
            toks: Vec::new(),
        });
        loop {
            if !self.pp.next_line_into(&mut self.diags, &mut w.line) {
                self.recycle(w);
                return None;
            }
            let line = &w.line;
            match &mut self.loc {
                Some(loc) if Arc::ptr_eq(&loc.file, &line.file) => {
                    loc.line = line.line;
                    loc.col = line.col;
                }
                _ => self.loc = Some(line.loc()),
            }
            let loc = &self.loc;
            tokenize_into(&line.text, &mut w.toks, &mut self.diags, || loc.clone());
            if w.toks.is_empty() {
                continue;
            }
            return Some(w);
        }
    }

    /// Give back a line that has been handled, so that its buffers serve the next one.
    pub fn recycle(&mut self, w: Words) {
        if self.spare.len() < SPARE_WORDS {
            self.spare.push(w);
        }
    }

    pub fn report(&mut self, cat: Category, msg: impl Into<String>) {
        let loc = self.loc.clone();
        self.diags.push(cat, loc, msg);
    }

    /// A diagnostic with no location (keepalived's completion-phase messages).
    pub fn report_global(&mut self, cat: Category, msg: impl Into<String>) {
        self.diags.push(cat, None, msg);
    }

    /// Parse the top level.
    pub fn top(&mut self, h: &mut Handler<'_>) {
        self.block_inner(false, h);
    }

    /// Parse the block opened by the keyword just handled.
    pub fn block(&mut self, h: &mut Handler<'_>) {
        self.level += 1;
        self.block_inner(true, h);
        self.level -= 1;
    }

    fn block_inner(&mut self, mut need_bob: bool, h: &mut Handler<'_>) {
        while let Some(w) = self.next_words() {
            let end = self.block_line(&mut need_bob, h, &w);
            self.recycle(w);
            if end {
                return;
            }
        }
    }

    /// One line of a block; `true` when it closes the block.
    fn block_line(&mut self, need_bob: &mut bool, h: &mut Handler<'_>, w: &Words) -> bool {
        let kw = w.kw();
        if *need_bob {
            *need_bob = false;
            if kw == "{" && self.level > 0 {
                return false;
            }
            self.report(
                Category::MissingBob,
                "Missing '{' at beginning of configuration block",
            );
        } else if kw == "{" {
            self.report(Category::UnexpectedBob, "Unexpected '{' - ignoring");
            return false;
        }
        if kw == "}" && self.level > 0 {
            return true;
        }
        if !h(self, w) {
            let msg = format!("Unknown keyword '{}'", w.kw());
            self.report(Category::UnknownKeyword, msg);
        }
        false
    }

    /// A value block (`virtual_ipaddress { … }`): its entry lines, one `Words` each.
    pub fn value_block(&mut self, kw: &Words) -> Vec<Words> {
        self.value_block_args(kw, 1)
    }

    /// A value block whose keyword takes `nargs - 1` words (`virtual_server_group NAME {`).
    pub fn value_block_args(&mut self, kw: &Words, nargs: usize) -> Vec<Words> {
        if kw.len() > nargs {
            let msg = format!(
                "Block {} has extra parameters {} ...",
                kw.kw(),
                kw.get(nargs).unwrap_or_default()
            );
            self.report(Category::GeneralError, msg);
        }
        let mut out = Vec::new();
        let mut need_bob = true;
        while let Some(w) = self.next_words() {
            if need_bob {
                need_bob = false;
                if w.kw() == "{" {
                    self.recycle(w);
                    continue;
                }
                let msg = format!("'{{' missing from beginning of block {}", kw.kw());
                self.report(Category::Info, msg);
            }
            if w.kw() == "}" {
                self.recycle(w);
                break;
            }
            out.push(w);
        }
        out
    }

    /// Skip a block without interpreting it (a section we do not run still has to be read).
    pub fn skip_block(&mut self) {
        let mut depth = 0i32;
        let mut first = true;
        while let Some(w) = self.next_words() {
            if first {
                first = false;
                if w.kw() != "{" {
                    // No block after all: this line belongs to the enclosing block; keepalived
                    // would reprocess it there. Report it as unknown at this level.
                    return;
                }
                depth = 1;
                continue;
            }
            match w.kw() {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// The word at `i`, or keepalived's missing-parameter error.
    pub fn arg<'w>(&mut self, w: &'w Words, i: usize) -> Option<&'w str> {
        match w.get(i) {
            Some(s) => Some(s),
            None => {
                let msg = format!(
                    "*** Configuration line starting `{}` is missing a parameter after keyword `{}` at word position {}",
                    w.kw(),
                    w.get(i - 1).unwrap_or_default(),
                    i + 1
                );
                self.report(Category::MissingParameter, msg);
                None
            }
        }
    }

    /// `read_unsigned`: keepalived's messages for every failure.
    pub fn unsigned(&mut self, s: &str, min: u64, max: u64) -> Option<u64> {
        let t = s.trim_start_matches([' ', '\t']);
        if t.starts_with('-') {
            self.report(Category::InvalidNumber, format!("negative number '{s}'"));
            return None;
        }
        let digits = t.strip_prefix('+').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.report(Category::InvalidNumber, format!("invalid number '{s}'"));
            return None;
        }
        let Ok(v) = digits.parse::<u64>() else {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside unsigned integer range"),
            );
            return None;
        };
        if v > u32::MAX as u64 && max <= u32::MAX as u64 {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside unsigned integer range"),
            );
            return None;
        }
        if v < min || v > max {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside range [{min}, {max}]"),
            );
            return None;
        }
        Some(v)
    }

    pub fn unsigned_arg(&mut self, w: &Words, i: usize, min: u64, max: u64) -> Option<u64> {
        let s = self.arg(w, i)?;
        self.unsigned(s, min, max)
    }

    /// `read_int`.
    pub fn int(&mut self, s: &str, min: i64, max: i64) -> Option<i64> {
        let body = s.strip_prefix(['-', '+']).unwrap_or(s);
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            self.report(Category::InvalidNumber, format!("invalid number '{s}'"));
            return None;
        }
        let Ok(v) = s.parse::<i64>() else {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside integer range"),
            );
            return None;
        };
        if v < i32::MIN as i64 || v > i32::MAX as i64 {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside integer range"),
            );
            return None;
        }
        if v < min || v > max {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' outside range [{min}, {max}]"),
            );
            return None;
        }
        Some(v)
    }

    /// `read_decimal_unsigned` with `shift` decimals: returns value × 10^shift.
    pub fn decimal(&mut self, s: &str, min: u64, max: u64, shift: u32) -> Option<u64> {
        if s.starts_with('-') {
            self.report(Category::InvalidNumber, format!("negative number '{s}'"));
            return None;
        }
        let (int, frac) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, ""),
        };
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            self.report(Category::InvalidNumber, format!("invalid number '{s}'"));
            return None;
        }
        let mut round_up = false;
        let mut frac = frac.as_bytes();
        if frac.len() > shift as usize {
            self.report(
                Category::InvalidNumber,
                format!("number '{s}' has too many decimal places"),
            );
            round_up = frac[shift as usize] >= b'5';
            frac = &frac[..shift as usize];
        }
        // The digits of the integer part, then `shift` decimals (zero-padded), as one number.
        if int.is_empty() && shift == 0 {
            self.report(Category::InvalidNumber, format!("invalid number '{s}'"));
            return None;
        }
        let pad = shift as usize - frac.len();
        let digits = int
            .bytes()
            .chain(frac.iter().copied())
            .chain((0..pad).map(|_| b'0'));
        let mut v: u64 = 0;
        for d in digits {
            let Some(n) = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            else {
                self.report(
                    Category::InvalidNumber,
                    format!("number '{s}' outside unsigned decimal range"),
                );
                return None;
            };
            v = n;
        }
        if round_up {
            v += 1;
        }
        if v < min || v > max {
            let d = 10u64.pow(shift);
            let w = shift as usize;
            self.report(
                Category::InvalidNumber,
                format!(
                    "number '{s}' outside range [{}.{:0w$}, {}.{:0w$}]",
                    min / d,
                    min % d,
                    max / d,
                    max % d
                ),
            );
            return None;
        }
        Some(v)
    }

    /// `read_timer`: seconds with up to 6 decimals, in microseconds.
    pub fn timer(&mut self, w: &Words, i: usize, min: Usecs, max: Usecs) -> Option<Usecs> {
        let s = self.arg(w, i)?;
        self.decimal(s, min, if max == 0 { u64::MAX - 1 } else { max }, 6)
    }

    /// An optional boolean after a flag keyword: a bare keyword means true.
    pub fn opt_bool(&mut self, w: &Words, i: usize) -> Option<bool> {
        match w.get(i) {
            None => Some(true),
            Some(s) => match check_true_false(s) {
                Some(b) => Some(b),
                None => {
                    let msg = format!("Invalid value '{s}' for {} - ignoring", w.kw());
                    self.report(Category::GeneralError, msg);
                    None
                }
            },
        }
    }

    pub fn ip(&mut self, s: &str) -> Option<IpAddr> {
        match s.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.report(Category::GeneralError, format!("Invalid address '{s}'"));
                None
            }
        }
    }

    /// A script keyword: `KW SCRIPT [USER [GROUP]]`, with shell-like quoting of the raw line.
    pub fn script(&mut self, w: &Words) -> Option<Script> {
        let raw = w.raw_after_kw().to_string();
        if raw.is_empty() {
            self.arg(w, 1)?;
        }
        let words = match split_quoted_escaped(&raw) {
            Ok(v) => v,
            Err(msg) => {
                self.report(Category::UnmatchedQuote, msg);
                return None;
            }
        };
        let cmd = words.first()?.clone();
        let args = match split_quoted_escaped(&cmd) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => {
                self.report(Category::GeneralError, format!("{} has no script", w.kw()));
                return None;
            }
            Err(msg) => {
                self.report(Category::UnmatchedQuote, msg);
                return None;
            }
        };
        Some(Script::new(
            cmd,
            args,
            words.get(1).cloned(),
            words.get(2).cloned(),
        ))
    }
}

/// `check_true_false`.
pub fn check_true_false(s: &str) -> Option<bool> {
    match s {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}
