//! The committed OpenAPI document is the generated one, and the server serves it.
//! Regenerate with `cargo run -p accord -- openapi > openapi/accord.json`.

mod common;
use common::*;

#[test]
fn committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/accord.json");
    let committed = std::fs::read_to_string(path).expect("openapi/accord.json exists");
    let generated = accord_server::openapi::document();
    assert!(
        committed == generated,
        "openapi/accord.json is stale: run `cargo run -p accord -- openapi > openapi/accord.json`"
    );
}

/// Every path the router serves is documented: each `.route("...")` in
/// `server/src/api/` appears in the generated document.
#[test]
fn every_routed_path_is_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(&accord_server::openapi::document()).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src/api");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("server/src/api") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        for part in text.split(".route(").skip(1) {
            if let Some(path) = part
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
            {
                routes.push(path.to_string());
            }
        }
    }
    assert!(routes.len() > 40, "found the routes: {routes:?}");
    let missing: Vec<&String> = routes.iter().filter(|r| !paths.contains_key(*r)).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
}

#[tokio::test]
async fn served_document_lists_the_confluent_api() {
    let db = TestDb::new(Db::Sqlite).await.unwrap();
    let mut srv = Srv::start(config(&db.url)).await;
    let doc = srv.get("/openapi.json").await.ok();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/subjects",
        "/subjects/{subject}/versions",
        "/subjects/{subject}/versions/{version}",
        "/schemas/ids/{id}",
        "/schemas/guids/{guid}",
        "/config/{subject}",
        "/mode/{subject}",
        "/compatibility/subjects/{subject}/versions/{version}",
        "/contexts",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} is documented");
    }
    assert_eq!(
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
        accord_server::openapi::document()
    );
    srv.stop().await;
}

/// What every route shares is in the document (`accord_server::openapi`): JSON answers in
/// each media type `Accept` may pick, a body's 400/413/415/422, 401/403 where `--auth`
/// guards the route, a write's 403 for cross-site requests, and query flags as text
/// (Confluent reads any text, `true` in any case meaning yes).
#[test]
fn every_operation_documents_what_the_server_shares() {
    let doc: serde_json::Value =
        serde_json::from_str(&accord_server::openapi::document()).expect("JSON");
    let vnd_v1 = "application/vnd.schemaregistry.v1+json";
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let label = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            for (status, r) in responses {
                let Some(content) = r.get("content").and_then(|c| c.as_object()) else {
                    continue;
                };
                let own = method == "get"
                    && status.starts_with('2')
                    && (path == "/openapi.json"
                        || path == "/metrics"
                        || path == "/v1/streams/{name}/contract");
                if !own {
                    for t in [
                        vnd_v1,
                        "application/vnd.schemaregistry+json",
                        "application/json",
                    ] {
                        assert!(content.contains_key(t), "{label} {status} lists {t}");
                    }
                }
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(s), "{label} lists {s}");
                }
                let types = op["requestBody"]["content"].as_object().expect("content");
                assert!(types.contains_key(vnd_v1), "{label} takes {vnd_v1}");
            }
            if !path.starts_with("/health/") && path != "/metrics" {
                for s in ["401", "403"] {
                    assert!(responses.contains_key(s), "{label} lists {s}");
                }
            }
            if method != "get" {
                assert!(responses.contains_key("403"), "{label} lists 403");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" {
                    assert_ne!(p["schema"]["type"], "boolean", "{label} {}", p["name"]);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "checked {checked} operations");
}

// A whole number written with a fraction (`30.0`) is the integer it is, as JSON and the
// document's `integer` say: an Accord body took it as a float and refused it (400), which
// schemathesis found as a schema-valid request rejected. A real fraction stays refused.
dual!(whole_numbers_with_a_fraction_are_integers, |srv| {
    srv.post(
        "/v1/principals",
        serde_json::json!({"name": "svc", "role": "reader"}),
    )
    .await
    .ok();
    let key = srv
        .post(
            "/v1/principals/svc/keys",
            serde_json::json!({"expiresInDays": 30.0}),
        )
        .await
        .ok();
    assert!(key["expiresAt"].is_string(), "{key}");
    srv.post(
        "/v1/principals/svc/keys",
        serde_json::json!({"expiresInDays": 30.5}),
    )
    .await
    .assert_error(400, 400);
});

// The document's media types are the server's: with no Accept the answer is Confluent's
// v1 type, and each type the document lists is what Accept gets.
dual!(responses_carry_the_documented_media_types, |srv| {
    let doc: serde_json::Value =
        serde_json::from_str(&accord_server::openapi::document()).expect("JSON");
    let listed = doc["paths"]["/subjects"]["get"]["responses"]["200"]["content"]
        .as_object()
        .expect("content")
        .clone();
    let plain = srv.get("/subjects").await;
    assert_eq!(plain.content_type, "application/vnd.schemaregistry.v1+json");
    for t in listed.keys() {
        let resp = srv
            .http
            .get(format!("{}/subjects", srv.base))
            .header("Accept", t.as_str())
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ASCII"),
            t.as_str()
        );
    }
    assert_eq!(listed.len(), 3, "{listed:?}");
});

// A body of optional fields sent as a JSON array was read as the fields in order (serde's
// tuple form) and accepted (`[]` made a key); every body is an object, as Jackson reads a
// bean: 400. Schemathesis found it as a schema-violating request accepted.
dual!(an_array_is_no_body_object, |srv| {
    srv.post(
        "/v1/principals",
        serde_json::json!({"name": "svc", "role": "reader"}),
    )
    .await
    .ok();
    srv.post("/v1/principals/svc/keys", serde_json::json!([]))
        .await
        .assert_error(400, 400);
    let change = srv
        .raw(
            reqwest::Method::PATCH,
            "/v1/principals/svc",
            Some(("application/json", "[]".to_string())),
        )
        .await;
    change.assert_error(400, 400);
    let principal = srv.get("/v1/principals/svc").await.ok();
    assert_eq!(principal["role"], "reader", "{principal}");
});
