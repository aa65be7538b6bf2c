//! What is probed: the URL, the default target, the localhost rule, and the
//! addresses to try.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Gunicorn's and `manage.py runserver`'s default port.
pub const DEFAULT_PORT: u16 = 8000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// `localhost` or `*.localhost` (RFC 6761): loopback, without asking anyone.
    Localhost(String),
    /// Any other name: needs the system resolver.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    https: bool,
    host: Host,
    port: u16,
    /// Path and query, always starting with `/`.
    path: String,
    url: String,
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// Known without any lookup, in the order to try them.
    Known(Vec<SocketAddr>),
    /// `host:port` for the system resolver.
    Lookup(String),
}

impl Target {
    /// `http://HOST[:PORT]/PATH`, `https://…`, or a bare `/PATH` on
    /// `127.0.0.1:default_port`.
    pub fn parse(text: &str, default_port: u16) -> Result<Target, String> {
        if text.starts_with('/') {
            return Target::build(false, Host::Ip(Ipv4Addr::LOCALHOST.into()), "127.0.0.1", default_port, text);
        }
        let (https, rest) = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, _)) => return Err(format!("scheme '{scheme}' is not http:// or https://")),
            None => return Err(crate::scheme::missing_scheme(text)),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err("credentials in the URL are not supported; send -H 'Authorization: …'".into());
        }
        let (host, written, port) = split_host_port(authority)?;
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("port '{p}' is not a port number (1-65535)")),
            },
        };
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        Target::build(https, host, written, port, &path)
    }

    /// `written` is the host as the URL has it. The URL is built piece by
    /// piece rather than by `format!`, since every probe builds one: with
    /// formatting it cost a probe ~2,000 instructions more.
    fn build(https: bool, host: Host, written: &str, port: u16, path: &str) -> Result<Target, String> {
        check_path(path)?;
        let default_port = if https { 443 } else { 80 };
        let mut url = String::with_capacity(64 + path.len());
        url.push_str(if https { "https://" } else { "http://" });
        match &host {
            // Ipv4Addr accepts one spelling only (no leading zeros, no
            // spaces), so the written text is already the canonical one.
            Host::Ip(IpAddr::V4(_)) => url.push_str(written),
            Host::Ip(IpAddr::V6(ip)) => {
                let _ = write!(url, "[{ip}]");
            }
            Host::Localhost(name) | Host::Name(name) => url.push_str(name),
        }
        if port != default_port {
            let _ = write!(url, ":{port}");
        }
        url.push_str(path);
        Ok(Target { https, host, port, path: path.to_string(), url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every address to try, in order. A literal is itself; `localhost` is
    /// 127.0.0.1 then ::1, so an app bound to either answers, even in an empty
    /// root with no `/etc/hosts` and no DNS.
    pub fn addresses(&self) -> Addresses {
        addresses(&self.host, self.port)
    }
}

fn addresses(host: &Host, port: u16) -> Addresses {
    match host {
        Host::Ip(ip) => Addresses::Known(vec![SocketAddr::new(*ip, port)]),
        Host::Localhost(_) => Addresses::Known(vec![
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        ]),
        Host::Name(name) => Addresses::Lookup(format!("{name}:{port}")),
    }
}

/// `tcp://HOST:PORT`: a port that must accept a connection. The host is
/// read as in an HTTP URL (and `localhost` the same way); the port is
/// always written, and nothing follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: Host,
    port: u16,
    url: String,
}

impl Endpoint {
    /// What follows `tcp://`.
    pub fn parse(rest: &str) -> Result<Endpoint, String> {
        if let Some(at) = rest.find(['/', '?', '#']) {
            if rest[at..] != *"/" {
                return Err("a tcp:// target is HOST:PORT, with no path: it connects and sends nothing".into());
            }
        }
        let authority = rest.trim_end_matches('/');
        if authority.contains('@') {
            return Err("a tcp:// target has no credentials".into());
        }
        let (host, _, port) = split_host_port(authority)?;
        let port = match port {
            None => return Err("write the port: tcp://HOST:PORT".into()),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("port '{p}' is not a port number (1-65535)")),
            },
        };
        let mut url = String::from("tcp://");
        match &host {
            Host::Ip(IpAddr::V6(ip)) => {
                let _ = write!(url, "[{ip}]");
            }
            Host::Ip(IpAddr::V4(ip)) => {
                let _ = write!(url, "{ip}");
            }
            Host::Localhost(name) | Host::Name(name) => url.push_str(name),
        }
        let _ = write!(url, ":{port}");
        Ok(Endpoint { host, port, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every address to try, in order, as for an HTTP target.
    pub fn addresses(&self) -> Addresses {
        addresses(&self.host, self.port)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Only what RFC 3986 allows in a path and query goes into a request line:
/// anything else is refused here rather than by ureq at connect time, or by
/// the server. `%` must start a `%XX` escape.
fn check_path(path: &str) -> Result<(), String> {
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' {
            return Err("a #fragment is never sent to the server: remove it".into());
        }
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if !allowed {
            let shown = if b.is_ascii_graphic() { format!("'{}'", b as char) } else { format!("byte 0x{b:02x}") };
            return Err(format!("the path has {shown}, which must be percent-encoded"));
        }
        if b == b'%' && !(bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()) {
            return Err("the path has a '%' that does not start a %XX escape".into());
        }
    }
    Ok(())
}

/// The host, as parsed and as written, and the port as written.
fn split_host_port(authority: &str) -> Result<(Host, &str, Option<&str>), String> {
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err("an IPv6 address needs its closing ']'".into());
        };
        let ip: Ipv6Addr = inside.parse().map_err(|_| format!("'[{inside}]' is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| format!("unexpected '{p}' after the IPv6 address"))?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), inside, port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((Host::Ip(IpAddr::V4(ip)), host, port));
    }
    if host.contains(':') {
        return Err(format!("'{host}' looks like an IPv6 address: write it in brackets, [{host}]"));
    }
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') {
        return Err(format!("'{host}' is not a host name"));
    }
    let name = host.to_ascii_lowercase();
    let bare = name.strip_suffix('.').unwrap_or(&name);
    if bare == "localhost" || bare.ends_with(".localhost") {
        Ok((Host::Localhost(name), host, port))
    } else {
        Ok((Host::Name(name), host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(addrs: &[&str]) -> Addresses {
        Addresses::Known(addrs.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[test]
    fn urls() {
        let cases = [
            ("/readyz", "http://127.0.0.1:8000/readyz"),
            ("/", "http://127.0.0.1:8000/"),
            ("http://127.0.0.1:8000/healthz", "http://127.0.0.1:8000/healthz"),
            ("http://10.1.2.3:80/", "http://10.1.2.3/"),
            ("https://0.0.0.0:8443/x", "https://0.0.0.0:8443/x"),
            ("HTTP://LocalHost:8080", "http://localhost:8080/"),
            ("http://localhost/readyz", "http://localhost/readyz"),
            ("http://localhost:80/readyz", "http://localhost/readyz"),
            ("http://[::1]:8000/healthz", "http://[::1]:8000/healthz"),
            ("http://[0:0::1]/", "http://[::1]/"),
            ("http://app.internal:81/healthz?full=1", "http://app.internal:81/healthz?full=1"),
            ("http://app.internal:81?x", "http://app.internal:81/?x"),
            ("http://h/a%2Fb?q=1&r=(x)", "http://h/a%2Fb?q=1&r=(x)"),
            ("https://example.com/healthz", "https://example.com/healthz"),
            ("https://example.com:443/", "https://example.com/"),
        ];
        for (text, url) in cases {
            assert_eq!(Target::parse(text, 8000).unwrap().url(), url, "{text}");
        }
        let t = Target::parse("/api/healthz", 9123).unwrap();
        assert_eq!((t.port(), t.path(), t.is_https()), (9123, "/api/healthz", false));
    }

    #[test]
    fn bad_urls() {
        let cases = [
            ("localhost:8000/healthz", "not a URL"),
            ("ftp://h/", "scheme 'ftp'"),
            ("http://", "no host"),
            ("http://:80/", "no host"),
            ("http://h:0/", "port '0'"),
            ("http://h:65536/", "port '65536'"),
            ("http://h:x/", "port 'x'"),
            ("http://user:pw@h/", "credentials"),
            ("http://[::1/", "closing ']'"),
            ("http://[zz]/", "not an IPv6"),
            ("http://[::1]x/", "unexpected"),
            ("http://::1/", "brackets"),
            ("http://exa mple/", "not a host name"),
            ("http://h/a b", "percent-encoded"),
            ("/a\tb", "percent-encoded"),
            ("/caf\u{e9}", "byte 0xc3"),
            ("http://127.0.0.1:8000/he<llo>", "'<'"),
            ("http://h/p#frag", "#fragment"),
            ("/a#", "#fragment"),
            ("/a%zz", "%XX"),
            ("/a%4", "%XX"),
            ("/a[1]", "'['"),
            ("/a\"b", "'\"'"),
        ];
        for (text, words) in cases {
            let e = Target::parse(text, 8000).unwrap_err();
            assert!(e.contains(words), "{text}: {e:?} should contain {words:?}");
        }
    }

    #[test]
    fn tcp_endpoints() {
        let at = |t: &str| Endpoint::parse(t).map(|e| (e.url().to_string(), e.addresses()));
        assert_eq!(at("127.0.0.1:5432"), Ok(("tcp://127.0.0.1:5432".into(), known(&["127.0.0.1:5432"]))));
        assert_eq!(
            at("LocalHost:6379/"),
            Ok(("tcp://localhost:6379".into(), known(&["127.0.0.1:6379", "[::1]:6379"])))
        );
        assert_eq!(at("[::1]:1").unwrap().0, "tcp://[::1]:1");
        assert_eq!(at("db:5432").unwrap().1, Addresses::Lookup("db:5432".into()));
        for (bad, words) in [
            ("127.0.0.1", "write the port"),
            ("db:0", "port '0'"),
            ("db:x", "port 'x'"),
            ("db:5432/healthz", "no path"),
            ("db:5432?x", "no path"),
            ("u@db:1", "credentials"),
            (":5432", "no host"),
            ("", "no host"),
            ("::1:5432", "brackets"),
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_to_try() {
        let at = |u: &str| Target::parse(u, 8000).unwrap().addresses();
        assert_eq!(at("/healthz"), known(&["127.0.0.1:8000"]));
        assert_eq!(at("http://localhost:9000/"), known(&["127.0.0.1:9000", "[::1]:9000"]));
        assert_eq!(at("http://LOCALHOST./"), known(&["127.0.0.1:80", "[::1]:80"]));
        assert_eq!(at("http://app.localhost:81/"), known(&["127.0.0.1:81", "[::1]:81"]));
        assert_eq!(at("http://[::1]:8000/"), known(&["[::1]:8000"]));
        assert_eq!(at("http://10.0.0.7/"), known(&["10.0.0.7:80"]));
        assert_eq!(at("http://notlocalhost:1/"), Addresses::Lookup("notlocalhost:1".into()));
        assert_eq!(at("http://db.example:5/"), Addresses::Lookup("db.example:5".into()));
    }
}
