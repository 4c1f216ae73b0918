//! Diagnostics with keepalived's categories (`config_err_t` in keepalived's `lib/parser.h`).
//!
//! keepalived keeps the numerically largest category seen and maps it to the `-t` exit code;
//! we keep the same order so `keepalived -t` exits exactly where keepalived's does.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// keepalived's `config_err_t`, in its order (the largest seen decides the `-t` exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    /// Not a config error: an informational line keepalived logs without counting it.
    Info,
    FileNotFound,
    BadInterface,
    Fatal,
    MultipleFiles,
    UnknownKeyword,
    UnexpectedBob,
    MissingBob,
    UnexpectedEob,
    MissingEob,
    UnmatchedQuote,
    MissingParameter,
    InvalidNumber,
    GeneralError,
    Warning,
    Deprecated,
    SecurityError,
}

impl Category {
    /// True for the categories that stop keepalived from running the config (`-t` exit 4);
    /// a reload with one of these is refused.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            Category::FileNotFound | Category::BadInterface | Category::Fatal
        )
    }
}

/// Where a diagnostic points: file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    pub category: Category,
    pub loc: Option<Loc>,
    pub msg: String,
}

impl fmt::Display for Diagnostic {
    /// keepalived's format `(FILE: Line N) message`, with our column added: `(FILE: Line N, col C)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(l) if l.col > 0 => write!(
                f,
                "({}: Line {}, col {}) {}",
                l.file, l.line, l.col, self.msg
            ),
            Some(l) => write!(f, "({}: Line {}) {}", l.file, l.line, self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

/// Every diagnostic of one load, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
    /// A file could not be read in a way `include_check` makes fatal (keepalived's
    /// `had_config_file_error()`): keepalived does not start, and `-t` exits 6.
    pub file_error: bool,
}

/// Exit codes of `keepalived -t` (keepalived's `KEEPALIVED_CHK_EXIT_*`).
pub const EXIT_OK: i32 = 0;
pub const EXIT_CONFIG: i32 = 4;
pub const EXIT_CONFIG_TEST: i32 = 5;
pub const EXIT_SECURITY: i32 = 6;
/// keepalived's `KEEPALIVED_EXIT_NO_CONFIG`: also what `-t` exits with after a file error.
pub const EXIT_NO_CONFIG: i32 = 6;

impl Diagnostics {
    pub fn push(&mut self, category: Category, loc: Option<Loc>, msg: impl Into<String>) {
        self.list.push(Diagnostic {
            category,
            loc,
            msg: msg.into(),
        });
    }

    /// The largest category seen, as keepalived's `get_config_status()`.
    pub fn worst(&self) -> Option<Category> {
        self.list
            .iter()
            .map(|d| d.category)
            .filter(|c| *c != Category::Info)
            .max()
    }

    /// True when keepalived could not run this config (a start fails, a reload is refused):
    /// any diagnostic of the `-t` exit-4 class, even when a larger category decides the exit code.
    pub fn is_fatal(&self) -> bool {
        self.list.iter().any(|d| d.category.is_fatal())
    }

    /// True when a reload must keep the running config: fatal, or braces that do not balance.
    pub fn refuses_reload(&self) -> bool {
        self.file_error
            || self.is_fatal()
            || self
                .list
                .iter()
                .any(|d| matches!(d.category, Category::MissingEob | Category::UnexpectedEob))
    }

    /// `keepalived -t` exit code (`config_test_exit` in keepalived's `core/main.c`).
    pub fn test_exit_code(&self) -> i32 {
        if self.file_error {
            return EXIT_NO_CONFIG;
        }
        match self.worst() {
            None => EXIT_OK,
            Some(c) if c.is_fatal() => EXIT_CONFIG,
            Some(Category::SecurityError) => EXIT_SECURITY,
            Some(_) => EXIT_CONFIG_TEST,
        }
    }

    pub fn has(&self, needle: &str) -> bool {
        self.list.iter().any(|d| d.msg.contains(needle))
    }
}
