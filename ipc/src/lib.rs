//! Typed, length-framed IPC between the parent and its children.
//!
//! Only the protocol constants exist so far; the framing, the message enums and the `Channel`
//! arrive with the process-model issue (see `ARCHITECTURE.md` §3 in the design notes).

/// Version of the parent/child protocol, sent in the `Hello` frame.
pub const PROTO_VERSION: u32 = 1;
