//! `accord import --from URL` and `accord import --verify`, run as the real binary
//! between two real Accord registries started in-process, both with auth on (an admin
//! key from `accord admin bootstrap`): the source on SQLite, the target on SQLite and,
//! when ACCORD_TEST_POSTGRES_URL is set, on PostgreSQL.

#[path = "online/support.rs"]
mod support;

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{AvroDeserializer, AvroSerializer, SerdeConfig};
use accord_server::{RunningServer, ServerConfig};
use apache_avro::types::Value as Avro;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{command, Run};

/// A registry with auth on, and its admin bearer token.
struct Server {
    url: String,
    token: String,
    rt: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A registry on a fresh SQLite file.
    fn sqlite() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite://{}/accord.db", dir.path().display());
        Server::start(db, Some(dir))
    }

    /// A registry on `database_url`, its first admin key bootstrapped offline.
    fn start(database_url: String, dir: Option<tempfile::TempDir>) -> Server {
        let out = command(None)
            .args(["admin", "bootstrap", "--database-url", &database_url])
            .stdin(Stdio::null())
            .output()
            .expect("bootstrap runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "bootstrap: {stdout}");
        let token = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("bearer:"))
            .expect("a bearer line")
            .trim()
            .to_string();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url,
            latest_ttl: Duration::from_millis(0),
            auth: true,
            ..ServerConfig::default()
        };
        let server = rt
            .block_on(accord_server::start(config))
            .expect("server starts");
        Server {
            url: server.url(),
            token,
            rt,
            server: Some(server),
            _dir: dir,
        }
    }

    /// `method path` with an optional JSON body, as the admin; the status and body.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = reqwest::Client::new()
                .request(method, &url)
                .bearer_auth(&self.token)
                .header("Content-Type", "application/vnd.schemaregistry.v1+json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let resp = req.send().await.expect("registry answers");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    /// A call that must answer 200.
    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, b) = self.call(method, path, body);
        assert_eq!(s, 200, "{method} {path}: {b}");
        b
    }

    /// Everything an import copies, as JSON: listing, configs and modes.
    fn snapshot(&self) -> Value {
        let subjects = self.ok("GET", "/subjects?deleted=true", None);
        let mut per_subject = serde_json::Map::new();
        for s in subjects.as_array().expect("list") {
            let s = s.as_str().expect("name");
            per_subject.insert(
                s.to_string(),
                json!({
                    "all": self.call("GET", &format!("/subjects/{s}/versions?deleted=true"), None),
                    "live": self.call("GET", &format!("/subjects/{s}/versions"), None),
                    "config": self.call("GET", &format!("/config/{s}"), None),
                    "mode": self.call("GET", &format!("/mode/{s}"), None),
                }),
            );
        }
        let mut schemas = self.ok("GET", "/schemas?deleted=true&subjectPrefix=:*:", None);
        for s in schemas.as_array_mut().expect("schemas") {
            if let Some(o) = s.as_object_mut() {
                o.remove("ts");
            }
        }
        json!({
            "subjects": subjects,
            "per_subject": per_subject,
            "schemas": schemas,
            "config": self.call("GET", "/config", None),
            "mode": self.call("GET", "/mode", None),
            "eu_config": self.call("GET", "/config/:.eu:", None),
            "eu_mode": self.call("GET", "/mode/:.eu:", None),
        })
    }

    /// What `--follow` keeps equal: the snapshot without the target's modes (IMPORT
    /// while following).
    fn content(&self) -> Value {
        let mut snap = self.snapshot();
        for o in snap["per_subject"]
            .as_object_mut()
            .expect("subjects")
            .values_mut()
        {
            o.as_object_mut().expect("subject").remove("mode");
        }
        let o = snap.as_object_mut().expect("snapshot");
        o.remove("mode");
        o.remove("eu_mode");
        snap
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.stop());
        }
    }
}

