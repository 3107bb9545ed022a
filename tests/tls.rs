//! wss:// on both sides: every PEM key form loads, broken certificates are refused with a
//! message that names the file, clients verify chain and name, and TLS connections carry
//! large messages without disturbing each other.
#![cfg(feature = "tls")]
mod common;

use std::ffi::CString;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::certs::*;
use common::*;
use luna::ffi::LunaResult;
use luna::ffi::*;

fn c(path: &Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

/// A TLS echo server with the given certificate files (and password).
fn tls_server(cert: &Path, key: &Path, password: Option<&str>) -> TestServer {
    let (cert, key) = (c(cert), c(key));
    let password = password.map(|p| CString::new(p).unwrap());
    TestServer::start(Options {
        tweak: Box::new(move |config| {
            config.tls_cert_file = cert.as_ptr();
            config.tls_key_file = key.as_ptr();
            config.tls_key_password = password.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        }),
        ..Options::default()
    })
}

/// Tries to start a TLS server and returns the error message.
fn tls_server_error(cert: &Path, key: &Path, password: Option<&str>) -> String {
    let (cert, key, host) = (c(cert), c(key), CString::new("127.0.0.1").unwrap());
    let password = password.map(|p| CString::new(p).unwrap());
    // SAFETY: plain data, filled by luna_server_config_default.
    let mut config: LunaServerConfig = unsafe { std::mem::zeroed() };
    luna_server_config_default(&mut config);
    config.host = host.as_ptr();
    config.tls_cert_file = cert.as_ptr();
    config.tls_key_file = key.as_ptr();
    config.tls_key_password = password.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    let app = luna_server_new(&config);
    assert!(app.is_null(), "server started although it should not");
    last_error()
}

fn wss_client(url: &str, ca: Option<&Path>) -> TestClient {
    let ca = ca.map(c);
    TestClient::connect(url, |config| {
        config.tls_ca_file = ca.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
    })
}

fn echo_over_tls(server: &TestServer, ca: &Path, payload: &[u8]) {
    let url = format!("wss://localhost:{}/", server.port);
    let mut client = wss_client(&url, Some(ca));
    assert_eq!(
        client.send(payload, 2),
        LunaResult::Ok,
        "queued before open"
    );
    client.until(20, "echo", |evs| {
        evs.iter()
            .any(|e| matches!(e, Ev::Msg { data, .. } if data == payload))
    });
    let open = client
        .events
        .iter()
        .find(|e| matches!(e, Ev::Open { .. }))
        .unwrap()
        .clone();
    assert!(
        matches!(open, Ev::Open { ref peer, .. } if peer == "127.0.0.1"),
        "{open:?}"
    );
    let mut tls = 0u8;
    let server_conn = match server.wait_for(5, "server open", |e| matches!(e, Ev::Open { .. })) {
        Ev::Open { conn, .. } => conn,
        _ => unreachable!(),
    };
    assert_eq!(
        luna_conn_is_tls(app_ptr(server.app), server_conn, &mut tls),
        LunaResult::Ok
    );
    assert_eq!(tls, 1);
}

/// A key form to try: tag, certificate, form, password, key.
type KeyCase<'a> = (
    &'a str,
    PathBuf,
    KeyForm,
    Option<&'a str>,
    &'a openssl::pkey::PKey<openssl::pkey::Private>,
);

fn setup(tag: &str) -> Ca {
    Ca::new(temp_dir(tag))
}

#[test]
fn every_pem_key_form_serves_wss() {
    let ca = setup("keyforms");
    let rsa = rsa_key();
    let ec = ec_key();
    let cert_rsa = ca.leaf(&rsa, &["localhost", "127.0.0.1"], valid_now(), "rsa.pem");
    let cert_ec = ca.leaf(&ec, &["localhost", "127.0.0.1"], valid_now(), "ec.pem");
    let cases: Vec<KeyCase> = vec![
        ("pkcs8", cert_rsa.clone(), KeyForm::Pkcs8, None, &rsa),
        ("pkcs1", cert_rsa.clone(), KeyForm::Pkcs1, None, &rsa),
        ("sec1", cert_ec.clone(), KeyForm::Sec1, None, &ec),
        (
            "encrypted",
            cert_rsa.clone(),
            KeyForm::Encrypted("s3cret"),
            Some("s3cret"),
            &rsa,
        ),
    ];
    for (tag, cert, form, password, key) in cases {
        let key_path = ca.path(&format!("{tag}.key"));
        write_key(key, form, &key_path);
        let server = tls_server(&cert, &key_path, password);
        echo_over_tls(
            &server,
            &ca.path("ca.pem"),
            format!("hello over {tag}").as_bytes(),
        );
    }
}

