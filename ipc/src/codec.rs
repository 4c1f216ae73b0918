//! The one place that knows the wire encoding: a `u32` little-endian length, then a bincode
//! 1.3.3 body. bincode 1.3.3 is complete and unchanging (RUSTSEC-2025-0141 marks the crate
//! unmaintained, 3.x does not build); swapping to postcard would touch only this file.

use bincode::Options;
use serde::{de::DeserializeOwned, Serialize};

/// Largest frame body accepted. A config snapshot of 10,000 real servers is a few MB.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// Bytes of the length prefix.
pub const HEADER: usize = 4;

#[derive(Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The length prefix announces more than `MAX_FRAME` bytes (checked before allocating).
    TooLarge(usize),
    /// The body does not decode as the expected message type.
    Malformed(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::TooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds the {MAX_FRAME}-byte limit")
            }
            CodecError::Malformed(e) => write!(f, "malformed frame: {e}"),
        }
    }
}

fn options() -> impl Options {
    // Fixed-width integers, little endian, a byte limit for every length bincode reads, and
    // no trailing bytes: a frame decodes to exactly one message.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_FRAME as u64)
        .reject_trailing_bytes()
}

/// `options()` without the byte limit: the same encoding.
fn unlimited() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Encode one frame (length prefix included).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let body = options()
        .serialize(msg)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(CodecError::TooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Encode one frame (length prefix included) at the end of `out`; on error `out` is as it
/// was. The same bytes as `encode`.
pub fn encode_into<T: Serialize>(out: &mut Vec<u8>, msg: &T) -> Result<(), CodecError> {
    // The size first (bincode's `serialize` does the same): room for the frame at once,
    // not a buffer doubled (and the smaller ones left behind) up to a snapshot's size.
    let size = options()
        .serialized_size(msg)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    out.reserve(HEADER + usize::try_from(size).unwrap_or(0));
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    // Checked against the limit by the size: written without a second count.
    if let Err(e) = unlimited().serialize_into(&mut *out, msg) {
        out.truncate(start);
        return Err(CodecError::Malformed(e.to_string()));
    }
    let n = out.len() - start - HEADER;
    if n > MAX_FRAME {
        out.truncate(start);
        return Err(CodecError::TooLarge(n));
    }
    out[start..start + HEADER].copy_from_slice(&(n as u32).to_le_bytes());
    Ok(())
}

/// The body length announced by a header, refused above the limit.
pub fn frame_len(header: [u8; HEADER]) -> Result<usize, CodecError> {
    let n = u32::from_le_bytes(header) as usize;
    if n > MAX_FRAME {
        return Err(CodecError::TooLarge(n));
    }
    Ok(n)
}

/// Decode one body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    options()
        .deserialize(body)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Split complete frames off the front of `buf`: `Ok(Some(body range))` when one is there.
pub fn next_frame(buf: &[u8]) -> Result<Option<std::ops::Range<usize>>, CodecError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let n = frame_len([buf[0], buf[1], buf[2], buf[3]])?;
    if buf.len() < HEADER + n {
        return Ok(None);
    }
    Ok(Some(HEADER..HEADER + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_into_appends_encode_bytes() {
        let mut out = vec![9u8];
        encode_into(&mut out, &(7u32, "x".to_string())).unwrap();
        let mut want = vec![9u8];
        want.extend(encode(&(7u32, "x".to_string())).unwrap());
        assert_eq!(out, want);
    }
}
