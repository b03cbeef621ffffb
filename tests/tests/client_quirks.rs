//! What real Confluent clients send (confluent-compat.md §1.1, §3, §7): capitalised
//! booleans, trailing slashes, percent-encoded and default-context subjects, unknown
//! query parameters, null metadata, their headers; and metadata/ruleSet carried on
//! schemas, metadata lookups, and paging.

mod common;
use common::*;
use serde_json::{json, Value};

const JSON_AB: &str =
    r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}"#;
const JSON_BA: &str =
    r#"{"properties":{"b":{"type":"integer"},"a":{"type":"string"}},"type":"object"}"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

dual!(booleans_in_any_case, |srv| {
    // normalize=False is false, normalize=True is true (Python formats them so).
    let f1 = srv
        .post(
            "/subjects/f/versions?normalize=False",
            json!({"schema": JSON_AB, "schemaType": "JSON"}),
        )
        .await
        .ok();
    srv.put("/config/f", json!({"compatibility": "NONE"}))
        .await
        .ok();
    let f2 = srv
        .post(
            "/subjects/f/versions?normalize=False",
            json!({"schema": JSON_BA, "schemaType": "JSON"}),
        )
        .await
        .ok();
    assert_ne!(id_of(&f1), id_of(&f2));
    let t1 = srv
        .post(
            "/subjects/t/versions?normalize=True",
            json!({"schema": JSON_AB, "schemaType": "JSON"}),
        )
        .await
        .ok();
    let t2 = srv
        .post(
            "/subjects/t/versions?normalize=TRUE",
            json!({"schema": JSON_BA, "schemaType": "JSON"}),
        )
        .await
        .ok();
    assert_eq!(id_of(&t1), id_of(&t2));

    // verbose=True on a compatibility check.
    srv.register("v", USER_V1, json!({})).await;
    let verbose = srv
        .post(
            "/compatibility/subjects/v/versions/latest?verbose=True",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .ok();
    assert_eq!(verbose["is_compatible"], false);
    assert!(
        !verbose["messages"].as_array().unwrap().is_empty(),
        "{verbose}"
    );
    let quiet = srv
        .post(
            "/compatibility/subjects/v/versions/latest?verbose=False",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .ok();
    assert_eq!(quiet, json!({"is_compatible": false}));

    // deleted=True and permanent=True.
    srv.register("d", USER_V1, json!({})).await;
    srv.delete("/subjects/d").await.ok();
    assert_eq!(
        srv.get("/subjects?deleted=True").await.ok(),
        json!(["d", "f", "t", "v"])
    );
    assert_eq!(
        srv.get("/subjects?deleted=False").await.ok(),
        json!(["f", "t", "v"])
    );
    assert_eq!(
        srv.get("/subjects/d/versions?deleted=True").await.ok(),
        json!([1])
    );
    assert_eq!(
        srv.get("/subjects/d/versions/1?deleted=TRUE").await.ok()["version"],
        1
    );
    assert_eq!(
        srv.get("/subjects/d/versions?deletedOnly=True").await.ok(),
        json!([1])
    );
    assert_eq!(
        srv.delete("/subjects/d?permanent=True").await.ok(),
        json!([1])
    );
    assert_eq!(
        srv.get("/subjects?deleted=true").await.ok(),
        json!(["f", "t", "v"])
    );

    // force=False does not force.
    srv.put("/mode?force=False", json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
});

dual!(trailing_slashes_on_every_route, |srv| {
    let r = srv
        .post("/subjects/s/versions/", json!({"schema": USER_V1}))
        .await
        .ok();
    let id = id_of(&r);
    let guid = r["guid"].as_str().unwrap().to_string();
    srv.register("s", USER_V2_OPTIONAL, json!({})).await;

    let gets: Vec<(String, Value)> = vec![
        ("/subjects/".into(), json!(["s"])),
        ("/subjects/?deleted=true".into(), json!(["s"])),
        ("/subjects/s/versions/".into(), json!([1, 2])),
        ("/subjects/s/versions/1/referencedby/".into(), json!([])),
        (format!("/schemas/ids/{id}/subjects/"), json!(["s"])),
        (
            format!("/schemas/ids/{id}/versions/"),
            json!([{"subject": "s", "version": 1}]),
        ),
        (
            format!("/schemas/guids/{guid}/ids/"),
            json!([{"context": ".", "id": id}]),
        ),
        ("/config/".into(), json!({"compatibilityLevel": "BACKWARD"})),
        ("/mode/".into(), json!({"mode": "READWRITE"})),
        ("/contexts/".into(), json!(["."])),
    ];
    for (path, want) in gets {
        assert_eq!(srv.get(&path).await.ok(), want, "GET {path}");
    }
    for path in [
        "/subjects/s/versions/1/".to_string(),
        format!("/schemas/ids/{id}/"),
        format!("/schemas/guids/{guid}/"),
    ] {
        let body = srv.get(&path).await.ok();
        assert_eq!(body["schema"], r["schema"], "GET {path}");
    }
    assert_eq!(
        srv.get("/subjects/s/versions/latest/").await.ok()["version"],
        2
    );
    for path in [
        "/subjects/s/versions/1/schema/".to_string(),
        format!("/schemas/ids/{id}/schema/"),
    ] {
        let raw = srv.get(&path).await;
        assert_eq!(raw.status, 200, "GET {path}");
        assert_eq!(raw.text, r["schema"].as_str().unwrap(), "GET {path}");
    }
    assert_eq!(srv.get("/schemas/").await.ok().as_array().unwrap().len(), 2);
    assert_eq!(
        srv.get("/schemas/types/")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert_eq!(
        srv.post("/subjects/s/", json!({"schema": USER_V1}))
            .await
            .ok()["version"],
        1
    );
    assert_eq!(
        srv.post(
            "/compatibility/subjects/s/versions/latest/",
            json!({"schema": USER_V1})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    assert_eq!(
        srv.put("/config/s/", json!({"compatibility": "NONE"}))
            .await
            .ok(),
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        srv.get("/config/s/").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        srv.put("/mode/s/", json!({"mode": "READWRITE"})).await.ok(),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(srv.get("/mode/s/").await.ok(), json!({"mode": "READWRITE"}));
    assert_eq!(
        srv.delete("/mode/s/").await.ok(),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        srv.delete("/config/s/").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(srv.delete("/subjects/s/versions/2/").await.ok(), json!(2));
    assert_eq!(srv.delete("/subjects/s/").await.ok(), json!([1]));
    assert_eq!(
        srv.delete("/subjects/s/?permanent=true").await.ok(),
        json!([1, 2])
    );
});

dual!(percent_encoded_subjects_round_trip, |srv| {
    let slash = srv
        .post("/subjects/a%2Fb/versions", json!({"schema": USER_V1}))
        .await
        .ok();
    assert_eq!(slash["subject"], "a/b");
    let colon = srv
        .post("/subjects/a%3Ab/versions", json!({"schema": USER_V1}))
        .await
        .ok();
    assert_eq!(colon["subject"], "a:b");
    // A literal '%' survives (decoded once, not twice).
    let pct = srv
        .post("/subjects/a%252Fb/versions", json!({"schema": USER_V1}))
        .await
        .ok();
    assert_eq!(pct["subject"], "a%2Fb");
    assert_eq!(
        srv.get("/subjects").await.ok(),
        json!(["a%2Fb", "a/b", "a:b"])
    );

    let id = id_of(&slash);
    assert_eq!(
        srv.get("/subjects/a%2Fb/versions/1").await.ok()["subject"],
        "a/b"
    );
    assert_eq!(
        srv.get("/subjects/a%3Ab/versions/latest").await.ok()["subject"],
        "a:b"
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}/versions")).await.ok(),
        json!([
            {"subject": "a%2Fb", "version": 1},
            {"subject": "a/b", "version": 1},
            {"subject": "a:b", "version": 1}
        ])
    );
    let with_subject = srv
        .get(&format!("/schemas/ids/{id}?subject=a%2Fb"))
        .await
        .ok();
    assert_eq!(with_subject["subject"], "a/b");
    assert_eq!(
        srv.post("/subjects/a%2Fb", json!({"schema": USER_V1}))
            .await
            .ok()["subject"],
        "a/b"
    );
    srv.put("/config/a%2Fb", json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(
        srv.get("/config/a%2Fb").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    srv.get("/config/a%3Ab").await.assert_error(404, 40408);
    srv.put("/mode/a%3Ab", json!({"mode": "READONLY"}))
        .await
        .ok();
    srv.post(
        "/subjects/a%3Ab/versions",
        json!({"schema": USER_V2_OPTIONAL}),
    )
    .await
    .assert_error(422, 42205);
    srv.delete("/mode/a%3Ab").await.ok();
    assert_eq!(srv.delete("/subjects/a%2Fb").await.ok(), json!([1]));
    assert_eq!(srv.get("/subjects").await.ok(), json!(["a%2Fb", "a:b"]));
    assert_eq!(
        srv.get("/subjects?subjectPrefix=a%2F&deleted=true")
            .await
            .ok(),
        json!(["a/b"])
    );
});

dual!(
    default_context_qualified_subjects_are_plain_subjects,
    |srv| {
        let r = srv
            .post("/subjects/:.:orders/versions", json!({"schema": USER_V1}))
            .await
            .ok();
        assert_eq!(r["subject"], "orders");
        let encoded = srv
            .post(
                "/subjects/%3A.%3Aorders/versions",
                json!({"schema": USER_V1}),
            )
            .await
            .ok();
        assert_eq!(
            (id_of(&encoded), encoded["version"].as_i64()),
            (id_of(&r), Some(1))
        );
        let plain = srv.register("orders", USER_V2_OPTIONAL, json!({})).await;
        assert_eq!(plain["version"], 2);
        assert_eq!(srv.get("/subjects").await.ok(), json!(["orders"]));
        assert_eq!(
            srv.get("/subjects/:.:orders/versions").await.ok(),
            json!([1, 2])
        );
        assert_eq!(
            srv.get("/subjects/:.:orders/versions/latest").await.ok()["subject"],
            "orders"
        );
        assert_eq!(
            srv.get("/subjects?subjectPrefix=:.:ord").await.ok(),
            json!(["orders"])
        );
        assert_eq!(
            srv.get(&format!("/schemas/ids/{}?subject=:.:orders", id_of(&r)))
                .await
                .ok()["subject"],
            "orders"
        );
        srv.put("/config/:.:orders", json!({"compatibility": "NONE"}))
            .await
            .ok();
        assert_eq!(
            srv.get("/config/orders").await.ok(),
            json!({"compatibilityLevel": "NONE"})
        );
        srv.put("/mode/orders", json!({"mode": "READWRITE"}))
            .await
            .ok();
        assert_eq!(
            srv.get("/mode/:.:orders").await.ok(),
            json!({"mode": "READWRITE"})
        );
        assert_eq!(
            srv.post(
                "/compatibility/subjects/:.:orders/versions/latest",
                json!({"schema": USER_V1})
            )
            .await
            .ok(),
            json!({"is_compatible": true})
        );
        assert_eq!(srv.delete("/subjects/:.:orders").await.ok(), json!([1, 2]));
        assert_eq!(
            srv.get("/subjects?deleted=true").await.ok(),
            json!(["orders"])
        );
    }
);

dual!(unknown_query_params_and_client_headers, |srv| {
    let r = srv.register("alpha", USER_V1, json!({})).await;
    srv.register("beta", USER_V1, json!({})).await;
    let id = id_of(&r);
    // Python 2.15's spellings are ignored, not errors: no filtering happens.
    assert_eq!(
        srv.get("/subjects?subject=alp&deleted_only=true")
            .await
            .ok(),
        json!(["alpha", "beta"])
    );
    let by_id = srv
        .get(&format!(
            "/schemas/ids/{id}?reference_format=qualified&whatever=1"
        ))
        .await
        .ok();
    assert_eq!(by_id["schema"], r["schema"]);
    assert_eq!(
        srv.get("/subjects/alpha/versions?color=blue").await.ok(),
        json!([1])
    );

    // The Java and Python clients' headers.
    for (accept, ct) in [
        (None, "application/vnd.schemaregistry.v1+json"),
        (
            Some("application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"),
            "application/vnd.schemaregistry.v1+json",
        ),
    ] {
        let mut req = srv
            .http
            .post(format!("{}/subjects/gamma/versions", srv.base))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .header("Confluent-Accept-Unknown-Properties", "true")
            .header("Confluent-Client-Version", "java/8.0.0")
            .body(json!({"schema": USER_V1}).to_string());
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], ct);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(id_of(&body), id);
        assert!(
            body["guid"].is_string() && body["ts"].is_i64() && body["deleted"] == false,
            "{body}"
        );
    }
    let resp = srv
        .http
        .get(format!("{}/schemas/ids/{id}", srv.base))
        .header("Confluent-Accept-Unknown-Properties", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["guid"].is_string() && body["schemaType"] == "AVRO",
        "{body}"
    );
});

dual!(null_and_absent_metadata_are_the_same, |srv| {
    let absent = srv.register("m", USER_V1, json!({})).await;
    for extra in [
        json!({"metadata": null}),
        json!({"ruleSet": null}),
        json!({"metadata": null, "ruleSet": null}),
        json!({"metadata": {}, "ruleSet": {}}),
        json!({"references": null}),
        json!({"references": []}),
    ] {
        let r = srv.register("m", USER_V1, extra.clone()).await;
        assert_eq!(
            (id_of(&r), r["version"].as_i64()),
            (id_of(&absent), Some(1)),
            "{extra}"
        );
        assert!(
            r.get("metadata").is_none() && r.get("ruleSet").is_none(),
            "{r}"
        );
        // In another subject, too: the same id.
        let other = srv.register("n", USER_V1, extra.clone()).await;
        assert_eq!(id_of(&other), id_of(&absent), "{extra}");
    }
    let got = srv.get("/subjects/m/versions/1").await.ok();
    assert!(
        got.get("metadata").is_none() && got.get("ruleSet").is_none(),
        "{got}"
    );
});

dual!(metadata_and_rule_sets_are_carried_on_schemas, |srv| {
    let meta_a = json!({"properties": {"owner": "team-a", "tier": "gold"}});
    let rules = json!({"domainRules": [{"name": "checkName", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "message.name != ''"}]});
    let v1 = srv
        .register("md", USER_V1, json!({"metadata": meta_a, "ruleSet": rules}))
        .await;
    assert_eq!(v1["metadata"], meta_a);
    assert_eq!(v1["ruleSet"]["domainRules"][0]["name"], "checkName");
    assert_eq!(
        v1["ruleSet"]["domainRules"][0]["expr"],
        "message.name != ''"
    );
    for path in [
        "/subjects/md/versions/1".to_string(),
        format!("/schemas/ids/{}", id_of(&v1)),
    ] {
        let got = srv.get(&path).await.ok();
        assert_eq!(got["metadata"], meta_a, "{path}");
        assert_eq!(got["ruleSet"], v1["ruleSet"], "{path}");
    }
    // The same schema text without metadata elsewhere is another schema.
    let bare = srv.register("bare", USER_V1, json!({})).await;
    assert_ne!(id_of(&bare), id_of(&v1));

    // Different metadata: a different id and a new version of the same text.
    let meta_b = json!({"properties": {"owner": "team-b", "tier": "gold"}});
    let v2 = srv
        .register("md", USER_V1, json!({"metadata": meta_b, "ruleSet": rules}))
        .await;
    assert_ne!(id_of(&v2), id_of(&v1));
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["schema"], v1["schema"]);

    // No metadata or ruleSet in the request: the latest version's are inherited.
    let v3 = srv.register("md", USER_V2_OPTIONAL, json!({})).await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["metadata"], meta_b);
    assert_eq!(v3["ruleSet"], v1["ruleSet"]);
    // ...and re-sending the latest text without them is that same version.
    let again = srv.register("md", USER_V2_OPTIONAL, json!({})).await;
    assert_eq!(
        (id_of(&again), again["version"].as_i64()),
        (id_of(&v3), Some(3))
    );

    // An empty schema with new metadata: a new version of the latest text.
    let meta_c = json!({"properties": {"owner": "team-c"}});
    let v4 = srv
        .post(
            "/subjects/md/versions",
            json!({"schema": "", "metadata": meta_c}),
        )
        .await
        .ok();
    assert_eq!(v4["version"], 4);
    assert_eq!(v4["schema"], v3["schema"]);
    assert_eq!(v4["metadata"], meta_c);
    assert_eq!(v4["ruleSet"], v1["ruleSet"]);
    // The schema key may also be missing altogether.
    let meta_d = json!({"properties": {"owner": "team-d"}});
    let v5 = srv
        .post("/subjects/md/versions", json!({"metadata": meta_d}))
        .await
        .ok();
    assert_eq!(v5["version"], 5);
    assert_eq!(v5["schema"], v3["schema"]);
    assert_eq!(v5["schemaType"], "AVRO");
    // With no earlier version an empty schema is invalid.
    let msg = srv
        .post(
            "/subjects/empty/versions",
            json!({"schema": "", "metadata": meta_d}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("Empty schema"), "{msg}");

    // Lookup by metadata: the latest version whose properties hold every pair.
    let by = |q: &'static str| {
        let srv = &srv;
        async move { srv.get(&format!("/subjects/md/metadata?{q}")).await }
    };
    assert_eq!(by("key=owner&value=team-a").await.ok()["version"], 1);
    assert_eq!(by("key=owner&value=team-b").await.ok()["version"], 3);
    assert_eq!(
        by("key=tier&value=gold&key=owner&value=team-b").await.ok()["version"],
        3
    );
    assert_eq!(by("key=tier&value=gold").await.ok()["version"], 3);
    assert_eq!(by("key=owner&value=team-d").await.ok()["version"], 5);
    let found = by("key=owner&value=team-a").await.ok();
    assert_eq!(found["metadata"], meta_a);
    assert_eq!(found["subject"], "md");
    by("key=owner&value=nobody").await.assert_error(404, 40403);
    by("key=tier&value=gold&key=owner&value=team-c")
        .await
        .assert_error(404, 40403);
    srv.get("/subjects/none/metadata?key=owner&value=team-a")
        .await
        .assert_error(404, 40401);
    // Soft-deleted versions only with deleted=true.
    srv.delete("/subjects/md/versions/1").await.ok();
    by("key=owner&value=team-a").await.assert_error(404, 40403);
    assert_eq!(
        by("key=owner&value=team-a&deleted=true").await.ok()["version"],
        1
    );

    // A new ruleSet alone replaces the inherited one and is another schema; the
    // metadata is still inherited.
    let rules2 = json!({"domainRules": [{"name": "checkAge", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "message.age >= 0"}]});
    let v6 = srv
        .post("/subjects/md/versions", json!({"ruleSet": rules2}))
        .await
        .ok();
    assert_eq!(v6["version"], 6);
    assert_ne!(id_of(&v6), id_of(&v5));
    assert_eq!(v6["metadata"], meta_d);
    let names: Vec<&str> = v6["ruleSet"]["domainRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["checkAge"]);
    // An invalid ruleSet is 42210 and writes nothing.
    srv.post(
        "/subjects/md/versions",
        json!({"ruleSet": {"domainRules": [{"name": "r", "type": "CEL", "mode": "UPGRADE"}]}}),
    )
    .await
    .assert_error(422, 42210);
    assert_eq!(
        srv.get("/subjects/md/versions").await.ok(),
        json!([2, 3, 4, 5, 6])
    );
});

dual!(offset_and_limit_paging, |srv| {
    for s in ["s1", "s2", "s3", "s4", "s5"] {
        srv.register(s, USER_V1, json!({})).await;
    }
    srv.register("s1", USER_V2_OPTIONAL, json!({})).await;
    let page = |q: &'static str| {
        let srv = &srv;
        async move { srv.get(q).await.ok() }
    };
    assert_eq!(
        page("/subjects?offset=1&limit=2").await,
        json!(["s2", "s3"])
    );
    assert_eq!(page("/subjects?limit=2").await, json!(["s1", "s2"]));
    assert_eq!(page("/subjects?offset=3").await, json!(["s4", "s5"]));
    assert_eq!(page("/subjects?offset=9").await, json!([]));
    // limit <= 0 means the default (all subjects).
    assert_eq!(page("/subjects?limit=0").await.as_array().unwrap().len(), 5);
    assert_eq!(
        page("/subjects?limit=-1").await.as_array().unwrap().len(),
        5
    );
    assert_eq!(
        page("/subjects?subjectPrefix=s&offset=4&limit=10").await,
        json!(["s5"])
    );
    // The default prefix, spelled out (every context).
    assert_eq!(
        page("/subjects?subjectPrefix=:*:&limit=1&offset=1").await,
        json!(["s2"])
    );

    // /schemas: one entry per subject version, ordered by subject then version.
    let all = page("/schemas").await;
    let keys: Vec<(String, i64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["subject"].as_str().unwrap().to_string(),
                s["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 6);
    let two = page("/schemas?offset=1&limit=2").await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert_eq!(two[0]["subject"], keys[1].0.as_str());
    assert_eq!(two[0]["version"], keys[1].1);
    assert_eq!(two[1]["subject"], keys[2].0.as_str());
    assert_eq!(
        page("/schemas?offset=5&limit=5")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(page("/schemas?limit=0").await.as_array().unwrap().len(), 6);
    assert_eq!(
        page("/schemas?limit=5000").await.as_array().unwrap().len(),
        6
    );
    assert_eq!(
        page("/schemas?latestOnly=true&offset=0&limit=1").await[0]["version"],
        2
    );

    // Versions of a subject page the same way.
    srv.register("s1", r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"x","type":"int","default":1}]}"#, json!({})).await;
    assert_eq!(
        page("/subjects/s1/versions?offset=1&limit=1").await,
        json!([2])
    );
});