#[test]
fn full_chain_certificate_is_served() {
    let ca = setup("chain");
    let key = rsa_key();
    let leaf = ca.leaf(&key, &["localhost"], valid_now(), "leaf.pem");
    let chain = ca.path("fullchain.pem");
    let mut pem = std::fs::read(&leaf).unwrap();
    pem.extend(std::fs::read(ca.path("ca.pem")).unwrap());
    std::fs::write(&chain, pem).unwrap();
    write_key(&key, KeyForm::Pkcs8, &ca.path("privkey.pem"));
    let server = tls_server(&chain, &ca.path("privkey.pem"), None);
    echo_over_tls(&server, &ca.path("ca.pem"), b"chain");
}

#[test]
fn broken_certificates_are_refused_with_a_clear_message() {
    let ca = setup("broken");
    let key = rsa_key();
    let other = rsa_key();
    let cert = ca.leaf(&key, &["localhost"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Encrypted("right"), &ca.path("enc.key"));
    write_key(&other, KeyForm::Pkcs8, &ca.path("other.key"));
    let err = tls_server_error(&cert, &ca.path("enc.key"), Some("wrong"));
    assert!(err.contains("enc.key") && err.contains("password"), "{err}");
    let err = tls_server_error(&cert, &ca.path("enc.key"), None);
    assert!(err.contains("enc.key"), "{err}");
    let err = tls_server_error(&cert, &ca.path("other.key"), None);
    assert!(err.contains("does not match"), "{err}");
    let err = tls_server_error(&ca.path("missing.pem"), &ca.path("other.key"), None);
    assert!(err.contains("missing.pem"), "{err}");
    let expired = ca.leaf(
        &key,
        &["localhost"],
        (now() - 10 * 86400, now() - 86400),
        "expired.pem",
    );
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let err = tls_server_error(&expired, &ca.path("key.pem"), None);
    assert!(err.contains("expired"), "{err}");
    let garbage = ca.path("garbage.pem");
    std::fs::write(&garbage, b"not a certificate").unwrap();
    let err = tls_server_error(&garbage, &ca.path("key.pem"), None);
    assert!(err.contains("garbage.pem"), "{err}");
}

fn failure_of(client: &mut TestClient) -> (u32, String) {
    client.until(20, "failure", TestClient::closed);
    let error = client.events.iter().find_map(|e| match e {
        Ev::Error { code, message, .. } => Some((*code, message.clone())),
        _ => None,
    });
    assert!(
        matches!(client.events.last(), Some(Ev::Close { code: 1006, .. })),
        "{:?}",
        client.brief()
    );
    error.expect("an error event before the close")
}

#[test]
fn client_verifies_issuer_and_name() {
    let ca = setup("verify");
    let key = rsa_key();
    let cert = ca.leaf(&key, &["localhost", "127.0.0.1"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let server = tls_server(&cert, &ca.path("key.pem"), None);
    // Unknown issuer without the test CA.
    let mut unknown = wss_client(&format!("wss://localhost:{}/", server.port), None);
    let (code, message) = failure_of(&mut unknown);
    assert_eq!(code, LunaResult::Tls as u32);
    assert!(message.contains("issuer"), "{message}");
    // A certificate for another name.
    let other = ca.leaf(&key, &["otherhost.example"], valid_now(), "other.pem");
    let server2 = tls_server(&other, &ca.path("key.pem"), None);
    let mut mismatch = wss_client(
        &format!("wss://localhost:{}/", server2.port),
        Some(&ca.path("ca.pem")),
    );
    let (code, message) = failure_of(&mut mismatch);
    assert_eq!(code, LunaResult::Tls as u32);
    assert!(message.to_lowercase().contains("mismatch"), "{message}");
    // verify = 0 accepts it (insecure, on request).
    let url = format!("wss://localhost:{}/", server2.port);
    let mut insecure = TestClient::connect(&url, |c| c.tls_verify = 0);
    insecure.until(10, "open", TestClient::opened);
}

#[test]
fn large_messages_and_many_clients_over_tls_with_hostile_neighbours() {
    let ca = setup("many");
    let key = rsa_key();
    let cert = ca.leaf(&key, &["localhost", "127.0.0.1"], valid_now(), "cert.pem");
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    let server = tls_server(&cert, &ca.path("key.pem"), None);
    // A plaintext client and a stalled TLS handshake hold sockets while others work.
    let mut plain = RawPeer::connect(server.port, "");
    assert_ne!(plain.status(), 101);
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x00]).unwrap();
    let big: Vec<u8> = (0..16 * 1024 * 1024 - 64)
        .map(|i| (i % 253) as u8)
        .collect();
    echo_over_tls(&server, &ca.path("ca.pem"), &big);
    let url = format!("wss://localhost:{}/", server.port);
    let mut clients: Vec<TestClient> = (0..200)
        .map(|_| wss_client(&url, Some(&ca.path("ca.pem"))))
        .collect();
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(
            client.send(format!("client {i}").as_bytes(), 1),
            LunaResult::Ok
        );
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let want = format!("client {i}").into_bytes();
        client.until(30, "echo", |evs| {
            evs.iter()
                .any(|e| matches!(e, Ev::Msg { data, .. } if *data == want))
        });
    }
    assert!(plain.tcp_closed(), "the plaintext client is dropped");
    drop(stalled);
}

