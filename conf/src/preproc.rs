//! The line-level preprocessor: keepalived's `read_line` (`lib/parser.c`), rewritten.
//!
//! It turns files into logical lines the structural parser consumes one at a time:
//! 1023-byte physical lines (keepalived's `fgets` into `MAXBUF`), `#`/`!` comments, `@ID` and
//! `@^ID` conditional lines, `$NAME=value` definitions (multi-line with a trailing `\`),
//! `$NAME`/`${NAME}` substitution, `~SEQ`/`~SEQx`/`~LST` repetition, `include*` with globs, and
//! the split of every `{` and `}` onto a line of its own.
//!
//! It is lazy on purpose: `include_check` in `global_defs` changes how later includes are
//! treated, exactly as in keepalived.

use crate::diag::{Category, Diagnostics, Loc};
use crate::lexer::decomment_into;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// keepalived's `MAXBUF`: a physical line longer than this minus one is split.
pub const MAXBUF: usize = 1024;
/// Substitutions on one line before it is given up: a definition that refers to itself (or
/// two that refer to each other) without growing the line would substitute forever — and
/// keepalived 2.2.7 does, using ever more memory.
pub const MAX_SUBSTITUTIONS: usize = 1000;
/// Nested includes deeper than this are refused (keepalived has no limit and recurses forever).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// `include_check` bits (keepalived's `include_t`).
pub const INCLUDE_R: u8 = 1;
pub const INCLUDE_M: u8 = 2;
pub const INCLUDE_W: u8 = 4;
pub const INCLUDE_B: u8 = 8;
pub const INCLUDE_ALL: u8 = INCLUDE_R | INCLUDE_M | INCLUDE_W | INCLUDE_B;

/// Separator inside a multi-line definition's value (keepalived's `DEF_LINE_END`).
const DEF_LINE_END: char = '\n';

/// One logical line, after preprocessing. `col` is the 1-based column where its text starts in
/// the physical line (exact unless a substitution moved it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
    pub text: String,
}

impl Line {
    pub fn loc(&self) -> Loc {
        Loc {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }
}

struct OpenFile {
    name: Arc<str>,
    dir: PathBuf,
    /// Streamed, not slurped: a large config never sits in memory whole.
    reader: Box<dyn std::io::BufRead>,
    line_no: u32,
}

struct Frame {
    pattern: String,
    include_type: u8,
    saved_include_check: u8,
    matches: Vec<PathBuf>,
    next: usize,
    num_matches: usize,
    cur: Option<OpenFile>,
}

#[derive(Clone, Debug)]
enum StdDef {
    Pwd,
    Instance,
    Random,
}

#[derive(Clone, Debug)]
struct Def {
    name: String,
    value: String,
    multiline: bool,
    std: Option<StdDef>,
    max_params: u8,
}

enum SeqKind {
    Seq {
        next: i64,
        step: i64,
        last: i64,
        hex: bool,
        var: String,
    },
    Lst {
        params: Vec<String>,
        values: Vec<Vec<String>>,
        next: usize,
    },
}

struct Seq {
    kind: SeqKind,
    text: String,
    loc: (Arc<str>, u32, u32),
}

/// Options that change preprocessing.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-i`: the id `@ID` lines are compared with (default: host name up to the first dot).
    pub config_id: Option<String>,
    /// `-e` sets every bit.
    pub include_check: u8,
    /// Seed of `${_RANDOM}`; time when unset.
    pub random_seed: Option<u64>,
    /// Treat `include` lines as ordinary lines (fuzzing reads no files).
    pub no_includes: bool,
}

pub struct Preprocessor {
    stack: Vec<Frame>,
    opts: Options,
    pub include_check: u8,
    defs: Vec<Def>,
    seqs: Vec<Seq>,
    multiline_seq_depth: usize,
    /// Pending lines of a multi-line parameter being expanded (innermost last).
    multiline: Vec<Vec<String>>,
    /// Text (in `residue_text`) and column of what followed a `{` or `}` on the last line.
    residue: Option<u32>,
    residue_text: String,
    /// The physical line being read (reused: no allocation per line).
    raw: Vec<u8>,
    /// Index in `defs` of a multi-line definition still collecting lines.
    collecting: Option<usize>,
    pub block_depth: i64,
    /// Locations of the `{` that are still open, innermost last.
    pub open_braces: Vec<Loc>,
    rng: u64,
    /// Location of the physical line the last logical line came from.
    cur: Option<(Arc<str>, u32, u32)>,
    /// Every file opened, in order.
    pub files: Vec<Arc<str>>,
    /// A file whose reading failed in a way that stops keepalived (`had_config_file_error`).
    pub file_error: bool,
}

/// The bytes `split_braces` looks for.
static BRACE_OR_QUOTE: [bool; 256] = crate::lexer::byte_set(b"{}\"");

