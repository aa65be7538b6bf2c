//! Reliability of the real binary beyond one behaviour at a time: deadlines
//! under CPU starvation, 500 probes at once, a full accept backlog, peak
//! memory, least privilege (proved with strace), signals at any moment, and
//! SIGPIPE. Servers are started here, on 127.0.0.1 only. See docs/reliability.md.
//!
//! The tests take one lock, so that starvation and load never overlap
//! another timing test in this binary. All but the SIGPIPE test are
//! `#[ignore]`d in plain `cargo test` (timing, starvation, random moments,
//! or the static build and root they need) and run by `make
//! test-reliability`, which includes them.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use healthprobe::report::human;

/// How many probes start at once in the load tests.
const CROWD: usize = 500;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------- servers

fn ok() -> Behaviour {
    answer_text("200 OK", "ok")
}

fn unavailable() -> Behaviour {
    answer_text("503 Service Unavailable", "starting")
}

// ------------------------------------------------------------------ helpers

/// Exit 1 within the bounds, with the line for the phase that timed out
/// (`words`) or, when the machine was too busy to run ureq's own timeout
/// within 60 ms, the watchdog's line for the same deadline.
fn assert_fails_by(e: &Run, deadline: Duration, margin: Duration, words: &str, what: &str) {
    assert_contract(e, what);
    assert_eq!(e.code, Some(1), "{what}: {e:?}");
    let watchdog = format!("no answer within {} (deadline)", human(deadline));
    assert!(
        e.stderr.contains(words) || e.stderr.contains(&watchdog),
        "{what}: {:?} should contain {words:?} or {watchdog:?}",
        e.stderr
    );
    let hi = deadline + margin + slack();
    // Timed from the exec (see `crowd`), a timeout can show up to 1 ms early:
    // poll(2) takes whole milliseconds and ureq rounds down.
    let lo = deadline - ms(1);
    assert!(e.elapsed >= lo && e.elapsed <= hi, "{what}: took {:?}, expected {lo:?}..{hi:?}", e.elapsed);
}

/// Busy processes that keep every core saturated until dropped.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start(n: usize) -> Hogs {
        Hogs((0..n).map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh")).collect())
    }

    /// Stops them and returns the CPU time they got, in all.
    fn stop(mut self) -> Duration {
        let mut cpu = Duration::ZERO;
        for child in self.0.drain(..) {
            kill(child.id(), libc::SIGKILL);
            let e = finish_cpu(child);
            cpu += e;
        }
        cpu
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn finish_cpu(child: Child) -> Duration {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child; rusage is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    while unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {}
    let tv = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn cores() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get())
}

// ------------------------------------------------------------ starvation

#[test]
#[ignore = "CPU starvation: make test-reliability"]
fn deadlines_hold_under_cpu_starvation() {
    let _serial = serial();
    let hole = Server::tcp(blackhole());
    let slow = Server::tcp(dribble(ms(50)));
    let slow_body = Server::tcp(dribbled_body(ms(50)));
    // Two busy processes a core: the probe competes for every slice.
    let hogs = Hogs::start(2 * cores());
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for round in 0..3 {
        let cases: [(&Server, &[&str], u64, &str); 3] = [
            (&hole, &[], 500, "connected, but no complete response headers within 500ms"),
            (&slow, &[], 700, "connected, but no complete response headers within 700ms"),
            (&slow_body, &["--expect-body", "never"], 600, "body not complete within 600ms"),
        ];
        for (server, extra, deadline, words) in cases {
            let t = format!("{deadline}ms");
            let url = server.url("/healthz");
            let mut args = vec!["-t", &t];
            args.extend_from_slice(extra);
            args.push(&url);
            let e = probe(&args);
            let what = format!("starved, round {round}, {words}");
            assert_fails_by(&e, ms(deadline), STARVED_MARGIN, words, &what);
            worst = worst.max(e.elapsed - ms(deadline));
        }
    }
    let wall = started.elapsed();
    let cpu = hogs.stop();
    // The hogs really ran: at least half a core's worth (on a quiet 2-core
    // machine they take nearly both; the figure is printed).
    assert!(cpu >= wall / 2, "the busy processes got only {cpu:?} of CPU in {wall:?}: not starved");
    eprintln!(
        "starvation: {} busy processes took {:.2} cores; worst overrun past the deadline {worst:?}",
        2 * cores(),
        cpu.as_secs_f64() / wall.as_secs_f64()
    );
}

