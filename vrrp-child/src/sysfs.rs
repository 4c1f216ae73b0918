//! The few file-system reads the trackers make, with plain system calls (`openat`, `read`,
//! `getdents64`, `close`): std's and glibc's helpers also stat, which the child's seccomp
//! allowlist does not need to grant.

use std::ffi::CString;

/// Up to `max` bytes of a file; `None` if it cannot be opened.
pub fn read_small(path: &str, max: usize) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    // SAFETY: open(2) with a NUL-terminated path we own.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = vec![0u8; max];
    let mut got = 0;
    while got < max {
        // SAFETY: read into the unfilled tail of our buffer.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr() as *mut libc::c_void, max - got) };
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    buf.truncate(got);
    Some(buf)
}

/// The names in a directory (no `.` and `..`).
pub fn list_dir(path: &str) -> Vec<String> {
    let Ok(c) = CString::new(path) else {
        return Vec::new();
    };
    // SAFETY: open(2) with a NUL-terminated path we own.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32768];
    loop {
        // SAFETY: getdents64 into our buffer of the length passed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n <= 0 {
            break;
        }
        let mut off = 0usize;
        let n = n as usize;
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while off + 19 <= n {
            let reclen = usize::from(u16::from_ne_bytes([buf[off + 16], buf[off + 17]]));
            if reclen < 19 || off + reclen > n {
                break;
            }
            let name = &buf[off + 19..off + reclen];
            let name = name.split(|b| *b == 0).next().unwrap_or(name);
            if name != b"." && name != b".." {
                out.push(String::from_utf8_lossy(name).into_owned());
            }
            off += reclen;
        }
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    out
}
