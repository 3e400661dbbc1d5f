//! Ctrl-C and SIGTERM for the long-running commands (`collect`, `dashboard`): a flag the loops
//! poll, and sleeps that wake to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // A second Ctrl-C: leave now (temp files have unique names and are never renamed half-written).
        unsafe { libc::_exit(130) };
    }
}

/// Routes SIGINT and SIGTERM to a flag the loops poll.
pub fn catch_signals() {
    // SAFETY: the handler only touches an atomic and calls the async-signal-safe _exit.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        // A file-size limit (ulimit -f) then fails the write with EFBIG, like a full disk,
        // instead of killing the process: the data stays pending and is retried.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// True once Ctrl-C or SIGTERM arrived.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps until `t`, waking early to stop. False when asked to stop.
pub fn sleep_until(t: Instant) -> bool {
    loop {
        if stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= t {
            return true;
        }
        std::thread::sleep((t - now).min(Duration::from_millis(100)));
    }
}
