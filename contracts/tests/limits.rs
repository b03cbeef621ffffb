//! Contracts nested absurdly deep, or too large, are refused before parsing, quickly
//! and with a message naming the limit; real contracts (the fixtures) still parse.

use accord_contracts::limits::{MAX_DOCUMENT_BYTES, MAX_NESTING};
use accord_contracts::Contract;
use std::time::{Duration, Instant};

const ORDERS: &str = include_str!("data/orders.odcs.yaml");
const FULL: &str = include_str!("data/odcs-full-example.yaml");

/// Generous: the scan is linear and takes well under a millisecond; parsing these
/// documents used to take tens of seconds.
const QUICK: Duration = Duration::from_secs(2);

fn refused(label: &str, text: &str, json: bool) -> String {
    let started = Instant::now();
    let result = if json {
        Contract::from_json(text)
    } else {
        Contract::from_yaml(text)
    };
    let elapsed = started.elapsed();
    eprintln!("{label} ({} bytes): refused in {elapsed:?}", text.len());
    assert!(elapsed < QUICK, "{label}: took {elapsed:?}");
    match result {
        Ok(_) => panic!("{label}: accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn documents_nested_50k_deep_are_refused_quickly_naming_the_limit() {
    let n = 50_000;
    let header = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\ndescription:\n  purpose: ";
    let shapes = [
        (
            "flow sequences",
            format!("{header}{}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "flow maps",
            format!("{header}{}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
        ),
        (
            "compact block sequences",
            format!("{header}\n  x:\n{}x\n", "- ".repeat(n)),
        ),
        ("complex keys", format!("{}x\n", "? ".repeat(n))),
        (
            "document of flow sequences",
            format!("--- {}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        ("sequence of flow maps", format!("- {}\n", "{".repeat(n))),
        ("indented maps", {
            // Each level indented one more space: quadratic in size, so fewer levels.
            let mut s = String::new();
            for i in 0..400 {
                s.push_str(&" ".repeat(i));
                s.push_str("a:\n");
            }
            s
        }),
    ];
    for (label, text) in &shapes {
        let message = refused(label, text, false);
        assert!(
            message.contains(&format!("more than {MAX_NESTING} levels deep")),
            "{label}: {message}"
        );
    }
    let json = format!(
        r#"{{"apiVersion":"v3.1.0","x":{}{}}}"#,
        "[".repeat(n),
        "]".repeat(n)
    );
    let message = refused("JSON arrays", &json, true);
    assert!(
        message.contains(&format!("{MAX_NESTING} levels")),
        "{message}"
    );
}

#[test]
fn documents_over_the_size_limit_are_refused_before_parsing() {
    let big = format!("{ORDERS}\n# {}\n", "x".repeat(MAX_DOCUMENT_BYTES));
    let message = refused("large YAML", &big, false);
    assert!(message.contains("1048576 bytes"), "{message}");
    let big = format!(
        r#"{{"apiVersion":"v3.1.0","pad":"{}"}}"#,
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    let message = refused("large JSON", &big, true);
    assert!(message.contains("1 MiB"), "{message}");
}

#[test]
fn real_contracts_still_parse() {
    for (label, text) in [("orders", ORDERS), ("ODCS full example", FULL)] {
        let contract = match Contract::from_yaml(text) {
            Ok(c) => c,
            Err(e) => panic!("{label}: {e}"),
        };
        // And as JSON, which nests the same way.
        if let Err(e) = Contract::from_json(&contract.to_json()) {
            panic!("{label} as JSON: {e}");
        }
    }
    // Nesting up to the limit is fine for the scan (the document is then read normally).
    let deep = format!(
        "apiVersion: v3.1.0\nx: {}1{}\n",
        "[".repeat(MAX_NESTING - 2),
        "]".repeat(MAX_NESTING - 2)
    );
    if let Err(e) = Contract::from_yaml(&deep) {
        assert!(!e.to_string().contains("levels deep"), "{e}");
    }
}