// ------------------------------------------------------------------ load

/// One of the crowd, as the tracing loop sees it.
struct Member {
    index: usize,
    started: Option<Instant>,
    /// When it was seen entering exit (PTRACE_EVENT_EXIT): its work is done.
    exiting: Option<Instant>,
    hwm: i64,
}

/// Starts `CROWD` probes back to back (a fork each, from this thread) and
/// follows them all from one loop: each is traced (ptrace) so that its clock
/// starts when its exec is let go and its own peak RSS (VmHWM) is read just
/// before it exits. Safe to reap with wait4(-1): the tests here are serial,
/// and no other child exists meanwhile. Stderr goes to a file a probe.
fn crowd(url: &str, args: &[&str]) -> Vec<Run> {
    use std::collections::HashMap;
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("healthprobe-crowd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.push(url);
    let mut members: HashMap<libc::pid_t, Member> = HashMap::new();
    let mut pidfds = Vec::new();
    for index in 0..CROWD {
        let mut cmd = probe_command(&all);
        cmd.stdout(Stdio::null()).stderr(std::fs::File::create(dir.join(index.to_string())).unwrap());
        // SAFETY: only the async-signal-safe ptrace(2) runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // Reaped below, with wait4(-1).
        #[allow(clippy::zombie_processes)]
        let child = cmd.spawn().expect("spawn");
        pidfds.push(pidfd(child.id() as libc::pid_t));
        members.insert(child.id() as libc::pid_t, Member { index, started: None, exiting: None, hwm: -1 });
    }
    // If the loop below hangs, every probe is killed (through pidfds opened
    // before any was reaped) and the test fails.
    let killer = kill_all_after(pidfds, Duration::from_secs(60));
    let mut ended: Vec<Option<Run>> = (0..CROWD).map(|_| None).collect();
    let mut left = CROWD;
    while left > 0 {
        let mut status = 0;
        // SAFETY: wait4/ptrace on our own traced children; rusage is plain data.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = unsafe { libc::wait4(-1, &mut status, 0, &mut usage) };
        let now = Instant::now();
        assert!(pid > 0, "wait4: {}", std::io::Error::last_os_error());
        let Some(m) = members.get_mut(&pid) else { continue };
        if libc::WIFSTOPPED(status) {
            let sig = libc::WSTOPSIG(status);
            let deliver = if sig == libc::SIGTRAP && m.started.is_none() {
                let opts = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
                unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as libc::c_ulong) };
                m.started = Some(Instant::now());
                0
            } else if sig == libc::SIGTRAP && status >> 16 == libc::PTRACE_EVENT_EXIT {
                m.exiting = Some(now);
                m.hwm = vm_hwm_kib(pid as u32);
                0
            } else {
                sig
            };
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver as libc::c_ulong) };
            continue;
        }
        let (code, signal) = if libc::WIFEXITED(status) {
            (Some(libc::WEXITSTATUS(status)), None)
        } else {
            (None, libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
        };
        let elapsed = m.exiting.unwrap_or(now) - m.started.expect("exec seen before exit");
        ended[m.index] =
            Some(Run { code, signal, elapsed, max_rss_kib: m.hwm, stdout: String::new(), stderr: String::new() });
        left -= 1;
    }
    for (index, e) in ended.iter_mut().enumerate() {
        if let Some(e) = e {
            e.stderr = std::fs::read_to_string(dir.join(index.to_string())).unwrap();
        }
    }
    assert!(!killer.disarm(), "the crowd was still running after 60 s: killed");
    let _ = std::fs::remove_dir_all(&dir);
    ended.into_iter().map(Option::unwrap).collect()
}

fn rss_summary(all: &[Run]) -> (i64, i64) {
    let mut rss: Vec<i64> = all.iter().map(|e| e.max_rss_kib).collect();
    rss.sort_unstable();
    (rss[rss.len() / 2], rss[rss.len() - 1])
}

