//! `POST /subjects/{s}/versions/{v}/tags`: new versions with schema tags, metadata or
//! rules changed, checked and stored like any registration.

mod common;

use serde_json::json;

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"ssn","type":"string"},{"name":"total","type":"double"}]}"#;

dual!(tags_metadata_and_rules_make_new_versions, |srv| {
    let v1 = srv
        .register(
            "orders",
            ORDER,
            json!({"ruleSet": {"domainRules": [
            {"name": "keep", "type": "CEL", "kind": "CONDITION", "expr": "true"},
            {"name": "drop", "type": "CEL", "kind": "CONDITION", "expr": "true"}]}}),
        )
        .await;
    let r = srv
        .post(
            "/subjects/orders/versions/1/tags",
            json!({
                "newVersion": 2,
                "tagsToAdd": [{"schemaEntity": {"entityPath": "com.acme.Order.ssn", "entityType": "SR_FIELD"}, "tags": ["PII"]},
                              {"schemaEntity": {"entityPath": "com.acme.Order", "entityType": "SR_RECORD"}, "tags": ["ORDERS"]}],
                "metadata": {"properties": {"owner": "team-a"}},
                "rulesToMerge": {"domainRules": [{"name": "added", "type": "CEL", "kind": "CONDITION", "expr": "true"}]},
                "rulesToRemove": ["drop"]
            }),
        )
        .await
        .ok();
    assert_eq!(r["version"], 2);
    assert_ne!(r["id"], v1["id"], "tags change the schema, so the id");
    let schema: serde_json::Value = serde_json::from_str(r["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][0]["confluent:tags"], json!(["PII"]));
    assert_eq!(schema["confluent:tags"], json!(["ORDERS"]));
    assert_eq!(r["metadata"]["properties"]["owner"], "team-a");
    let names: Vec<&str> = r["ruleSet"]["domainRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["keep", "added"]);
    assert_eq!(
        srv.get("/subjects/orders/versions/latest").await.ok()["id"],
        r["id"]
    );

    // Removing the tags again is one more version.
    let back = srv
        .post(
            "/subjects/orders/versions/latest/tags",
            json!({"tagsToRemove": [{"schemaEntity": {"entityPath": "com.acme.Order.ssn", "entityType": "SR_FIELD"}, "tags": ["PII"]}]}),
        )
        .await
        .ok();
    assert_eq!(back["version"], 3);
    assert!(!back["schema"].as_str().unwrap().contains("PII"));
});

dual!(tag_requests_are_validated, |srv| {
    srv.register("o", ORDER, json!({})).await;
    let both = json!({"ruleSet": {"domainRules": []}, "rulesToRemove": ["x"]});
    srv.post("/subjects/o/versions/1/tags", both)
        .await
        .assert_error(422, 42210);
    let unknown = json!({"tagsToAdd": [{"schemaEntity": {"entityPath": "com.acme.Order.nope", "entityType": "SR_FIELD"}, "tags": ["PII"]}]});
    let msg = srv
        .post("/subjects/o/versions/1/tags", unknown)
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("com.acme.Order.nope"), "{msg}");
    srv.post(
        "/subjects/o/versions/1/tags",
        json!({"newVersion": 7, "metadata": {"properties": {"a": "b"}}}),
    )
    .await
    .assert_error(409, 409);
    srv.post("/subjects/o/versions/9/tags", json!({}))
        .await
        .assert_error(404, 40402);
    srv.post("/subjects/none/versions/1/tags", json!({}))
        .await
        .assert_error(404, 40401);
    srv.post("/subjects/o/versions/zero/tags", json!({}))
        .await
        .assert_error(422, 42202);
    // Nothing was added by the refusals.
    assert_eq!(srv.get("/subjects/o/versions").await.ok(), json!([1]));
});
