//! Links the functions a running daemon executes together at the start of .text (lld's
//! --symbol-ordering-file): a process maps its code in 64 KiB runs, so steady-state code
//! spread over the whole binary kept four times as much of it resident. The list is made by
//! `sudo tests/hot-functions.sh` (perf over the VRRP bench); names it has that the binary
//! lacks (after a dependency or version change) are skipped.

fn main() {
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-functions.txt");
    println!("cargo:rerun-if-changed=hot-functions.txt");
    // Only where the linker is lld (rustc's default on x86_64 Linux since 1.90).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && list.exists()
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
