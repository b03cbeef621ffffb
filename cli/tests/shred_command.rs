//! `accord shred`, run as the real binary against a real Accord registry started
//! in-process. What shredding destroys is tested against the server in
//! tests/tests/shredding.rs; here: confirmation, receipts, exit codes.

#[path = "online/support.rs"]
mod support;

use support::{accord, Registry, ORDERS};

#[test]
fn shred_needs_yes_prints_a_receipt_and_is_idempotent() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    std::fs::write(&file, ORDERS).unwrap();
    accord(url, &["contract", "apply", file.to_str().unwrap()]).expect(0);

    let r = accord(url, &["shred", "--stream", "orders", "--entity", "u-1"]);
    r.expect(2);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    // Neither --entity nor --all-entities: clap's usage error, exit 2.
    assert_eq!(
        accord(url, &["shred", "--stream", "orders", "--yes"]).code,
        2
    );

    let r = accord(
        url,
        &["shred", "--stream", "orders", "--entity", "u-1", "--yes"],
    );
    assert_eq!(
        r.expect(0).stdout,
        "shredded entity 'u-1' of stream 'orders': 0 key(s) destroyed\n"
    );
    let r = accord(
        url,
        &[
            "shred", "--stream", "orders", "--entity", "u-1", "--yes", "--output", "json",
        ],
    );
    let receipt: serde_json::Value = serde_json::from_str(&r.expect(0).stdout).unwrap();
    assert_eq!(receipt["scope"], "entity");
    assert_eq!(receipt["alreadyShredded"], true);
    let id = receipt["entityId"].as_str().unwrap();
    assert_eq!(id.len(), 64, "a keyed hash, not the entity: {id}");
    assert!(!r.stdout.contains("u-1"), "{}", r.stdout);

    let r = accord(
        url,
        &["shred", "--stream", "orders", "--all-entities", "--yes"],
    );
    assert!(
        r.expect(0)
            .stdout
            .starts_with("shredded every key of stream 'orders'"),
        "{}",
        r.stdout
    );
    accord(
        url,
        &["shred", "--stream", "nope", "--entity", "x", "--yes"],
    )
    .expect(2);
}

/// One request as a recording stand-in for the registry received it.
struct Recorded {
    request_line: String,
    body: String,
}

/// A stand-in registry on loopback that records each request and answers a receipt;
/// the requests come through the channel.
fn recording_registry() -> (String, std::sync::mpsc::Receiver<Recorded>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let receipt = r#"{"stream":"orders","scope":"entity","entityId":"ab","deksDestroyed":0,"shreddedAt":1,"alreadyShredded":false}"#;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{receipt}",
                receipt.len()
            )
            .unwrap();
            let _ = tx.send(Recorded {
                request_line: request_line.trim().to_string(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
    });
    (url, rx)
}

/// The entity goes in the request body, never the URL: proxy and access logs record
/// URLs, and the entity (a user id, an e-mail) is what shredding is meant to forget.
#[test]
fn shred_sends_the_entity_in_the_body_not_the_url() {
    let (url, rx) = recording_registry();
    let r = accord(
        &url,
        &[
            "shred",
            "--stream",
            "orders",
            "--entity",
            "alice@example.com",
            "--yes",
        ],
    );
    r.expect(0);
    let got: Vec<Recorded> = rx.try_iter().collect();
    assert_eq!(got.len(), 1, "one request");
    assert_eq!(
        got[0].request_line,
        "POST /v1/streams/orders/entities/shred HTTP/1.1"
    );
    assert!(
        !got[0].request_line.contains("alice"),
        "{}",
        got[0].request_line
    );
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"entity": "alice@example.com"}));
}
