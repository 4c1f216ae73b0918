//! The config reader on arbitrary bytes: preprocessor, parser, validation and the printer.
//! It must never panic, and whatever it accepts must print to a config that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = conf::load_bytes("fuzz.conf", data);
    let text = conf::print::to_conf(&first.config);
    let _ = conf::load_bytes("printed.conf", text.as_bytes());
});
