//! What the integration tests share, in one place:
//! - the limits the probe promises (named once, below);
//! - one loopback test server for TCP, Unix sockets and TLS over either, with
//!   named behaviours (`answer`, `blackhole`, `dribble`, `endless_body`,
//!   `reset`, …), so that a new case is one row in any test file;
//! - running the probe and reading how it ended (wait4: exit, signal, time,
//!   peak RSS), and the assertions on that;
//! - a seeded PRNG, and process and socket tools (pidfd, kill, backlog).
//!
//! `HEALTHPROBE_BIN` names the binary to test; without it, cargo's build.
//! `HEALTHPROBE_TEST_SLACK_MS` widens the upper time bounds for emulation.

#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod certs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ limits

/// The longest line the probe may print, newline included.
pub const MAX_LINE: usize = 512;
/// A probe ends no later than its deadline plus this.
pub const MARGIN: Duration = ms(150);
/// The same under CPU starvation (two busy processes a core).
pub const STARVED_MARGIN: Duration = ms(250);
/// A termination signal ends a probe within this.
pub const SIGNAL_BOUND: Duration = ms(100);
/// Peak RSS of the static build, KiB, whatever the server sends.
pub const RSS_BUDGET_KIB: i64 = 512;
/// A probe that runs longer than this hangs: it is killed and the test fails.
pub const HANG: Duration = Duration::from_secs(30);
/// A test server's connection never outlives this: socket timeouts, and the
/// end of every endless behaviour.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(30);

pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// --------------------------------------------------------------- requests

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// The request line and headers; None if the client went away first.
pub fn read_request(stream: impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Some(Request { method, path, headers });
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
}

/// A whole response with Content-Length and `Connection: close`; true when
/// it was written.
pub fn reply(stream: &mut impl Write, status: &str, headers: &[&str], body: &str) -> bool {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).is_ok() && stream.flush().is_ok()
}

// ------------------------------------------------------------ connections

/// The socket under a connection: TCP or a Unix socket.
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    fn shutdown(&self, how: Shutdown) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Unix(s) => s.shutdown(how),
        };
    }

    fn prepare(&self) {
        let _ = match self {
            Socket::Tcp(s) => s
                .set_nonblocking(false)
                .and(s.set_read_timeout(Some(SERVER_LIFETIME)))
                .and(s.set_write_timeout(Some(SERVER_LIFETIME))),
            Socket::Unix(s) => s
                .set_nonblocking(false)
                .and(s.set_read_timeout(Some(SERVER_LIFETIME)))
                .and(s.set_write_timeout(Some(SERVER_LIFETIME))),
        };
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Stream {
    Plain(Socket),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, Socket>>),
}

