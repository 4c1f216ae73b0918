//! Lexical rules of keepalived.conf lines: comments, tokens and the shell-like script words.
//! (keepalived's `decomment`, `alloc_strvec_r` and `alloc_strvec_quoted_escaped`.)

use crate::diag::{Category, Diagnostics, Loc};

/// A word of a line: its text is `line[start..end]` (a quoted word without its quotes), and
/// `offset` is the 0-based byte offset where the word (its opening quote) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub start: u32,
    pub end: u32,
    pub offset: u32,
}

impl Token {
    /// The word's text in the line it was taken from.
    pub fn text<'l>(&self, line: &'l str) -> &'l str {
        &line[self.start as usize..self.end as usize]
    }
}

/// A byte class as a table (one lookup per byte in the scanning loops).
pub(crate) const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

/// The bytes `decomment` acts on.
static DECOMMENT_SPECIAL: [bool; 256] = byte_set(b"\"\\#!");
/// Word separators of `tokenize` (C's `isspace`).
static SPACE: [bool; 256] = byte_set(b" \t\n\r\x0b\x0c");
/// What ends an unquoted word.
static WORD_END: [bool; 256] = byte_set(b" \t\n\r\x0b\x0c\"");

/// Remove a `#`/`!` comment (outside double quotes), `\#`/`\!` escapes, and blanks at both ends;
/// a trailing `\` is kept, glued to the last word (it marks a multi-line definition).
pub fn decomment(raw: &str, diags: &mut Diagnostics, loc: Option<Loc>) -> String {
    let mut out = String::new();
    decomment_into(raw, &mut out, diags, || loc);
    out
}

/// [`decomment`] appending to `out` (a reused buffer); `loc` is asked for only if a
/// diagnostic is written.
pub fn decomment_into(
    raw: &str,
    out: &mut String,
    diags: &mut Diagnostics,
    loc: impl FnOnce() -> Option<Loc>,
) {
    let s = raw.trim_start_matches([' ', '\t']);
    let b = s.as_bytes();
    let base = out.len();
    let mut quote = false;
    let mut cont = false;
    // Every byte that matters is ASCII, so the text between two of them is whole characters
    // and is copied as one slice.
    let mut seg = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i..].iter().position(|&c| DECOMMENT_SPECIAL[c as usize]) {
            Some(n) => i += n,
            None => {
                i = b.len();
                break;
            }
        }
        match b[i] {
            b'"' => {
                quote = !quote;
                i += 1;
            }
            b'\\' => {
                if i + 1 < b.len() {
                    if !quote && (b[i + 1] == b'#' || b[i + 1] == b'!') {
                        // Drop the backslash, keep the escaped character.
                        out.push_str(&s[seg..i]);
                        seg = i + 1;
                    }
                    // Otherwise both bytes stay; the second is never special.
                    i += 2;
                } else {
                    out.push_str(&s[seg..i]);
                    seg = b.len();
                    cont = true;
                    i += 1;
                }
            }
            b'#' | b'!' if !quote => break,
            _ => i += 1,
        }
    }
    // `i` may be one past the end after an escape of the last character.
    let end = i.min(b.len());
    if seg < end {
        out.push_str(&s[seg..end]);
    }
    // keepalived keeps toggling quotes after a comment starts; only an unterminated quote
    // before the comment matters in practice.
    if quote {
        let shown = &out[base..];
        let msg = format!("Unterminated quote '{shown}'");
        diags.push(Category::GeneralError, loc(), msg);
    }
    let kept = out[base..].trim_end_matches([' ', '\t']).len();
    out.truncate(base + kept);
    if cont {
        out.push('\\');
    }
}

/// Split a logical line into words: blanks separate, `"…"` is one word without its quotes.
pub fn tokenize(line: &str, diags: &mut Diagnostics, loc: Option<Loc>) -> Vec<Token> {
    let mut out = Vec::new();
    tokenize_into(line, &mut out, diags, || loc);
    out
}

