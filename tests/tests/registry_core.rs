//! The core registry flows over HTTP: register, fetch by every route, dedup, versions,
//! compatibility gates, config, content types and the operations endpoints.

mod common;
use common::*;
use serde_json::json;

dual!(register_and_fetch_every_way, |srv| {
    let r = srv.register("orders-value", USER_V1, json!({})).await;
    let id = r["id"].as_i64().unwrap();
    assert_eq!(r["version"], 1);
    assert_eq!(r["subject"], "orders-value");
    assert_eq!(r["schemaType"], "AVRO");
    assert!(
        r.get("references").is_none(),
        "empty references are omitted: {r}"
    );
    let guid = r["guid"].as_str().unwrap().to_string();

    // Registering again returns the same version; in another subject, the same id.
    let again = srv.register("orders-value", USER_V1, json!({})).await;
    assert_eq!(
        (
            again["id"].as_i64().unwrap(),
            again["version"].as_i64().unwrap()
        ),
        (id, 1)
    );
    let other = srv.register("other-value", USER_V1, json!({})).await;
    assert_eq!(other["id"].as_i64().unwrap(), id);
    assert_eq!(other["version"], 1);

    let by_id = srv.get(&format!("/schemas/ids/{id}")).await.ok();
    assert_eq!(by_id["schema"], r["schema"]);
    assert!(
        by_id.get("id").is_none() && by_id.get("subject").is_none(),
        "{by_id}"
    );
    let with_subject = srv
        .get(&format!(
            "/schemas/ids/{id}?subject=other-value&fetchMaxId=true"
        ))
        .await
        .ok();
    assert_eq!(with_subject["subject"], "other-value");
    assert_eq!(with_subject["version"], 1);
    assert_eq!(with_subject["maxId"].as_i64().unwrap(), id);

    let raw = srv.get(&format!("/schemas/ids/{id}/schema")).await;
    assert_eq!(raw.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&raw.text).unwrap()["name"],
        "User"
    );

    let mut subjects = srv.get(&format!("/schemas/ids/{id}/subjects")).await.ok();
    subjects
        .as_array_mut()
        .unwrap()
        .sort_by_key(|v| v.to_string());
    assert_eq!(subjects, json!(["orders-value", "other-value"]));
    let versions = srv.get(&format!("/schemas/ids/{id}/versions")).await.ok();
    assert_eq!(
        versions,
        json!([{"subject":"orders-value","version":1},{"subject":"other-value","version":1}])
    );

    let by_guid = srv.get(&format!("/schemas/guids/{guid}")).await.ok();
    assert_eq!(by_guid["schema"], r["schema"]);
    assert_eq!(
        srv.get(&format!("/schemas/guids/{guid}/ids")).await.ok(),
        json!([{"context":".","id":id}])
    );

    let v2 = srv
        .register("orders-value", USER_V2_OPTIONAL, json!({}))
        .await;
    assert_eq!(v2["version"], 2);
    assert_ne!(v2["id"], r["id"]);
    assert_eq!(
        srv.get("/subjects/orders-value/versions").await.ok(),
        json!([1, 2])
    );
    for v in ["latest", "-1", "2", "LATEST", " latest "] {
        let got = srv
            .get(&format!(
                "/subjects/orders-value/versions/{}",
                v.replace(' ', "%20")
            ))
            .await
            .ok();
        assert_eq!(got["version"], 2, "version {v}");
    }
    let raw_v1 = srv.get("/subjects/orders-value/versions/1/schema").await;
    assert_eq!(raw_v1.status, 200);
    assert!(
        raw_v1.text.starts_with('{'),
        "raw text, not a JSON string: {}",
        raw_v1.text
    );

    assert_eq!(
        srv.get("/subjects").await.ok(),
        json!(["orders-value", "other-value"])
    );
    assert_eq!(
        srv.get("/subjects?subjectPrefix=ord").await.ok(),
        json!(["orders-value"])
    );
    let all = srv.get("/schemas").await.ok();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let latest_only = srv.get("/schemas?latestOnly=true").await.ok();
    assert_eq!(latest_only.as_array().unwrap().len(), 2);
    let mut types = srv.get("/schemas/types").await.ok();
    types.as_array_mut().unwrap().sort_by_key(|v| v.to_string());
    assert_eq!(types, json!(["AVRO", "JSON", "PROTOBUF"]));

    // Lookup finds the version; an unknown schema under a known subject is 40403.
    let found = srv
        .post("/subjects/orders-value", json!({"schema": USER_V1}))
        .await
        .ok();
    assert_eq!(found["version"], 1);
    assert_eq!(found["id"].as_i64().unwrap(), id);
    srv.post("/subjects/orders-value", json!({"schema": "\"long\""}))
        .await
        .assert_error(404, 40403);
    srv.post("/subjects/nope", json!({"schema": USER_V1}))
        .await
        .assert_error(404, 40401);
    srv.get(&format!("/schemas/ids/{}", id + 100))
        .await
        .assert_error(404, 40403);
});