/// One accepted connection, as a behaviour sees it: bytes in and out (in
/// TLS when the server is a TLS one), and the socket's own tricks.
pub struct Conn {
    stream: Stream,
    /// Set by a complete `reply`.
    answered: bool,
    /// Closed (reset or slammed): nothing more is sent or read.
    done: bool,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Conn {
    fn socket(&self) -> &Socket {
        match &self.stream {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }

    /// A whole response (see `reply`), counted as an answer.
    pub fn reply(&mut self, status: &str, headers: &[&str], body: &str) {
        if reply(self, status, headers, body) {
            self.answered = true;
        }
    }

    /// Sends bytes as they are; false once the client has gone.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.write_all(bytes).is_ok() && self.flush().is_ok()
    }

    /// Reads and drops whatever arrives until the client goes: a peer that
    /// holds the connection open and never answers.
    pub fn drain(&mut self) {
        let mut sink = [0u8; 4096];
        while let Ok(n) = self.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }

    /// Waits until the client has sent something, reading nothing.
    pub fn wait_for_input(&self) {
        let mut byte = 0u8;
        // SAFETY: recv(2) with MSG_PEEK into one byte that lives across the call.
        unsafe { libc::recv(self.socket().fd(), &mut byte as *mut u8 as *mut libc::c_void, 1, libc::MSG_PEEK) };
    }

    /// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
    pub fn reset(&mut self) {
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: setsockopt on a valid socket with a value that lives across the call.
        unsafe {
            libc::setsockopt(
                self.socket().fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        self.done = true;
    }

    /// Shuts both directions at once, whatever is unread.
    pub fn slam(&mut self) {
        self.socket().shutdown(Shutdown::Both);
        self.done = true;
    }

    /// FIN after what was sent (after TLS's close_notify).
    pub fn shutdown_write(&mut self) {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        self.socket().shutdown(Shutdown::Write);
    }

    /// Sends each segment at once (TCP_NODELAY; nothing on a Unix socket).
    pub fn set_nodelay(&self) {
        if let Socket::Tcp(s) = self.socket() {
            let _ = s.set_nodelay(true);
        }
    }

    /// After the behaviour: FIN, then read until the client goes, so that
    /// unread input never turns the close into RST.
    fn finish(&mut self) {
        if !self.done {
            self.shutdown_write();
            self.drain();
        }
    }
}

// -------------------------------------------------------------- behaviours

type Handler = dyn Fn(&mut Conn, &Request) + Send + Sync;

/// What a test server does with each connection: read the request (or
/// not), then the handler.
#[derive(Clone)]
pub struct Behaviour {
    read_request: bool,
    handler: Arc<Handler>,
}

impl Behaviour {
    /// After the request is read.
    pub fn new(handler: impl Fn(&mut Conn, &Request) + Send + Sync + 'static) -> Behaviour {
        Behaviour { read_request: true, handler: Arc::new(handler) }
    }

    /// At once, reading nothing first (the handler gets an empty request).
    pub fn raw(handler: impl Fn(&mut Conn, &Request) + Send + Sync + 'static) -> Behaviour {
        Behaviour { read_request: false, handler: Arc::new(handler) }
    }

    pub fn reading_request(mut self, read: bool) -> Behaviour {
        self.read_request = read;
        self
    }
}

/// This status, no body.
pub fn answer(status: &'static str) -> Behaviour {
    Behaviour::new(move |c, _| c.reply(status, &[], ""))
}

/// This status with a JSON body.
pub fn answer_body(status: &'static str, body: &'static str) -> Behaviour {
    Behaviour::new(move |c, _| c.reply(status, &["Content-Type: application/json"], body))
}

/// This status with a plain body.
pub fn answer_text(status: &'static str, body: &'static str) -> Behaviour {
    Behaviour::new(move |c, _| c.reply(status, &[], body))
}

/// This redirect status to `to`.
pub fn redirect(status: &'static str, to: &'static str) -> Behaviour {
    Behaviour::new(move |c, _| c.reply(status, &[&format!("Location: {to}")], ""))
}

/// These bytes as they are, then FIN.
pub fn raw(bytes: impl Into<Vec<u8>>) -> Behaviour {
    let bytes = bytes.into();
    Behaviour::new(move |c, _| {
        c.send(&bytes);
    })
}

/// Accepts, reads whatever comes, and never answers (nor completes a TLS
/// handshake).
pub fn blackhole() -> Behaviour {
    Behaviour::raw(|c, _| c.drain())
}

/// Reads the request, then closes both ways without a response.
pub fn close() -> Behaviour {
    Behaviour::new(|c, _| c.slam())
}

/// Closes at once without reading: the request meets a reset.
pub fn slam() -> Behaviour {
    Behaviour::raw(|c, _| c.slam())
}

/// Once the request has arrived, RST without reading it.
pub fn reset() -> Behaviour {
    Behaviour::raw(|c, _| {
        c.wait_for_input();
        c.reset();
    })
}

/// The headers a byte at a time, `pause` apart, for ever.
pub fn dribble(pause: Duration) -> Behaviour {
    Behaviour::new(move |c, _| {
        let start = Instant::now();
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')) {
            if !c.send(&[*b]) || start.elapsed() > SERVER_LIFETIME {
                return;
            }
            thread::sleep(pause);
        }
    })
}

/// A 200 of 100,000 bytes whose body comes a byte at a time, `pause` apart.
pub fn dribbled_body(pause: Duration) -> Behaviour {
    Behaviour::new(move |c, _| {
        if !c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n") {
            return;
        }
        let start = Instant::now();
        while c.send(b"x") && start.elapsed() < SERVER_LIFETIME {
            thread::sleep(pause);
        }
    })
}

/// A 200 and header lines of 100 bytes for ever, `pause` apart.
pub fn endless_headers(pause: Duration) -> Behaviour {
    Behaviour::new(move |c, _| {
        if !c.send(b"HTTP/1.1 200 OK\r\n") {
            return;
        }
        let start = Instant::now();
        for i in 0u64.. {
            if !c.send(format!("X-Filler-{i}: {}\r\n", "a".repeat(100)).as_bytes()) || start.elapsed() > SERVER_LIFETIME
            {
                return;
            }
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
    })
}

/// A 200 announcing 50 GB, and body bytes as fast as they are taken.
pub fn endless_body() -> Behaviour {
    Behaviour::new(|c, _| {
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800000\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let start = Instant::now();
        while c.send(&chunk) && start.elapsed() < SERVER_LIFETIME {}
    })
}

// ------------------------------------------------------------------ server

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn accept(&self) -> std::io::Result<Socket> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Socket::Tcp(s)),
            Listener::Unix(l) => l.accept().map(|(s, _)| Socket::Unix(s)),
        }
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Request>>,
    connections: AtomicUsize,
    answered: AtomicUsize,
    stop: AtomicBool,
}

