//! `accord export` / `accord restore` (accord_server::archive): a registry filled over
//! HTTP with a bit of everything is exported from SQLite while its server serves (and
//! writes), restored into a fresh PostgreSQL (and SQLite) database, and served again:
//! every id, subject, version, config, mode, contract and the rest answer byte for
//! byte as before, the API keys still work, the audit chain verifies with the source's
//! key, entity keys and shred tombstones still match, and new ids continue above the
//! restored ones. Restore refuses a non-empty target, a newer format and unknown
//! migrations without changing anything, and a cut archive leaves the target empty.
//! Every table a migrated database has is either exported or excluded on purpose.

mod common;

use accord_server::archive::{self, ArchiveError};
use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::{config, Db, Srv, TestDb, USER_V1, USER_V2_OPTIONAL, USER_V2_REQUIRED};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const KMS_SECRET: &str = "export-restore-kms-secret";
const WEBHOOK_SECRET: &str = "export-restore-webhook-signing-secret-0123456789";

fn sqlite_path(url: &str) -> PathBuf {
    PathBuf::from(url.trim_start_matches("sqlite://"))
}

fn server_config(url: &str, audit_key_file: &Path) -> accord_server::ServerConfig {
    let mut cfg = config(url);
    cfg.local_kms_secret = Some(KMS_SECRET.to_string());
    cfg.audit_key_file = Some(audit_key_file.to_path_buf());
    cfg.auth = true;
    cfg
}

async fn req(srv: &Srv, method: Method, path: &str, who: &Key, body: Option<Value>) -> Value {
    let r = call(srv, method, path, Some(&who.basic()), body).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
    r.json()
}

