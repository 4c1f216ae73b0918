//! The checker child: health checks and the desired IPVS table.
//!
//! Not implemented yet; the parent refuses to start a daemon (see `parent/src/main.rs`).

/// Capabilities this child keeps after start-up: none.
pub const CAPS: &[&str] = &[];