fn assert_rss(all: &[Run], what: &str) {
    let (median, max) = rss_summary(all);
    assert!(all.iter().all(|e| e.max_rss_kib > 0), "{what}: peak RSS not measured");
    eprintln!("{what}: peak RSS median {median} KiB, max {max} KiB");
    assert!(max <= RSS_BUDGET_KIB, "{what}: peak RSS {max} KiB > {RSS_BUDGET_KIB} KiB");
}

// The load and memory promises are the shipped binary's: the budget is the
// static build's, and 500 simultaneous exits of an unoptimised glibc build
// on two cores measure the debug build, not the probe.

#[test]
#[ignore = "needs the static build in HEALTHPROBE_BIN: make test-reliability"]
fn five_hundred_probes_at_once_all_healthy() {
    let _serial = serial();
    static_bin("five_hundred_probes_at_once_all_healthy");
    // A real server's backlog (gunicorn's is 2048); std's 128 would drop SYNs
    // of a burst and the retry comes a second later.
    let server = Server::on(listen(1024), ok());
    let started = Instant::now();
    let all = crowd(&server.url("/healthz"), &["-t", "5s"]);
    let wall = started.elapsed();
    for (i, e) in all.iter().enumerate() {
        assert_contract(e, &format!("probe {i} of {CROWD}"));
        assert_eq!(e.code, Some(0), "probe {i} of {CROWD}: {e:?}");
    }
    assert_eq!(server.answered(), CROWD, "every probe was answered once");
    let slowest = all.iter().map(|e| e.elapsed).max().unwrap();
    eprintln!("{CROWD} probes at once: all healthy in {wall:?}, slowest {slowest:?}");
    assert_rss(&all, "500 healthy probes");
}

#[test]
#[ignore = "needs the static build in HEALTHPROBE_BIN: make test-reliability"]
fn five_hundred_probes_against_a_full_backlog_fail_by_the_deadline() {
    let _serial = serial();
    static_bin("five_hundred_probes_against_a_full_backlog_fail_by_the_deadline");
    let (listener, _idle) = full_backlog(1);
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let deadline = ms(1000);
    let started = Instant::now();
    let all = crowd(&url, &["-t", "1s"]);
    let wall = started.elapsed();
    for (i, e) in all.iter().enumerate() {
        assert_fails_by(e, deadline, MARGIN, "could not connect within 1s (timeout)", &format!("probe {i} of {CROWD}"));
    }
    let mut times: Vec<Duration> = all.iter().map(|e| e.elapsed).collect();
    times.sort_unstable();
    eprintln!(
        "{CROWD} probes against a full backlog: all failed, in {wall:?}; time to exit median {:?}, p99 {:?}, max {:?}",
        times[CROWD / 2],
        times[CROWD * 99 / 100],
        times[CROWD - 1]
    );
    assert_rss(&all, "500 probes, full backlog");
}

/// Huge and endless answers cannot make it grow (static build's budget).
#[test]
#[ignore = "needs the static build in HEALTHPROBE_BIN: make test-reliability"]
fn memory_stays_bounded_under_huge_answers() {
    let _serial = serial();
    static_bin("memory_stays_bounded_under_huge_answers");
    let cases: [(Behaviour, &[&str], Option<i32>); 4] = [
        (endless_body(), &[], Some(0)),
        (endless_body(), &["--expect-body", "needle"], Some(1)),
        (endless_headers(Duration::ZERO), &[], Some(1)),
        (ok(), &[], Some(0)),
    ];
    let mut all = Vec::new();
    for (behaviour, extra, code) in cases {
        let server = Server::tcp(behaviour);
        let url = server.url("/healthz");
        let mut args = vec!["-t", "2s"];
        args.extend_from_slice(extra);
        args.push(&url);
        let mut cmd = probe_command(&args);
        let (child, start) = spawn_traced(&mut cmd).unwrap();
        let e = finish_traced(child, start, Duration::from_secs(30));
        assert_contract(&e, &format!("{extra:?}"));
        assert_eq!(e.code, code, "{extra:?}: {e:?}");
        eprintln!("peak RSS {} KiB: {extra:?} ({:?})", e.max_rss_kib, e.stderr.get(..e.stderr.len().min(100)));
        all.push(e);
    }
    assert_rss(&all, "huge answers");
}

