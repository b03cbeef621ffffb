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
