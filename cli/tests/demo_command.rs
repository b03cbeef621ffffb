//! `accord demo`, run as the real binary against a real Accord registry started
//! in-process: it fills the registry, and a second run changes nothing.

#[path = "online/support.rs"]
mod support;

use serde_json::Value;
use support::{accord, Registry};

/// (stream, versions, consumers) of every stream, and the number of contract versions.
fn snapshot(reg: &Registry) -> Vec<(String, usize, usize, usize)> {
    let (s, streams) = reg.call("GET", "/v1/streams", None);
    assert_eq!(s, 200, "{streams}");
    let mut out = Vec::new();
    for st in streams.as_array().expect("list") {
        let name = st["name"].as_str().expect("name").to_string();
        let (_, versions) = reg.call("GET", &format!("/subjects/{name}-value/versions"), None);
        let (_, detail) = reg.call("GET", &format!("/v1/streams/{name}"), None);
        let (_, contracts) = reg.call(
            "GET",
            &format!("/v1/streams/{name}/contract/versions"),
            None,
        );
        out.push((
            name,
            versions.as_array().map_or(0, Vec::len),
            detail["consumers"].as_array().map_or(0, Vec::len),
            contracts.as_array().map_or(0, Vec::len),
        ));
    }
    out
}

#[test]
fn demo_fills_the_registry_and_is_idempotent() {
    let reg = Registry::start();
    let first = accord(&reg.url, &["demo"]);
    first.expect(0);
    assert!(first.stdout.contains("12 streams"), "{}", first.stdout);
    assert!(first.stdout.contains("checkout.orders"));
    assert!(first.stdout.contains("opened proposal"));
    assert!(first.stdout.contains("/ui"));

    let after_first = snapshot(&reg);
    assert_eq!(after_first.len(), 12, "{after_first:?}");
    assert!(after_first.iter().all(|(_, versions, _, _)| *versions >= 2));
    assert!(after_first
        .iter()
        .all(|(_, _, consumers, _)| *consumers >= 1));

    // Formats: Avro, Protobuf and JSON Schema.
    let mut formats = std::collections::BTreeSet::new();
    for (name, _, _, _) in &after_first {
        let (_, latest) = reg.call(
            "GET",
            &format!("/subjects/{name}-value/versions/latest"),
            None,
        );
        formats.insert(latest["schemaType"].as_str().unwrap_or("AVRO").to_string());
    }
    assert_eq!(formats.len(), 3, "{formats:?}");

    // The deprecated stream names its successor; one proposal is open.
    let (_, old) = reg.call("GET", "/v1/streams/checkout.order-status", None);
    assert_eq!(old["status"], "deprecated");
    assert_eq!(old["successor"], "checkout.order-status-v2");
    let (_, proposals) = reg.call("GET", "/v1/streams/logistics.inventory/proposals", None);
    let open: Vec<&Value> = proposals
        .as_array()
        .expect("proposals")
        .iter()
        .filter(|p| p["status"] == "open")
        .collect();
    assert_eq!(open.len(), 1);
    // The encryption policy and PII tags.
    let (_, payments) = reg.call("GET", "/v1/streams/payments.payments/contract", None);
    assert!(payments.to_string().contains("accord.encryption"));

    let second = accord(&reg.url, &["demo"]);
    second.expect(0);
    assert!(second.stdout.contains("already open"), "{}", second.stdout);
    assert!(
        !second.stdout.contains("contract applied"),
        "{}",
        second.stdout
    );
    assert_eq!(snapshot(&reg), after_first);
}

#[test]
fn demo_without_a_registry_says_so() {
    accord("http://127.0.0.1:9", &["demo"]).expect(3);
}