#[cfg(feature = "tls")]
pub type TlsConfig = Option<Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "tls"))]
pub type TlsConfig = Option<std::convert::Infallible>;

/// A server on loopback or a Unix socket that plays one behaviour on every
/// connection, each on its own thread (so a blackhole holds only itself),
/// until it is dropped. It counts connections and answers and keeps the
/// requests.
pub struct Server {
    addr: Option<SocketAddr>,
    path: Option<String>,
    _dir: Option<TempDir>,
    state: Arc<State>,
    accepted: Mutex<mpsc::Receiver<()>>,
}

impl Drop for Server {
    /// Stops accepting: the accept loop, woken by one last connection of
    /// ours, sees the flag and ends. Connections already accepted play on
    /// until their client goes.
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(addr) = self.addr {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        } else if let Some(path) = &self.path {
            let _ = UnixStream::connect(path);
        }
    }
}

impl Server {
    /// On 127.0.0.1, a port of its own.
    pub fn tcp(b: Behaviour) -> Server {
        Server::on(TcpListener::bind("127.0.0.1:0").unwrap(), b)
    }

    /// On this listener.
    pub fn on(listener: TcpListener, b: Behaviour) -> Server {
        let addr = listener.local_addr().unwrap();
        Server::start(Listener::Tcp(listener), Some(addr), None, None, b)
    }

    /// On ::1 only, on a port where 127.0.0.1 refuses: the ports of the two
    /// families are separate, and a parallel test may hold the IPv4 twin.
    pub fn v6_only(b: Behaviour) -> Server {
        loop {
            let listener = TcpListener::bind("[::1]:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            if TcpStream::connect(("127.0.0.1", port)).is_err() {
                return Server::on(listener, b);
            }
        }
    }

    /// On a Unix socket in a directory of its own.
    pub fn unix(b: Behaviour) -> Server {
        let dir = TempDir::new("unix");
        let path = dir.path("app.sock");
        let mut server = Server::unix_at(&path, b);
        server._dir = Some(dir);
        server
    }