/// [`tokenize`] into `out` (cleared first, a reused buffer); `loc` is asked for only if a
/// diagnostic is written.
pub fn tokenize_into(
    line: &str,
    out: &mut Vec<Token>,
    diags: &mut Diagnostics,
    loc: impl FnOnce() -> Option<Loc>,
) {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(n) = b[i..].iter().position(|&c| !SPACE[c as usize]) {
        i += n;
        if b[i] == b'"' {
            let start = i + 1;
            match line[start..].find('"') {
                Some(end) => {
                    out.push(Token {
                        start: start as u32,
                        end: (start + end) as u32,
                        offset: i as u32,
                    });
                    i = start + end + 1;
                }
                None => {
                    diags.push(
                        Category::UnmatchedQuote,
                        loc(),
                        format!("Unmatched quote: '{line}'"),
                    );
                    break;
                }
            }
        } else {
            let start = i;
            i = b[i..]
                .iter()
                .position(|&c| WORD_END[c as usize])
                .map_or(b.len(), |n| i + n);
            out.push(Token {
                start: start as u32,
                end: i as u32,
                offset: start as u32,
            });
        }
    }
}

/// Shell-like words of a script line: `'…'` and `"…"` quoting, adjacent parts concatenated,
/// and escapes `\a \b \E \f \n \r \t \v \NNN \xHH \cC`. `Err` carries keepalived's message.
pub fn split_quoted_escaped(src: &str) -> Result<Vec<String>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    while i < b.len() {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut word: Vec<u8> = Vec::new();
        let mut quote = 0u8;
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                i += 1;
                if i >= b.len() {
                    return Err(format!("Missing escape char at end: '{src}'"));
                }
                let e = b[i];
                if e == b'x' && i + 1 < b.len() && b[i + 1].is_ascii_hexdigit() {
                    i += 1;
                    let mut v: u8 = 0;
                    while i < b.len() && b[i].is_ascii_hexdigit() {
                        v = (v << 4) | (b[i] as char).to_digit(16).unwrap_or(0) as u8;
                        i += 1;
                    }
                    word.push(v);
                } else if e == b'c' && i + 1 < b.len() {
                    word.push(b[i + 1] & 0x1f);
                    i += 2;
                } else if (b'0'..=b'7').contains(&e) {
                    let mut v: u8 = e - b'0';
                    i += 1;
                    for _ in 0..2 {
                        if i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                            v = v.wrapping_shl(3).wrapping_add(b[i] - b'0');
                            i += 1;
                        }
                    }
                    word.push(v);
                } else {
                    word.push(match e {
                        b'a' => 7,
                        b'b' => 8,
                        b'E' => 0x1b,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        other => other,
                    });
                    i += 1;
                }
                continue;
            }
            if quote != 0 {
                if c == quote {
                    quote = 0;
                } else {
                    word.push(c);
                }
                i += 1;
                continue;
            }
            if c == b'"' || c == b'\'' {
                quote = c;
                i += 1;
                continue;
            }
            if ws(c) {
                break;
            }
            word.push(c);
            i += 1;
        }
        if quote != 0 {
            return Err(format!(
                "String '{src}': missing terminating {}",
                quote as char
            ));
        }
        out.push(String::from_utf8_lossy(&word).into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dc(s: &str) -> String {
        decomment(s, &mut Diagnostics::default(), None)
    }

    #[test]
    fn comments_anywhere_outside_quotes() {
        assert_eq!(dc("  state MASTER # main"), "state MASTER");
        assert_eq!(dc("priority 100 ! x"), "priority 100");
        assert_eq!(dc("script \"a # b\" # c"), "script \"a # b\"");
        assert_eq!(dc("x \\# y"), "x # y");
        assert_eq!(dc("$A=b \\"), "$A=b\\");
    }

    #[test]
    fn tokens_and_quotes() {
        let t = tokenize("script \"/bin/x a\" b", &mut Diagnostics::default(), None);
        let line = "script \"/bin/x a\" b";
        let words: Vec<_> = t.iter().map(|t| t.text(line)).collect();
        assert_eq!(words, ["script", "/bin/x a", "b"]);
        let mut d = Diagnostics::default();
        tokenize("a \"b", &mut d, None);
        assert_eq!(d.worst(), Some(Category::UnmatchedQuote));
    }

    #[test]
    fn script_words() {
        assert_eq!(
            split_quoted_escaped("/bin/echo 'a b' c").unwrap(),
            ["/bin/echo", "a b", "c"]
        );
        assert_eq!(
            split_quoted_escaped("a\"b c\"d \\x41\\101\\n").unwrap(),
            ["ab cd", "AA\n"]
        );
        assert!(split_quoted_escaped("'x").is_err());
    }
}
