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
