//! `accord usage`, `accord delete --force` and `accord check --impact` (issue 18), run as
//! the real binary against a real Accord registry with `--auth`, started in-process. What
//! is counted is tested against the server in tests/tests/usage.rs; here: the output,
//! the deletion guard's message and exit codes, and the impact lines.

#[path = "online/support.rs"]
mod support;

use support::{accord, accord_in, Registry, ORDERS};

const V1: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"}]}"#;
const BREAKING: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"string"}]}"#;

#[test]
fn usage_guarded_delete_and_impact() {
    let (reg, admin, secret) = Registry::start_auth();
    let url = reg.url.as_str();
    let creds = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--user", admin.as_str(), "--password", secret.as_str()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: &[&str]| {
        let all = creds(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        accord(url, &refs)
    };
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("orders.yaml");
    std::fs::write(&contract, ORDERS).unwrap();
    run(&["contract", "apply", contract.to_str().unwrap()]).expect(0);
    let v1 = dir.path().join("v1.avsc");
    std::fs::write(&v1, V1).unwrap();
    run(&[
        "register",
        "--subject",
        "orders-value",
        v1.to_str().unwrap(),
    ])
    .expect(0);

    // fraud-svc (team fraud, no consumer) reads the latest version.
    let (s, _) = reg.call_as(
        &admin,
        &secret,
        "POST",
        "/v1/principals",
        Some(serde_json::json!({"name": "fraud-svc", "role": "member", "kind": "service", "team": "fraud"})),
    );
    assert_eq!(s, 200);
    let (s, key) = reg.call_as(
        &admin,
        &secret,
        "POST",
        "/v1/principals/fraud-svc/keys",
        None,
    );
    assert_eq!(s, 200, "{key}");
    let (id, sec) = (
        key["keyId"].as_str().unwrap(),
        key["secret"].as_str().unwrap(),
    );
    let (s, _) = reg.call_as(
        id,
        sec,
        "GET",
        "/subjects/orders-value/versions/latest",
        None,
    );
    assert_eq!(s, 200);

    // accord usage: after the flush, the reader, flagged.
    let mut out = String::new();
    for _ in 0..100 {
        let r = run(&["usage", "orders"]);
        out = r.expect(0).stdout.clone();
        if out.contains("fraud-svc") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        out.contains("stream orders: usage over the last 30 day(s)"),
        "{out}"
    );
    assert!(
        out.contains("fraud-svc") && out.contains("UNDECLARED"),
        "{out}"
    );
    assert!(out.contains("undeclared consumers: fraud-svc"), "{out}");
    assert!(out.contains("orders-value v1"), "{out}");
    let json = run(&["usage", "orders", "--unused-for", "90d", "--output", "json"]);
    let json = json.expect(0).json();
    assert_eq!(json["undeclared"][0], "fraud-svc", "{json}");
    assert!(json["unused"].is_array(), "{json}");
    run(&["usage", "nope"]).expect(2);
    run(&["usage", "orders", "--days", "x"]).expect(1);

    // check --impact: the incompatible change names the teams it would affect.
    let breaking = dir.path().join("breaking.avsc");
    std::fs::write(&breaking, BREAKING).unwrap();
    let r = run(&[
        "check",
        "--subject",
        "orders-value",
        breaking.to_str().unwrap(),
        "--impact",
    ]);
    r.expect(1);
    assert!(
        r.stdout.contains("impact of orders-value (stream orders):"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("declared consumers: none"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("fraud-svc (team fraud, last seen"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("teams affected: fraud\n"), "{}", r.stdout);
    let r = run(&[
        "check",
        "--subject",
        "orders-value",
        v1.to_str().unwrap(),
        "--impact",
    ]);
    assert!(
        r.expect(0).stdout.contains("no consumer affected"),
        "{}",
        r.stdout
    );

    // diff --impact: a repository whose order schema breaks since its last commit.
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        repo.path().join("accord.yaml"),
        "compatibility: FULL_TRANSITIVE\nschemas:\n  - file: order.avsc\n    subject: orders-value\n",
    )
    .unwrap();
    std::fs::write(repo.path().join("order.avsc"), V1).unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1"]);
    std::fs::write(repo.path().join("order.avsc"), BREAKING).unwrap();
    let all = creds(&["diff", "--base", "HEAD", "--impact"]);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let r = accord_in(Some(repo.path()), url, &refs, None);
    r.expect(1);
    assert!(
        r.stdout.contains("impact of orders-value (stream orders):"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("teams affected: fraud\n"), "{}", r.stdout);

    // delete: refused while read this week, naming the reader; --force deletes.
    let r = run(&["delete", "--subject", "orders-value", "--version", "1"]);
    r.expect(1);
    assert!(
        r.stderr.contains("fraud-svc") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "delete",
        "--subject",
        "orders-value",
        "--version",
        "1",
        "--force",
    ]);
    assert!(
        r.expect(0).stdout.contains("deleted version(s) 1 (soft)"),
        "{}",
        r.stdout
    );
}
