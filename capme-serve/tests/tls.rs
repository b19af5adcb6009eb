//! `--tls-cert`/`--tls-key`: the server speaks HTTPS with a certificate made here (rcgen,
//! self-signed for 127.0.0.1), to a client that trusts exactly that certificate; plain HTTP
//! to the TLS port gets no answer.

mod common;

use capme_core::Store;
use capme_serve::auth::AllowLoopback;
use capme_serve::{ServeConfig, TlsFiles};
use common::{sample_store, TestServer};
use std::io::Read;
use std::sync::Arc;

/// The sample store's HTTP flow (manifest: tcp-v4).
const TCP_V4: &str =
    "sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&proto=tcp&stime=1718406490&etime=1718406500";

/// An HTTPS agent trusting only `cert` (DER).
fn agent(cert: &[u8]) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .build()
}

fn body(r: ureq::Response) -> Vec<u8> {
    let mut b = Vec::new();
    r.into_reader().read_to_end(&mut b).unwrap();
    b
}

#[test]
fn https_with_the_given_certificate_and_no_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();

    let store = Store::open([sample_store()]).unwrap();
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.tls = Some(TlsFiles { cert, key });
    let s = TestServer::start(c);
    let https = s.base.replacen("http://", "https://", 1);
    let a = agent(made.cert.der());

    let r = a.get(&format!("{https}/healthz")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r), b"ok\n");

    let r = a
        .get(&format!("{https}/api/v1/pcap?{TCP_V4}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let pcap = body(r);
    // What `capme extract` writes for the flow.
    let want_dir = tempfile::tempdir().unwrap();
    let out = want_dir.path().join("x.pcap");
    let q = capme_core::QuerySpec {
        url: Some(&format!("index.php?{TCP_V4}")),
        ..Default::default()
    }
    .parse()
    .unwrap();
    Store::open([sample_store()])
        .unwrap()
        .extract_to_file(&q, &out)
        .unwrap();
    assert!(
        pcap == std::fs::read(&out).unwrap(),
        "not capme extract's bytes"
    );

    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusting = agent(
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .unwrap()
            .cert
            .der(),
    );
    assert!(untrusting.get(&format!("{https}/healthz")).call().is_err());

    // Plain HTTP to the TLS port: no HTTP answer.
    let plain = ureq::get(&format!("{}/healthz", s.base)).call();
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
