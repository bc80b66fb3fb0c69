//! Each way the network can fail, against listeners this test controls on 127.0.0.1 (and a name that cannot
//! resolve, `nonexistent.invalid`, which fails at once offline): the native client (feature `http`) says
//! each in its own sentence — a missing host, a refused connection, a stall, a reset, a connection closed
//! early, a server that does not speak TLS, and a hub that cannot be reached named as the hub. No internet.
#![cfg(all(feature = "http", not(target_arch = "wasm32")))]

use patchlens::remote::http::HttpClient;
use patchlens::remote::open_target;
use patchlens::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Short limits, so a stall is told in a fraction of a second.
fn client() -> HttpClient {
    HttpClient::with_timeouts(Duration::from_millis(500), Duration::from_millis(300))
}

/// Opens `input` (a URL or model id; the hub at `hub`) and returns the failure.
fn failure(input: &str, hub: &str) -> Error {
    match open_target(input, hub, &client()) {
        Ok(_) => panic!("{input} opened"),
        Err(e) => e,
    }
}

/// A port where nothing listens (bound once, then closed again).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A listener that hands its first connection to `serve` on a thread; its port.
fn serving(serve: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            serve(stream);
        }
    });
    port
}

/// Reads a request's head (up to the blank line).
fn read_request(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
}

/// The start of a 206 reply promising 64 KiB of a 100 000-byte file, and 100 bytes of it.
fn partial_reply(stream: &mut TcpStream) {
    let head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-65535/100000\r\nContent-Length: 65536\r\n\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&[0u8; 100]);
    let _ = stream.flush();
}

fn assert_sentence(error: &Error, expected: &str) {
    let text = error.to_string();
    assert_eq!(text, expected);
    assert!(text.ends_with('.') && !text.contains(". "), "one sentence: {text}");
}

#[test]
fn an_unknown_host_is_named_as_not_found() {
    let started = Instant::now();
    let error = failure("http://nonexistent.invalid/w/model.safetensors", "https://hub.test");
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    assert_sentence(
        &error,
        "Could not reach nonexistent.invalid for model.safetensors: no host is named nonexistent.invalid (a mistyped address, or no network to look the name up); check the address and the network.",
    );
    assert!(started.elapsed() < Duration::from_secs(5), "a name that cannot resolve fails at once");
}

#[test]
fn a_refused_connection_says_nothing_listens_there() {
    let port = closed_port();
    let error = failure(&format!("http://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    assert_sentence(
        &error,
        &format!("Could not reach 127.0.0.1:{port} for model.safetensors: it refused the connection (nothing listens at that port); check the address and that the server is running."),
    );
}

#[test]
fn a_hub_that_cannot_be_reached_is_named_as_the_hub_not_the_model() {
    let port = closed_port();
    let hub = format!("http://127.0.0.1:{port}");
    let refused = failure("org/some-model", &hub);
    assert_sentence(
        &refused,
        &format!("Could not reach the hub at {hub}: it refused the connection (nothing listens at that port); check the address and that the server is running."),
    );
    let unknown = failure("org/some-model", "https://nonexistent.invalid");
    assert_sentence(
        &unknown,
        "Could not reach the hub at https://nonexistent.invalid: no host is named nonexistent.invalid (a mistyped address, or no network to look the name up); check the address and the network.",
    );
    for error in [&refused, &unknown] {
        assert!(!error.to_string().contains("some-model"), "the hub, not the model: {error}");
    }
}

#[test]
fn a_server_that_accepts_and_stays_silent_has_stalled() {
    let port = serving(|mut stream| {
        read_request(&mut stream);
        thread::sleep(Duration::from_secs(5));
    });
    let started = Instant::now();
    let error = failure(&format!("http://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    // Limits below a second are said as 1 s.
    assert_sentence(
        &error,
        &format!("127.0.0.1:{port} sent nothing for 1 s while model.safetensors was being read; try again."),
    );
    assert!(started.elapsed() < Duration::from_secs(4), "the read limit, not the server, ended it");
}

#[test]
fn a_reply_that_stops_midway_has_stalled() {
    let port = serving(|mut stream| {
        read_request(&mut stream);
        partial_reply(&mut stream);
        thread::sleep(Duration::from_secs(5));
    });
    let error = failure(&format!("http://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert_sentence(
        &error,
        &format!("127.0.0.1:{port} sent nothing for 1 s while model.safetensors was being read; try again."),
    );
}

#[test]
fn a_connection_reset_before_the_reply_is_said_as_a_reset() {
    let port = serving(|stream| {
        // Closing with the request still unread makes the kernel answer with a reset (RST), not an end.
        thread::sleep(Duration::from_millis(200));
        drop(stream);
    });
    let error = failure(&format!("http://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    assert_sentence(
        &error,
        &format!("127.0.0.1:{port} reset the connection while model.safetensors was being read; try again."),
    );
}

/// Once a body has begun, ureq ends it the same way on a close and on a reset (`run.rs`, `remote_closed`):
/// both are a reply cut short.
#[test]
fn a_connection_closed_or_reset_before_the_whole_reply_is_said_so() {
    let closed = serving(|mut stream| {
        read_request(&mut stream);
        partial_reply(&mut stream);
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });
    let reset = serving(|mut stream| {
        thread::sleep(Duration::from_millis(200));
        partial_reply(&mut stream);
        drop(stream); // the request unread: a reset
    });
    for port in [closed, reset] {
        let error = failure(&format!("http://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
        assert!(matches!(error, Error::Network(_)), "{error:?}");
        assert_sentence(
            &error,
            &format!("127.0.0.1:{port} closed the connection before model.safetensors was read in full; try again."),
        );
    }
}

#[test]
fn https_to_a_server_without_tls_says_to_use_http() {
    let port = serving(|mut stream| {
        // A plain HTTP server's answer to a TLS hello.
        let mut hello = [0u8; 512];
        let _ = stream.read(&mut hello);
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let error = failure(&format!("https://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert!(matches!(error, Error::Read(_)), "trying again will not help: {error:?}");
    assert_sentence(
        &error,
        &format!("Could not reach 127.0.0.1:{port} for model.safetensors: it does not answer https there (for a plain http server, use an http:// address)."),
    );
}

/// A server whose certificate no authority signed (tests/fixtures/committed/tls: a self-signed end-entity
/// certificate for 127.0.0.1 and its P-256 key, DER, made with `openssl req -x509 … -addext
/// basicConstraints=critical,CA:FALSE`, valid to 2126), over rustls as a real https server would be.
#[test]
fn https_with_an_untrusted_certificate_says_so() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/committed/tls");
    let cert = CertificateDer::from(std::fs::read(tls.join("self-signed.crt.der")).unwrap());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(tls.join("self-signed.key.der")).unwrap()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let port = serving(move |mut stream| {
        let mut connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        // The handshake, until the client gives up on the certificate.
        while connection.is_handshaking() && connection.complete_io(&mut stream).is_ok() {}
    });
    let error = failure(&format!("https://127.0.0.1:{port}/files/model.safetensors"), "https://hub.test");
    assert!(matches!(error, Error::Read(_)), "trying again will not help: {error:?}");
    assert_sentence(
        &error,
        &format!("Could not reach 127.0.0.1:{port} for model.safetensors: its certificate is not signed by an authority patchlens trusts."),
    );
}
