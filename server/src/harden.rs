//! Process hardening for the service: no core dumps, optionally no swapping.
//!
//! A core dump would write whatever source is in memory to disk; so at start the core size
//! limit is set to 0 and the process is marked not dumpable (which also keeps other
//! processes of the same user from reading its memory). `--keep-dumpable` leaves the
//! second off, for debugging and for the test that scans the process's memory.
//! `--lock-memory` locks every page in RAM so that source cannot be swapped out.
#![allow(unsafe_code)]

/// Sets `RLIMIT_CORE` to 0 and, unless `keep_dumpable`, `PR_SET_DUMPABLE` to 0. Returns
/// whether the process is dumpable afterwards, as the kernel reports it.
pub fn disable_core_dumps(keep_dumpable: bool) -> Result<bool, String> {
    #[cfg(target_os = "linux")]
    {
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls with valid arguments.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) } != 0 {
            return Err(format!(
                "setrlimit(RLIMIT_CORE): {}",
                std::io::Error::last_os_error()
            ));
        }
        if !keep_dumpable && unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(format!(
                "prctl(PR_SET_DUMPABLE): {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: a plain system call.
        Ok(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } == 1)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(keep_dumpable)
}

/// Locks all current and future pages in RAM (`mlockall`).
pub fn lock_memory() -> Result<(), String> {
    #[cfg(unix)]
    {
        // SAFETY: a plain system call.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    }
    #[cfg(not(unix))]
    Err("not supported on this platform".into())
}