/// A finished `accord` process as a [`Run`].
fn run_of(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stdout_bytes: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `accord import --from SOURCE ...` into `target`, both with their admin keys.
fn import(source: &Server, target: &Server, extra: &[&str]) -> Run {
    let out = command(None)
        .args(["--url", &target.url, "--token", &target.token, "import"])
        .args(["--from", &source.url, "--from-token", &source.token])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("accord runs");
    run_of(out)
}

const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}"#;
const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"com.acme.Address"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"com.acme.Address"},{"name":"note","type":["null","string"],"default":null}]}"#;
const USER: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"#;
const HOLDER: &str = r#"{"type":"record","name":"Holder","namespace":"com.acme","fields":[{"name":"user","type":"com.acme.User"}]}"#;
const LEGACY: &str = r#"{"type":"record","name":"Legacy","fields":[{"name":"x","type":"int"}]}"#;
const COMMON_PROTO: &str =
    "syntax = \"proto3\";\npackage acme;\n\nmessage Money {\n  int64 cents = 1;\n  string currency = 2;\n}\n";
const EVENT_PROTO: &str = "syntax = \"proto3\";\npackage acme;\n\nimport \"common.proto\";\n\nmessage Paid {\n  string order_id = 1;\n  acme.Money amount = 2;\n}\n";

fn json_schema(fields: &[&str]) -> String {
    let props: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), json!({"type": "string"})))
        .collect();
    json!({"type": "object", "properties": props}).to_string()
}