// -------------------------------------------------------- least privilege

/// A root-owned, mode 555 directory holding only the binary, bind-mounted
/// read-only in a mount namespace of its own: no /tmp, /proc, /dev or /etc.
struct EmptyRoot(std::path::PathBuf);

impl EmptyRoot {
    fn new(bin: &std::path::Path, name: &str) -> EmptyRoot {
        EmptyRoot::with_files(bin, name, &[])
    }

    /// Also `files`: (name in the root, file to copy), read-only like the rest.
    fn with_files(bin: &std::path::Path, name: &str, files: &[(&str, &std::path::Path)]) -> EmptyRoot {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("healthprobe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, from) in files {
            std::fs::copy(from, dir.join(name)).unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        std::fs::copy(bin, dir.join("healthprobe")).unwrap();
        std::fs::set_permissions(dir.join("healthprobe"), std::fs::Permissions::from_mode(0o555)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        EmptyRoot(dir)
    }

    /// `prefix` (e.g. strace), then: a private mount namespace, the root
    /// made read-only, chroot and uid/gid 65534 (no other group).
    fn command(&self, prefix: &[&str], args: &[&str]) -> Command {
        let root = self.0.to_str().unwrap();
        let script = r#"mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec chroot --userspec=65534:65534 --groups=65534 "$0" /healthprobe "$@""#;
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("unshare"));
        if !prefix.is_empty() {
            cmd.args(&prefix[1..]).arg("unshare");
        }
        cmd.args(["-m", "--", "sh", "-c", script, root]).args(args);
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }
}

impl Drop for EmptyRoot {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The static build, as root (chroot, mount namespace, setuid): a test
/// that needs them is `#[ignore]`d, and fails when included without them.
fn needs_root_tools(test: &str) -> std::path::PathBuf {
    require_root(test);
    static_bin(test)
}

fn proc_status(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
#[ignore = "needs root and the static build in HEALTHPROBE_BIN: make test-reliability"]
fn least_privilege_empty_read_only_root_as_nobody() {
    let _serial = serial();
    let bin = needs_root_tools("least_privilege_empty_read_only_root_as_nobody");
    let root = EmptyRoot::new(&bin, "nobody");
    let good = Server::tcp(ok());
    let bad = Server::tcp(unavailable());
    let hole = Server::tcp(blackhole());

    let e = run(root.command(&[], &[&good.url("/healthz")]));
    assert_contract(&e, "empty root, healthy");
    assert_eq!(e.code, Some(0), "{e:?}");
    let e = run(root.command(&[], &[&bad.url("/readyz")]));
    assert_contract(&e, "empty root, 503");
    assert!(e.code == Some(1) && e.stderr.contains("503 Service Unavailable: starting"), "{e:?}");
    let e = run(root.command(&[], &["http://localhost:1/healthz"]));
    assert!(e.code == Some(1) && e.stderr.contains("connection refused"), "localhost needs no /etc/hosts: {e:?}");

    // While it waits on the blackhole, look at who it is and where.
    let mut cmd = root.command(&[], &["-t", "5s", &hole.url("/healthz")]);
    let start = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    hole.wait_for_connection();
    assert_eq!(proc_status(pid, "Uid:"), "65534 65534 65534 65534");
    assert_eq!(proc_status(pid, "Gid:"), "65534 65534 65534 65534");
    assert_eq!(proc_status(pid, "Groups:"), "65534");
    assert_eq!(proc_status(pid, "CapEff:"), "0000000000000000");
    let exe = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(exe, root.0, "chrooted into the empty root");
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| std::fs::read_link(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        fds.iter().all(|p| {
            let p = p.to_string_lossy();
            p.starts_with("socket:") || p.starts_with("pipe:") || p == "/dev/null"
        }),
        "open files: {fds:?}"
    );
    kill(pid, libc::SIGTERM);
    let e = finish(child, start, Duration::from_secs(10));
    assert_eq!(e.code, Some(1), "{e:?}");
}

/// Parses `strace -f` output for the probe's own process (after its exec).
fn probe_syscalls(log: &str) -> Vec<String> {
    let mut lines = log.lines().skip_while(|l| !l.contains("execve(\"/healthprobe\""));
    let first = lines.next().expect("strace saw the probe start");
    assert!(first.contains("= 0"), "exec failed: {first}");
    lines.map(str::to_string).collect()
}

/// Checks one strace log: after its exec the probe starts no process, makes
/// no file system call but on `allowed` (the --cacert file, and calls on its
/// descriptor), and writes to nothing but stderr and its sockets. Returns
/// the number of system calls seen.
fn check_strace(log: &str, allowed: Option<&str>, code: i32, what: &str) -> usize {
    let calls = probe_syscalls(log);
    let mut sockets = Vec::new();
    for call in &calls {
        // "PID name(args) = result"
        let body = call.split_once(' ').map_or("", |(_, b)| b.trim_start());
        let name = body.split('(').next().unwrap_or("");
        let result = body.rsplit_once(" = ").map_or("", |(_, r)| r);
        let path = body.split('"').nth(1);
        match name {
            "socket" => sockets.push(result.split_whitespace().next().unwrap().to_string()),
            "execve" | "execveat" | "fork" | "vfork" => panic!("{what}: {name} starts a process: {call}"),
            // A thread is allowed (only a name lookup starts one); a process is not.
            "clone" | "clone3" if !body.contains("CLONE_THREAD") => panic!("{what}: {name} starts a process: {call}"),
            "open" | "openat" | "openat2" | "stat" | "lstat" | "newfstatat" | "statx" | "access" | "faccessat"
            | "faccessat2" | "readlink" | "readlinkat"
                if allowed.is_some() && (path == allowed || path == Some("")) => {}
            "open" | "openat" | "openat2" | "creat" | "mkdir" | "mkdirat" | "unlink" | "unlinkat" | "rename"
            | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" | "chmod" | "fchmodat"
            | "chown" | "fchownat" | "truncate" | "mknod" | "mknodat" | "stat" | "lstat" | "newfstatat" | "statx"
            | "access" | "faccessat" | "faccessat2" | "readlink" | "readlinkat" | "chdir" | "mount" => {
                panic!("{what}: {name} touches the file system (only {allowed:?} may be opened): {call}")
            }
            "write" | "writev" | "pwrite64" | "sendto" | "sendmsg" => {
                let fd = body.split(['(', ',']).nth(1).unwrap_or("").trim().to_string();
                assert!(
                    fd == "2" || sockets.contains(&fd),
                    "{what}: {name} to fd {fd}, neither stderr nor a socket: {call}"
                );
            }
            _ => {}
        }
    }
    let wrote_stderr = calls.iter().any(|c| c.contains("write(2,") || c.contains("writev(2,"));
    assert_eq!(wrote_stderr, code == 1, "{what}: stderr only on failure: {calls:#?}");
    if let Some(file) = allowed {
        assert!(calls.iter().any(|c| c.contains(&format!("\"{file}\""))), "{what}: {file} was never opened");
    }
    calls.len()
}

const STRACE_CALLS: &str = "trace=%file,%process,%desc,%network,%memory,%signal";

#[test]
#[ignore = "needs root and the static build in HEALTHPROBE_BIN: make test-reliability"]
fn strace_shows_no_file_no_child_no_write() {
    let _serial = serial();
    let bin = needs_root_tools("strace_shows_no_file_no_child_no_write");
    assert!(
        Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_ok_and(|s| s.success()),
        "strace is missing: `make test-reliability` installs it (apt-get install strace)"
    );
    let log_dir = std::env::temp_dir().join(format!("healthprobe-strace-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).unwrap();
    let strace = |name: &str, root: &EmptyRoot, args: &[&str], code: i32, allowed: Option<&str>| {
        let log = log_dir.join(format!("{name}.log"));
        let prefix = ["strace", "-f", "-qq", "-o", log.to_str().unwrap(), "-e", STRACE_CALLS, "-e", "signal=none"];
        let e = run(root.command(&prefix, args));
        assert_eq!(e.code, Some(code), "{name}: {e:?}");
        let n = check_strace(&std::fs::read_to_string(&log).unwrap(), allowed, code, name);
        eprintln!("strace {name}: {n} system calls after exec; files: {}", allowed.unwrap_or("none"));
    };

    let root = EmptyRoot::new(&bin, "strace");
    let good = Server::tcp(ok());
    let bad = Server::tcp(unavailable());
    strace("healthy", &root, &[&good.url("/healthz")], 0, None);
    strace("503", &root, &[&bad.url("/readyz")], 1, None);
    strace("refused", &root, &["http://localhost:1/"], 1, None);

    // The TLS build opens the --cacert file, and nothing else.
    let tls_bin = std::env::var_os("HEALTHPROBE_TLS_BIN")
        .expect("strace --cacert: needs HEALTHPROBE_TLS_BIN, the static TLS build (make test-reliability sets it)");
    let bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    assert!(bundle.exists(), "{}: a PEM bundle to trust (Debian's ca-certificates)", bundle.display());
    let tls_root = EmptyRoot::with_files(std::path::Path::new(&tls_bin), "strace-tls", &[("ca.pem", bundle)]);
    let slammer = Server::tcp(slam());
    let url = format!("https://{}/healthz", slammer.addr());
    strace("tls --cacert", &tls_root, &["-t", "2s", "--cacert", "/ca.pem", &url], 1, Some("/ca.pem"));
    let _ = std::fs::remove_dir_all(&log_dir);
}

/// In an empty root, with stdin, stdout and stderr closed, there is no
/// /dev/null to reopen them on: the probe must still answer 0 or 1.
#[test]
#[ignore = "needs root and the static build in HEALTHPROBE_BIN: make test-reliability"]
fn empty_root_with_closed_standard_fds() {
    let _serial = serial();
    let bin = needs_root_tools("empty_root_with_closed_standard_fds");
    let root = EmptyRoot::new(&bin, "closedfds");
    let good = Server::tcp(ok());
    let script = r#"exec 0<&- 1>&- 2>&- chroot --userspec=65534:65534 "$0" /healthprobe "$1""#;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script, root.0.to_str().unwrap(), &good.url("/healthz")]);
    let e = run(cmd);
    assert_eq!(e.code, Some(0), "{e:?}");
}

// ---------------------------------------------------------------- signals

// The system calls a probe blocks in, by phase, from libc's numbers for the
// host's architecture (poll(2) exists only on some; ppoll everywhere).
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "arm",
    target_arch = "powerpc64",
    target_arch = "s390x"
))]
const POLLS: &[libc::c_long] = &[libc::SYS_poll, libc::SYS_ppoll];
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "arm",
    target_arch = "powerpc64",
    target_arch = "s390x"
)))]
const POLLS: &[libc::c_long] = &[libc::SYS_ppoll];
const CONNECTING: &[libc::c_long] = &[libc::SYS_connect];
const READING: &[libc::c_long] = &[libc::SYS_read, libc::SYS_recvfrom];
const SLEEPING: &[libc::c_long] = &[libc::SYS_nanosleep, libc::SYS_clock_nanosleep];

