//! What a server does first, so that its resident memory stays near what it uses.
//!
//! Two allocator defaults made an API replica hold several times the memory it used
//! (`cargo xtask load mixed --users 800`, docs/BENCHMARKS.md, "Memory under overload"):
//! - **mimalloc keeps freed memory for a second** (`purge_delay`, 1,000 ms in mimalloc 3) and
//!   returns it only when the thread that owns it allocates again. Building the search index at
//!   start-up allocates and frees ~60 MiB in threads that then sit idle: an idle replica with the
//!   lab's 10,000 books held 52–118 MiB of anonymous memory for as long as it ran, 16 MiB once
//!   freed memory is returned at once. A request's small allocations reuse pages that are still
//!   in use, so returning empty ones at once costs the hot path nothing measurable (the
//!   instruction counts of `cargo xtask cost`, the throughput of the same load test).
//! - **Transparent huge pages**: with the kernel's THP in `madvise` mode (Debian's default),
//!   mimalloc asks for huge pages on its arenas, and the kernel's `khugepaged` later fills a
//!   whole 2 MiB page around a few live 4 KiB ones. An idle replica grew from 76 to 105 MiB in
//!   three minutes, 80 MiB of it huge pages. The process opts out of THP (`PR_SET_THP_DISABLE`).
//!
//! `MIMALLOC_PURGE_DELAY` or `MIMALLOC_ALLOW_THP` in the environment still decide, for an
//! operator who wants another trade.

// The one module that may: mimalloc's options and prctl are C functions with no safe wrapper.
#![allow(unsafe_code)]

/// Applies both settings; call first thing in `main`, before the heavy allocations.
pub fn keep_resident_memory_small() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        disable_transparent_huge_pages();
    }
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, an integer it reads whenever it purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (`include/mimalloc.h`);
/// libmimalloc-sys names no constant for it. The test below checks it is that option.
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only this process's flag.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "transparent huge pages stay as the kernel decides"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_opts_out_of_transparent_huge_pages() {
        super::disable_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE reads this process's flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }

    /// The option number is mimalloc's purge delay: its default is 1,000 ms (unless this test
    /// runs with `MIMALLOC_PURGE_DELAY` set), and what is set is what mimalloc then reads.
    #[cfg(feature = "mimalloc")]
    #[test]
    fn the_purge_delay_is_the_option_set() {
        use libmimalloc_sys::{mi_option_get, mi_option_set};
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an integer option.
            assert_eq!(
                unsafe { mi_option_get(super::MI_OPTION_PURGE_DELAY) },
                1_000
            );
        }
        // SAFETY: sets and reads an integer option.
        unsafe { mi_option_set(super::MI_OPTION_PURGE_DELAY, 0) };
        assert_eq!(unsafe { mi_option_get(super::MI_OPTION_PURGE_DELAY) }, 0);
    }
}