    /// On a Unix socket at `path`.
    pub fn unix_at(path: &str, b: Behaviour) -> Server {
        let listener = UnixListener::bind(path).unwrap();
        Server::start(Listener::Unix(listener), None, Some(path.to_string()), None, b)
    }

    /// TLS with this configuration, on 127.0.0.1.
    #[cfg(feature = "tls")]
    pub fn tls(config: Arc<rustls::ServerConfig>, b: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        Server::start(Listener::Tcp(listener), Some(addr), None, Some(config), b)
    }

    /// TLS with this configuration, on a Unix socket in a directory of its own.
    #[cfg(feature = "tls")]
    pub fn tls_unix(config: Arc<rustls::ServerConfig>, b: Behaviour) -> Server {
        let dir = TempDir::new("tls-unix");
        let path = dir.path("tls.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut server = Server::start(Listener::Unix(listener), None, Some(path), Some(config), b);
        server._dir = Some(dir);
        server
    }

    fn start(
        listener: Listener,
        addr: Option<SocketAddr>,
        path: Option<String>,
        tls: TlsConfig,
        b: Behaviour,
    ) -> Server {
        let state = Arc::new(State::default());
        let (tx, rx) = mpsc::channel();
        let st = state.clone();
        thread::spawn(move || loop {
            let accepted = listener.accept();
            if st.stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(socket) = accepted else {
                thread::sleep(ms(1));
                continue;
            };
            st.connections.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(());
            // Without the tls feature the TLS side is Option<Infallible>, which is Copy.
            #[allow(clippy::clone_on_copy)]
            let (st, b, tls) = (st.clone(), b.clone(), tls.clone());
            thread::spawn(move || serve_connection(socket, &st, &b, tls));
        });
        Server { addr, path, _dir: None, state, accepted: Mutex::new(rx) }
    }

    /// http://ADDR/PATH (TCP servers).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// https://HOST:PORT/PATH (TLS servers on TCP).
    pub fn https(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP server")
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The socket's path (Unix servers).
    pub fn path(&self) -> &str {
        self.path.as_deref().expect("a Unix-socket server")
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections that got a complete `reply`.
    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }

    /// Returns once a connection (the next one not yet waited for) was accepted.
    pub fn wait_for_connection(&self) {
        self.accepted.lock().unwrap().recv_timeout(Duration::from_secs(10)).expect("the probe never connected");
    }
}

fn serve_connection(socket: Socket, state: &State, b: &Behaviour, tls: TlsConfig) {
    socket.prepare();
    let stream = match tls {
        None => Stream::Plain(socket),
        #[cfg(feature = "tls")]
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).unwrap();
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, socket)))
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
    };
    let mut conn = Conn { stream, answered: false, done: false };
    let request = if b.read_request {
        // A client that rejects the certificate ends here, with no request.
        let Some(request) = read_request(&mut conn) else { return };
        state.requests.lock().unwrap().push(request.clone());
        request
    } else {
        Request::default()
    };
    (b.handler)(&mut conn, &request);
    if conn.answered {
        state.answered.fetch_add(1, Ordering::SeqCst);
    }
    conn.finish();
}

/// A free port on 127.0.0.1 (nothing listens there once this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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

/// A listener on 127.0.0.1 with an accept backlog of `backlog` that nobody
/// accepts from, filled from here so that every later SYN is dropped (Linux
/// queues backlog + 1). Returns the listener and the idle connections, which
/// must be kept alive.
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

// ------------------------------------------------------------- the probe

pub fn bin() -> PathBuf {
    match std::env::var_os("HEALTHPROBE_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_healthprobe")),
    }
}

/// The static build, when the run is against it (budgets and empty roots
/// need it). A test that needs it is `#[ignore]`d, and fails when included
/// without it.
pub fn static_bin(test: &str) -> PathBuf {
    std::env::var_os("HEALTHPROBE_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!("{test}: needs HEALTHPROBE_BIN, the static build (make test-static, make test-reliability)")
    })
}

