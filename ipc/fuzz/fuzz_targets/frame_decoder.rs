//! The frame decoder on arbitrary bytes, in every direction: it must never panic or
//! allocate past the frame limit, and whatever decodes must encode back to a frame.
#![no_main]

use ipc::codec;
use libfuzzer_sys::fuzz_target;

fn one<T: serde::de::DeserializeOwned + serde::Serialize>(body: &[u8]) {
    if let Ok(m) = codec::decode::<T>(body) {
        let again = codec::encode(&m).expect("a decoded message encodes");
        assert!(codec::decode::<T>(&again[codec::HEADER..]).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(r)) = codec::next_frame(rest) {
        let body = &rest[r.clone()];
        one::<ipc::ParentToVrrp>(body);
        one::<ipc::VrrpToParent>(body);
        one::<ipc::ParentToChecker>(body);
        one::<ipc::CheckerToParent>(body);
        rest = &rest[r.end..];
    }
});
