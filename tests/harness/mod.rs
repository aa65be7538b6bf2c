//! What tests/hostile.rs and tests/reliability.rs share: the binary, a probe
//! run measured with wait4 (exit, signal, wall time, peak RSS), a seeded
//! PRNG, and socket tricks (reset, tiny backlog). Loopback only.
//!
//! `HEALTHPROBE_BIN` names the binary to test; without it, cargo's build.
//! `HEALTHPROBE_TEST_SLACK_MS` widens the upper time bounds for emulation.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

// The binary, the clean probe command and the time helpers are the other
// integration tests' (tests/common).
#[path = "../common/mod.rs"]
mod common;
pub use common::{ms, probe_command, slack};

/// The static build, when the run is against it (budgets and empty roots
/// need it).
pub fn static_bin() -> Option<PathBuf> {
    std::env::var_os("HEALTHPROBE_BIN").map(PathBuf::from)
}

/// How a process ended, as wait4 saw it.
#[derive(Debug, Clone)]
pub struct Ended {
    /// Some(status) for a normal exit, None when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub elapsed: Duration,
    /// Peak resident set size, KiB (ru_maxrss).
    pub max_rss_kib: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Waits for `child` with wait4 (so that only this child is reaped and its
/// own rusage is read), after reading its stdout and stderr to the end.
/// `start` is when it was spawned. A child that outlives `limit` is killed
/// and the test fails: the probe must never hang.
pub fn finish(mut child: Child, start: Instant, limit: Duration) -> Ended {
    let pid = child.id() as libc::pid_t;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read = |p: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = read(out.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = read(err.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let (status, usage, elapsed) = wait4(pid, start, limit);
    // The pipes close when the process is gone.
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
    };
    Ended { code, signal, elapsed, max_rss_kib: usage.ru_maxrss, stdout, stderr }
}

/// Blocking wait4 on one pid, with a watchdog that kills it after `limit`.
fn wait4(pid: libc::pid_t, start: Instant, limit: Duration) -> (i32, libc::rusage, Duration) {
    let killer = kill_after(pid, limit);
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EINTR), "wait4 {pid}");
    }
    let elapsed = start.elapsed();
    assert!(!killer.disarm(), "the probe (pid {pid}) was still running after {limit:?}: killed");
    (status, usage, elapsed)
}

/// Spawns and waits.
pub fn run(mut cmd: Command) -> Ended {
    let start = Instant::now();
    let child = cmd.spawn().expect("cannot start the probe");
    finish(child, start, Duration::from_secs(30))
}

/// Exit 0 or 1 as the program promises: on 1 exactly one safe line on
/// stderr (at most 512 bytes, no raw control character), on 0 nothing.
/// Returns a complaint instead of panicking, so that callers can add context.
pub fn check_contract(e: &Ended) -> Result<(), String> {
    match e.code {
        Some(0) if e.stderr.is_empty() => Ok(()),
        Some(0) => Err(format!("exit 0 but printed {:?}", e.stderr)),
        Some(1) => {
            let line = &e.stderr;
            if !(line.starts_with("healthprobe: ") && line.ends_with('\n') && line.matches('\n').count() == 1) {
                return Err(format!("exit 1 without exactly one line: {line:?}"));
            }
            if line.len() > 512 {
                return Err(format!("line of {} bytes: {line:?}", line.len()));
            }
            if line[..line.len() - 1].chars().any(char::is_control) {
                return Err(format!("raw control character: {line:?}"));
            }
            Ok(())
        }
        Some(c) => Err(format!("exit status {c}, only 0 or 1 is allowed")),
        None => Err(format!("ended by signal {:?}", e.signal)),
    }
}

// ------------------------------------------------------------------ PRNG

/// splitmix64: tiny, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The seed: `var` when set (to replay a failure), else from the clock, so
/// that every run explores new behaviours. Always printed.
pub fn seed(var: &str) -> u64 {
    let seed = match std::env::var(var) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{var}={v} is not a number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    eprintln!("seed {seed} (replay with {var}={seed})");
    seed
}

// --------------------------------------------------------------- sockets

/// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
pub fn reset(stream: TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a valid socket with a value that lives across the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// A listener on 127.0.0.1 with an accept backlog of `backlog` that nobody
/// accepts from. Linux queues backlog + 1 connections; `fill` makes that
/// many from here, so that every later SYN is dropped. Returns the listener
/// and the idle connections, which must be kept alive.
pub fn full_backlog(backlog: i32) -> (TcpListener, Vec<TcpStream>) {
    let listener = listen(backlog);
    let addr = listener.local_addr().unwrap();
    let mut idle = Vec::new();
    // Each connect completes while the queue has room; the first one that
    // times out shows that it is full. Bounded: the queue holds backlog + 1.
    for _ in 0..(backlog + 8) {
        match TcpStream::connect_timeout(&addr, ms(200)) {
            Ok(s) => idle.push(s),
            Err(_) => break,
        }
    }
    assert!(idle.len() as i32 <= backlog + 1, "the backlog never filled: {} connections", idle.len());
    (listener, idle)
}

pub fn local(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().unwrap()
}

/// Sends `signal` to `pid`.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child of ours that has not been reaped.
    let r = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(r, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// The system call a process is blocked in (first field of
/// /proc/PID/syscall), or None while it runs or has gone.
pub fn blocked_in(pid: u32) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The signals a process catches (SigCgt of /proc/PID/status).
pub fn caught_signals(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// Polls `cond` every millisecond for at most `limit` (a bounded wait on a
/// state the test cannot be told about directly).
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(ms(1));
    }
}

// ------------------------------------------------------------ peak memory

/// Spawns `cmd` stopped at its exec under ptrace, so that `finish_traced`
/// can read the probe's own peak RSS (VmHWM) just before it exits.
/// (ru_maxrss cannot be used: at exec the kernel folds the parent's RSS into
/// it, and std spawns with vfork, so it reports the test's own size.)
pub fn spawn_traced(cmd: &mut Command) -> std::io::Result<(Child, Instant)> {
    use std::os::unix::process::CommandExt;
    // SAFETY: only the async-signal-safe ptrace(2) runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    Ok((cmd.spawn()?, start))
}

/// As `finish`, for a child from `spawn_traced`, on the thread that spawned
/// it (the tracer). Returns the probe's peak RSS in `max_rss_kib`.
pub fn finish_traced(mut child: Child, start: Instant, limit: Duration) -> Ended {
    let pid = child.id() as libc::pid_t;
    let readers = [child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>), child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>)]
        .map(|p| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut p) = p {
                    let _ = p.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        });
    let killer = kill_after(pid, limit);
    let mut status = 0;
    let mut hwm = -1;
    let mut exec_seen = false;
    // SAFETY: wait4 and ptrace on our own traced child; rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r != pid {
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EINTR), "wait4 {pid}");
            continue;
        }
        if !libc::WIFSTOPPED(status) {
            break;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        let deliver = if sig == libc::SIGTRAP && !exec_seen {
            exec_seen = true;
            let opts = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as libc::c_ulong) };
            0
        } else if sig == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXIT {
            hwm = vm_hwm_kib(pid as u32);
            0
        } else {
            sig
        };
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver as libc::c_ulong) };
    }
    let elapsed = start.elapsed();
    let killed = killer.disarm();
    let [out, err] = readers;
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(!killed, "the probe (pid {pid}) was still running after {limit:?}: killed");
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
    };
    Ended { code, signal, elapsed, max_rss_kib: hwm, stdout, stderr }
}

pub fn vm_hwm_kib(pid: u32) -> i64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(-1)
}

pub struct Killer {
    tx: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Killer {
    /// Stops the timer; tells whether it had already killed.
    pub fn disarm(self) -> bool {
        let _ = self.tx.send(());
        self.thread.join().unwrap()
    }
}

/// SIGKILL to `pid` after `limit`, unless disarmed first. Call it before
/// the child is reaped: it holds a pidfd, so that it can never hit another
/// process that later gets the same pid.
pub fn kill_after(pid: libc::pid_t, limit: Duration) -> Killer {
    let fds = vec![pidfd(pid)];
    kill_all_after(fds, limit)
}

/// As `kill_after`, for many children at once.
pub fn kill_all_after(fds: Vec<std::os::fd::OwnedFd>, limit: Duration) -> Killer {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            for fd in &fds {
                // SAFETY: pidfd_send_signal(2) on a pidfd we own.
                unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0) };
            }
            return true;
        }
        false
    });
    Killer { tx, thread }
}

/// A pidfd for a child of ours that has not been reaped.
pub fn pidfd(pid: libc::pid_t) -> std::os::fd::OwnedFd {
    // SAFETY: pidfd_open(2) returns a new descriptor we then own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open {pid}: {}", std::io::Error::last_os_error());
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
}

/// A listener on 127.0.0.1 with the given accept backlog (std's is 128).
pub fn listen(backlog: i32) -> TcpListener {
    // SAFETY: socket/bind/listen on a fresh descriptor owned by the listener.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let listener = TcpListener::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let r = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, std::mem::size_of_val(&addr) as u32);
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, backlog), 0, "listen: {}", std::io::Error::last_os_error());
        listener
    }
}
