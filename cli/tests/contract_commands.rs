//! `accord contract apply` and `accord contract get`, run as the real binary against a
//! real Accord registry started in-process.

#[path = "online/support.rs"]
mod support;

use support::{accord, Registry, ORDERS};

#[test]
fn contract_apply_twice_then_get() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.yaml");
    std::fs::write(&file, ORDERS).unwrap();
    let path = file.to_str().unwrap();

    let r = accord(url, &["contract", "apply", path]);
    assert_eq!(
        r.expect(0).stdout,
        "stream orders: contract version 1 (changed)\n"
    );
    let r = accord(url, &["contract", "apply", path]);
    assert_eq!(
        r.expect(0).stdout,
        "stream orders: contract version 1 (unchanged)\n"
    );
    std::fs::write(&file, ORDERS.replace("version: 1.0.0", "version: 1.1.0")).unwrap();
    let r = accord(url, &["contract", "apply", path]);
    assert_eq!(
        r.expect(0).stdout,
        "stream orders: contract version 2 (changed)\n"
    );

    let r = accord(url, &["contract", "get", "orders"]);
    let out = &r.expect(0).stdout;
    assert!(
        out.contains("version: 1.1.0") && out.contains("kind: DataContract"),
        "{out}"
    );
    let r = accord(
        url,
        &[
            "contract",
            "get",
            "orders",
            "--version",
            "1",
            "--format",
            "json",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(&r.expect(0).stdout).unwrap();
    assert_eq!(j["version"], "1.0.0");
    accord(url, &["contract", "get", "nope"]).expect(2);

    // A contract the server refuses: every problem on its own line, exit 1.
    std::fs::write(&file, ORDERS.replace("status: active", "status: live")).unwrap();
    let r = accord(url, &["contract", "apply", path]);
    r.expect(1);
    assert!(
        r.stderr.contains("status: unknown status 'live'"),
        "{}",
        r.stderr
    );
    // Applied to another stream than the contract's: refused by the server.
    std::fs::write(&file, ORDERS).unwrap();
    let r = accord(url, &["contract", "apply", path, "--stream", "payments"]);
    r.expect(1);
    assert!(r.stderr.contains("'payments'"), "{}", r.stderr);
}
