//! Typed, length-framed IPC between the parent and its children (ARCHITECTURE §3).
//!
//! * `codec` — bincode 1.3.3 behind one module, with a size limit checked before allocating;
//! * `msg` — one enum per direction per channel, with `Hello { proto_version, build_id }`;
//! * `channel` — `Channel<Tx, Rx>` over a non-blocking Unix stream socket: sending the wrong
//!   direction does not compile, fds ride along with SCM_RIGHTS and are checked against the
//!   message's manifest;
//! * `sandbox` — the one audited privilege drop every child goes through.

pub mod channel;
pub mod child;
pub mod clock;
pub mod codec;
pub mod mem;
pub mod msg;
pub mod rtnl;
pub mod sandbox;
pub mod smtp;
pub mod trackfile;

pub use channel::{Channel, ChannelError};
pub use msg::*;

/// Version of the parent/child protocol, sent in the `Hello` frame.
pub const PROTO_VERSION: u32 = 1;

/// Identifies this build: both ends of a channel must be the same executable.
pub fn build_id() -> String {
    format!(
        "{}-{}",
        env!("CARGO_PKG_VERSION"),
        option_env!("KEEPALIVED_RS_BUILD").unwrap_or("dev")
    )
}

/// The child's end of its channel is always this descriptor.
pub const CHILD_FD: i32 = 3;
