//! The sysctls keepalived sets, and their restoration at stop.

use std::path::PathBuf;

/// Values we changed, with what they were, to put back at stop.
#[derive(Default)]
pub struct Changed(Vec<(PathBuf, String)>);

impl Changed {
    /// Write `value` to `/proc/sys/<key>` (`key` with slashes: interface names may hold
    /// dots), remembering the old value the first time.
    pub fn set(&mut self, key: &str, value: &str) -> std::io::Result<()> {
        let path = PathBuf::from("/proc/sys").join(key);
        let old = std::fs::read_to_string(&path)?.trim().to_string();
        if old == value {
            return Ok(());
        }
        std::fs::write(&path, value)?;
        if !self.0.iter().any(|(p, _)| *p == path) {
            self.0.push((path, old));
        }
        Ok(())
    }

    /// Put every value back, newest first.
    pub fn restore(&mut self) {
        while let Some((path, old)) = self.0.pop() {
            let _ = std::fs::write(&path, old);
        }
    }
}

/// keepalived's sysctls for a VMAC and its base interface (reference §6.6).
pub fn vmac(c: &mut Changed, vmac: &str, base: &str) -> std::io::Result<()> {
    c.set(&format!("net/ipv4/conf/{vmac}/accept_local"), "1")?;
    c.set(&format!("net/ipv4/conf/{vmac}/arp_ignore"), "1")?;
    c.set(&format!("net/ipv4/conf/{vmac}/rp_filter"), "0")?;
    c.set(&format!("net/ipv4/conf/{base}/arp_ignore"), "1")?;
    c.set(&format!("net/ipv4/conf/{base}/arp_filter"), "1")?;
    Ok(())
}
