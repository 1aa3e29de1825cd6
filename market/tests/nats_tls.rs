//! TLS towards the server, from configuration (`NatsConfig::tls`), against
//! a real nats-server that requires TLS and verifies client certificates.
//! The certificates are made for the test by the `openssl` command (a CA,
//! a server certificate for 127.0.0.1, a client certificate), as an
//! operator would make them.
//!
//! A host with the CA and its client certificate talks over the bus; one
//! without a client certificate, or that does not trust the server's CA,
//! is refused.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use market::bus::{Bus, ClientCertificate, LocalNatsServer, NatsBus, NatsConfig, TlsConfig};

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command (Debian package `openssl`)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A P-256 key `name.key` and a certificate `name.pem` signed by the CA,
/// with the extensions in `extensions`.
fn signed(dir: &Path, name: &str, extensions: &str) {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&ext), extensions).unwrap();
    #[rustfmt::skip]
    openssl(dir, &[
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", &key, "-out", &csr, "-subj", &format!("/CN={name}"),
    ]);
    #[rustfmt::skip]
    openssl(dir, &[
        "x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", &pem, "-extfile", &ext,
    ]);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// and a server configuration that requires TLS and client certificates.
fn pki(dir: &Path) {
    #[rustfmt::skip]
    openssl(dir, &[
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bourse test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    signed(
        dir,
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    signed(dir, "h1", "extendedKeyUsage=clientAuth\n");
    let conf = format!(
        "tls {{\n  cert_file: \"{0}/server.pem\"\n  key_file: \"{0}/server.key\"\n  \
         ca_file: \"{0}/ca.pem\"\n  verify: true\n  timeout: 2\n}}\n",
        dir.display()
    );
    std::fs::write(dir.join("nats-server.conf"), conf).unwrap();
}

fn config(server: &LocalNatsServer, dir: &Path, ca: bool, client: bool) -> NatsConfig {
    NatsConfig {
        tls: Some(TlsConfig {
            ca_file: ca.then(|| dir.join("ca.pem")),
            client_cert: client.then(|| ClientCertificate {
                cert_file: dir.join("h1.pem"),
                key_file: dir.join("h1.key"),
            }),
        }),
        ..NatsConfig::new([server.url()], "h1")
    }
}

/// Connecting must fail (and not hang retrying).
async fn refused(config: &NatsConfig) -> String {
    let attempt = tokio::time::timeout(Duration::from_secs(10), NatsBus::connect(config));
    match attempt.await.expect("a refusal, not a hang") {
        Ok(_) => panic!("connected without what the server requires"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_host_with_the_ca_and_its_certificate_talks_over_tls_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let server = LocalNatsServer::start_with_config(&dir.path().join("nats-server.conf")).unwrap();

    let bus = NatsBus::connect(&config(&server, dir.path(), true, true))
        .await
        .unwrap();
    let mut inbox = bus.subscribe("bourse.z1.hosts.*.status").await.unwrap();
    bus.sync().await.unwrap();
    bus.publish("bourse.z1.hosts.h1.status", Bytes::from_static(b"up"))
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), inbox.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&message.payload[..], b"up");

    // The server refuses a client without a certificate; the client
    // refuses a server whose CA it was not given.
    let without_certificate = refused(&config(&server, dir.path(), true, false)).await;
    assert!(
        without_certificate.contains("BadCertificate"),
        "{without_certificate}"
    );
    let without_ca = refused(&config(&server, dir.path(), false, true)).await;
    assert!(without_ca.contains("UnknownIssuer"), "{without_ca}");
}