/// Blocked in one of these system calls.
fn blocked_in_one_of(pid: u32, calls: &[&[libc::c_long]]) -> bool {
    blocked_in(pid).is_some_and(|n| calls.iter().any(|set| set.contains(&n)))
}

fn handles_termination(pid: u32) -> bool {
    let mask = caught_signals(pid);
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].iter().all(|s| mask & (1 << (s - 1)) != 0)
}

#[test]
#[ignore = "signals at random moments: make test-reliability"]
fn signals_at_any_moment_exit_1_within_100ms() {
    let _serial = serial();
    let seed = seed("HEALTHPROBE_SIGNAL_SEED");
    let mut rng = Rng::new(seed);
    let hole = Server::tcp(blackhole());
    let starting = Server::tcp(unavailable());
    let body = Server::tcp(dribbled_body(ms(50)));
    let (full, _idle) = full_backlog(1);
    let full_url = format!("http://{}/healthz", full.local_addr().unwrap());
    let mut worst = Duration::ZERO;
    let mut runs = 0;
    for phase in ["start", "connect", "headers", "wait-sleep", "body"] {
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            for _ in 0..2 {
                let (url, extra): (String, &[&str]) = match phase {
                    "start" | "headers" => (hole.url("/healthz"), &[]),
                    "connect" => (full_url.clone(), &[]),
                    "wait-sleep" => (starting.url("/readyz"), &["--wait", "20s", "--interval", "10s"]),
                    _ => (body.url("/healthz"), &["--expect-body", "never"]),
                };
                let mut args = vec!["-t", "10s"];
                args.extend_from_slice(extra);
                args.push(&url);
                let before = (hole.connections(), body.connections());
                let child = probe_command(&args).spawn().unwrap();
                let pid = child.id();
                let limit = Duration::from_secs(5);
                // Wait on the state itself, then a random moment within it.
                wait_until(limit, "the signal handlers", || handles_termination(pid));
                match phase {
                    "connect" => {
                        wait_until(limit, "a blocked connect", || blocked_in_one_of(pid, &[POLLS, CONNECTING]))
                    }
                    "headers" => wait_until(limit, "a read of the headers", || {
                        hole.connections() > before.0 && blocked_in_one_of(pid, &[READING, POLLS])
                    }),
                    "wait-sleep" => {
                        wait_until(limit, "the pause between attempts", || blocked_in_one_of(pid, &[SLEEPING]))
                    }
                    "body" => wait_until(limit, "the body read", || {
                        body.connections() > before.1 && blocked_in_one_of(pid, &[READING, POLLS])
                    }),
                    _ => {}
                }
                if phase != "start" {
                    thread::sleep(Duration::from_micros(rng.range(0, 20_000)));
                }
                let sent = Instant::now();
                kill(pid, signal);
                let e = finish(child, sent, Duration::from_secs(10));
                let what = format!("signal {signal} during {phase} (seed {seed})");
                assert_contract(&e, &what);
                assert_eq!(e.code, Some(1), "{what}: {e:?}");
                assert!(e.stderr.contains("stopped by a signal"), "{what}: {e:?}");
                assert!(e.elapsed <= SIGNAL_BOUND + slack(), "{what}: exited {:?} after the signal", e.elapsed);
                worst = worst.max(e.elapsed);
                runs += 1;
            }
        }
    }
    eprintln!("signals: {runs} runs, slowest exit {worst:?} after the signal");
}