/// Every kind of thing Accord holds, through HTTP as admin.
async fn fill(srv: &Srv, admin: &Key) {
    const DELETE: Method = Method::DELETE;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    let a = admin;
    // A stream with a contract, versions under it, consumers and a proposal.
    let contract = json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders-contract",
        "version": "1.0.0", "status": "active", "team": {"name": "checkout"},
        "description": {"purpose": "Orders placed in the shop"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@acme.example"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": "orders"}}]
    });
    req(srv, PUT, "/v1/streams/orders/contract", a, Some(contract)).await;
    for s in [USER_V1, USER_V2_OPTIONAL] {
        req(
            srv,
            POST,
            "/subjects/orders-value/versions",
            a,
            Some(json!({"schema": s})),
        )
        .await;
    }
    let checkout = principal_with_key(
        srv,
        a,
        json!({"name": "checkout-svc", "role": "member", "kind": "service", "team": "checkout"}),
    )
    .await;
    principal_with_key(
        srv,
        a,
        json!({"name": "payments-svc", "role": "member", "kind": "service", "team": "payments"}),
    )
    .await;
    req(
        srv,
        POST,
        "/v1/streams/orders/consumers",
        a,
        Some(json!({"service": "payments-svc", "team": "payments"})),
    )
    .await;
    let opened = call(
        srv,
        POST,
        "/v1/streams/orders/proposals",
        Some(&checkout.basic()),
        Some(json!({"schema": USER_V2_REQUIRED})),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.text);

    // Avro with a reference, Protobuf, JSON Schema.
    let money = r#"{"type":"record","name":"Money","namespace":"com.acme","fields":[{"name":"cents","type":"long"}]}"#;
    req(
        srv,
        POST,
        "/subjects/common-money/versions",
        a,
        Some(json!({"schema": money})),
    )
    .await;
    let payment = r#"{"type":"record","name":"Payment","namespace":"com.acme","fields":[{"name":"amount","type":"com.acme.Money"}]}"#;
    req(
        srv,
        POST,
        "/subjects/payments-value/versions",
        a,
        Some(json!({"schema": payment, "references": [{"name": "com.acme.Money", "subject": "common-money", "version": 1}]})),
    )
    .await;
    let proto = "syntax = \"proto3\";\npackage acme;\n\nmessage Event {\n  string id = 1;\n  int64 at = 2;\n}\n";
    req(
        srv,
        POST,
        "/subjects/events-value/versions",
        a,
        Some(json!({"schema": proto, "schemaType": "PROTOBUF"})),
    )
    .await;
    let doc = r#"{"type":"object","properties":{"title":{"type":"string"}},"additionalProperties":false}"#;
    req(
        srv,
        POST,
        "/subjects/doc-value/versions",
        a,
        Some(json!({"schema": doc, "schemaType": "JSON", "metadata": {"properties": {"owner": "docs"}}})),
    )
    .await;
    // A soft-deleted version, and a subject whose only version is soft-deleted.
    let old = r#"{"type":"record","name":"Old","fields":[{"name":"x","type":"int"}]}"#;
    let old2 = r#"{"type":"record","name":"Old","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":0}]}"#;
    req(
        srv,
        POST,
        "/subjects/old-value/versions",
        a,
        Some(json!({"schema": old})),
    )
    .await;
    req(
        srv,
        POST,
        "/subjects/old-value/versions",
        a,
        Some(json!({"schema": old2})),
    )
    .await;
    req(srv, DELETE, "/subjects/old-value/versions/1", a, None).await;
    let gone = r#"{"type":"record","name":"Gone","fields":[{"name":"x","type":"string"}]}"#;
    req(
        srv,
        POST,
        "/subjects/gone-value/versions",
        a,
        Some(json!({"schema": gone})),
    )
    .await;
    req(srv, DELETE, "/subjects/gone-value", a, None).await;
    // A context subject: ids of its own.
    req(
        srv,
        POST,
        "/subjects/:.eu:orders-value/versions",
        a,
        Some(json!({"schema": USER_V1})),
    )
    .await;
    let eu2 = r#"{"type":"record","name":"Eu","fields":[{"name":"v","type":"string"}]}"#;
    req(
        srv,
        POST,
        "/subjects/:.eu:other-value/versions",
        a,
        Some(json!({"schema": eu2})),
    )
    .await;
    // Configs and modes: global, subject, context.
    req(
        srv,
        PUT,
        "/config",
        a,
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    req(
        srv,
        PUT,
        "/config/doc-value",
        a,
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    req(
        srv,
        PUT,
        "/config/:.eu:",
        a,
        Some(json!({"compatibility": "FORWARD"})),
    )
    .await;
    req(
        srv,
        PUT,
        "/mode/common-money",
        a,
        Some(json!({"mode": "READONLY"})),
    )
    .await;
    // A webhook (deliveries stay pending: nothing listens there).
    req(
        srv,
        POST,
        "/v1/webhooks",
        a,
        Some(json!({"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET, "eventTypes": ["*"]})),
    )
    .await;
    // KEKs, a DEK, per-entity keys and a shredded entity.
    req(
        srv,
        POST,
        "/dek-registry/v1/keks",
        a,
        Some(json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true})),
    )
    .await;
    req(
        srv,
        POST,
        "/dek-registry/v1/keks",
        a,
        Some(json!({"name": "client", "kmsType": "local-kms", "kmsKeyId": "c", "doc": "client side"})),
    )
    .await;
    req(
        srv,
        POST,
        "/dek-registry/v1/keks/shared/deks",
        a,
        Some(json!({"subject": "orders-value"})),
    )
    .await;
    req(
        srv,
        POST,
        "/v1/entity-keys/shared/orders-value",
        a,
        Some(json!({"create": true, "entities": [{"entity": "alice"}, {"entity": "bob"}]})),
    )
    .await;
    req(
        srv,
        POST,
        "/v1/streams/orders/entities/alice/shred",
        a,
        Some(json!({})),
    )
    .await;
}

/// The answers compared between the source and the restored server: (path, status,
/// body), for every schema id, subject and version, config, mode and the rest.
async fn answers(srv: &Srv, admin: &Key) -> Vec<(String, u16, String)> {
    let get = |path: String| {
        let srv = &srv;
        async move {
            let r = call(srv, Method::GET, &path, Some(&admin.basic()), None).await;
            (path, r.status.as_u16(), r.text)
        }
    };
    let mut out = Vec::new();
    let subjects: Vec<String> =
        serde_json::from_str(&get("/subjects?deleted=true".into()).await.2).expect("subjects");
    let mut paths = vec![
        "/subjects".to_string(),
        "/subjects?deleted=true".to_string(),
        "/contexts".to_string(),
        "/config".to_string(),
        "/mode".to_string(),
        "/config/:.eu:".to_string(),
        "/schemas?deleted=true".to_string(),
        "/schemas/types".to_string(),
        "/v1/streams".to_string(),
        "/v1/streams/orders/contract".to_string(),
        "/v1/streams/orders/proposals".to_string(),
        "/v1/streams/orders/consumers".to_string(),
        "/v1/principals".to_string(),
        "/v1/webhooks".to_string(),
        "/dek-registry/v1/keks?deleted=true".to_string(),
        "/dek-registry/v1/keks/shared".to_string(),
        "/dek-registry/v1/keks/client".to_string(),
        "/dek-registry/v1/keks/shared/deks".to_string(),
        "/dek-registry/v1/keks/shared/deks/orders-value".to_string(),
        "/contexts/.eu/schemas/ids/1".to_string(),
        "/contexts/.eu/schemas/ids/2".to_string(),
    ];
    for s in &subjects {
        paths.push(format!("/subjects/{s}/versions?deleted=true"));
        paths.push(format!("/config/{s}"));
        paths.push(format!("/mode/{s}"));
        let versions: Vec<i64> =
            serde_json::from_str(&get(format!("/subjects/{s}/versions?deleted=true")).await.2)
                .unwrap_or_default();
        for v in versions {
            paths.push(format!("/subjects/{s}/versions/{v}?deleted=true"));
            paths.push(format!(
                "/subjects/{s}/versions/{v}/referencedby?deleted=true"
            ));
        }
    }
    let all: Vec<Value> =
        serde_json::from_str(&get("/schemas?deleted=true".into()).await.2).expect("schemas");
    let max_id = all
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .max()
        .unwrap_or(0);
    for id in 1..=max_id + 1 {
        paths.push(format!("/schemas/ids/{id}"));
        paths.push(format!("/schemas/ids/{id}/versions?deleted=true"));
    }
    for p in paths {
        out.push(get(p).await);
    }
    out
}

fn audit_key(file: &Path, url: &str) -> accord_server::audit::AuditKey {
    accord_server::audit::KeySource::with_env(None, Some(file.to_path_buf()))
        .load(url, false)
        .expect("audit key")
}

/// What `accord audit verify` does: the key's fingerprint is the database's, and the
/// chain verifies; returns the number of entries.
async fn audit_verify(url: &str, key_file: &Path) -> i64 {
    let key = audit_key(key_file, url);
    let store = accord_server::storage::Store::connect(url)
        .await
        .expect("store");
    let fp = accord_server::audit::database_fingerprint(store.reader())
        .await
        .expect("fingerprint");
    assert_eq!(
        fp.as_deref(),
        Some(key.fingerprint()),
        "audit key fingerprint"
    );
    let v = accord_server::audit::verify(store.reader(), &key, None)
        .await
        .expect("verify");
    store.close().await;
    assert!(
        v.ok,
        "audit chain broken: {:?} at {:?}",
        v.problem, v.first_bad_seq
    );
    v.entries as i64
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let store = accord_server::storage::Store::connect(url)
        .await
        .expect("store");
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(store.reader())
        .await
        .expect(sql);
    store.close().await;
    n
}

async fn text(url: &str, sql: &str) -> Option<String> {
    let store = accord_server::storage::Store::connect(url)
        .await
        .expect("store");
    let v: Option<String> = sqlx::query_scalar(sql)
        .fetch_optional(store.reader())
        .await
        .expect(sql);
    store.close().await;
    v
}

fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("archive"))
        .read_to_string(&mut s)
        .expect("gzip");
    s
}