/// A source with every kind of thing an import copies: Avro, Protobuf and JSON schemas,
/// references, metadata and a ruleSet, several versions, a soft-deleted version and a
/// soft-deleted subject, subject configs and modes, a global config, and ids with gaps.
fn fill_source(src: &Server) {
    src.ok("PUT", "/mode?force=true", Some(json!({"mode": "IMPORT"})));
    let reg = |subject: &str, body: Value| {
        src.ok("POST", &format!("/subjects/{subject}/versions"), Some(body));
    };
    reg(
        "address-value",
        json!({"schema": ADDRESS, "schemaType": "AVRO", "id": 10, "version": 1}),
    );
    let address_ref =
        json!([{"name": "com.acme.Address", "subject": "address-value", "version": 1}]);
    reg(
        "orders-value",
        json!({"schema": ORDER_V1, "schemaType": "AVRO", "references": address_ref, "id": 12, "version": 1,
               "metadata": {"properties": {"owner": "checkout"}}}),
    );
    reg(
        "orders-value",
        json!({"schema": ORDER_V2, "schemaType": "AVRO", "references": address_ref, "id": 15, "version": 2,
               "metadata": {"properties": {"owner": "checkout"}},
               "ruleSet": {"domainRules": [{"name": "idPositive", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.id > 0"}]}}),
    );
    reg(
        "common.proto",
        json!({"schema": COMMON_PROTO, "schemaType": "PROTOBUF", "id": 20, "version": 1}),
    );
    reg(
        "payments-value",
        json!({"schema": EVENT_PROTO, "schemaType": "PROTOBUF", "id": 21, "version": 1,
               "references": [{"name": "common.proto", "subject": "common.proto", "version": 1}]}),
    );
    for (i, fields) in [&["a"][..], &["a", "b"], &["a", "b", "c"]]
        .iter()
        .enumerate()
    {
        reg(
            "json-value",
            json!({"schema": json_schema(fields), "schemaType": "JSON", "id": 30 + i, "version": i + 1}),
        );
    }
    reg(
        "legacy-value",
        json!({"schema": LEGACY, "schemaType": "AVRO", "id": 40, "version": 1}),
    );
    // Context .eu: its ids are its own (10 is another schema there), and an unqualified
    // reference names a subject of the referrer's context.
    reg(
        ":.eu:users-value",
        json!({"schema": USER, "schemaType": "AVRO", "id": 10, "version": 1}),
    );
    reg(
        ":.eu:holder-value",
        json!({"schema": HOLDER, "schemaType": "AVRO", "id": 11, "version": 1,
               "references": [{"name": "com.acme.User", "subject": "users-value", "version": 1}]}),
    );
    src.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    src.ok(
        "PUT",
        "/config/:.eu:",
        Some(json!({"compatibility": "NONE"})),
    );
    src.ok("PUT", "/mode/:.eu:", Some(json!({"mode": "READWRITE"})));
    // A registration outside IMPORT: the next id after the imported ones.
    let user = src.ok(
        "POST",
        "/subjects/users-value/versions",
        Some(json!({"schema": USER})),
    );
    assert_eq!(user["id"], 41, "{user}");
    // Soft deletes: a version and a whole subject.
    src.ok("DELETE", "/subjects/json-value/versions/2", None);
    src.ok("DELETE", "/subjects/legacy-value", None);
    // Configs and modes.
    src.ok("PUT", "/config", Some(json!({"compatibility": "FULL"})));
    src.ok(
        "PUT",
        "/config/orders-value",
        Some(json!({"compatibility": "FULL_TRANSITIVE", "normalize": true})),
    );
    src.ok(
        "PUT",
        "/config/json-value",
        Some(json!({"compatibility": "NONE"})),
    );
    src.ok(
        "PUT",
        "/mode/users-value",
        Some(json!({"mode": "READONLY"})),
    );
    src.ok(
        "PUT",
        "/mode/payments-value",
        Some(json!({"mode": "READWRITE"})),
    );
}

/// The whole scenario against one target: dry run, import, verify, re-import, records.
fn full_import(target: Server) {
    let src = Server::sqlite();
    fill_source(&src);
    let empty = target.snapshot();

    // --dry-run: the plan, nothing changed.
    let r = import(&src, &target, &["--dry-run"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("to copy: 9 subject(s), 12 version(s), 12 schema(s), 2 soft delete(s), 4 config(s), 3 mode(s)"),
        "{}",
        r.stdout
    );
    assert_eq!(target.snapshot(), empty, "a dry run changes nothing");

    // The import: 100% copied, ids and versions preserved.
    let started = Instant::now();
    let r = import(&src, &target, &[]);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("imported: 12 version(s)"), "{}", r.stdout);
    eprintln!("import of 12 versions: {secs:.2}s (process included)");
    let (s, t) = (src.snapshot(), target.snapshot());
    assert_eq!(s["subjects"], t["subjects"]);
    assert_eq!(s["per_subject"], t["per_subject"]);
    assert_eq!(s["schemas"], t["schemas"]);
    assert_eq!(s["config"], t["config"]);
    assert_eq!(s["eu_config"], t["eu_config"]);
    assert_eq!(s["eu_mode"], t["eu_mode"]);
    assert_eq!(t["eu_config"][1]["compatibilityLevel"], "NONE", "{t}");
    assert_eq!(
        t["mode"],
        json!([200, {"mode": "READWRITE"}]),
        "mode restored"
    );
    // Everything but `ts` (the registration time, which the API cannot set).
    let without_ts = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("ts");
        }
        v
    };
    for id in [10, 12, 15, 20, 21, 30, 31, 32, 40, 41] {
        assert_eq!(
            without_ts(src.ok("GET", &format!("/schemas/ids/{id}"), None)),
            without_ts(target.ok("GET", &format!("/schemas/ids/{id}"), None)),
            "id {id}"
        );
    }
    for id in [10, 11] {
        let path = format!("/schemas/ids/{id}?subject=:.eu:");
        let copied = target.ok("GET", &path, None);
        assert_eq!(
            without_ts(src.ok("GET", &path, None)),
            without_ts(copied.clone())
        );
        assert!(
            copied["schema"]
                .as_str()
                .expect("text")
                .contains(if id == 10 { "User" } else { "Holder" }),
            "{copied}"
        );
    }
    assert_eq!(
        target.ok("GET", "/subjects/json-value/versions", None),
        json!([1, 3])
    );
    // New registrations on the target continue above the imported ids.
    let next = target.ok(
        "POST",
        "/subjects/fresh-value/versions",
        Some(json!({"schema": LEGACY.replace("Legacy", "Fresh")})),
    );
    assert_eq!(next["id"], 42, "{next}");
    target.ok("DELETE", "/subjects/fresh-value", None);
    target.ok("DELETE", "/subjects/fresh-value?permanent=true", None);

    // --verify: identical.
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with("IDENTICAL: 12 schema(s), 12 version(s)"),
        "{}",
        r.stdout
    );

    // A second run copies nothing and changes nothing.
    let before = target.snapshot();
    let r = import(&src, &target, &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 to copy"), "{}", r.stdout);
    assert_eq!(target.snapshot(), before);

    // A record written against the source decodes through the target.
    let client = |server: &Server| {
        Arc::new(
            RegistryClient::new(
                RegistryConfig::new(server.url.clone()).with_bearer_token(&server.token),
            )
            .expect("client"),
        )
    };
    let (from, to) = (client(&src), client(&target));
    let bytes = src.rt.block_on(async {
        AvroSerializer::new(from, None, SerdeConfig::value().use_latest(true))
            .serialize(
                "users",
                &Avro::Record(vec![
                    ("id".into(), Avro::Long(7)),
                    ("name".into(), Avro::String("Ada".into())),
                ]),
            )
            .await
            .expect("serialized against the source")
    });
    assert_eq!(bytes[1..5], 41i32.to_be_bytes());
    let decoded = target.rt.block_on(async {
        AvroDeserializer::new(to, SerdeConfig::value())
            .deserialize("users", &bytes)
            .await
            .expect("decoded through the target")
    });
    assert_eq!(
        decoded,
        Avro::Record(vec![
            ("id".into(), Avro::Long(7)),
            ("name".into(), Avro::String("Ada".into())),
        ])
    );

    // --verify names a difference.
    target.ok(
        "PUT",
        "/config/json-value",
        Some(json!({"compatibility": "BACKWARD"})),
    );
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("DIFFERENT: 1 difference(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("config of subject json-value"),
        "{}",
        r.stdout
    );
}

#[test]
fn import_copies_everything_into_sqlite() {
    full_import(Server::sqlite());
}

/// A fresh PostgreSQL database for one test, dropped by the guard.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create(admin: &str) -> PgDatabase {
        let name = format!("accord_import_{}", std::process::id());
        let db = PgDatabase {
            admin: admin.to_string(),
            url: format!(
                "{}/{name}",
                admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin)
            ),
            name,
        };
        db.exec(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name));
        db.exec(format!("CREATE DATABASE {}", db.name));
        db
    }

    fn exec(&self, sql: String) {
        let admin = self.admin.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
                sqlx::Executor::execute(&mut c, sql.as_str())
                    .await
                    .expect("sql");
            });
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.exec(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn import_copies_everything_into_postgres() {
    let Ok(admin) = std::env::var("ACCORD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("ACCORD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set"
        );
        eprintln!("SKIPPED: PostgreSQL target (set ACCORD_TEST_POSTGRES_URL to run it)");
        return;
    };
    let db = PgDatabase::create(&admin);
    full_import(Server::start(db.url.clone(), None));
}