/// Fails the test unless it runs as root (chroot, mount namespaces, setuid).
pub fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "{test}: needs root (chroot, mount namespace, setuid)");
}

pub fn slack() -> Duration {
    let ms = std::env::var("HEALTHPROBE_TEST_SLACK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ms)
}

/// Variables the probe reads; every run starts without them.
const PROBE_ENV: &[&str] = &[
    "HEALTHPROBE_URL",
    "HEALTHPROBE_TIMEOUT",
    "PORT",
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A probe command without any of the variables the probe reads, stdin
/// empty, stdout and stderr captured.
pub fn probe_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for name in PROBE_ENV {
        cmd.env_remove(name);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

pub fn probe(args: &[&str]) -> Run {
    probe_env(args, &[])
}

/// The probe with `env` set, and none of the variables it reads otherwise.
pub fn probe_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = probe_command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

/// How a process ended, as wait4 saw it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Some(status) for a normal exit, None when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub elapsed: Duration,
    /// Peak resident set size, KiB: the probe's own VmHWM when traced
    /// (`spawn_traced`), else ru_maxrss.
    pub max_rss_kib: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end (at most `HANG`): stdin empty, stdout and stderr
/// captured.
pub fn run(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    run_as_set_up(cmd)
}

/// As `run`, with the standard streams the command was given.
pub fn run_as_set_up(mut cmd: Command) -> Run {
    let start = Instant::now();
    let child = cmd.spawn().expect("cannot start the probe");
    finish(child, start, HANG)
}

fn read_pipes(child: &mut Child) -> [thread::JoinHandle<String>; 2] {
    let out = child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
    let err = child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
    [out, err].map(|p| {
        thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    })
}

fn ended(status: i32, elapsed: Duration, max_rss_kib: i64, pipes: [thread::JoinHandle<String>; 2]) -> Run {
    let [out, err] = pipes;
    // The pipes close when the process is gone.
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
    };
    Run { code, signal, elapsed, max_rss_kib, stdout, stderr }
}

/// Waits for `child` with wait4 (so that only this child is reaped and its
/// own rusage is read), reading its stdout and stderr to the end. `start` is
/// when it was spawned. A child that outlives `limit` is killed and the test
/// fails: the probe must never hang.
pub fn finish(mut child: Child, start: Instant, limit: Duration) -> Run {
    let pid = child.id() as libc::pid_t;
    let pipes = read_pipes(&mut child);
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
    ended(status, elapsed, usage.ru_maxrss, pipes)
}

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
pub fn finish_traced(mut child: Child, start: Instant, limit: Duration) -> Run {
    let pid = child.id() as libc::pid_t;
    let pipes = read_pipes(&mut child);
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
    let run = ended(status, elapsed, hwm, pipes);
    assert!(!killed, "the probe (pid {pid}) was still running after {limit:?}: killed");
    run
}

pub fn vm_hwm_kib(pid: u32) -> i64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(-1)
}

// -------------------------------------------------------------- assertions

/// Exit 0 or 1 as the program promises: on 1 exactly one safe line on
/// stderr (at most `MAX_LINE` bytes, no raw control character), on 0
/// nothing. Returns a complaint instead of panicking, so that callers can
/// add context.
pub fn check_contract(r: &Run) -> Result<(), String> {
    check_lines(r, 1)
}

/// The contract of a call with several targets: exit 1 prints one line for
/// each of the `failing` targets, each line as the contract has it.
pub fn check_lines(r: &Run, failing: usize) -> Result<(), String> {
    match r.code {
        Some(0) if r.stderr.is_empty() => Ok(()),
        Some(0) => Err(format!("exit 0 but printed {:?}", r.stderr)),
        Some(1) => {
            let text = &r.stderr;
            if !(text.ends_with('\n') && text.matches('\n').count() == failing) {
                let want = if failing == 1 { "exactly one line".to_string() } else { format!("{failing} lines") };
                return Err(format!("exit 1 without {want}: {text:?}"));
            }
            for line in text.split_inclusive('\n') {
                if !line.starts_with("healthprobe: ") {
                    return Err(format!("a line without the program's name: {line:?}"));
                }
                if line.len() > MAX_LINE {
                    return Err(format!("line of {} bytes: {line:?}", line.len()));
                }
                if line[..line.len() - 1].chars().any(char::is_control) {
                    return Err(format!("raw control character: {line:?}"));
                }
            }
            Ok(())
        }
        Some(c) => Err(format!("exit status {c}, only 0 or 1 is allowed")),
        None => Err(format!("ended by signal {:?}", r.signal)),
    }
}

pub fn assert_contract(r: &Run, what: &str) {
    if let Err(complaint) = check_contract(r) {
        panic!("{what}: {complaint}: {r:?}");
    }
}

/// Exit 0, nothing printed.
pub fn assert_healthy(r: &Run, what: &str) {
    assert_eq!(r.code, Some(0), "{what}: expected healthy, got {r:?}");
    assert_eq!(r.stderr, "", "{what}: a healthy probe prints nothing");
}

/// Exit 1, exactly one line on stderr (the contract's) containing every word.
pub fn assert_fails(r: &Run, words: &[&str], what: &str) {
    assert_eq!(r.code, Some(1), "{what}: expected exit 1, got {r:?}");
    assert_contract(r, what);
    for w in words {
        assert!(r.stderr.contains(w), "{what}: {:?} should contain {w:?}", r.stderr);
    }
}

pub fn assert_between(elapsed: Duration, lo: Duration, hi: Duration, what: &str) {
    let hi = hi + slack();
    assert!(elapsed >= lo && elapsed <= hi, "{what}: took {elapsed:?}, expected between {lo:?} and {hi:?}");
}

/// Ended at its deadline: not before, and within `MARGIN` after.
pub fn assert_at_deadline(elapsed: Duration, deadline: Duration, what: &str) {
    assert_between(elapsed, deadline, deadline + MARGIN, what);
}

/// Timing tests run one at a time, so that two cores are enough for the bounds.
static TIMING: Mutex<()> = Mutex::new(());

pub fn timing() -> MutexGuard<'static, ()> {
    TIMING.lock().unwrap_or_else(|e| e.into_inner())
}