/// How `plain_line` sees a byte: 0 plain, 1 brace, 2 needs the full treatment (a quote,
/// comment, escape, substitution, or a byte that is not ASCII).
static LINE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'{' as usize] = 1;
    t[b'}' as usize] = 1;
    let slow = b"\"\\#!$";
    let mut i = 0;
    while i < slow.len() {
        t[slow[i] as usize] = 2;
        i += 1;
    }
    let mut c = 0x80;
    while c < 256 {
        t[c] = 2;
        c += 1;
    }
    t
};

/// A line (leading blanks gone) that decommenting and substitution leave as it is, and
/// that starts no conditional or sequence: `Some(where its first brace is)`.
fn plain_line(body: &[u8]) -> Option<Option<usize>> {
    if matches!(body.first(), None | Some(b'@' | b'~')) {
        return None;
    }
    let mut brace = None;
    for (i, &c) in body.iter().enumerate() {
        match LINE_CLASS[c as usize] {
            0 => {}
            1 => {
                if brace.is_none() {
                    brace = Some(i);
                }
            }
            _ => return None,
        }
    }
    Some(brace)
}

/// The length of `s` without its trailing blanks (whole characters: blanks are ASCII).
fn trimmed_len(s: &[u8]) -> usize {
    s.len() - s.iter().rev().take_while(|&&b| is_blank(b)).count()
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl Preprocessor {
    pub fn new(opts: Options) -> Self {
        let include_check = opts.include_check;
        let seed = opts.random_seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        });
        let mut p = Preprocessor {
            stack: Vec::new(),
            opts,
            include_check,
            defs: Vec::new(),
            seqs: Vec::new(),
            multiline_seq_depth: 0,
            multiline: Vec::new(),
            residue: None,
            residue_text: String::new(),
            raw: Vec::with_capacity(MAXBUF),
            collecting: None,
            block_depth: 0,
            open_braces: Vec::new(),
            rng: seed | 1,
            cur: None,
            files: Vec::new(),
            file_error: false,
        };
        for (name, value, std, max_params) in [
            ("_PWD", "", Some(StdDef::Pwd), 0),
            ("_INSTANCE", "", Some(StdDef::Instance), 0),
            ("_RANDOM", "", Some(StdDef::Random), 2),
            ("_HASH", "#", None, 0),
            ("_BANG", "!", None, 0),
        ] {
            p.defs.push(Def {
                name: name.into(),
                value: value.into(),
                multiline: false,
                std,
                max_params,
            });
        }
        p
    }

    pub fn config_id(&self) -> Option<&str> {
        self.opts.config_id.as_deref()
    }

    /// Location of the line being read, as keepalived's `report_config_error` prints it.
    pub fn loc(&self) -> Option<Loc> {
        self.cur.as_ref().map(|(f, l, c)| Loc {
            file: f.clone(),
            line: *l,
            col: *c,
        })
    }

    fn file_error(&mut self, diags: &mut Diagnostics, kind: u8, msg: String) {
        let ty = self.stack.last().map(|f| f.include_type).unwrap_or(0);
        self.file_error_with(diags, ty, kind, msg);
    }

    /// Read a configuration held in memory (`name` is used in messages).
    pub fn open_memory(&mut self, name: &str, data: Vec<u8>) {
        let name: Arc<str> = Arc::from(name);
        self.files.push(name.clone());
        self.stack.push(Frame {
            pattern: name.to_string(),
            include_type: 0,
            saved_include_check: self.include_check,
            matches: Vec::new(),
            next: 0,
            num_matches: 1,
            cur: Some(OpenFile {
                name,
                dir: PathBuf::from("."),
                reader: Box::new(std::io::Cursor::new(data)),
                line_no: 0,
            }),
        });
    }

    /// Open the main configuration file (a glob, as `-f` takes).
    pub fn open_main(&mut self, pattern: &str, base: &Path, diags: &mut Diagnostics) -> bool {
        self.open_glob(pattern, base, 0, diags)
    }

    fn open_glob(
        &mut self,
        pattern: &str,
        base: &Path,
        include_type: u8,
        diags: &mut Diagnostics,
    ) -> bool {
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            diags.push(
                Category::FileNotFound,
                self.loc(),
                format!("Include depth exceeds {MAX_INCLUDE_DEPTH} - not including '{pattern}'"),
            );
            self.file_error = true;
            return false;
        }
        let check = self.include_check | include_type;
        let (matches, missing, wildcards) = glob_matches(pattern, base);
        if matches.is_empty() {
            if missing > 0 {
                let kind = if has_brace(pattern) {
                    INCLUDE_B
                } else {
                    INCLUDE_M
                };
                self.file_error_with(
                    diags,
                    include_type,
                    kind,
                    format!("Config files missing '{pattern}'."),
                );
            } else if wildcards && check & INCLUDE_W != 0 {
                self.file_error_with(
                    diags,
                    include_type,
                    INCLUDE_W,
                    format!("No config files matched '{pattern}'."),
                );
            }
            return false;
        }
        if missing > 0 {
            self.file_error_with(
                diags,
                include_type,
                INCLUDE_B,
                format!("Some config files missing: \"{pattern}\"."),
            );
            if check & INCLUDE_B != 0 {
                return false;
            }
        }
        self.stack.push(Frame {
            pattern: pattern.to_string(),
            include_type,
            saved_include_check: self.include_check,
            matches,
            next: 0,
            num_matches: 0,
            cur: None,
        });
        if !self.open_next_match(diags) {
            self.stack.pop();
            return false;
        }
        true
    }

    fn file_error_with(
        &mut self,
        diags: &mut Diagnostics,
        include_type: u8,
        kind: u8,
        msg: String,
    ) {
        let counted = (self.include_check | include_type) & kind != 0;
        if counted {
            self.file_error = true;
        }
        let cat = if counted {
            Category::FileNotFound
        } else {
            Category::Info
        };
        diags.push(cat, self.loc(), msg);
    }

    /// keepalived's `open_conf_file`: the next readable regular file of the top frame's glob.
    fn open_next_match(&mut self, diags: &mut Diagnostics) -> bool {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return false;
            };
            if frame.next >= frame.matches.len() {
                return false;
            }
            let path = frame.matches[frame.next].clone();
            frame.next += 1;
            let shown = path.to_string_lossy().into_owned();
            if shown.ends_with('/') {
                self.file_error(
                    diags,
                    INCLUDE_R,
                    format!("Configuration file '{shown}' is a directory - skipping"),
                );
                continue;
            }
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && !is_executable(&m) => {}
                _ => {
                    self.file_error(
                        diags,
                        INCLUDE_R,
                        format!("Configuration file '{shown}' is not a regular non-executable file - skipping"),
                    );
                    continue;
                }
            }
            let data = match std::fs::File::open(&path) {
                Ok(f) => std::io::BufReader::with_capacity(64 * 1024, f),
                Err(e) => {
                    self.file_error(
                        diags,
                        INCLUDE_R,
                        format!(
                            "Configuration file '{shown}' open problem ({}) - skipping",
                            strerror(&e)
                        ),
                    );
                    continue;
                }
            };
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let name: Arc<str> = Arc::from(shown.as_str());
            self.files.push(name.clone());
            let frame = self.stack.last_mut().expect("frame checked above");
            frame.num_matches += 1;
            frame.cur = Some(OpenFile {
                name,
                dir,
                reader: Box::new(data),
                line_no: 0,
            });
            return true;
        }
    }

    /// Directory of the file being read (relative includes and `${_PWD}` use it).
    fn cur_dir(&self) -> PathBuf {
        self.stack
            .iter()
            .rev()
            .find_map(|f| f.cur.as_ref().map(|c| c.dir.clone()))
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// `fgets` of the next physical line of the current file, moving to the next file at EOF.
    /// Leaves the raw bytes without their line end in `self.raw` and returns the line number;
    /// the file is the top frame's current one.
    fn read_physical(&mut self, diags: &mut Diagnostics) -> Option<u32> {
        loop {
            let frame = self.stack.last_mut()?;
            let Some(file) = frame.cur.as_mut() else {
                self.end_glob(diags);
                continue;
            };
            // fgets(buf, MAXBUF): up to MAXBUF - 1 bytes, or through the first newline.
            let raw = &mut self.raw;
            raw.clear();
            let mut ended = false;
            while raw.len() < MAXBUF - 1 {
                let avail = match file.reader.fill_buf() {
                    Ok(b) => b,
                    Err(_) => &[][..],
                };
                if avail.is_empty() {
                    break;
                }
                let room = (MAXBUF - 1 - raw.len()).min(avail.len());
                match memchr::memchr(b'\n', &avail[..room]) {
                    Some(i) => {
                        raw.extend_from_slice(&avail[..=i]);
                        file.reader.consume(i + 1);
                        ended = true;
                        break;
                    }
                    None => {
                        raw.extend_from_slice(&avail[..room]);
                        file.reader.consume(room);
                    }
                }
            }
            if raw.is_empty() {
                // end_file then the next match of this glob, or end_glob.
                frame.cur = None;
                if self.open_next_match(diags) {
                    continue;
                }
                self.end_glob(diags);
                continue;
            }
            if ended {
                file.line_no += 1;
            }
            while raw.last().is_some_and(|&c| c == b'\n' || c == b'\r') {
                raw.pop();
            }
            return Some(file.line_no);
        }
    }

    fn end_glob(&mut self, diags: &mut Diagnostics) {
        if let Some(frame) = self.stack.pop() {
            if frame.num_matches == 0 {
                diags.push(
                    Category::Info,
                    None,
                    format!("No config files matched '{}'.", frame.pattern),
                );
            }
            self.include_check = frame.saved_include_check;
        }
    }

    /// The next logical line, or `None` at the end of all files.
    pub fn next_line(&mut self, diags: &mut Diagnostics) -> Option<Line> {
        let mut line = Line {
            file: Arc::from(""),
            line: 0,
            col: 1,
            text: String::new(),
        };
        self.next_line_into(diags, &mut line).then_some(line)
    }

    /// [`Preprocessor::next_line`] into `out`, reusing its text buffer; `false` at the end of
    /// all files.
    pub fn next_line_into(&mut self, diags: &mut Diagnostics, out: &mut Line) -> bool {
        let mut buf = std::mem::take(&mut out.text);
        let ok = self.next_line_buf(diags, &mut buf, out);
        if !ok {
            buf.clear();
            out.text = buf;
        }
        ok
    }

    fn next_line_buf(&mut self, diags: &mut Diagnostics, buf: &mut String, out: &mut Line) -> bool {
        loop {
            buf.clear();
            if let Some(col) = self.residue.take() {
                buf.push_str(&self.residue_text);
                match &mut self.cur {
                    Some(cur) => cur.2 = col,
                    None => self.cur = Some((Arc::from(""), 0, col)),
                }
            } else if self.seqs.len() > self.multiline_seq_depth {
                let (text, loc) = self.next_seq_line();
                buf.push_str(&text);
                self.cur = Some(loc);
            } else if let Some(text) = self.next_multiline_piece() {
                buf.push_str(&text);
                if self.cur.is_none() {
                    self.cur = Some((Arc::from(""), 0, 1));
                }
            } else {
                // The next non-blank physical line.
                loop {
                    let Some(line_no) = self.read_physical(diags) else {
                        return false;
                    };
                    if self.raw.is_empty() {
                        if let Some(i) = self.collecting.take() {
                            if self.defs[i].value.is_empty() {
                                self.defs[i].multiline = false;
                            }
                        }
                        continue;
                    }
                    let lead = self.raw.iter().take_while(|&&b| is_blank(b)).count() as u32;
                    let col = lead + 1;
                    let name = self
                        .stack
                        .last()
                        .and_then(|f| f.cur.as_ref())
                        .map(|f| &f.name)
                        .expect("a line was just read from it");
                    match &mut self.cur {
                        Some(cur) if Arc::ptr_eq(&cur.0, name) => {
                            cur.1 = line_no;
                            cur.2 = col;
                        }
                        _ => self.cur = Some((name.clone(), line_no, col)),
                    }
                    if self.collecting.is_none() {
                        let body = &self.raw[lead as usize..];
                        if let Some(brace) = plain_line(body) {
                            // Nearly every line of a large configuration: read in one pass.
                            let end = trimmed_len(body);
                            // SAFETY: `plain_line` saw only ASCII bytes.
                            buf.push_str(unsafe { std::str::from_utf8_unchecked(&body[..end]) });
                            if self.check_include(buf, diags) {
                                buf.clear();
                                continue;
                            }
                            self.split_braces_at(buf, brace, diags, out);
                            out.text = std::mem::take(buf);
                            return true;
                        }
                    }
                    // Valid UTF-8 (the usual case) is used in place; other bytes are replaced.
                    let text = match std::str::from_utf8(&self.raw) {
                        Ok(t) => Cow::Borrowed(t),
                        Err(_) => String::from_utf8_lossy(&self.raw),
                    };
                    decomment_into(&text, buf, diags, || self.loc());
                    if buf.is_empty() {
                        continue;
                    }
                    break;
                }
            }

            if let Some(i) = self.collecting {
                self.collect_multiline(i, buf);
                continue;
            }
            if buf.is_empty() {
                continue;
            }

            // Conditionals, definitions, sequences and substitution, repeated while a
            // substitution produces another `@` or `$`.
            let mut keep = true;
            let mut rounds = 0;
            loop {
                let mut recheck = false;
                rounds += 1;
                if rounds > MAX_SUBSTITUTIONS {
                    diags.push(
                        Category::GeneralError,
                        self.loc(),
                        "Parameter substitution does not end (definitions that refer to each other?) - line ignored",
                    );
                    keep = false;
                    break;
                }
                if buf.starts_with('@') {
                    let (rev, ofs) = if buf[1..].starts_with('^') {
                        (true, 2)
                    } else {
                        (false, 1)
                    };
                    let Some(sp) = buf[ofs..].find([' ', '\t']).map(|i| i + ofs) else {
                        keep = false;
                        break;
                    };
                    let id = &buf[ofs..sp];
                    let matches = self.opts.config_id.as_deref() == Some(id);
                    if matches == rev {
                        keep = false;
                        break;
                    }
                    let start = sp + buf[sp..].bytes().take_while(|&b| is_blank(b)).count();
                    buf.drain(..start);
                }
                if buf.starts_with('$') {
                    if let Some(i) = self.check_definition(buf) {
                        if self.defs[i].multiline {
                            self.collecting = Some(i);
                        }
                        keep = false;
                        break;
                    }
                }
                if buf.starts_with("~SEQ") || buf.starts_with("~LST") {
                    let ok = if buf.as_bytes()[1] == b'S' {
                        self.add_seq(buf, diags)
                    } else {
                        self.add_lst(buf, diags)
                    };
                    if !ok {
                        let what = if buf.as_bytes()[1] == b'S' {
                            "SEQ"
                        } else {
                            "LST"
                        };
                        diags.push(
                            Category::GeneralError,
                            self.loc(),
                            format!("Invalid ~{what} specification '{buf}'"),
                        );
                    }
                    keep = false;
                    break;
                }
                if buf.starts_with('~') {
                    break;
                }
                if buf.contains('$') {
                    match self.replace_param(buf, diags) {
                        Some(new) => {
                            buf.clear();
                            decomment_into(&new, buf, diags, || self.loc());
                            if buf.starts_with('@') || buf.contains('$') {
                                recheck = true;
                            }
                        }
                        None => break,
                    }
                }
                if !recheck {
                    break;
                }
            }
            if !keep || buf.is_empty() {
                continue;
            }
            if self.check_include(buf, diags) {
                continue;
            }
            self.split_braces(buf, diags, out);
            out.text = std::mem::take(buf);
            return true;
        }
    }

    /// Every `{` and `}` outside quotes ends up on a line of its own: `buf` keeps the first
    /// part (the rest waits in `residue`), `out` gets its location.
    fn split_braces(&mut self, buf: &mut String, diags: &mut Diagnostics, out: &mut Line) {
        let bytes = buf.as_bytes();
        let mut pos = None;
        let mut in_quote = false;
        let mut i = 0;
        while let Some(n) = bytes[i..].iter().position(|&c| BRACE_OR_QUOTE[c as usize]) {
            i += n;
            if bytes[i] == b'"' {
                in_quote = !in_quote;
            } else if !in_quote {
                pos = Some(i);
                break;
            }
            i += 1;
        }
        self.split_braces_at(buf, pos, diags, out);
    }

    /// [`Preprocessor::split_braces`] with the first brace outside quotes found already.
    fn split_braces_at(
        &mut self,
        buf: &mut String,
        pos: Option<usize>,
        diags: &mut Diagnostics,
        out: &mut Line,
    ) {
        let (file, line, col) = match &self.cur {
            Some((f, l, c)) => (f, *l, *c),
            None => {
                self.cur = Some((Arc::from(""), 0, 1));
                let (f, l, c) = self.cur.as_ref().expect("just set");
                (f, *l, *c)
            }
        };
        if !Arc::ptr_eq(&out.file, file) {
            out.file = file.clone();
        }
        out.line = line;
        out.col = col;
        let bytes = buf.as_bytes();
        if let Some(p) = pos {
            let skip = if p == 0 {
                1 + bytes[1..].iter().take_while(|&&b| is_blank(b)).count()
            } else {
                0
            };
            if p + skip < bytes.len() {
                self.residue_text.clear();
                let rest = &buf[p + skip..];
                self.residue_text
                    .push_str(&rest[..trimmed_len(rest.as_bytes())]);
                self.residue = Some(col + (p + skip) as u32);
                buf.truncate(p + skip);
            }
        }
        buf.truncate(trimmed_len(buf.as_bytes()));
        if buf == "{" {
            self.block_depth += 1;
            self.open_braces.push(out.loc());
        } else if buf == "}" {
            self.block_depth -= 1;
            self.open_braces.pop();
            if self.block_depth < 0 {
                diags.push(Category::UnexpectedEob, Some(out.loc()), "Extra '}' found");
                self.block_depth = 0;
            }
        }
    }

    fn collect_multiline(&mut self, i: usize, buf: &str) {
        let mut text = buf.to_string();
        let mut more = false;
        if text.ends_with('\\') {
            text.pop();
            while text.ends_with([' ', '\t']) {
                text.pop();
            }
            text.push(DEF_LINE_END);
            more = true;
        }
        if !more {
            self.collecting = None;
            if self.defs[i].value.is_empty() && text.is_empty() {
                self.defs[i].multiline = false;
            }
        }
        if text.len() >= 2 || (!text.is_empty() && !more) {
            self.defs[i].value.push_str(&text);
        }
    }

    fn next_multiline_piece(&mut self) -> Option<String> {
        let top = self.multiline.last_mut()?;
        let piece = top.remove(0);
        if top.is_empty() {
            self.multiline.pop();
            if self.multiline.is_empty() {
                self.multiline_seq_depth = 0;
            }
        }
        Some(piece)
    }

    fn next_seq_line(&mut self) -> (String, (Arc<str>, u32, u32)) {
        let idx = self.seqs.len() - 1;
        let seq = &mut self.seqs[idx];
        let text = seq.text.clone();
        let loc = seq.loc.clone();
        let mut sets: Vec<(String, String)> = Vec::new();
        let mut done = false;
        match &mut seq.kind {
            SeqKind::Seq {
                next,
                step,
                last,
                hex,
                var,
            } => {
                let val = if *hex {
                    format!("{:x}", *next)
                } else {
                    next.to_string()
                };
                sets.push((var.clone(), val));
                *next += *step;
                if (*step > 0 && *next > *last) || (*step < 0 && *next < *last) {
                    done = true;
                }
            }
            SeqKind::Lst {
                params,
                values,
                next,
            } => {
                for (p, v) in params.iter().zip(values[*next].iter()) {
                    sets.push((p.clone(), v.clone()));
                }
                *next += 1;
                if *next >= values.len() {
                    done = true;
                }
            }
        }
        if done {
            self.seqs.pop();
        }
        for (name, value) in sets {
            self.set_definition(&name, &value);
        }
        (text, loc)
    }

    fn find_def(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.name == name)
    }

    fn set_definition(&mut self, name: &str, value: &str) {
        match self.find_def(name) {
            Some(i) => {
                self.defs[i].value = value.to_string();
                self.defs[i].std = None;
                self.defs[i].multiline = false;
            }
            None => self.defs.push(Def {
                name: name.to_string(),
                value: value.to_string(),
                multiline: false,
                std: None,
                max_params: 0,
            }),
        }
    }

    /// `$NAME=VALUE` (keepalived's `check_definition`). Returns the definition's index.
    fn check_definition(&mut self, buf: &str) -> Option<usize> {
        let b = buf.as_bytes();
        if b.len() < 2 || !(b[1].is_ascii_alphabetic() || b[1] == b'_') {
            return None;
        }
        let mut p = 2;
        while p < b.len() && b[p] != b'=' {
            if !(b[p].is_ascii_alphanumeric() || b[p] == b'_') {
                return None;
            }
            p += 1;
        }
        let name = &buf[1..p];
        if p >= b.len() {
            return None;
        }
        let mut v = p + 1;
        while v < b.len() && is_blank(b[v]) {
            v += 1;
        }
        let mut value = buf[v..].to_string();
        let multiline = value.ends_with('\\');
        if multiline {
            value.pop();
            while value.ends_with([' ', '\t']) {
                value.pop();
            }
            if !value.is_empty() {
                value.push(DEF_LINE_END);
            }
        }
        let i = match self.find_def(name) {
            Some(i) => i,
            None => {
                self.defs.push(Def {
                    name: name.to_string(),
                    value: String::new(),
                    multiline: false,
                    std: None,
                    max_params: 0,
                });
                self.defs.len() - 1
            }
        };
        self.defs[i].value = value;
        self.defs[i].multiline = multiline;
        self.defs[i].std = None;
        Some(i)
    }

    /// Substitute every known `$NAME` / `${NAME}`; `None` when nothing was replaced.
    fn replace_param(&mut self, buf: &str, diags: &mut Diagnostics) -> Option<String> {
        let mut out = buf.to_string();
        let mut cur = 0;
        let mut found = false;
        let mut count = 0;
        let pending = self.multiline.len();
        while let Some(off) = out[cur..].find('$') {
            let at = cur + off;
            count += 1;
            if count > MAX_SUBSTITUTIONS {
                diags.push(
                    Category::GeneralError,
                    self.loc(),
                    format!(
                        "Parameter substitution on line '{buf}' does not end (a definition that refers to itself?) - line ignored"
                    ),
                );
                // Nor the lines of multi-line definitions it queued.
                self.multiline.truncate(pending);
                return Some(String::new());
            }
            if at + 1 >= out.len() {
                break;
            }
            let Some((def_idx, consumed, params)) = self.find_use(&out[at + 1..]) else {
                cur = at + 1;
                continue;
            };
            found = true;
            let value = self.def_value(def_idx, params.as_deref());
            let def = &self.defs[def_idx];
            let replacement = if def.multiline {
                let mut pieces: Vec<String> =
                    value.split(DEF_LINE_END).map(str::to_string).collect();
                let first = pieces.remove(0);
                if !pieces.is_empty() {
                    self.multiline.push(pieces);
                    self.multiline_seq_depth = self.seqs.len();
                }
                first
            } else {
                value
            };
            out.replace_range(at..at + 1 + consumed, &replacement);
            if out.len() >= MAXBUF {
                diags.push(
                    Category::Info,
                    self.loc(),
                    format!(
                        "Parameter substitution on line '{buf}' would exceed maximum line length"
                    ),
                );
                return None;
            }
            if replacement.trim_start_matches([' ', '\t']).starts_with('~') {
                break;
            }
            // keepalived resumes scanning at the start of the replacement text.
            cur = at;
        }
        found.then_some(out)
    }

    /// Match a use after `$`: returns (definition, bytes consumed after `$`, parameters).
    fn find_use(&self, s: &str) -> Option<(usize, usize, Option<String>)> {
        let b = s.as_bytes();
        let braces = b.first() == Some(&b'{');
        let start = usize::from(braces);
        let first = *b.get(start)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let mut p = start + 1;
        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'_') {
            p += 1;
        }
        let name = &s[start..p];
        let mut params = None;
        let consumed;
        if braces {
            let pstart = p;
            while p < b.len() && (b[p] == b' ' || b[p].is_ascii_digit()) {
                p += 1;
            }
            let ptxt = &s[pstart..p];
            if !ptxt.trim().is_empty() {
                if ptxt.ends_with(' ') {
                    return None;
                }
                params = Some(ptxt.trim().to_string());
            }
            if b.get(p) != Some(&b'}') {
                return None;
            }
            consumed = p + 1;
        } else {
            if p < b.len() && !matches!(b[p], b' ' | b'\t' | b',' | b')') {
                return None;
            }
            consumed = p;
        }
        let alone = consumed == b.len();
        let i = self
            .defs
            .iter()
            .position(|d| d.name == name && (alone || !d.multiline))?;
        if params.is_some() && self.defs[i].max_params == 0 {
            return None;
        }
        Some((i, consumed, params))
    }

    fn def_value(&mut self, i: usize, params: Option<&str>) -> String {
        match self.defs[i].std {
            None => self.defs[i].value.clone(),
            Some(StdDef::Pwd) => {
                let d = self.cur_dir();
                std::fs::canonicalize(&d)
                    .unwrap_or(d)
                    .to_string_lossy()
                    .into_owned()
            }
            Some(StdDef::Instance) => self.opts.config_id.clone().unwrap_or_default(),
            Some(StdDef::Random) => {
                let mut min = 0u64;
                let mut max = 32767u64;
                if let Some(p) = params {
                    let mut it = p.split_whitespace().filter_map(|x| x.parse::<u64>().ok());
                    if let Some(a) = it.next() {
                        min = a;
                    }
                    if let Some(b) = it.next() {
                        max = b;
                    }
                }
                // xorshift64: keepalived uses random(); only the range is promised.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let span = max.saturating_sub(min).saturating_add(1);
                (self.rng % span.max(1) + min).to_string()
            }
        }
    }

    fn add_seq(&mut self, buf: &str, diags: &mut Diagnostics) -> bool {
        let loc = self.loc();
        let mut p = &buf[4..];
        let hex = p.starts_with('x');
        if hex {
            p = &p[1..];
        }
        p = p.trim_start_matches([' ', '\t']);
        let Some(rest) = p.strip_prefix('(') else {
            return false;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let var_len = rest.find([' ', '\t', ',', ')']).unwrap_or(rest.len());
        let var = &rest[..var_len];
        let after = rest[var_len..].trim_start_matches([' ', '\t']);
        if after.is_empty() || after.starts_with(')') || var.is_empty() {
            diags.push(
                Category::GeneralError,
                loc,
                format!("Invalid ~SEQ definition '{buf}'"),
            );
            return false;
        }
        let after = &after[1..];
        let Some(close) = after.find(')') else {
            diags.push(
                Category::GeneralError,
                loc,
                format!("Invalid ~SEQ definition '{buf}'"),
            );
            return false;
        };
        let args_raw = &after[..close];
        let args = match self.replace_param(args_raw, diags) {
            Some(s) => s,
            None => args_raw.to_string(),
        };
        let nums: Vec<Option<i64>> = args.split(',').map(|a| parse_c_long(a.trim())).collect();
        if nums.iter().any(Option::is_none) || nums.is_empty() || nums.len() > 3 {
            diags.push(
                Category::GeneralError,
                loc,
                format!("Invalid ~SEQ definition '{buf}'"),
            );
            return false;
        }
        let n: Vec<i64> = nums.into_iter().flatten().collect();
        let (start, step, end) = match n.as_slice() {
            [end] => (
                if *end < 0 { -1 } else { 1 },
                if *end < 1 { -1 } else { 1 },
                *end,
            ),
            [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
            [start, step, end] => {
                if *step == 0 || (start < end && *step < 0) || (start > end && *step > 0) {
                    diags.push(
                        Category::GeneralError,
                        loc,
                        format!("Invalid ~SEQ values '{buf}'"),
                    );
                    return false;
                }
                (*start, *step, *end)
            }
            _ => return false,
        };
        if hex && (start < 0 || end < 0) {
            diags.push(
                Category::GeneralError,
                loc,
                format!("~SEQx is only valid for positive numbers '{buf}'"),
            );
            return false;
        }
        let text = after[close + 1..]
            .trim_start_matches([' ', '\t'])
            .to_string();
        let cur = self.cur.clone().unwrap_or((Arc::from(""), 0, 1));
        self.seqs.push(Seq {
            kind: SeqKind::Seq {
                next: start,
                step,
                last: end,
                hex,
                var: var.to_string(),
            },
            text,
            loc: cur,
        });
        true
    }

    fn add_lst(&mut self, buf: &str, diags: &mut Diagnostics) -> bool {
        let loc = self.loc();
        let p = buf[4..].trim_start_matches([' ', '\t']);
        let Some(p) = p.strip_prefix('(') else {
            return false;
        };
        // Split the parenthesised part on top-level commas, keeping `{…}` groups together.
        let Some(close) = find_lst_close(p) else {
            return false;
        };
        let inner = &p[..close];
        let text = p[close + 1..].trim_start_matches([' ', '\t']).to_string();
        let groups = split_top_level(inner);
        if groups.len() < 2 {
            return false;
        }
        let params: Vec<String> = unbrace(&groups[0]);
        if params.iter().any(|s| s.is_empty()) {
            return false;
        }
        let mut values = Vec::new();
        for g in &groups[1..] {
            let mut v = unbrace(g);
            if v.len() > params.len() {
                diags.push(
                    Category::GeneralError,
                    loc,
                    format!("~LST specification has too many values '{buf}'"),
                );
                return false;
            }
            v.resize(params.len(), String::new());
            values.push(v);
        }
        let cur = self.cur.clone().unwrap_or((Arc::from(""), 0, 1));
        self.seqs.push(Seq {
            kind: SeqKind::Lst {
                params,
                values,
                next: 0,
            },
            text,
            loc: cur,
        });
        true
    }

    /// `include GLOB` and its checked variants (keepalived's `check_include`).
    fn check_include(&mut self, buf: &str, diags: &mut Diagnostics) -> bool {
        if self.opts.no_includes {
            return false;
        }
        let b = buf.as_bytes();
        if b.first() != Some(&b'i') || !buf.starts_with("include") || b.len() <= 7 {
            return false;
        }
        let (ty, rest) = if b[7].is_ascii_whitespace() {
            (0, &buf[8..])
        } else if b.len() > 8 && b[8].is_ascii_whitespace() && b"rmwba".contains(&b[7]) {
            let ty = match b[7] {
                b'r' => INCLUDE_R,
                b'a' => INCLUDE_ALL,
                b'w' => INCLUDE_R | INCLUDE_M | INCLUDE_W,
                b'm' => INCLUDE_R | INCLUDE_M,
                _ => INCLUDE_R | INCLUDE_B,
            };
            (ty, &buf[9..])
        } else {
            return false;
        };
        let pattern = rest.trim_start_matches([' ', '\t']).to_string();
        let base = self.cur_dir();
        self.open_glob(&pattern, &base, ty, diags);
        true
    }
}

fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn has_brace(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == b'{' {
            return true;
        }
        i += 1;
    }
    false
}

