//! Process hardening: panic messages withheld, no core dumps, optionally no swapping.
//!
//! A panic message may quote the text being analysed (slicing a string at a bad index
//! prints the string), and the default hook writes it to stderr, into logs, before
//! `catch_unwind` turns the panic into the file's `internal` error. So every command
//! installs a hook that prints only where the panic happened.
//!
//! A core dump would write whatever source is in memory to disk; so at start the core size
//! limit is set to 0 and the process is marked not dumpable (which also keeps other
//! processes of the same user from reading its memory). `--keep-dumpable` leaves the
//! second off, for debugging and for the test that scans the process's memory.
//! `--lock-memory` locks every page in RAM so that source cannot be swapped out.
#![allow(unsafe_code)]

/// Replaces the panic hook with one that prints the place of a panic, never its message.
pub fn withhold_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".into());
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        eprintln!(
            "volatile: internal error in thread {thread} at {place} (its message is withheld)"
        );
    }));
}

/// Restores the default action of `SIGPIPE` (end the process quietly), for commands that
/// print to a pipe a reader may close early (`volatile rules list | head`). Rust starts
/// with it ignored, which turns a closed pipe into a panic in `println!`. The service keeps
/// it ignored: a client closing its socket must not end the server.
pub fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

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

#[cfg(test)]
mod tests {
    /// Set in the child process that panics.
    const CHILD: &str = "VOLATILE_TEST_PANIC_CHILD";
    const CANARY: &str = "CANARY-source-text-7f3a";

    /// Runs this test again in a child process, which installs the hook and panics with
    /// a message quoting "source"; the child's stderr must not contain it.
    #[test]
    fn panic_messages_are_withheld() {
        if std::env::var_os(CHILD).is_some() {
            super::withhold_panic_messages();
            let text = format!("let x = \"{CANARY}\";");
            // The way real code leaks text: a slice panic quotes the string.
            let at = text.find('"').map_or(0, |i| i + 1) + 100;
            let _ = std::hint::black_box(&text[..at]);
            return;
        }
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => panic!("current_exe: {e}"),
        };
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "harden::tests::panic_messages_are_withheld",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) => panic!("cannot run the child: {e}"),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "the child did not panic: {stdout}");
        assert!(stderr.contains("its message is withheld"), "{stderr}");
        assert!(
            !stderr.contains(CANARY) && !stdout.contains(CANARY),
            "{stderr}\n{stdout}"
        );
    }
}