// -------------------------------------------------------------------- PRNG

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
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
    };
    eprintln!("seed {seed} (replay with {var}={seed})");
    seed
}

// --------------------------------------------------------------- processes

/// Sends `signal` to `pid`.
pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child of ours that has not been reaped.
    let r = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(r, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// The system call a process is blocked in (first field of
/// /proc/PID/syscall), or None while it runs or has gone.
pub fn blocked_in(pid: u32) -> Option<libc::c_long> {
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
        thread::sleep(ms(1));
    }
}

pub struct Killer {
    tx: mpsc::Sender<()>,
    thread: thread::JoinHandle<bool>,
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
    kill_all_after(vec![pidfd(pid)], limit)
}

/// As `kill_after`, for many children at once.
pub fn kill_all_after(fds: Vec<OwnedFd>, limit: Duration) -> Killer {
    let (tx, rx) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            for fd in &fds {
                // SAFETY: pidfd_send_signal(2) on a pidfd we own.
                unsafe {
                    libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0)
                };
            }
            return true;
        }
        false
    });
    Killer { tx, thread }
}

/// A pidfd for a child of ours that has not been reaped.
pub fn pidfd(pid: libc::pid_t) -> OwnedFd {
    // SAFETY: pidfd_open(2) returns a new descriptor we then own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open {pid}: {}", std::io::Error::last_os_error());
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

// ------------------------------------------------------------------- files

/// A fresh directory for this test's files, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("healthprobe-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
