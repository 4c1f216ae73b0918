//! Links the functions a running daemon executes together at the start of .text (lld's
//! --symbol-ordering-file): a process maps its code in 64 KiB runs, so steady-state code
//! spread over the whole binary kept four times as much of it resident. The list is made by
//! `sudo tests/hot-functions.sh` (perf over the VRRP bench); names it has that the binary
//! lacks (after a dependency or version change) are skipped.

use std::process::Command;

/// rustc links x86_64 Linux binaries with its own lld from 1.90 on; before, with the
/// system's `cc` and GNU ld, which has no --symbol-ordering-file.
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

fn main() {
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-functions.txt");
    println!("cargo:rerun-if-changed=hot-functions.txt");
    let target = std::env::var("TARGET").unwrap_or_default();
    let linker_set = std::env::var_os(format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    ))
    .is_some();
    if target == "x86_64-unknown-linux-gnu"
        && !linker_set
        && list.exists()
        && rustc_links_with_lld()
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