dual!(read_errors_have_confluent_codes, |srv| {
    srv.register("s", USER_V1, json!({})).await;
    srv.get("/subjects/missing/versions")
        .await
        .assert_error(404, 40401);
    srv.get("/subjects/missing/versions/1")
        .await
        .assert_error(404, 40401);
    srv.get("/subjects/s/versions/7")
        .await
        .assert_error(404, 40402);
    for bad in ["0", "-2", "abc", "2147483648", "1.5"] {
        srv.get(&format!("/subjects/s/versions/{bad}"))
            .await
            .assert_error(422, 42202);
    }
    srv.get("/schemas/ids/999").await.assert_error(404, 40403);
    srv.get("/schemas/ids/999/schema")
        .await
        .assert_error(404, 40403);
    // An id that is not an int32 fails Jersey's conversion of Confluent's `Integer`
    // path parameter: a plain 404, as for an unknown route.
    srv.get("/schemas/ids/abc").await.assert_error(404, 404);
    srv.get("/schemas/guids/00000000-0000-0000-0000-000000000000")
        .await
        .assert_error(404, 40403);
    // Unknown routes answer a JSON 404 (clients fall back on it), never 405.
    let assoc = srv.get("/associations/subjects/s").await;
    assoc.assert_error(404, 404);
    assert!(assoc.content_type.contains("json"));
    srv.post("/associations", json!({}))
        .await
        .assert_error(404, 404);
    // A known route with the wrong method is 405, as Jersey answers.
    srv.raw(reqwest::Method::PATCH, "/subjects", None)
        .await
        .assert_error(405, 405);
});