#[test]
fn an_interrupted_import_continues() {
    let (src, target) = (Server::sqlite(), Server::sqlite());
    fill_source(&src);
    let r = import(&src, &target, &["--limit", "4"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("stopped after 4 of 12"), "{}", r.stdout);
    assert_eq!(
        target.ok("GET", "/mode", None),
        json!({"mode": "READWRITE"})
    );
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    let r = import(&src, &target, &["--limit", "3"]);
    assert!(r.stdout.contains("stopped after 3 of 8"), "{}", r.stdout);
    let r = import(&src, &target, &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("imported: 5 version(s)"), "{}", r.stdout);
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(import(&src, &target, &[]).stdout.contains("0 to copy"));

    // The source moves on: a new version in a subject with its own READWRITE mode (the
    // target's copy of it would override the global IMPORT) and one in another. The
    // switch to IMPORT hard-deletes the target's soft-deleted versions; the run puts
    // them back, soft-deleted again.
    src.ok(
        "POST",
        "/subjects/payments-value/versions",
        Some(json!({"schema": EVENT_PROTO.replace("amount = 2;", "amount = 2;\n  string note = 3;"),
                    "schemaType": "PROTOBUF",
                    "references": [{"name": "common.proto", "subject": "common.proto", "version": 1}]})),
    );
    src.ok(
        "POST",
        "/subjects/json-value/versions",
        Some(json!({"schema": json_schema(&["d"]), "schemaType": "JSON"})),
    );
    let r = import(&src, &target, &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("to copy: 2 subject(s), 2 version(s), 2 schema(s)"),
        "{}",
        r.stdout
    );
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert_eq!(
        target.ok("GET", "/mode/payments-value", None),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        target.ok("GET", "/mode", None),
        json!({"mode": "READWRITE"})
    );
}

#[test]
fn an_import_killed_halfway_completes_when_run_again() {
    let (src, target) = (Server::sqlite(), Server::sqlite());
    src.ok("PUT", "/mode?force=true", Some(json!({"mode": "IMPORT"})));
    let n = 400;
    for i in 0..n {
        let schema =
            format!(r#"{{"type":"record","name":"K{i}","fields":[{{"name":"f","type":"long"}}]}}"#);
        src.ok(
            "POST",
            &format!("/subjects/k{i}-value/versions"),
            Some(json!({"schema": schema, "id": 3 * i + 2, "version": 1})),
        );
    }
    src.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    let mut child = command(None)
        .args(["--url", &target.url, "--token", &target.token, "import"])
        .args(["--from", &src.url, "--from-token", &src.token])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord runs");
    // SIGKILL once some versions are in and before all are.
    let deadline = Instant::now() + Duration::from_secs(60);
    let copied = loop {
        let (status, body) = target.call("GET", "/subjects", None);
        let count = if status == 200 {
            body.as_array().map_or(0, Vec::len)
        } else {
            0
        };
        if count >= 20 || Instant::now() > deadline {
            break count;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().expect("killed");
    let _ = child.wait();
    let now_there = target
        .ok("GET", "/subjects", None)
        .as_array()
        .map_or(0, Vec::len);
    assert!(copied >= 20, "no progress before the kill");
    assert!(
        now_there < n,
        "the import finished before the kill ({now_there})"
    );
    // The target was left in IMPORT (the run could not restore it); the next run
    // continues, says so, and completes.
    let r = import(&src, &target, &[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("stays IMPORT"), "{}", r.stderr);
    target.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with(&format!("IDENTICAL: {n} schema(s), {n} version(s)")),
        "{}",
        r.stdout
    );
}

#[test]
fn a_conflicting_id_stops_the_import_before_any_change() {
    let (src, target) = (Server::sqlite(), Server::sqlite());
    fill_source(&src);
    // The target already uses id 12 for another schema.
    target.ok("PUT", "/mode?force=true", Some(json!({"mode": "IMPORT"})));
    target.ok(
        "POST",
        "/subjects/mine-value/versions",
        Some(json!({"schema": USER, "id": 12, "version": 1})),
    );
    target.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    let before = target.snapshot();
    let r = import(&src, &target, &[]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("id 12 is another schema in the target"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("orders-value/1"), "{}", r.stdout);
    assert!(r.stdout.contains("mine-value/1"), "{}", r.stdout);
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(target.snapshot(), before, "the target is unchanged");

    // A subject version that points at another id in the target.
    let other = Server::sqlite();
    other.ok("PUT", "/mode?force=true", Some(json!({"mode": "IMPORT"})));
    other.ok(
        "POST",
        "/subjects/json-value/versions",
        Some(json!({"schema": json_schema(&["a"]), "schemaType": "JSON", "id": 99, "version": 1})),
    );
    other.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    let before = other.snapshot();
    let r = import(&src, &other, &[]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "subject json-value version 1 is id 30 in the source but id 99 in the target"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(other.snapshot(), before, "the target is unchanged");
}

#[test]
fn an_unreachable_source_or_refused_credentials_exit_3() {
    let target = Server::sqlite();
    let r = command(None)
        .args(["--url", &target.url, "--token", &target.token, "import"])
        .args(["--from", &support::dead_url()])
        .output()
        .expect("accord runs");
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot reach the registry"));
    let src = Server::sqlite();
    let r = command(None)
        .args(["--url", &target.url, "--token", &target.token, "import"])
        .args(["--from", &src.url, "--from-token", "nope.nope"])
        .output()
        .expect("accord runs");
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains(&src.url));
}

/// `accord import --follow` running as a child process until SIGTERM.
struct Follower {
    child: Option<std::process::Child>,
}

impl Follower {
    fn start(source: &Server, target: &Server) -> Follower {
        let child = command(None)
            .args(["--url", &target.url, "--token", &target.token, "import"])
            .args(["--from", &source.url, "--from-token", &source.token])
            .args(["--follow", "--interval-ms", "200"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("accord runs");
        Follower { child: Some(child) }
    }

    /// SIGTERM, then the exit code and output (bounded wait).
    fn stop(mut self) -> Run {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "--follow did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("output");
        run_of(out)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
    }
}

/// Waits (at most 20 s) until the target holds what the source holds; `what` names the
/// change being waited for.
fn in_step(src: &Server, target: &Server, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, t) = (src.content(), target.content());
        if s == t {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the target is not in step after 20 s\nsource {s}\ntarget {t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn follow_keeps_the_target_in_step_and_resumes_after_sigterm() {
    let (src, target) = (Server::sqlite(), Server::sqlite());
    fill_source(&src);
    let follower = Follower::start(&src, &target);
    in_step(&src, &target, "the first pass");
    assert_eq!(target.ok("GET", "/mode", None), json!({"mode": "IMPORT"}));

    // A new version.
    let v3 = ORDER_V2.replace(
        r#"{"name":"note""#,
        r#"{"name":"tag","type":["null","string"],"default":null},{"name":"note""#,
    );
    let added = src.ok(
        "POST",
        "/subjects/orders-value/versions",
        Some(json!({"schema": v3, "references": [{"name": "com.acme.Address", "subject": "address-value", "version": 1}]})),
    );
    in_step(&src, &target, "a new version");
    let copied = target.ok("GET", "/subjects/orders-value/versions/3", None);
    assert_eq!(copied["id"], added["id"], "{copied}");
    // A soft delete, then a permanent delete of an already soft-deleted version.
    src.ok("DELETE", "/subjects/json-value/versions/3", None);
    in_step(&src, &target, "a soft delete");
    assert_eq!(
        target.ok("GET", "/subjects/json-value/versions", None),
        json!([1])
    );
    src.ok(
        "DELETE",
        "/subjects/json-value/versions/2?permanent=true",
        None,
    );
    in_step(&src, &target, "a permanent delete");
    assert_eq!(
        target.ok("GET", "/subjects/json-value/versions?deleted=true", None),
        json!([1, 3])
    );
    // A config change, a config removal, a mode change.
    src.ok(
        "PUT",
        "/config/json-value",
        Some(json!({"compatibility": "BACKWARD"})),
    );
    src.ok("DELETE", "/config/orders-value", None);
    src.ok(
        "PUT",
        "/mode/payments-value",
        Some(json!({"mode": "READONLY"})),
    );
    in_step(&src, &target, "config and mode changes");
    assert_eq!(
        target.call("GET", "/config/orders-value", None).0,
        404,
        "the removed config is removed"
    );
    // `in_step` leaves modes out (the target's differ by design); a subject's mode is
    // copied in its own step, so wait for it too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while target.ok("GET", "/mode/payments-value", None) != json!({"mode": "READONLY"}) {
        assert!(
            Instant::now() < deadline,
            "the subject's mode is not copied after 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM: a clean stop, the target's global mode restored.
    let r = follower.stop();
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("stopping"), "{}", r.stdout);
    assert_eq!(
        target.ok("GET", "/mode", None),
        json!({"mode": "READWRITE"})
    );

    // Changes while it is stopped are picked up when it runs again.
    src.ok(
        "PUT",
        "/config/json-value",
        Some(json!({"compatibility": "NONE"})),
    );
    src.ok(
        "POST",
        "/subjects/json-value/versions",
        Some(json!({"schema": json_schema(&["e"]), "schemaType": "JSON"})),
    );
    src.ok(
        "DELETE",
        "/subjects/json-value/versions/3?permanent=true",
        None,
    );
    let follower = Follower::start(&src, &target);
    in_step(&src, &target, "after the restart");
    let r = follower.stop();
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let r = import(&src, &target, &["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
}

/// A `_schemas` dump as `kafka-console-consumer --property print.key=true` prints it,
/// in Confluent's record formats (storage/*Key.java, *Value.java): schemas of the three
/// formats with a reference, a context subject, a soft-deleted version, a subject
/// deleted with DELETE_SUBJECT then cleared with CLEAR_SUBJECT, a version tombstoned,
/// configs and modes set and tombstoned, NOOP records and timestamps printed.
const DUMP: &[&str] = &[
    r#"{"keytype":"NOOP","magic":0}	null"#,
    r#"{"keytype":"CONFIG","subject":null,"magic":0}	{"compatibilityLevel":"FULL"}"#,
    r#"{"keytype":"SCHEMA","subject":"address-value","version":1,"magic":1}	{"subject":"address-value","version":1,"id":10,"schema":"{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"street\",\"type\":\"string\"}]}","deleted":false}"#,
    r#"CreateTime:1733480000000	{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}	{"subject":"orders-value","version":1,"id":12,"references":[{"name":"com.acme.Address","subject":"address-value","version":1}],"schema":"{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"ship_to\",\"type\":\"com.acme.Address\"}]}","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"common.proto","version":1,"magic":1}	{"subject":"common.proto","version":1,"id":20,"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";\npackage acme;\n\nmessage Money {\n  int64 cents = 1;\n  string currency = 2;\n}\n","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"json-value","version":1,"magic":1}	{"subject":"json-value","version":1,"id":30,"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"json-value","version":2,"magic":1}	{"subject":"json-value","version":2,"id":31,"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}}}","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"json-value","version":2,"magic":1}	{"subject":"json-value","version":2,"id":31,"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}}}","deleted":true}"#,
    r#"{"keytype":"SCHEMA","subject":"gone-value","version":1,"magic":1}	{"subject":"gone-value","version":1,"id":40,"schema":"\"string\"","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"gone-value","version":2,"magic":1}	{"subject":"gone-value","version":2,"id":41,"schema":"\"long\"","deleted":false}"#,
    r#"{"keytype":"DELETE_SUBJECT","subject":"gone-value","magic":0}	{"subject":"gone-value","version":2}"#,
    r#"{"keytype":"CLEAR_SUBJECT","subject":"gone-value","magic":0}	{"subject":"gone-value"}"#,
    r#"{"keytype":"SCHEMA","subject":"soft-value","version":1,"magic":1}	{"subject":"soft-value","version":1,"id":42,"schema":"\"int\"","deleted":false}"#,
    r#"{"keytype":"DELETE_SUBJECT","subject":"soft-value","magic":0}	{"subject":"soft-value","version":1}"#,
    r#"{"keytype":"SCHEMA","subject":"tomb-value","version":1,"magic":1}	{"subject":"tomb-value","version":1,"id":43,"schema":"\"bytes\"","deleted":false}"#,
    r#"{"keytype":"SCHEMA","subject":"tomb-value","version":1,"magic":1}	null"#,
    r#"{"keytype":"SCHEMA","subject":":.eu:users-value","version":1,"magic":1}	{"subject":":.eu:users-value","version":1,"id":10,"schema":"{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}","deleted":false}"#,
    r#"{"keytype":"CONTEXT","tenant":"default","context":".eu","magic":0}	{"tenant":"default","context":".eu"}"#,
    r#"{"keytype":"CONFIG","subject":"orders-value","magic":0}	{"compatibilityLevel":"FULL_TRANSITIVE","subject":"orders-value"}"#,
    r#"{"keytype":"CONFIG","subject":"json-value","magic":0}	{"compatibilityLevel":"NONE"}"#,
    r#"{"keytype":"CONFIG","subject":"json-value","magic":0}	null"#,
    r#"{"keytype":"MODE","subject":"common.proto","magic":0}	{"mode":"READONLY"}"#,
    r#"{"keytype":"MODE","subject":"orders-value","magic":0}	{"mode":"READONLY"}"#,
    r#"{"keytype":"MODE","subject":"orders-value","magic":0}	null"#,
    r#"{"keytype":"NOOP","magic":0}	null"#,
];

#[test]
fn a_schemas_topic_dump_rebuilds_the_registry() {
    let target = Server::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("schemas.dump");
    std::fs::write(&path, DUMP.join("\n") + "\n").expect("dump written");
    let dump = path.to_str().expect("path");
    let from_dump = |extra: &[&str]| {
        let out = command(None)
            .args(["--url", &target.url, "--token", &target.token, "import"])
            .args(["--from-dump", dump])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("accord runs");
        run_of(out)
    };
    let r = from_dump(&[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("dump: 25 record(s), 5 tombstone(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("to copy: 6 subject(s), 7 version(s), 7 schema(s), 2 soft delete(s), 2 config(s), 1 mode(s)"),
        "{}",
        r.stdout
    );
    // Ids and versions as the records left them.
    let id_of = |path: &str| target.ok("GET", path, None)["id"].clone();
    assert_eq!(id_of("/subjects/orders-value/versions/1"), 12);
    assert_eq!(id_of("/subjects/common.proto/versions/1"), 20);
    assert_eq!(id_of("/subjects/:.eu:users-value/versions/1"), 10);
    assert_eq!(id_of("/subjects/address-value/versions/1"), 10);
    assert_eq!(
        target.ok("GET", "/subjects/orders-value/versions/1", None)["references"],
        json!([{"name": "com.acme.Address", "subject": "address-value", "version": 1}])
    );
    assert_eq!(
        target.ok("GET", "/subjects/json-value/versions", None),
        json!([1])
    );
    assert_eq!(
        target.ok("GET", "/subjects/json-value/versions?deleted=true", None),
        json!([1, 2])
    );
    assert_eq!(
        target.ok("GET", "/subjects/soft-value/versions?deleted=true", None),
        json!([1])
    );
    assert_eq!(
        target.call("GET", "/subjects/soft-value/versions", None).0,
        404
    );
    // Cleared and tombstoned versions are not there, nor their ids.
    for gone in ["gone-value", "tomb-value"] {
        let (status, _) = target.call(
            "GET",
            &format!("/subjects/{gone}/versions?deleted=true"),
            None,
        );
        assert_eq!(status, 404, "{gone}");
    }
    for id in [40, 41, 43] {
        assert_eq!(
            target.call("GET", &format!("/schemas/ids/{id}"), None).0,
            404,
            "id {id}"
        );
    }
    // Configs and modes: the last record of each wins; a tombstone removes.
    assert_eq!(
        target.ok("GET", "/config", None),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        target.ok("GET", "/config/orders-value", None),
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );
    assert_eq!(target.call("GET", "/config/json-value", None).0, 404);
    assert_eq!(
        target.ok("GET", "/mode/common.proto", None),
        json!({"mode": "READONLY"})
    );
    assert_eq!(target.call("GET", "/mode/orders-value", None).0, 404);
    assert_eq!(
        target.ok("GET", "/mode", None),
        json!({"mode": "READWRITE"})
    );

    // Again: nothing to copy; and --verify agrees.
    let r = from_dump(&[]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 to copy"), "{}", r.stdout);
    let r = from_dump(&["--verify"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("IDENTICAL: 7 schema(s), 7 version(s) (2 soft-deleted)"),
        "{}",
        r.stdout
    );

    // A broken line names its number and changes nothing.
    std::fs::write(&path, format!("{}\n{{\"keytype\": oops\tnull\n", DUMP[0])).expect("written");
    let r = from_dump(&[]);
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("line 2: the key is not JSON"),
        "{}",
        r.stderr
    );
}
