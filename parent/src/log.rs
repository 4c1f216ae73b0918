//! Logging: syslog with keepalived's idents, console with `-l`, nothing with `-G`.
//!
//! A small sink of our own instead of the `syslog` crate, which never reconnects: after the
//! syslog daemon restarts, a send fails, and we reconnect to `/dev/log` and send again.

use std::cell::RefCell;
use std::os::unix::net::UnixDatagram;

/// `LOG_DAEMON`, keepalived's default facility.
pub const FACILITY_DAEMON: u8 = 3;
const LOG_INFO: u8 = 6;
const SYSLOG_PATH: &str = "/dev/log";

struct Sink {
    ident: String,
    /// Seconds east of UTC, read once at start (a sandboxed child reads no zone files).
    utc_offset: i64,
    facility: u8,
    console: bool,
    syslog: bool,
    sock: Option<UnixDatagram>,
}

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// `facility_arg`: `-S` as parsed (0–7 = local0–7, 255 = daemon, 254 = user).
pub fn init(ident: &str, console: bool, syslog: bool, facility_arg: Option<u8>) {
    let facility = match facility_arg {
        Some(n) if n <= 7 => 16 + n,
        Some(254) => 1,
        _ => FACILITY_DAEMON,
    };
    SINK.with(|s| {
        *s.borrow_mut() = Some(Sink {
            ident: ident.to_string(),
            utc_offset: local_offset(),
            facility,
            console,
            syslog,
            sock: None,
        })
    });
}

/// The local time zone's offset from UTC now (what `localtime` would apply).
fn local_offset() -> i64 {
    // SAFETY: time and localtime_r write only into the locals given.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

/// `ctime`-style local time: `Tue Dec  1 08:08:59 2026`.
fn stamp(offset: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + offset;
    ctime(secs)
}

use ipc::clock::ctime;

fn connect() -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.connect(SYSLOG_PATH).ok()?;
    Some(s)
}

/// Log one line at LOG_INFO, as keepalived logs everything.
pub fn info(msg: &str) {
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        let Some(sink) = s.as_mut() else {
            eprintln!("{msg}");
            return;
        };
        if sink.console {
            // keepalived's console lines: "Tue Dec  1 08:08:59 2026: message".
            eprintln!("{}: {msg}", stamp(sink.utc_offset));
        }
        if !sink.syslog {
            return;
        }
        let line = format!(
            "<{}>{}[{}]: {}",
            sink.facility * 8 + LOG_INFO,
            sink.ident,
            std::process::id(),
            msg
        );
        for _ in 0..2 {
            if sink.sock.is_none() {
                sink.sock = connect();
            }
            match &sink.sock {
                Some(sock) if sock.send(line.as_bytes()).is_ok() => return,
                // The daemon went away (restart): reconnect once and try again.
                _ => sink.sock = None,
            }
        }
    });
}

/// `KEEPALIVED_RS_TIMING` set: one `TIMING <ms> <step>` line on stderr per start-up step,
/// `ms` on CLOCK_BOOTTIME (the clock of `/proc/uptime`, which the IPVS bench reads), so
/// where the start-up time goes can be measured inside the benchmark's VM.
pub fn mark(step: &str) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("KEEPALIVED_RS_TIMING").is_some()) {
        return;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into the timespec given.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let ms = ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let heap = unsafe { libc::mallinfo2() };
    eprintln!(
        "TIMING {ms} {step} (heap in use {} kB of {} kB)",
        heap.uordblks / 1024,
        (heap.arena + heap.hblkhd) / 1024
    );
}

#[macro_export]
macro_rules! log {
    ($($t:tt)*) => { $crate::log::info(&format!($($t)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn ctime_as_keepalived_prints_it() {
        assert_eq!(
            super::ctime(1_796_083_200 + 8 * 3600 + 8 * 60 + 59),
            "Tue Dec  1 08:08:59 2026"
        );
        assert_eq!(super::ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }
}
