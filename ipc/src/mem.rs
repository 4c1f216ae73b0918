//! Memory a process no longer needs after a (re)load, given back.
//!
//! Two kinds: the allocator's free heap (`malloc_trim`), and the page-table entries of code
//! and read-only data that start-up and the config load used once (the config reader, the
//! snapshot codecs, libc's start-up paths). Those pages are clean copies of the files, so
//! dropping the mappings (`MADV_DONTNEED`) loses nothing: what the loop runs afterwards is
//! faulted back in from the page cache, and RSS then counts the working set, not the
//! history. Only segments the program never writes are touched (not `PF_W`, so never the
//! relocated `.data.rel.ro`), trimmed inward to whole pages so that a page shared with a
//! writable neighbour is kept; the vDSO is left alone. Under `mlockall` (`--no-swap`) the
//! kernel refuses and nothing changes.

use std::ffi::{c_int, c_void};

/// Give every allocation of 128 kB or more its own mapping, for good. glibc's default
/// raises that threshold to the size of any such block once it is freed (up to 32 MB):
/// after a config snapshot's receive buffer (700 kB at 1000 VRRP instances) went back, every
/// later buffer below that size came from the heap, where what a burst once held stays.
/// Fixing the threshold also fixes the heap's trim threshold at its default (128 kB).
pub fn fixed_mmap_threshold() {
    // SAFETY: mallopt only changes the allocator's tuning; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

/// Give back the free heap and the mapped pages of read-only segments.
pub fn trim() {
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    // SAFETY: the callback only reads the program headers the loader hands it.
    unsafe {
        libc::dl_iterate_phdr(Some(each_object), std::ptr::null_mut());
    }
}

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    _data: *mut c_void,
) -> c_int {
    // SAFETY (whole body): dl_iterate_phdr passes a valid info whose dlpi_phdr points at
    // dlpi_phnum program headers of a loaded object, mapped at dlpi_addr.
    let info = unsafe { &*info };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for ph in phdrs {
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
        if vdso != 0 && start >= vdso && start < vdso + 4 * page {
            continue;
        }
        let (lo, hi) = (
            start.div_ceil(page) * page,
            (start + ph.p_memsz as usize) / page * page,
        );
        if hi > lo {
            // SAFETY: a range inside a read-only segment of a loaded object: its pages are
            // clean file pages, faulted back in on the next access.
            unsafe {
                libc::madvise(lo as *mut c_void, hi - lo, libc::MADV_DONTNEED);
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    fn rss_file_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn trim_unmaps_clean_code_pages_and_code_still_runs() {
        // Touch a good deal of code and data first (formatting, collections).
        let mut m = std::collections::BTreeMap::new();
        for i in 0..1000u32 {
            m.insert(format!("{i:08x}"), i.to_string());
        }
        let before = rss_file_kb();
        super::trim();
        let after = rss_file_kb();
        // What was dropped is faulted back in as it runs: the same work gives the same answer.
        let again: u32 = m.values().map(|v| v.parse::<u32>().unwrap_or(0)).sum();
        assert_eq!(again, (0..1000).sum::<u32>());
        assert!(
            after < before,
            "RssFile {before} kB before trim, {after} kB after"
        );
    }
}