#[test]
fn client_reports_an_expired_certificate() {
    let ca = setup("expired-client");
    let key = rsa_key();
    let expired = ca.leaf(
        &key,
        &["localhost"],
        (now() - 10 * 86400, now() - 86400),
        "expired.pem",
    );
    write_key(&key, KeyForm::Pkcs8, &ca.path("key.pem"));
    // luna refuses to serve an expired certificate, so a bare native-tls server does.
    let identity = native_tls::Identity::from_pkcs8(
        &std::fs::read(&expired).unwrap(),
        &std::fs::read(ca.path("key.pem")).unwrap(),
    )
    .unwrap();
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let _ = acceptor.accept(tcp);
    });
    let mut client = wss_client(
        &format!("wss://localhost:{port}/"),
        Some(&ca.path("ca.pem")),
    );
    let (code, message) = failure_of(&mut client);
    assert_eq!(code, LunaResult::Tls as u32);
    assert!(message.contains("expired"), "{message}");
    server.join().unwrap();
}

/// The certificate a fresh TLS connection to `port` is served, as PEM, read by OpenSSL.
fn served_certificate(port: u16) -> Vec<u8> {
    let mut connector =
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let tls = connector.build().connect("localhost", tcp).unwrap();
    tls.ssl().peer_certificate().unwrap().to_pem().unwrap()
}

fn pem_of(path: &Path) -> Vec<u8> {
    openssl::x509::X509::from_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .to_pem()
        .unwrap()
}

#[test]
fn a_reloaded_certificate_serves_new_connections_and_open_ones_keep_theirs() {
    let ca = setup("reload");
    let (first_key, second_key) = (rsa_key(), ec_key());
    let first = ca.leaf(&first_key, &["localhost"], valid_now(), "first.pem");
    let second = ca.leaf(&second_key, &["localhost"], valid_now(), "second.pem");
    write_key(&first_key, KeyForm::Pkcs8, &ca.path("first.key"));
    write_key(&second_key, KeyForm::Sec1, &ca.path("second.key"));
    let server = tls_server(&first, &ca.path("first.key"), None);
    let app = app_ptr(server.app);
    assert_eq!(served_certificate(server.port), pem_of(&first));
    // A connection opened before the reload.
    let url = format!("wss://localhost:{}/", server.port);
    let mut before = wss_client(&url, Some(&ca.path("ca.pem")));
    assert_eq!(before.send(b"one", 1), LunaResult::Ok);
    before.until(10, "echo before", |evs| {
        evs.iter()
            .any(|e| matches!(e, Ev::Msg { data, .. } if data == b"one"))
    });

    let (cert, key) = (c(&second), c(&ca.path("second.key")));
    let rc = luna_app_reload_tls(app, cert.as_ptr(), key.as_ptr(), std::ptr::null());
    assert_eq!(rc, LunaResult::Ok, "{}", last_error());
    assert_eq!(served_certificate(server.port), pem_of(&second));
    assert_eq!(before.send(b"two", 1), LunaResult::Ok);
    before.until(10, "echo after", |evs| {
        evs.iter()
            .any(|e| matches!(e, Ev::Msg { data, .. } if data == b"two"))
    });

    // A key that does not match, or a missing file: refused, the current one stays.
    let wrong = c(&ca.path("first.key"));
    let rc = luna_app_reload_tls(app, cert.as_ptr(), wrong.as_ptr(), std::ptr::null());
    assert_eq!(rc, LunaResult::Tls);
    assert!(last_error().contains("does not match"), "{}", last_error());
    let missing = c(&ca.path("nope.pem"));
    let rc = luna_app_reload_tls(app, missing.as_ptr(), key.as_ptr(), std::ptr::null());
    assert_eq!(rc, LunaResult::Tls);
    assert!(last_error().contains("nope.pem"), "{}", last_error());
    assert_eq!(served_certificate(server.port), pem_of(&second));
    let rc = luna_app_reload_tls(app, std::ptr::null(), key.as_ptr(), std::ptr::null());
    assert_eq!(rc, LunaResult::InvalidArgument);

    // A plain ws:// app has no certificate to replace.
    let plain = TestServer::start(Options::default());
    let rc = luna_app_reload_tls(
        app_ptr(plain.app),
        cert.as_ptr(),
        key.as_ptr(),
        std::ptr::null(),
    );
    assert_eq!(rc, LunaResult::InvalidArgument);
    assert!(last_error().contains("plain ws://"), "{}", last_error());
}
