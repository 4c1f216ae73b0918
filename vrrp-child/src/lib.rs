//! The VRRP child: sans-IO VRRP state machines, packet codecs and the mio shell.
//!
//! Not implemented yet; the parent refuses to start a daemon (see `parent/src/main.rs`).

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];