dual!(write_errors_have_confluent_codes, |srv| {
    let post = |b: &'static str, ct: &'static str| {
        let srv = &srv;
        async move {
            srv.raw(
                reqwest::Method::POST,
                "/subjects/s/versions",
                Some((ct, b.to_string())),
            )
            .await
        }
    };
    post("{not json", "application/json")
        .await
        .assert_error(400, 400);
    // Jackson reads a number into a String field as its text: "5" is no Avro schema.
    post(r#"{"schema": 5}"#, "application/json")
        .await
        .assert_error(422, 42201);
    post(r#"{"schema": [1]}"#, "application/json")
        .await
        .assert_error(400, 400);
    post("", "application/json").await.assert_error(422, 422);
    post(r#"{"schema":"\"int\""}"#, "text/plain")
        .await
        .assert_error(415, 415);
    // No Content-Type at all is read as JSON, as Jersey does.
    let none = srv
        .raw(reqwest::Method::POST, "/subjects/s/versions", None)
        .await;
    none.assert_error(422, 422);

    let invalid = srv.post("/subjects/s/versions", json!({"schema": "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"nosuch\"}]}"})).await;
    let msg = invalid.assert_error(422, 42201);
    assert!(msg.contains("nosuch"), "message says what is wrong: {msg}");
    srv.post(
        "/subjects/s/versions",
        json!({"schema": "\"int\"", "schemaType": "XML"}),
    )
    .await
    .assert_error(422, 42201);
    srv.post(
        "/subjects/s/versions",
        json!({"schema": "\"int\"", "schemaType": "avro"}),
    )
    .await
    .assert_error(422, 42201);
    srv.post("/subjects/s/versions", json!({"schema": ""}))
        .await
        .assert_error(422, 42201);
    srv.post(
        "/subjects/s/versions",
        json!({"schema": "\"int\"", "references": [{"name": "x"}]}),
    )
    .await
    .assert_error(422, 42201);
    srv.post("/subjects/s/versions", json!({"schema": "\"int\"", "references": [{"name": "x", "subject": "none", "version": 1}]})).await.assert_error(422, 42201);
    srv.post("/subjects/__GLOBAL/versions", json!({"schema": "\"int\""}))
        .await
        .assert_error(422, 42208);
    srv.post("/subjects/a%01b/versions", json!({"schema": "\"int\""}))
        .await
        .assert_error(422, 42208);
    srv.post(
        "/subjects/s/versions",
        json!({"schema": "\"int\"", "id": 5}),
    )
    .await
    .assert_error(422, 42205);
    srv.post(
        "/subjects/s/versions",
        json!({"schema": "\"int\"", "ruleSet": {"domainRules": [{"name": "1bad", "type": "CEL"}]}}),
    )
    .await
    .assert_error(422, 42210);
    // Nothing was written by any of that.
    assert_eq!(srv.get("/subjects").await.ok(), json!([]));
});

#[tokio::test]
async fn oversized_bodies_get_413() {
    let db = TestDb::new(Db::Sqlite).await.unwrap();
    let mut cfg = config(&db.url);
    cfg.max_body_bytes = 1024;
    let mut srv = Srv::start(cfg).await;
    let big = "x".repeat(4096);
    srv.post("/subjects/s/versions", json!({"schema": big}))
        .await
        .assert_error(413, 413);
    srv.stop().await;
}

dual!(compatibility_is_enforced_and_explained, |srv| {
    srv.register("c", USER_V1, json!({})).await;
    // Default BACKWARD: a new required field breaks it.
    let r = srv
        .post("/subjects/c/versions", json!({"schema": USER_V2_REQUIRED}))
        .await;
    let msg = r.assert_error(409, 40901);
    assert!(
        msg.contains("READER_FIELD_MISSING_DEFAULT_VALUE") && msg.contains("email"),
        "{msg}"
    );

    let check = srv
        .post(
            "/compatibility/subjects/c/versions/latest?verbose=true",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .ok();
    assert_eq!(check["is_compatible"], false);
    assert!(check["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m.as_str().unwrap().contains("email")));
    let ok = srv
        .post(
            "/compatibility/subjects/c/versions/latest",
            json!({"schema": USER_V2_OPTIONAL}),
        )
        .await
        .ok();
    assert_eq!(ok, json!({"is_compatible": true}));
    let verbose_ok = srv
        .post(
            "/compatibility/subjects/c/versions?verbose=True",
            json!({"schema": USER_V2_OPTIONAL}),
        )
        .await
        .ok();
    assert_eq!(verbose_ok, json!({"is_compatible": true, "messages": []}));
    // The Java client's trailing slash.
    let slash = srv
        .post(
            "/compatibility/subjects/c/versions/",
            json!({"schema": USER_V2_OPTIONAL}),
        )
        .await
        .ok();
    assert_eq!(slash["is_compatible"], true);
    // Unknown subject: latest is compatible, a number is 40402.
    assert_eq!(
        srv.post(
            "/compatibility/subjects/new/versions/latest",
            json!({"schema": USER_V1})
        )
        .await
        .ok()["is_compatible"],
        true
    );
    srv.post(
        "/compatibility/subjects/new/versions/1",
        json!({"schema": USER_V1}),
    )
    .await
    .assert_error(404, 40402);
    srv.post(
        "/compatibility/subjects/c/versions/0",
        json!({"schema": USER_V1}),
    )
    .await
    .assert_error(422, 42202);
    // An invalid schema: 42201, or a message with verbose.
    srv.post(
        "/compatibility/subjects/c/versions/latest",
        json!({"schema": "{bad"}),
    )
    .await
    .assert_error(422, 42201);
    let v = srv
        .post(
            "/compatibility/subjects/c/versions/latest?verbose=true",
            json!({"schema": "{bad"}),
        )
        .await
        .ok();
    assert_eq!(v["is_compatible"], false);
    // Another schema type is incompatible.
    let other = srv
        .post(
            "/compatibility/subjects/c/versions/latest",
            json!({"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}),
        )
        .await
        .ok();
    assert_eq!(other["is_compatible"], false);

    // force=true skips the check; NONE turns it off.
    let forced = srv
        .post(
            "/subjects/c/versions?force=true",
            json!({"schema": USER_V2_REQUIRED}),
        )
        .await
        .ok();
    assert_eq!(forced["version"], 2);
    srv.put("/config/c", json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(
        srv.register("c", "\"string\"", json!({})).await["version"],
        3
    );
});

dual!(transitive_levels_compare_every_version, |srv| {
    srv.put("/config/t", json!({"compatibility": "FULL_TRANSITIVE"}))
        .await
        .ok();
    let v1 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}"#;
    let v2 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0},{"name":"b","type":"string","default":""}]}"#;
    // v3 drops a (which had a default: fine with v2 both ways) but changes b's type.
    let v3 = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string","default":""}]}"#;
    srv.register("t", v1, json!({})).await;
    srv.register("t", v2, json!({})).await;
    assert_eq!(srv.register("t", v3, json!({})).await["version"], 3);
    let bad =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string","default":""}]}"#;
    let r = srv
        .post("/subjects/t/versions", json!({"schema": bad}))
        .await;
    r.assert_error(409, 40901);
    // BACKWARD (latest only) accepts what FULL_TRANSITIVE refused: v3 has no `a`.
    srv.put("/config/t", json!({"compatibility": "BACKWARD"}))
        .await
        .ok();
    assert_eq!(srv.register("t", bad, json!({})).await["version"], 4);
});

dual!(config_endpoints_match_confluent, |srv| {
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let put = srv
        .put(
            "/config",
            json!({"compatibility": "full", "normalize": true}),
        )
        .await
        .ok();
    // The answer is the request, as Confluent's is (the client's letter case).
    assert_eq!(put, json!({"compatibility": "full", "normalize": true}));
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FULL", "normalize": true})
    );
    // Partial update keeps normalize; null clears it.
    srv.put("/config", json!({"compatibility": "FORWARD"}))
        .await
        .ok();
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FORWARD", "normalize": true})
    );
    srv.put("/config", json!({"normalize": null})).await.ok();
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    srv.put("/config", json!({"compatibility": "SIDEWAYS"}))
        .await
        .assert_error(422, 42203);
    srv.put("/config", json!({"compatibility": 3}))
        .await
        .assert_error(422, 42203);

    srv.get("/config/sub").await.assert_error(404, 40408);
    assert_eq!(
        srv.get("/config/sub?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    srv.delete("/config/sub").await.assert_error(404, 40401);
    assert_eq!(
        srv.put("/config/sub", json!({"compatibility": "NONE"}))
            .await
            .ok(),
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        srv.get("/config/sub").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        srv.delete("/config/sub").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    srv.get("/config/sub").await.assert_error(404, 40408);
    assert_eq!(
        srv.delete("/config").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
});

dual!(media_types_and_ops_endpoints, |srv| {
    let r = srv.get("/subjects").await;
    assert_eq!(r.content_type, "application/vnd.schemaregistry.v1+json");
    let plain = srv
        .http
        .get(format!("{}/subjects", srv.base))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.headers()["content-type"], "application/json");
    let python = srv
        .http
        .get(format!("{}/subjects", srv.base))
        .header("Accept", "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        python.headers()["content-type"],
        "application/vnd.schemaregistry.v1+json"
    );
    for ct in [
        "application/json",
        "application/vnd.schemaregistry+json",
        "application/octet-stream",
        "application/json; charset=utf-8",
    ] {
        let r = srv
            .raw(
                reqwest::Method::POST,
                "/subjects/m/versions",
                Some((ct, json!({"schema": "\"int\""}).to_string())),
            )
            .await;
        assert_eq!(r.status, 200, "{ct}: {}", r.text);
    }
    assert_eq!(srv.get("/").await.ok(), json!({}));
    assert_eq!(srv.post("/", json!({"any": 1})).await.ok(), json!({}));
    assert_eq!(srv.get("/health/live").await.status, 200);
    assert_eq!(srv.get("/health/ready").await.status, 200);
    assert_eq!(srv.get("/no/such/route").await.status, 404);
    let metrics = srv.get("/metrics").await;
    // Counted under the route template (copied from inside the router onto the
    // response), a path no route matches under "unmatched", never under its own path.
    assert!(
        metrics.text.contains(
            "accord_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"
        ),
        "{}",
        metrics.text
    );
    assert!(!metrics.text.contains("/no/such/route"));
    assert!(
        metrics.text.contains(
            "accord_http_requests_total{route=\"/subjects\",method=\"GET\",status=\"200\"}"
        ),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("accord_http_request_duration_seconds_bucket{route=\"/subjects/{subject}/versions\",method=\"POST\""));
    assert!(metrics.text.contains("accord_schemas 1"));
    assert!(metrics.text.contains("accord_subjects 1"));

    // `GET /schemas/ids/{id}` without a query is answered from the body cache ahead of
    // the router once the router has answered it (issue 16): the same bytes, the same
    // media type negotiation, nosniff, and counted under the route template.
    let id = srv
        .post("/subjects/m/versions", json!({"schema": "\"int\""}))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/schemas/ids/{id}");
    let mut answers = Vec::new();
    for accept in [None, None, None, Some("application/json")] {
        let mut r = srv.http.get(format!("{}{path}", srv.base));
        if let Some(a) = accept {
            r = r.header("Accept", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        answers.push((ct, r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, "application/vnd.schemaregistry.v1+json");
    assert!(answers.iter().all(|a| a.1 == answers[0].1), "{answers:?}");
    assert_eq!(answers[1].0, answers[0].0);
    assert_eq!(answers[3].0, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answers[0].1).unwrap()["schema"],
        "\"int\""
    );
    // Malformed and missing ids still get the router's words.
    srv.get("/schemas/ids/0").await.assert_error(404, 40403);
    srv.get("/schemas/ids/99999").await.assert_error(404, 40403);
    assert_eq!(srv.get("/schemas/ids/x1").await.status, 404);
    assert_eq!(srv.get(&format!("{path}/")).await.text, answers[0].1);

    // So is the latest version: once cached, the same answer, and a new version is
    // the latest at once.
    let latest = |srv: &Srv| {
        let (base, http) = (srv.base.clone(), srv.http.clone());
        async move {
            let r = http
                .get(format!("{base}/subjects/m/versions/latest"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let first = latest(&srv).await;
    for _ in 0..2 {
        assert_eq!(latest(&srv).await, first);
    }
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&first).unwrap()["version"],
        1
    );
    srv.put("/config/m", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.post("/subjects/m/versions", json!({"schema": "\"long\""}))
        .await
        .ok();
    let second: serde_json::Value = serde_json::from_str(&latest(&srv).await).unwrap();
    assert_eq!(second["version"], 2, "{second}");
    assert_eq!(second["schema"], "\"long\"");
    // A subject with no versions, and a percent-encoded name, get the router's answers.
    srv.get("/subjects/none/versions/latest")
        .await
        .assert_error(404, 40401);
    assert_eq!(
        srv.get("/subjects/%6D/versions/latest").await.json()["version"],
        2
    );
    let metrics = srv.get("/metrics").await.text;
    assert!(
        metrics.contains(
            "accord_http_requests_total{route=\"/schemas/ids/{id}\",method=\"GET\",status=\"200\"} 5"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "accord_http_requests_total{route=\"/subjects/{subject}/versions/{version}\",method=\"GET\",status=\"200\"} 5"
        ),
        "{metrics}"
    );
    let v = srv.get("/v1/metadata/version").await.ok();
    assert!(v["version"].is_string());
    assert!(srv.get("/v1/metadata/id").await.ok()["scope"].is_object());
    assert_eq!(srv.get("/contexts").await.ok(), json!(["."]));
    srv.delete("/contexts/.other")
        .await
        .assert_error(404, 40401);
});

dual!(subject_aliases_and_rule_type_filter, |srv| {
    let r = srv.register("real", USER_V1, json!({})).await;
    srv.put("/config/nick", json!({"alias": "real"})).await.ok();
    // Reads of a subject with no versions follow its alias.
    assert_eq!(
        srv.get("/subjects/nick/versions/latest").await.ok()["id"],
        r["id"]
    );
    assert_eq!(srv.get("/subjects/nick/versions").await.ok(), json!([1]));
    assert_eq!(
        srv.post("/subjects/nick", json!({"schema": USER_V1}))
            .await
            .ok()["version"],
        1
    );
    srv.get("/subjects/nobody/versions/latest")
        .await
        .assert_error(404, 40401);

    srv.register(
        "ruled",
        "\"string\"",
        json!({"ruleSet": {"domainRules": [{"name": "r", "type": "CEL", "expr": "true"}]}}),
    )
    .await;
    let with_cel = srv.get("/schemas?ruleType=CEL").await.ok();
    assert_eq!(with_cel.as_array().unwrap().len(), 1);
    assert_eq!(with_cel[0]["subject"], "ruled");
    assert_eq!(srv.get("/schemas?ruleType=ENCRYPT").await.ok(), json!([]));
});