/// A pipe whose reading end is closed: writing to it raises SIGPIPE.
fn broken_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors, each then owned exactly once.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    drop(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

#[test]
fn sigpipe_never_kills_it() {
    let _serial = serial();
    // A large request (60 headers of 1000 bytes) to a server that slams the
    // connection: the writes meet a reset.
    let slammer = Server::tcp(slam());
    let value = "v".repeat(1000);
    let headers: Vec<String> = (0..60).map(|i| format!("X-Filler-{i}: {value}")).collect();
    for _ in 0..20 {
        let mut args: Vec<&str> = vec!["-t", "2s"];
        for h in &headers {
            args.extend(["-H", h]);
        }
        let url = slammer.url("/healthz");
        args.push(&url);
        let e = probe(&args);
        assert_contract(&e, "large request, slammed");
        assert_eq!(e.code, Some(1), "{e:?}");
    }

    // stdout and stderr into pipes nobody reads.
    let good = Server::tcp(ok());
    let bad = Server::tcp(unavailable());
    let hole = Server::tcp(blackhole());
    let cases: [(Vec<String>, i32); 5] = [
        (vec!["--help".into()], 0),
        (vec!["-V".into()], 0),
        (vec!["-v".into(), good.url("/")], 0),
        (vec![bad.url("/")], 1),
        (vec!["-t".into(), "200ms".into(), hole.url("/")], 1),
    ];
    for (args, code) in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = probe_command(&refs);
        cmd.stdout(broken_pipe()).stderr(broken_pipe());
        let e = run_as_set_up(cmd);
        assert_eq!((e.code, e.signal), (Some(code), None), "{args:?} into broken pipes: {e:?}");
    }
    // A termination signal whose line meets a broken pipe.
    let mut cmd = probe_command(&["-t", "10s", &hole.url("/")]);
    cmd.stdout(broken_pipe()).stderr(broken_pipe());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    wait_until(Duration::from_secs(5), "the signal handlers", || handles_termination(pid));
    let sent = Instant::now();
    kill(pid, libc::SIGTERM);
    let e = finish(child, sent, Duration::from_secs(10));
    assert_eq!((e.code, e.signal), (Some(1), None), "SIGTERM into broken pipes: {e:?}");
}
