//! A stream contract's data-quality rules (`accord.ruleSet`) travel with the schemas
//! registered on the stream's subjects, laid over each schema's own ruleSet as
//! Confluent's `overrideRuleSet` is, so that the serializers run them.

mod common;

use common::USER_V1;
use reqwest::Method;
use serde_json::json;

const PAYMENTS: &str = "apiVersion: v3.1.0
kind: DataContract
id: payments-contract
version: 1.0.0
status: active
team:
  name: billing
support:
  - channel: billing-oncall
    tool: email
    url: mailto:billing@acme.example
customProperties:
  - property: accord.stream
    value: { name: payments }
  - property: accord.ruleSet
    value:
      domainRules:
        - name: namedUser
          kind: CONDITION
          type: CEL
          mode: WRITE
          expr: size(message.name) > 0
";

dual!(contract_rules_are_carried_by_registered_versions, |srv| {
    srv.raw(
        Method::PUT,
        "/v1/streams/payments/contract",
        Some(("application/yaml", PAYMENTS.to_string())),
    )
    .await
    .ok();
    // The schema brings a rule of its own; the contract's is added beside it.
    let own = json!({"domainRules": [
        {"name": "own", "kind": "CONDITION", "type": "CEL", "mode": "READ", "expr": "true"}
    ]});
    srv.post(
        "/subjects/payments-value/versions",
        json!({"schema": USER_V1, "ruleSet": own}),
    )
    .await
    .ok();
    let v = srv.get("/subjects/payments-value/versions/1").await.ok();
    let names: Vec<&str> = v["ruleSet"]["domainRules"]
        .as_array()
        .expect("domain rules")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["own", "namedUser"], "{v}");
    // Registering the same schema again is the same version (the rules are stable).
    let again = srv
        .post(
            "/subjects/payments-value/versions",
            json!({"schema": USER_V1, "ruleSet": own}),
        )
        .await
        .ok();
    assert_eq!(again["version"], 1);
    // Subjects outside any stream keep their own rules only.
    srv.post("/subjects/free-value/versions", json!({"schema": USER_V1}))
        .await
        .ok();
    let free = srv.get("/subjects/free-value/versions/1").await.ok();
    assert!(free.get("ruleSet").is_none_or(|r| r.is_null()), "{free}");
});
