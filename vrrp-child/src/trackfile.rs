//! `track_file`: each file's first number, re-read when inotify says it was written, moved
//! in, moved away or deleted (keepalived `track_file.c`: a missing or empty file is 0).

use crate::sysfs::read_small;
use crate::track::file_value;
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

fn split(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some(("", p)) => ("/".into(), p.into()),
        Some((d, p)) => (d.into(), p.into()),
        None => (".".into(), path.into()),
    }
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
                return;
            }
            // SAFETY: raw is ours alone.
            self.fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        let Some(fd) = self.fd.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        for (name, path) in specs {
            let (dir, part) = split(path);
            let Ok(c) = std::ffi::CString::new(dir.as_str()) else {
                continue;
            };
            // SAFETY: a NUL-terminated path we own; the mask is keepalived's.
            let wd = unsafe {
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
            let mut w = Watched {
                name: name.clone(),
                path: path.clone(),
                part,
                wd,
                value: 0,
            };
            w.value = read_value(&w.path, log).unwrap_or(0);
            self.files.push(w);
        }
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    pub fn value(&self, name: &str) -> Option<i64> {
        self.files.iter().find(|f| f.name == name).map(|f| f.value)
    }

    /// Drain inotify; `true` if a value changed.
    pub fn readable(&mut self, log: fn(&str)) -> bool {
        let Some(fd) = self.fd() else { return false };
        let mut changed = false;
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
                let wd = i32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
                let mask =
                    u32::from_ne_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
                let len = u32::from_ne_bytes([
                    buf[off + 12],
                    buf[off + 13],
                    buf[off + 14],
                    buf[off + 15],
                ]) as usize;
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
                        changed = true;
                    }
                }
            }
        }
    }
}

fn read_value(path: &str, log: fn(&str)) -> Option<i64> {
    let text = read_small(path, 127).unwrap_or_default();
    let v = file_value(&text);
    if v.is_none() {
        log(&format!(
            "Invalid number {} read from {path} - ignoring",
            String::from_utf8_lossy(&text).trim()
        ));
    }
    v
}
