//! The TLS tests' certificates, made for this run by the `openssl` command:
//! a CA, and leaves signed by it: `good` for localhost and 127.0.0.1,
//! `other` for other.example only, `expired` (good's names, valid in 2020).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn ca(&self) -> String {
        self.file("ca.pem")
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

/// A new P-256 key, unencrypted, for `openssl req`.
pub const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// An empty directory for one test process's certificates: under target/
/// (cargo clean removes it), per process, for parallel runs.
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `openssl ARGS` in `dir`; a failure fails the test with openssl's words.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command is needed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = fresh_dir("tls-certs");
        let openssl = |args: &[&str]| openssl(&dir, args);
        let ec = EC_KEY;
        let mut ca = vec!["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=healthprobe test CA"];
        ca.extend(ec);
        ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(&ca);
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        for (leaf, sans) in [("good", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.example")] {
            let mut req = vec!["req", "-new", "-keyout"];
            let (key, csr, ext, pem) = (format!("{leaf}.key"), format!("{leaf}.csr"), format!("{leaf}.ext"), format!("{leaf}.pem"));
            req.extend([key.as_str(), "-out", &csr, "-subj"]);
            let subject = format!("/CN={leaf}");
            req.push(&subject);
            req.extend(ec);
            openssl(&req);
            write(&ext, &format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"));
            openssl(&["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", &ext, "-out", &pem]);
        }
        // `openssl x509` cannot date a certificate in the past; `openssl ca` can.
        write("ca.cnf", "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n");
        write("index.txt", "");
        write("serial", "01\n");
        openssl(&[
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "good.csr", "-out", "expired.pem",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", "good.ext", "-notext",
        ]);
        std::fs::copy(dir.join("good.key"), dir.join("expired.key")).unwrap();
        Certs { dir }
    })
}

/// A server configuration presenting `leaf` (ring, rustls's safe defaults).
pub fn server_config(leaf: &str) -> Arc<ServerConfig> {
    let dir = &certs().dir;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("{leaf}.pem"))).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("{leaf}.key"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}