/// `{a,b}` expansion as glob(3) with GLOB_BRACE does it (nested braces included).
pub fn expand_braces(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut depth = 0;
    let mut open = None;
    let mut commas = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let Some(o) = open else { break };
                    let prefix = &s[..o];
                    let suffix = &s[i + 1..];
                    let mut parts = Vec::new();
                    let mut last = o + 1;
                    for &c in &commas {
                        parts.push(&s[last..c]);
                        last = c + 1;
                    }
                    parts.push(&s[last..i]);
                    let mut out = Vec::new();
                    for part in parts {
                        out.extend(expand_braces(&format!("{prefix}{part}{suffix}")));
                    }
                    return out;
                }
            }
            _ => {}
        }
    }
    vec![s.to_string()]
}

/// Matches of a config glob: (paths, missing literal files, had wildcards). Directories are
/// returned with a trailing `/` (GLOB_MARK) so the caller can skip them with keepalived's message.
fn glob_matches(pattern: &str, base: &Path) -> (Vec<PathBuf>, usize, bool) {
    let mut out = Vec::new();
    let mut missing = 0;
    let mut wildcards = false;
    for pat in expand_braces(pattern) {
        let full = if Path::new(&pat).is_absolute() {
            pat.clone()
        } else {
            base.join(&pat).to_string_lossy().into_owned()
        };
        let shown_prefix = if Path::new(&pat).is_absolute() {
            None
        } else {
            Some(base)
        };
        if pat.contains(['*', '?', '[']) {
            wildcards = true;
            let mut found = Vec::new();
            if let Ok(paths) = glob::glob(&full) {
                for p in paths.flatten() {
                    found.push(p);
                }
            }
            found.sort();
            for p in found {
                out.push(mark_dir(p, shown_prefix));
            }
        } else {
            let p = PathBuf::from(&full);
            if std::fs::symlink_metadata(&p).is_ok() {
                out.push(mark_dir(p, shown_prefix));
            } else {
                missing += 1;
            }
        }
    }
    (out, missing, wildcards)
}

fn mark_dir(p: PathBuf, base: Option<&Path>) -> PathBuf {
    // Show paths relative to "." the way the user wrote them.
    let p = match base {
        Some(b) if b == Path::new(".") => p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p),
        _ => p,
    };
    if p.is_dir() {
        let mut s = p.into_os_string();
        s.push("/");
        PathBuf::from(s)
    } else {
        p
    }
}

/// `strtol(s, &end, 0)` accepting the whole (trimmed) string: decimal, `0x` hex, `0` octal.
fn parse_c_long(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn find_lst_close(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ')' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn unbrace(s: &str) -> Vec<String> {
    let t = s.trim();
    match t.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        Some(inner) => inner.split(',').map(|x| x.trim().to_string()).collect(),
        None => vec![t.to_string()],
    }
}
