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
