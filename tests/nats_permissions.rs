//! `market nats-config` end to end: the generated configuration, loaded by
//! a real nats-server, lets each host speak only as itself.
//!
//! What is observable when host B publishes as host A: the server refuses
//! the message (B's connection receives "Permissions Violation"), and an
//! observer with full read rights never receives it. To show "never"
//! without sleeping, B then publishes as itself: the server relays one
//! publisher's messages in order, so once the observer has B's own message,
//! the forged one would have come before it.

// Test helpers outside #[test] functions unwrap too: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use lcc::term::Term;
use market::bus::subject::{HostName, Route, SubjectSpace, Token};
use market::bus::{Bus, BusError, Credentials, LocalNatsServer, NatsBus, NatsConfig};
use market::wire::{Decoder, Envelope, Interaction, InteractionId, ModelHash, WireLimits, encode};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const PATIENCE: Duration = Duration::from_secs(5);

fn t(s: &str) -> Token {
    Token::new(s).unwrap()
}

fn space() -> SubjectSpace {
    SubjectSpace::in_zone(t("z1"))
}

/// Runs the real binary: `market nats-config --zone z1 --host a --host b
/// --observer watch --out <dir>`.
fn generate(dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["nats-config", "--zone", "z1", "--host", "a", "--host", "b"])
        .args(["--observer", "watch", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn config_of(server: &LocalNatsServer, dir: &Path, user: &str) -> NatsConfig {
    NatsConfig::for_host(
        [server.url()],
        &t(user),
        &dir.join(format!("{user}.password")),
    )
}

async fn connect(server: &LocalNatsServer, dir: &Path, user: &str) -> NatsBus {
    NatsBus::connect(&config_of(server, dir, user))
        .await
        .unwrap()
}

/// A proposal in interaction 7 of some model, from `from` to `to`.
fn proposal(from: &HostName, to: &HostName, price: i64) -> (String, Bytes) {
    let interaction = Interaction {
        id: InteractionId(7),
        model: ModelHash([1; 32]),
    };
    let subject = space().subject(&Route::Lcc {
        interaction: interaction.id.token(),
        from: from.clone(),
        to: to.clone(),
    });
    let envelope = Envelope {
        sender: from.clone(),
        recipient: Some(to.clone()),
        interaction: Some(interaction),
        sequence: 1,
        body: Term::apply("propose", vec![Term::Int(price)]),
    };
    (subject, encode(&envelope, &WireLimits::default()).unwrap())
}

/// A raw async-nats connection as `user`, whose server errors are handed
/// over on the returned channel.
async fn raw_client(
    server: &LocalNatsServer,
    dir: &Path,
    user: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (errors, received) = mpsc::unbounded_channel();
    let password = std::fs::read_to_string(dir.join(format!("{user}.password"))).unwrap();
    let client = async_nats::ConnectOptions::with_user_and_password(
        user.to_owned(),
        password.trim().to_owned(),
    )
    .custom_inbox_prefix(format!("_INBOX.{user}"))
    .event_callback(move |event| {
        let errors = errors.clone();
        async move {
            if let async_nats::Event::ServerError(error) = event {
                let _ = errors.send(error.to_string());
            }
        }
    })
    .connect(server.url())
    .await
    .unwrap();
    (client, received)
}

#[tokio::test]
async fn a_host_cannot_publish_as_another_host() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    for file in ["nats-server.conf", "a.password", "b.password"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is readable by others");
    }
    let server = LocalNatsServer::start_with_config(&dir.path().join("nats-server.conf")).unwrap();
    let (a, b) = (t("a"), t("b"));

    let watch = connect(&server, dir.path(), "watch").await;
    let mut zone = watch.subscribe(&space().everything()).await.unwrap();
    watch.sync().await.unwrap();
    let decoder = Decoder::new(space(), WireLimits::default());

    // B forges a proposal from A, then speaks as itself.
    let host_b = connect(&server, dir.path(), "b").await;
    let (forged_subject, forged) = proposal(&a, &b, 1);
    host_b.publish(&forged_subject, forged).await.unwrap();
    let (own_subject, own) = proposal(&b, &a, 2);
    host_b.publish(&own_subject, own).await.unwrap();
    host_b.sync().await.unwrap();

    let first = timeout(PATIENCE, zone.next()).await.unwrap().unwrap();
    assert_eq!(
        first.subject, own_subject,
        "the forged proposal got through"
    );
    let envelope: Envelope<Term> = decoder.decode(&first.subject, &first.payload).unwrap();
    assert_eq!(envelope.sender, b);

    // A may speak as A.
    let host_a = connect(&server, dir.path(), "a").await;
    let (subject, genuine) = proposal(&a, &b, 3);
    host_a.publish(&subject, genuine).await.unwrap();
    let next = timeout(PATIENCE, zone.next()).await.unwrap().unwrap();
    assert_eq!(next.subject, subject);

    // The server tells B's connection why.
    let (raw_b, mut errors) = raw_client(&server, dir.path(), "b").await;
    let (forged_subject, forged) = proposal(&a, &b, 4);
    raw_b.publish(forged_subject.clone(), forged).await.unwrap();
    raw_b.flush().await.unwrap();
    let error = timeout(PATIENCE, errors.recv()).await.unwrap().unwrap();
    assert!(
        error.contains("Permissions Violation for Publish") && error.contains(&forged_subject),
        "{error}"
    );
}

#[tokio::test]
async fn a_host_hears_only_what_is_addressed_to_it_and_answers_requests() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let server = LocalNatsServer::start_with_config(&dir.path().join("nats-server.conf")).unwrap();
    let (a, b) = (t("a"), t("b"));

    // B may not listen to A's LCC messages.
    let (raw_b, mut errors) = raw_client(&server, dir.path(), "b").await;
    let _eavesdrop = raw_b.subscribe(space().lcc_to(&a)).await.unwrap();
    raw_b.flush().await.unwrap();
    let error = timeout(PATIENCE, errors.recv()).await.unwrap().unwrap();
    assert!(
        error.contains("Permissions Violation for Subscription"),
        "{error}"
    );

    // A asks B, B answers on A's inbox (allowed once, as a response).
    let host_b = connect(&server, dir.path(), "b").await;
    let mut to_b = host_b.subscribe(&space().lcc_to(&b)).await.unwrap();
    host_b.sync().await.unwrap();
    let responder = tokio::spawn(async move {
        let request = to_b.next().await.unwrap();
        let reply = request.reply.unwrap();
        assert!(reply.starts_with("_INBOX.a."), "{reply}");
        host_b
            .publish(&reply, Bytes::from_static(b"accepted"))
            .await
            .unwrap();
        host_b.sync().await.unwrap();
    });
    let host_a = connect(&server, dir.path(), "a").await;
    let (subject, call) = proposal(&a, &b, 5);
    let answer = host_a
        .request(&subject, call, Instant::now() + PATIENCE)
        .await
        .unwrap();
    assert_eq!(answer.payload, "accepted");
    responder.await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_passwords_survive_regeneration() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let before = std::fs::read_to_string(dir.path().join("a.password")).unwrap();
    generate(dir.path());
    let after = std::fs::read_to_string(dir.path().join("a.password")).unwrap();
    assert_eq!(before, after, "regenerating rotated an existing password");
    assert_eq!(after.trim().len(), 64);

    let server = LocalNatsServer::start_with_config(&dir.path().join("nats-server.conf")).unwrap();
    // A's name with B's password.
    let mut config = config_of(&server, dir.path(), "a");
    config.credentials = Credentials::Password {
        user: "a".into(),
        password_file: dir.path().join("b.password"),
    };
    let error = NatsBus::connect(&config).await.unwrap_err();
    assert!(matches!(error, BusError::Connect { .. }), "{error}");
}
