//! `track_file` for a child: each file's first number, re-read when inotify says the file was
//! written, moved in, moved away or deleted (keepalived `trackers/track_file.c`: a missing or
//! empty file is 0). The file is read with the child's own uid — it holds no privilege — so
//! it must be readable by that user (README, "deliberate differences").
//!
//! The VRRP child's `track_file` and the checker's FILE_CHECK both use it.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

struct Watched {
    name: String,
    path: String,
    part: String,
    wd: i32,
    value: i64,
}

#[derive(Default)]
pub struct Files {
    fd: Option<OwnedFd>,
    files: Vec<Watched>,
}

/// Directory to watch and the name in it.
fn split(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some(("", p)) => ("/".into(), p.into()),
        Some((d, p)) => (d.into(), p.into()),
        None => (".".into(), path.into()),
    }
}

/// The first integer of a tracked file's text, as keepalived's `strtol(buf, NULL, 0)`:
/// leading space, a sign, `0x` hex, a leading `0` octal; nothing readable is 0. `None`
/// when out of keepalived's range (`Invalid number … - ignoring`).
pub fn file_value(text: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(text).unwrap_or("");
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let mut v: i64 = 0;
    for c in digits[..end].chars() {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(c.to_digit(radix).unwrap_or(0)));
    }
    let v = if neg { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1)
        .contains(&v)
        .then_some(v)
}

/// keepalived reads at most 127 bytes; a file that cannot be opened reads as 0.
fn read_value(path: &str, log: fn(&str)) -> Option<i64> {
    let mut buf = [0u8; 127];
    let n = match std::fs::File::open(path) {
        Ok(mut f) => f.read(&mut buf).unwrap_or(0),
        Err(_) => 0,
    };
    let text = &buf[..n];
    let v = file_value(text);
    if v.is_none() {
        log(&format!(
            "Invalid number {} read from {path} - ignoring",
            String::from_utf8_lossy(text).trim()
        ));
    }
    v
}

impl Files {
    /// Watch these `(name, path)` files; values are read at once.
    pub fn set(&mut self, specs: &[(String, String)], log: fn(&str)) {
        self.files.clear();
        if specs.is_empty() {
            self.fd = None;
            return;
        }
        if self.fd.is_none() {
            // SAFETY: inotify_init1 returns a fresh descriptor, owned at once.
            let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if raw < 0 {
                log(&format!(
                    "track_file: cannot watch files: {}",
                    std::io::Error::last_os_error()
                ));
            } else {
                // SAFETY: raw is ours alone.
                self.fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        let fd = self.fd.as_ref().map(|f| f.as_raw_fd());
        for (name, path) in specs {
            let (dir, part) = split(path);
            let mut wd = -1;
            if let (Some(fd), Ok(c)) = (fd, std::ffi::CString::new(dir.as_str())) {
                // SAFETY: a NUL-terminated path we own; the mask is keepalived's.
                wd = unsafe {
                    libc::inotify_add_watch(
                        fd,
                        c.as_ptr(),
                        libc::IN_CLOSE_WRITE | libc::IN_DELETE | libc::IN_MOVE,
                    )
                };
                if wd < 0 {
                    log(&format!(
                        "track_file {name}: cannot watch {dir}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            let value = read_value(path, log).unwrap_or(0);
            self.files.push(Watched {
                name: name.clone(),
                path: path.clone(),
                part,
                wd,
                value,
            });
        }
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    pub fn value(&self, name: &str) -> Option<i64> {
        self.files.iter().find(|f| f.name == name).map(|f| f.value)
    }

    /// Drain inotify: the `(name, value)` of each file whose value changed.
    pub fn readable(&mut self, log: fn(&str)) -> Vec<(String, i64)> {
        let mut changed = Vec::new();
        let Some(fd) = self.fd() else {
            return changed;
        };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read into our buffer of the length passed.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                return changed;
            }
            let n = n as usize;
            let mut off = 0;
            // struct inotify_event { i32 wd; u32 mask; u32 cookie; u32 len; char name[len]; }
            while off + 16 <= n {
                let word = |i: usize| {
                    [
                        buf[off + i],
                        buf[off + i + 1],
                        buf[off + i + 2],
                        buf[off + i + 3],
                    ]
                };
                let wd = i32::from_ne_bytes(word(0));
                let mask = u32::from_ne_bytes(word(4));
                let len = u32::from_ne_bytes(word(12)) as usize;
                let end = (off + 16 + len).min(n);
                let name = &buf[off + 16..end];
                let name = name.split(|b| *b == 0).next().unwrap_or(name);
                off = end;
                if mask & libc::IN_ISDIR != 0 {
                    continue;
                }
                for f in self
                    .files
                    .iter_mut()
                    .filter(|f| f.wd == wd && f.part.as_bytes() == name)
                {
                    let v = if mask & (libc::IN_MOVED_FROM | libc::IN_DELETE) != 0 {
                        Some(0)
                    } else {
                        read_value(&f.path, log)
                    };
                    if let Some(v) = v.filter(|v| *v != f.value) {
                        f.value = v;
                        changed.retain(|(n, _): &(String, i64)| *n != f.name);
                        changed.push((f.name.clone(), v));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_strtol_reads_them() {
        assert_eq!(file_value(b"  42\n"), Some(42));
        assert_eq!(file_value(b"-7 apples"), Some(-7));
        assert_eq!(file_value(b"0x10"), Some(16));
        assert_eq!(file_value(b"010"), Some(8));
        assert_eq!(file_value(b""), Some(0));
        assert_eq!(file_value(b"up"), Some(0));
        assert_eq!(file_value(b"2147483648"), Some(2147483648));
        assert_eq!(file_value(b"2147483649"), None);
    }

    fn nolog(_: &str) {}

    #[test]
    fn a_rewritten_file_is_reported_once_a_deleted_one_reads_zero() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("ka-trackfile-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("state");
        std::fs::write(&path, "5\n").unwrap();
        let mut f = Files::default();
        let p = path.to_string_lossy().into_owned();
        f.set(&[("t".into(), p.clone())], nolog);
        assert_eq!(f.value("t"), Some(5));
        std::fs::write(&path, "9\n").unwrap();
        assert_eq!(f.readable(nolog), vec![("t".to_string(), 9)]);
        assert_eq!(f.readable(nolog), vec![], "nothing new");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(f.readable(nolog), vec![("t".to_string(), 0)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
