//! The wrong scheme, recognised from what the port answered: `http://` to a
//! port that speaks TLS, and a URL written without its scheme. (The other
//! direction, `https://` to a plain port, shows in the TLS handshake:
//! `connect.rs`.) Plain functions of what was received or written.

/// A TLS record header: content type 20–24 (change_cipher_spec, alert,
/// handshake, application_data, heartbeat), then protocol version 3.0–3.4.
/// A TLS server that reads an HTTP request as a record often answers with an
/// alert (`15 03 03 00 02 02 32`, decode_error). No HTTP response starts so:
/// it starts with "HTTP/".
pub fn is_tls_record(first: &[u8]) -> bool {
    matches!(first, [0x14..=0x18, 0x03, 0x00..=0x04, ..])
}

/// nginx's answer on an `ssl` port to a request in plain HTTP (its internal
/// status 497, sent as 400), and Go's net/http (Caddy, Traefik) likewise.
const TLS_PORT_ANSWERS: &[&[u8]] =
    &[b"The plain HTTP request was sent to HTTPS port", b"Client sent an HTTP request to an HTTPS server"];

/// A 400 whose body (the excerpt read for the failure line) says the request
/// reached a TLS port in plain HTTP. Call it before the 400's ALLOWED_HOSTS
/// hint, which it replaces.
pub fn is_tls_port_answer(status: u16, body: &[u8]) -> bool {
    status == 400 && TLS_PORT_ANSWERS.iter().any(|text| body.windows(text.len()).any(|w| w == *text))
}

/// The hint once the port is known to speak TLS (a TLS record, or one of
/// the answers above).
pub fn speaks_tls() -> &'static str {
    if cfg!(feature = "tls") {
        "the port speaks TLS: use https://"
    } else {
        "the port speaks TLS: use https:// (healthprobe-tls)"
    }
}

/// The hint for an `http://` URL whose connection was reset or closed
/// before any response: what Python's ssl module (Gunicorn `--certfile`,
/// Uvicorn `--ssl-certfile`) and OpenSSL's own server do with a plain request.
/// A guess, so a question.
pub fn maybe_tls() -> &'static str {
    if cfg!(feature = "tls") {
        "does the port speak TLS? then use https://"
    } else {
        "does the port speak TLS? then use https:// (healthprobe-tls)"
    }
}

/// The usage error for a target with no `scheme://` and no leading `/`.
/// When it reads as HOST:PORT/PATH, the line offers it back with each scheme
/// the build can probe (https:// first for the usual TLS ports); otherwise
/// it shows the forms a target takes.
pub fn missing_scheme(text: &str) -> String {
    let tls = cfg!(feature = "tls");
    let authority = text.split(['/', '?', '#']).next().unwrap_or_default();
    let port = authority.rsplit_once(':').map(|(_, p)| p);
    let reads_as_host = !authority.is_empty()
        && !text.starts_with('-')
        && (port.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            || authority.eq_ignore_ascii_case("localhost"))
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !reads_as_host {
        return if tls {
            "not a URL: write http://HOST:PORT/PATH, https://HOST:PORT/PATH or a path such as /healthz".into()
        } else {
            "not a URL: write http://HOST:PORT/PATH or a path such as /healthz".into()
        };
    }
    let tls_port = matches!(port, Some("443" | "8443" | "4443" | "9443"));
    match (tls, tls_port) {
        (true, true) => format!("not a URL: write https://{text} (or http://{text})"),
        (true, false) => format!("not a URL: write http://{text} (or https://{text})"),
        (false, true) => format!("not a URL: write http://{text} (for TLS, https://{text} with healthprobe-tls)"),
        (false, false) => format!("not a URL: write http://{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_and_http_responses() {
        // An alert (decode_error) as rustls and others send it, TLS 1.0 and 1.2 record versions.
        assert!(is_tls_record(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
        assert!(is_tls_record(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]));
        assert!(is_tls_record(&[0x16, 0x03, 0x03]));
        assert!(!is_tls_record(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_tls_record(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"));
        assert!(!is_tls_record(&[0x15, 0x03]));
        assert!(!is_tls_record(&[0x15, 0x02, 0x00]));
        assert!(!is_tls_record(&[0x19, 0x03, 0x03]));
        assert!(!is_tls_record(&[0x13, 0x03, 0x03]));
        assert!(!is_tls_record(&[0x15, 0x03, 0x05]));
        assert!(!is_tls_record(b""));
    }

    #[test]
    fn answers_of_a_tls_port() {
        let nginx = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n";
        assert!(is_tls_port_answer(400, nginx.as_bytes()));
        assert!(is_tls_port_answer(400, b"Client sent an HTTP request to an HTTPS server.\n"));
        assert!(!is_tls_port_answer(404, nginx.as_bytes()));
        assert!(!is_tls_port_answer(400, b"Bad Request (400)"));
        assert!(!is_tls_port_answer(400, b"No required SSL certificate was sent"));
        assert!(speaks_tls().starts_with("the port speaks TLS: use https://"));
        assert!(maybe_tls().contains("use https://"));
        assert_eq!(speaks_tls().contains("healthprobe-tls"), !cfg!(feature = "tls"));
    }

    #[test]
    fn a_target_without_its_scheme() {
        let cases: &[(&str, &str, &str)] = &[
            // (written, the HTTP build's line, the TLS build's line)
            (
                "localhost:8000/healthz",
                "write http://localhost:8000/healthz",
                "write http://localhost:8000/healthz (or https://localhost:8000/healthz)",
            ),
            (
                "127.0.0.1:8443/readyz",
                "write http://127.0.0.1:8443/readyz (for TLS, https://127.0.0.1:8443/readyz with healthprobe-tls)",
                "write https://127.0.0.1:8443/readyz (or http://127.0.0.1:8443/readyz)",
            ),
            (
                "app.internal:443",
                "(for TLS, https://app.internal:443 with healthprobe-tls)",
                "write https://app.internal:443 (or http://app.internal:443)",
            ),
            (
                "[::1]:8000/healthz",
                "write http://[::1]:8000/healthz",
                "write http://[::1]:8000/healthz (or https://[::1]:8000/healthz)",
            ),
            (
                "localhost/healthz",
                "write http://localhost/healthz",
                "write http://localhost/healthz (or https://localhost/healthz)",
            ),
            (
                "healthz",
                "write http://HOST:PORT/PATH or a path such as /healthz",
                "write http://HOST:PORT/PATH, https://HOST:PORT/PATH or a path such as /healthz",
            ),
            ("-Hfoo", "write http://HOST:PORT/PATH or", "https://HOST:PORT/PATH or"),
            ("Host: a:80", "write http://HOST:PORT/PATH or", "https://HOST:PORT/PATH or"),
            ("", "write http://HOST:PORT/PATH or", "https://HOST:PORT/PATH or"),
            ("a:b/x", "write http://HOST:PORT/PATH or", "https://HOST:PORT/PATH or"),
        ];
        for (written, http_build, tls_build) in cases {
            let line = missing_scheme(written);
            let want = if cfg!(feature = "tls") { tls_build } else { http_build };
            assert!(line.starts_with("not a URL: "), "{written}: {line}");
            assert!(line.contains(want), "{written}: {line:?} should contain {want:?}");
        }
    }
}