fn gzip(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(text.as_bytes()).expect("write");
    gz.finish().expect("finish");
}

/// Fills a SQLite registry, exports it while it serves and writes, restores into
/// `target`, and compares.
async fn round_trip(target: Db) {
    let Some(target_db) = TestDb::new(target).await else {
        return;
    };
    let source_db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let key_file = accord_server::audit::default_key_file(&source_db.url);
    let mut cfg = config(&source_db.url);
    cfg.local_kms_secret = Some(KMS_SECRET.to_string());
    let mut source = Srv::start(cfg).await;
    let admin = restart_with_auth(&mut source).await;
    // restart_with_auth starts without the KMS secret: once more with it.
    source.stop().await;
    let source = Srv::start(server_config(&source_db.url, &key_file)).await;
    fill(&source, &admin).await;
    let before = answers(&source, &admin).await;

    // Export while the server serves and a client keeps registering.
    let dir = sqlite_path(&source_db.url)
        .parent()
        .expect("dir")
        .to_path_buf();
    let archive_path = dir.join("accord.archive.jsonl.gz");
    let secrets_path = archive::default_secrets_path(&archive_path);
    let writer = {
        let http = source.http.clone();
        let base = source.base.clone();
        let auth = admin.basic();
        tokio::spawn(async move {
            for i in 0..40 {
                let schema = format!(
                    r#"{{"type":"record","name":"During{i}","fields":[{{"name":"f","type":"string"}}]}}"#
                );
                let r = http
                    .post(format!("{base}/subjects/during-{i}/versions"))
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .body(json!({"schema": schema}).to_string())
                    .send()
                    .await
                    .expect("register");
                assert_eq!(r.status(), 200);
            }
        })
    };
    let exported = archive::export(&source_db.url, &archive_path, &secrets_path)
        .await
        .expect("export");
    writer.await.expect("writer");
    assert_eq!(exported.header.format, "accord-archive");
    assert_eq!(exported.header.backend, "sqlite");
    assert!(exported.secrets_file.is_some());
    // Two secrets: the webhook's signing secret and the generated entity hash key.
    assert_eq!(exported.header.secrets, 2);

    // No secret is in the archive: not the webhook secret, not the entity hash key,
    // not the audit key; API keys only as hashes.
    let body = gunzip(&archive_path);
    let entity_key = text(
        &source_db.url,
        "SELECT value FROM server_secrets WHERE name = 'entity_hash_key'",
    )
    .await
    .expect("entity hash key");
    let audit_hex = std::fs::read_to_string(&key_file).expect("key file");
    assert!(!body.contains(WEBHOOK_SECRET));
    assert!(!body.contains(&entity_key));
    assert!(!body.contains(audit_hex.trim()));
    assert!(!body.contains(&admin.secret));
    let secrets = std::fs::read_to_string(&secrets_path).expect("secrets file");
    assert!(secrets.contains(WEBHOOK_SECRET) && secrets.contains(&entity_key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Header, one line per row, trailer.
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len() as u64, exported.rows() + 2);
    assert!(lines.last().unwrap().starts_with("{\"end\":true"));

    // Restore, and serve the restored database with the source's audit key.
    let restored = archive::restore(&archive_path, &secrets_path, &target_db.url)
        .await
        .expect("restore");
    assert_eq!(restored.rows(), exported.rows());
    let entries = audit_verify(&target_db.url, &key_file).await;
    assert_eq!(
        entries,
        exported
            .header
            .tables
            .iter()
            .find(|t| t.name == "audit_log")
            .unwrap()
            .rows as i64
    );
    assert_eq!(
        text(&target_db.url, "SELECT secret FROM webhook_subscriptions")
            .await
            .as_deref(),
        Some(WEBHOOK_SECRET)
    );
    // The registry keeps its identity (it names AUTO exporters' destination contexts).
    // (A seeded row: the target's migration made another, which the archive's replaces.)
    if exported
        .header
        .tables
        .iter()
        .any(|t| t.name == "exporter_settings")
    {
        let registry_id = "SELECT value FROM exporter_settings WHERE key = 'registry_id'";
        let id = text(&source_db.url, registry_id).await;
        assert!(id.is_some());
        assert_eq!(text(&target_db.url, registry_id).await, id);
    }
    let mut copy = Srv::start(server_config(&target_db.url, &key_file)).await;

    // Every answer the source gave before the export, byte for byte (the restored
    // server knows the admin key: its hash was carried).
    let after = answers(&copy, &admin).await;
    let after_map: std::collections::HashMap<_, _> = after
        .iter()
        .map(|(p, s, b)| (p.clone(), (*s, b.clone())))
        .collect();
    let snapshot_subjects: Vec<String> =
        serde_json::from_str(&after_map["/subjects?deleted=true"].1).unwrap();
    let during = snapshot_subjects
        .iter()
        .filter(|s| s.starts_with("during-"))
        .count();
    for (path, status, body) in &before {
        // Listings and the next free id moved with the registrations during the export.
        let moving = path.starts_with("/subjects?")
            || path == "/subjects"
            || path.starts_with("/schemas?")
            || path == "/v1/streams"
            || (path.starts_with("/schemas/ids/") && *status == 404);
        if moving && during > 0 {
            continue;
        }
        let (s, b) = after_map.get(path).expect(path);
        assert_eq!((*s, b), (*status, body), "{path}");
    }
    // The snapshot is consistent: the registrations it caught are whole (versions and
    // schemas), and a prefix of those made.
    for i in 0..during {
        let s = format!("during-{i}");
        assert!(
            snapshot_subjects.contains(&s),
            "{s} missing in a prefix of {during}"
        );
        assert_eq!(
            after_map[&format!("/subjects/{s}/versions?deleted=true")].1,
            "[1]"
        );
    }
    // Entity keys: alice is still shredded, bob's key is the same (the entity hash key
    // came back from the secrets file).
    let look = json!({"entities": [{"entity": "alice"}, {"entity": "bob"}]});
    let src = req(
        &source,
        Method::POST,
        "/v1/entity-keys/shared/orders-value",
        &admin,
        Some(look.clone()),
    )
    .await;
    let dst = req(
        &copy,
        Method::POST,
        "/v1/entity-keys/shared/orders-value",
        &admin,
        Some(look),
    )
    .await;
    assert_eq!(dst["shredded"], json!(["alice"]), "{dst}");
    assert_eq!(
        dst["keys"][0]["encryptedKeyMaterial"],
        src["keys"][0]["encryptedKeyMaterial"]
    );
    assert_eq!(dst["keys"][0]["entity"], "bob");

    // New ids continue above the restored ones (default context and `.eu`).
    let max_default = scalar(
        &target_db.url,
        "SELECT MAX(id) FROM schemas WHERE id < 4294967296",
    )
    .await;
    let fresh =
        r#"{"type":"record","name":"AfterRestore","fields":[{"name":"z","type":"string"}]}"#;
    let id = req(
        &copy,
        Method::POST,
        "/subjects/after-restore/versions",
        &admin,
        Some(json!({"schema": fresh})),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(id, max_default + 1);
    let eu_id = req(
        &copy,
        Method::POST,
        "/subjects/:.eu:after/versions",
        &admin,
        Some(json!({"schema": fresh})),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(eu_id, 3);
    // The restored log goes on, and still verifies.
    let grown = audit_verify(&target_db.url, &key_file).await;
    assert!(grown > entries);

    copy.stop().await;
    let mut source = source;
    source.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_export_restores_into_postgres_byte_identical() {
    round_trip(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_export_restores_into_sqlite_byte_identical() {
    round_trip(Db::Sqlite).await
}

/// A small archive of a registry with a few subjects (the server stopped), and the
/// source's database URL.
async fn small_archive(dir: &Path) -> (TestDb, PathBuf) {
    let db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let mut srv = Srv::start(config(&db.url)).await;
    srv.register("a-value", USER_V1, json!({})).await;
    srv.register("b-value", USER_V1, json!({})).await;
    srv.stop().await;
    let path = dir.join("small.jsonl.gz");
    archive::export(&db.url, &path, &archive::default_secrets_path(&path))
        .await
        .expect("export");
    (db, path)
}

async fn counts(url: &str) -> (i64, i64, i64) {
    (
        scalar(url, "SELECT COUNT(*) FROM schemas").await,
        scalar(url, "SELECT COUNT(*) FROM subject_versions").await,
        scalar(url, "SELECT COUNT(*) FROM audit_log").await,
    )
}

async fn refusals(target: Db) {
    let Some(target_db) = TestDb::new(target).await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("accord-archive-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_source, path) = small_archive(&dir).await;
    // The generated entity hash key went to the secrets file.
    let none = archive::default_secrets_path(&path);
    assert!(none.exists());

    // A newer format version, or a migration this binary does not know: refused
    // before the target is touched (a SQLite file is not even created).
    let body = gunzip(&path);
    let (head, rest) = body.split_once('\n').unwrap();
    let mut header: Value = serde_json::from_str(head).unwrap();
    let newer = dir.join("newer.jsonl.gz");
    header["formatVersion"] = json!(archive::FORMAT_VERSION + 1);
    gzip(&newer, &format!("{header}\n{rest}"));
    let unknown = dir.join("unknown.jsonl.gz");
    header["formatVersion"] = json!(archive::FORMAT_VERSION);
    header["migrations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"version": 9999, "description": "from the future", "checksum": "00"}));
    gzip(&unknown, &format!("{header}\n{rest}"));
    let untouched = TestDb::new(Db::Sqlite).await.unwrap();
    for (file, needle) in [(&newer, "format version"), (&unknown, "migration 9999")] {
        for url in [&target_db.url, &untouched.url] {
            match archive::restore(file, &none, url).await {
                Err(ArchiveError::Refused(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }
    assert!(!sqlite_path(&untouched.url).exists());

    // A cut archive (no trailer): nothing is loaded, the target stays empty, and the
    // whole archive then restores into it.
    let cut = dir.join("cut.jsonl.gz");
    let without_trailer: Vec<&str> = body.lines().collect();
    gzip(
        &cut,
        &(without_trailer[..without_trailer.len() - 1].join("\n") + "\n"),
    );
    match archive::restore(&cut, &none, &target_db.url).await {
        Err(ArchiveError::Invalid(m)) => assert!(m.contains("cut short"), "{m}"),
        other => panic!("expected an invalid archive, got {other:?}"),
    }
    assert_eq!(counts(&target_db.url).await, (0, 0, 0));
    archive::restore(&path, &none, &target_db.url)
        .await
        .expect("restore after a failed one");
    let loaded = counts(&target_db.url).await;
    assert_eq!(loaded.0, 1);
    assert_eq!(loaded.1, 2);

    // Into a non-empty database: refused, nothing changed.
    match archive::restore(&path, &none, &target_db.url).await {
        Err(ArchiveError::Refused(m)) => assert!(m.contains("not empty"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(counts(&target_db.url).await, loaded);

    // A database a server merely started on is not empty either (its key fingerprints).
    let started = TestDb::new(target).await.unwrap();
    let mut srv = Srv::start(config(&started.url)).await;
    srv.stop().await;
    match archive::restore(&path, &none, &started.url).await {
        Err(ArchiveError::Refused(m)) => assert!(m.contains("not empty"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_without_changing_anything_sqlite() {
    refusals(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_without_changing_anything_postgres() {
    refusals(Db::Postgres).await
}

/// Every table a migrated database has is exported or excluded on purpose: a new
/// migration's table fails here until it is added to one of the lists.
async fn coverage(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    accord_server::storage::Store::connect(&test_db.url)
        .await
        .expect("migrate")
        .close()
        .await;
    let uncovered = archive::uncovered_tables(&test_db.url)
        .await
        .expect("tables");
    assert!(
        uncovered.is_empty(),
        "tables neither exported nor excluded by accord_server::archive: {uncovered:?} \
         (add them to EXPORTED, parents first, or to EXCLUDED with the reason)"
    );
}

/// Tables are exported (and restored) parents first: every foreign key of an exported
/// table points at a table exported before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_exported_parents_first() {
    let test_db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let store = accord_server::storage::Store::connect(&test_db.url)
        .await
        .expect("migrate");
    let mut checked = 0;
    for (i, table) in archive::EXPORTED.iter().enumerate() {
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(*table)
                .fetch_all(store.reader())
                .await
                .expect("foreign keys");
        for p in parents {
            let at = archive::EXPORTED.iter().position(|t| *t == p);
            assert!(
                at.is_some_and(|at| at < i),
                "{table} references {p}, which is not exported before it"
            );
            checked += 1;
        }
    }
    store.close().await;
    assert!(checked >= 10, "only {checked} foreign keys found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_is_exported_or_excluded_sqlite() {
    coverage(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_is_exported_or_excluded_postgres() {
    coverage(Db::Postgres).await
}
