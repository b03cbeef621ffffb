//! `accord lineage export` (issue 19), run as the real binary against a real registry:
//! OpenLineage events one per line, and the graph as JSON. What the graph holds is tested
//! against the server in tests/tests/lineage.rs.

#[path = "online/support.rs"]
mod support;

use serde_json::{json, Value};
use support::{accord, Registry, ORDERS};

#[test]
fn lineage_export_prints_openlineage_and_json() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("orders.yaml");
    std::fs::write(&contract, ORDERS).unwrap();
    accord(url, &["contract", "apply", contract.to_str().unwrap()]).expect(0);
    let invoices = ORDERS
        .replace("id: orders-contract", "id: invoices-contract")
        .replace("name: orders }", "name: invoices }");
    std::fs::write(&contract, invoices).unwrap();
    accord(url, &["contract", "apply", contract.to_str().unwrap()]).expect(0);
    let (s, _) = reg.call(
        "POST",
        "/v1/streams/orders/consumers",
        Some(json!({"service": "billing-svc", "team": "finance"})),
    );
    assert_eq!(s, 200);
    let (s, _) = reg.call(
        "PUT",
        "/v1/streams/invoices/producer",
        Some(json!({"service": "billing-svc", "team": "finance"})),
    );
    assert_eq!(s, 200);

    let run = accord(
        url,
        &[
            "lineage",
            "export",
            "orders",
            "--direction",
            "down",
            "--namespace",
            "kafka://broker:9092",
        ],
    );
    run.expect(0);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let datasets: Vec<&str> = events
        .iter()
        .filter_map(|e| e["dataset"]["name"].as_str())
        .collect();
    assert_eq!(datasets, ["orders", "invoices"]);
    let job = events
        .iter()
        .find(|e| e["job"]["name"] == "billing-svc")
        .expect("billing-svc's job");
    assert_eq!(job["inputs"][0]["name"], "orders");
    assert_eq!(job["outputs"][0]["name"], "invoices");
    assert_eq!(job["job"]["namespace"], "kafka://broker:9092");

    let run = accord(url, &["lineage", "export", "orders", "--format", "json"]);
    run.expect(0);
    let graph = run.json();
    assert_eq!(graph["root"], "orders");
    assert!(graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == "stream:invoices"));

    // An unknown stream: the registry's 404, as the CLI reports a missing subject.
    accord(url, &["lineage", "export", "nope"]).expect(2);
    // A bad depth is the registry's 422.
    accord(url, &["lineage", "export", "orders", "--depth", "9"]).expect(1);
}
