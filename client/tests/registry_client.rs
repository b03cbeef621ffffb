//! The registry client against a real Accord registry (every method, error mapping,
//! caches proven by the server's own request counters) and against small scripted
//! HTTP servers for what a healthy registry cannot show: the headers sent, retries on
//! 5xx, none on 4xx, fail-over, timeouts, TLS with a private CA, odd answers.

mod common;

use accord_client::registry::{
    CompatibilityConfig, CompatibilityTarget, RegistryClient, RegistryConfig,
};
use accord_client::{ClientError, RegisteredSchema, SchemaSource};
use accord_compat::{CompatibilityLevel, SchemaFormat};
use base64::Engine;
use common::*;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const IDS: &str = "/schemas/ids/{id}";
const GUIDS: &str = "/schemas/guids/{guid}";
const VERSION: &str = "/subjects/{subject}/versions/{version}";
const VERSIONS: &str = "/subjects/{subject}/versions";
const METADATA: &str = "/subjects/{subject}/metadata";
const LOOKUP: &str = "/subjects/{subject}";
const BUILD: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

fn registry_error(e: &ClientError) -> (u16, i64) {
    match e {
        ClientError::Registry {
            status, error_code, ..
        } => (*status, *error_code),
        other => panic!("expected a registry error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Every method against a real registry.
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_lookup_and_fetch_by_id_guid_version_and_latest() {
    let reg = TestRegistry::start().await;
    let client = reg.client();

    let v1 = client
        .register("users-value", &avro(USER_V1), false)
        .await
        .unwrap();
    assert!(v1.id > 0);
    assert_eq!(v1.version, Some(1));
    assert_eq!(v1.subject.as_deref(), Some("users-value"));
    assert_eq!(v1.format, SchemaFormat::Avro);
    let guid = v1.guid.clone().expect("the registry assigns a GUID");

    // Fresh clients, so that each answer comes from the registry, not a cache.
    let again = reg
        .client()
        .register("users-value", &avro(USER_V1), false)
        .await
        .unwrap();
    assert_eq!((again.id, again.version), (v1.id, Some(1)));

    let found = reg
        .client()
        .lookup("users-value", &avro(USER_V1), false)
        .await
        .unwrap();
    assert_eq!((found.id, found.version), (v1.id, Some(1)));
    assert_eq!(found.schema, v1.schema);

    let normalized = reg
        .client()
        .lookup("users-value", &avro(USER_V1), true)
        .await
        .unwrap();
    assert_eq!(normalized.id, v1.id);

    let by_id = reg.client().schema_by_id(v1.id).await.unwrap();
    assert_eq!(by_id.schema, v1.schema);
    assert_eq!(by_id.id, v1.id);
    assert_eq!(by_id.guid.as_deref(), Some(guid.as_str()));
    assert_eq!((by_id.subject.as_deref(), by_id.version), (None, None));

    let by_guid = reg.client().schema_by_guid(&guid).await.unwrap();
    assert_eq!(
        by_guid.id, v1.id,
        "the id comes from /schemas/guids/{{guid}}/ids"
    );
    assert_eq!(by_guid.schema, v1.schema);
    // What `register` cached under the id and GUID has the by-id shape too.
    let cached = client.schema_by_guid(&guid).await.unwrap();
    assert_eq!(
        (cached.id, cached.subject.as_deref(), cached.version),
        (v1.id, None, None)
    );
    let cached = client.schema_by_id(v1.id).await.unwrap();
    assert_eq!((cached.subject.as_deref(), cached.version), (None, None));

    let version = reg.client().version("users-value", 1).await.unwrap();
    assert_eq!((version.id, version.version), (v1.id, Some(1)));

    // `latest` is cached, and registering through the same client refreshes it.
    assert_eq!(client.latest("users-value").await.unwrap().version, Some(1));
    let v2 = client
        .register("users-value", &avro(USER_V2_OPTIONAL), false)
        .await
        .unwrap();
    assert_eq!(v2.version, Some(2));
    assert_ne!(v2.id, v1.id);
    let latest = client.latest("users-value").await.unwrap();
    assert_eq!((latest.id, latest.version), (v2.id, Some(2)));
    assert_eq!(client.version("users-value", -1).await.unwrap().id, v2.id);

    client
        .register("orders-value", &avro(r#""string""#), false)
        .await
        .unwrap();
    assert_eq!(
        client.subjects().await.unwrap(),
        vec!["orders-value".to_string(), "users-value".to_string()]
    );
    assert_eq!(client.versions("users-value").await.unwrap(), vec![1, 2]);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_and_json_schemas_with_references_and_metadata_round_trip() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    let dep = client
        .register(
            "address",
            &spec(
                SchemaFormat::Protobuf,
                "syntax = \"proto3\";\npackage acme;\n\nmessage Address {\n  string city = 1;\n}\n",
            ),
            false,
        )
        .await
        .unwrap();
    let mut user = spec(
        SchemaFormat::Protobuf,
        "syntax = \"proto3\";\npackage acme;\n\nimport \"address.proto\";\n\nmessage User {\n  string name = 1;\n  acme.Address home = 2;\n}\n",
    );
    user.references = vec![accord_client::SchemaReference {
        name: "address.proto".into(),
        subject: "address".into(),
        version: 1,
    }];
    user.metadata = Some(json!({"properties": {"owner": "team-a"}}));
    let registered = client.register("users-proto", &user, false).await.unwrap();
    assert_eq!(registered.format, SchemaFormat::Protobuf);
    assert_eq!(registered.references, user.references);
    let fetched = reg.client().schema_by_id(registered.id).await.unwrap();
    assert_eq!(fetched.format, SchemaFormat::Protobuf);
    assert_eq!(fetched.references, user.references);
    assert_eq!(
        fetched.metadata.as_ref().unwrap()["properties"]["owner"],
        "team-a"
    );
    assert_ne!(fetched.id, dep.id);

    let json_schema = r#"{"type":"object","properties":{"a":{"type":"string"}}}"#;
    let j = client
        .register(
            "events-value",
            &spec(SchemaFormat::Json, json_schema),
            false,
        )
        .await
        .unwrap();
    let j = reg.client().schema_by_id(j.id).await.unwrap();
    assert_eq!(j.format, SchemaFormat::Json);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_with_metadata_picks_the_newest_matching_version() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    let mut v1 = avro(USER_V1);
    v1.metadata = Some(json!({"properties": {"owner": "alice", "tier": "gold"}}));
    let mut v2 = avro(USER_V2_OPTIONAL);
    v2.metadata = Some(json!({"properties": {"owner": "bob", "tier": "gold"}}));
    let r1 = client.register("m-value", &v1, false).await.unwrap();
    let r2 = client.register("m-value", &v2, false).await.unwrap();

    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let alice = client
        .latest_with_metadata("m-value", &pairs(&[("owner", "alice")]))
        .await
        .unwrap();
    assert_eq!((alice.id, alice.version), (r1.id, Some(1)));
    let gold = client
        .latest_with_metadata("m-value", &pairs(&[("tier", "gold")]))
        .await
        .unwrap();
    assert_eq!((gold.id, gold.version), (r2.id, Some(2)));
    let both = client
        .latest_with_metadata("m-value", &pairs(&[("tier", "gold"), ("owner", "alice")]))
        .await
        .unwrap();
    assert_eq!(both.version, Some(1));
    let none = client
        .latest_with_metadata("m-value", &pairs(&[("owner", "carol")]))
        .await
        .unwrap_err();
    assert_eq!(registry_error(&none), (404, 40403));
    let missing = client
        .latest_with_metadata("no-such-subject", &pairs(&[("owner", "alice")]))
        .await
        .unwrap_err();
    assert_eq!(registry_error(&missing), (404, 40401));
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_tests_give_verdicts_and_reasons() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    // No versions yet: compatible with "latest".
    let empty = client
        .test_compatibility(
            "c-value",
            &avro(USER_V1),
            CompatibilityTarget::Latest,
            false,
            false,
        )
        .await
        .unwrap();
    assert!(empty.is_compatible);
    client
        .register("c-value", &avro(USER_V1), false)
        .await
        .unwrap();

    for target in [
        CompatibilityTarget::Latest,
        CompatibilityTarget::Version(1),
        CompatibilityTarget::AllVersions,
    ] {
        let ok = client
            .test_compatibility("c-value", &avro(USER_V2_OPTIONAL), target, false, true)
            .await
            .unwrap();
        assert!(ok.is_compatible, "{target:?}: {:?}", ok.messages);
        let bad = client
            .test_compatibility("c-value", &avro(USER_V2_REQUIRED), target, false, true)
            .await
            .unwrap();
        assert!(!bad.is_compatible, "{target:?}");
        assert!(
            bad.messages.iter().any(|m| m.contains("email")),
            "{target:?}: {:?}",
            bad.messages
        );
    }
    let terse = client
        .test_compatibility(
            "c-value",
            &avro(USER_V2_REQUIRED),
            CompatibilityTarget::Latest,
            true,
            false,
        )
        .await
        .unwrap();
    assert!(!terse.is_compatible);
    assert!(terse.messages.is_empty());

    let unknown_version = client
        .test_compatibility(
            "c-value",
            &avro(USER_V1),
            CompatibilityTarget::Version(9),
            false,
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(registry_error(&unknown_version), (404, 40402));
    // An invalid schema: a 42201 error, or with verbose a verdict that says why.
    let invalid = client
        .test_compatibility(
            "c-value",
            &avro("{not json"),
            CompatibilityTarget::Latest,
            false,
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(registry_error(&invalid), (422, 42201));
    let verbose = client
        .test_compatibility(
            "c-value",
            &avro("{not json"),
            CompatibilityTarget::Latest,
            false,
            true,
        )
        .await
        .unwrap();
    assert!(!verbose.is_compatible);
    assert!(!verbose.messages.is_empty());
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_mode_are_read_and_written() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    let global = client.config(None).await.unwrap();
    assert_eq!(
        global.compatibility_level,
        Some(CompatibilityLevel::Backward)
    );

    let set = client
        .set_config(None, &CompatibilityConfig::level(CompatibilityLevel::Full))
        .await
        .unwrap();
    assert_eq!(set.compatibility_level, Some(CompatibilityLevel::Full));
    assert_eq!(
        client.config(None).await.unwrap().compatibility_level,
        Some(CompatibilityLevel::Full)
    );

    let none = client.config(Some("s-value")).await.unwrap_err();
    assert_eq!(registry_error(&none), (404, 40408));
    let update = CompatibilityConfig {
        compatibility_level: Some(CompatibilityLevel::None),
        normalize: Some(true),
        ..Default::default()
    };
    let set = client.set_config(Some("s-value"), &update).await.unwrap();
    assert_eq!(set.compatibility_level, Some(CompatibilityLevel::None));
    assert_eq!(set.normalize, Some(true));
    let read = client.config(Some("s-value")).await.unwrap();
    assert_eq!(read.compatibility_level, Some(CompatibilityLevel::None));
    assert_eq!(read.normalize, Some(true));
    // A partial update keeps what it does not mention; the answer echoes the request,
    // as Confluent's does, and a read shows the whole config.
    let set = client
        .set_config(
            Some("s-value"),
            &CompatibilityConfig::level(CompatibilityLevel::Forward),
        )
        .await
        .unwrap();
    assert_eq!(
        (set.compatibility_level, set.normalize),
        (Some(CompatibilityLevel::Forward), None)
    );
    let read = client.config(Some("s-value")).await.unwrap();
    assert_eq!(
        (read.compatibility_level, read.normalize),
        (Some(CompatibilityLevel::Forward), Some(true))
    );

    assert_eq!(client.mode(None).await.unwrap(), "READWRITE");
    let no_mode = client.mode(Some("s-value")).await.unwrap_err();
    assert_eq!(registry_error(&no_mode), (404, 40409));
    assert_eq!(
        client
            .set_mode(Some("s-value"), "READONLY", false)
            .await
            .unwrap(),
        "READONLY"
    );
    assert_eq!(client.mode(Some("s-value")).await.unwrap(), "READONLY");
    let refused = client
        .register("s-value", &avro(USER_V1), false)
        .await
        .unwrap_err();
    assert_eq!(registry_error(&refused), (422, 42205));
    let invalid = client.set_mode(None, "SIDEWAYS", false).await.unwrap_err();
    assert_eq!(registry_error(&invalid), (422, 42204));
    assert_eq!(
        client.set_mode(None, "IMPORT", false).await.unwrap(),
        "IMPORT"
    );
    assert_eq!(client.mode(None).await.unwrap(), "IMPORT");
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_return_versions_and_drop_cached_answers() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    client
        .register("d-value", &avro(USER_V1), false)
        .await
        .unwrap();
    let v2 = client
        .register("d-value", &avro(USER_V2_OPTIONAL), false)
        .await
        .unwrap();
    // Warm the caches that a delete makes stale.
    assert_eq!(client.latest("d-value").await.unwrap().id, v2.id);
    client.version("d-value", 2).await.unwrap();

    assert_eq!(client.delete_version("d-value", 2, false).await.unwrap(), 2);
    assert_eq!(client.versions("d-value").await.unwrap(), vec![1]);
    assert_eq!(client.latest("d-value").await.unwrap().version, Some(1));
    let gone = client.version("d-value", 2).await.unwrap_err();
    assert_eq!(registry_error(&gone), (404, 40402));
    let not_deleted_first = client.delete_version("d-value", 1, true).await.unwrap_err();
    assert_eq!(registry_error(&not_deleted_first), (404, 40407));

    assert_eq!(
        client.delete_subject("d-value", false).await.unwrap(),
        vec![1]
    );
    let gone = client.latest("d-value").await.unwrap_err();
    assert_eq!(registry_error(&gone), (404, 40401));
    let again = client.delete_subject("d-value", false).await.unwrap_err();
    assert_eq!(registry_error(&again), (404, 40404));
    // A permanent delete also removes the version soft-deleted before.
    assert_eq!(
        client.delete_subject("d-value", true).await.unwrap(),
        vec![1, 2]
    );
    assert!(client.subjects().await.unwrap().is_empty());
    // Ids never change meaning: the schema is still readable by id from the cache.
    assert_eq!(client.schema_by_id(v2.id).await.unwrap().id, v2.id);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_errors_map_to_status_and_error_code() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    client
        .register("e-value", &avro(USER_V1), false)
        .await
        .unwrap();

    let e = client.latest("nope").await.unwrap_err();
    assert_eq!(registry_error(&e), (404, 40401));
    assert!(e.is_not_found());
    assert!(e.to_string().contains("nope"), "{e}");

    let e = client.version("e-value", 99).await.unwrap_err();
    assert_eq!(registry_error(&e), (404, 40402));

    let e = client.schema_by_id(987_654).await.unwrap_err();
    assert_eq!(registry_error(&e), (404, 40403));
    assert!(e.is_not_found());
    let e = client
        .schema_by_guid("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(registry_error(&e), (404, 40403));
    let e = client
        .lookup("e-value", &avro(USER_V2_OPTIONAL), false)
        .await
        .unwrap_err();
    assert_eq!(registry_error(&e), (404, 40403));
    let e = client
        .lookup("nope", &avro(USER_V1), false)
        .await
        .unwrap_err();
    assert_eq!(registry_error(&e), (404, 40401));

    let e = client
        .register("e-value", &avro(USER_V2_REQUIRED), false)
        .await
        .unwrap_err();
    assert!(e.is_incompatible(), "{e:?}");
    assert_eq!(registry_error(&e), (409, 40901));

    let e = client
        .register("e-value", &avro("{not json"), false)
        .await
        .unwrap_err();
    assert_eq!(registry_error(&e), (422, 42201));
    let e = client
        .register("e-value", &spec(SchemaFormat::Protobuf, "message {"), false)
        .await
        .unwrap_err();
    assert_eq!(registry_error(&e), (422, 42201));

    let e = client.version("e-value", 0).await.unwrap_err();
    assert_eq!(registry_error(&e), (422, 42202));

    // Errors are not cached: once the subject exists, the same call succeeds.
    let e = client.latest("later").await.unwrap_err();
    assert!(e.is_not_found());
    client
        .register("later", &avro(USER_V1), false)
        .await
        .unwrap();
    assert_eq!(client.latest("later").await.unwrap().version, Some(1));
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_with_reserved_characters_are_percent_encoded() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    let subject = "team/orders value?x=1&y#é%";
    let r = client
        .register(subject, &avro(USER_V1), false)
        .await
        .unwrap();
    assert_eq!(r.subject.as_deref(), Some(subject));
    assert_eq!(client.subjects().await.unwrap(), vec![subject.to_string()]);
    assert_eq!(client.versions(subject).await.unwrap(), vec![1]);
    assert_eq!(reg.client().latest(subject).await.unwrap().id, r.id);
    assert_eq!(
        reg.client()
            .lookup(subject, &avro(USER_V1), false)
            .await
            .unwrap()
            .id,
        r.id
    );
    client
        .set_config(
            Some(subject),
            &CompatibilityConfig::level(CompatibilityLevel::None),
        )
        .await
        .unwrap();
    assert_eq!(
        client.delete_subject(subject, false).await.unwrap(),
        vec![1]
    );
    reg.stop().await;
}

/// Serializers see the client only through `SchemaSource`.
async fn through_source<S: SchemaSource>(source: &S, subject: &str) -> Arc<RegisteredSchema> {
    let registered = source
        .register(subject, &avro(USER_V1), false)
        .await
        .unwrap();
    assert_eq!(
        source
            .lookup(subject, &avro(USER_V1), false)
            .await
            .unwrap()
            .id,
        registered.id
    );
    assert_eq!(
        source.schema_by_id(registered.id).await.unwrap().id,
        registered.id
    );
    let guid = registered.guid.clone().unwrap();
    assert_eq!(
        source.schema_by_guid(&guid).await.unwrap().id,
        registered.id
    );
    assert_eq!(source.latest(subject).await.unwrap().id, registered.id);
    assert_eq!(source.version(subject, 1).await.unwrap().id, registered.id);
    assert_eq!(
        source.latest_with_metadata(subject, &[]).await.unwrap().id,
        registered.id
    );
    registered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_a_schema_source() {
    let reg = TestRegistry::start().await;
    let client = RegistryClient::new(RegistryConfig::new(reg.url.clone())).unwrap();
    let r = through_source(&client, "src-value").await;
    assert_eq!(r.version, Some(1));
    reg.stop().await;
}

// ---------------------------------------------------------------------------------
// Caches, proven by the registry's request counters.
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_schema_by_id_makes_one_request_for_a_thousand_calls() {
    let reg = TestRegistry::start().await;
    let id = reg
        .client()
        .register("hot-value", &avro(USER_V1), false)
        .await
        .unwrap()
        .id;
    let client = reg.client();
    let before = reg.request_count(IDS, "GET", 200).await;
    let first = client.schema_by_id(id).await.unwrap();
    let started = Instant::now();
    for _ in 0..1000 {
        let again = client.schema_by_id(id).await.unwrap();
        // The same allocation every time: a hit clones an Arc, nothing more.
        assert!(Arc::ptr_eq(&first, &again));
    }
    let per_call = started.elapsed() / 1000;
    assert_eq!(reg.request_count(IDS, "GET", 200).await - before, 1);
    eprintln!("cached schema_by_id: {per_call:?} per call ({BUILD} build)");

    // Also through the SchemaSource trait, and for a 404: errors are not cached.
    SchemaSource::schema_by_id(&client, id).await.unwrap();
    assert_eq!(reg.request_count(IDS, "GET", 200).await - before, 1);
    let misses = reg.request_count(IDS, "GET", 404).await;
    assert!(client.schema_by_id(id + 1000).await.is_err());
    assert!(client.schema_by_id(id + 1000).await.is_err());
    assert_eq!(reg.request_count(IDS, "GET", 404).await - misses, 2);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_guid_version_register_and_lookup_make_one_request_each() {
    let reg = TestRegistry::start().await;
    let client = reg.client();
    let before_register = reg.request_count(VERSIONS, "POST", 200).await;
    let registered = client
        .register("hot-value", &avro(USER_V1), false)
        .await
        .unwrap();
    let spec = avro(USER_V1);
    let started = Instant::now();
    for _ in 0..1000 {
        client.register("hot-value", &spec, false).await.unwrap();
    }
    eprintln!(
        "cached register: {:?} per call ({BUILD} build)",
        started.elapsed() / 1000
    );
    for _ in 0..1000 {
        client
            .register("hot-value", &avro(USER_V1), false)
            .await
            .unwrap();
        // Registered through this client: the id is known without asking.
        client.schema_by_id(registered.id).await.unwrap();
        // Looking up what was registered needs no request either.
        client
            .lookup("hot-value", &avro(USER_V1), false)
            .await
            .unwrap();
    }
    assert_eq!(
        reg.request_count(VERSIONS, "POST", 200).await - before_register,
        1
    );
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 0);
    assert_eq!(reg.request_count(LOOKUP, "POST", 200).await, 0);

    // Lookup on a fresh client: one request for a thousand calls.
    let fresh = reg.client();
    for _ in 0..1000 {
        fresh
            .lookup("hot-value", &avro(USER_V1), false)
            .await
            .unwrap();
    }
    assert_eq!(reg.request_count(LOOKUP, "POST", 200).await, 1);
    // A different normalize flag or schema is another key.
    fresh
        .lookup("hot-value", &avro(USER_V1), true)
        .await
        .unwrap();
    assert_eq!(reg.request_count(LOOKUP, "POST", 200).await, 2);

    let guid = registered.guid.clone().unwrap();
    let fresh = reg.client();
    for _ in 0..1000 {
        assert_eq!(fresh.schema_by_guid(&guid).await.unwrap().id, registered.id);
        assert_eq!(
            fresh.version("hot-value", 1).await.unwrap().id,
            registered.id
        );
    }
    assert_eq!(reg.request_count(GUIDS, "GET", 200).await, 1);
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 1);
    // Fetching by GUID filled the id cache too.
    fresh.schema_by_id(registered.id).await.unwrap();
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 0);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_versions_are_cached_for_the_ttl() {
    let reg = TestRegistry::start().await;
    let writer = reg.client();
    let mut v1 = avro(USER_V1);
    v1.metadata = Some(json!({"properties": {"owner": "alice"}}));
    writer.register("ttl-value", &v1, false).await.unwrap();
    let pairs = vec![("owner".to_string(), "alice".to_string())];

    // Within the TTL: one request for a thousand calls, even after a new version.
    let client =
        RegistryClient::new(reg.config().with_latest_ttl(Duration::from_secs(600))).unwrap();
    for _ in 0..1000 {
        assert_eq!(client.latest("ttl-value").await.unwrap().version, Some(1));
        assert_eq!(
            client
                .latest_with_metadata("ttl-value", &pairs)
                .await
                .unwrap()
                .version,
            Some(1)
        );
    }
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 1);
    assert_eq!(reg.request_count(METADATA, "GET", 200).await, 1);
    writer
        .register("ttl-value", &avro(USER_V2_OPTIONAL), false)
        .await
        .unwrap();
    assert_eq!(client.latest("ttl-value").await.unwrap().version, Some(1));
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 1);

    // A short TTL: after it, one more request, and the new version.
    let short =
        RegistryClient::new(reg.config().with_latest_ttl(Duration::from_millis(300))).unwrap();
    assert_eq!(short.latest("ttl-value").await.unwrap().version, Some(2));
    assert_eq!(short.latest("ttl-value").await.unwrap().version, Some(2));
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 2);
    let mut v3 = avro(
        r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"nick","type":"string","default":""}]}"#,
    );
    v3.metadata = Some(json!({"properties": {"owner": "alice"}}));
    writer.register("ttl-value", &v3, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(short.latest("ttl-value").await.unwrap().version, Some(3));
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 3);

    // A zero TTL asks every time.
    let uncached = RegistryClient::new(reg.config().with_latest_ttl(Duration::ZERO)).unwrap();
    for _ in 0..5 {
        uncached.latest("ttl-value").await.unwrap();
    }
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 8);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_calls_make_a_single_request() {
    let reg = TestRegistry::start().await;
    let registered = reg
        .client()
        .register("flight-value", &avro(USER_V1), false)
        .await
        .unwrap();
    let client = reg.client();
    let id = registered.id;

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.schema_by_id(id).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.iter().all(|r| Arc::ptr_eq(r, &results[0])));
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 1);

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.latest("flight-value").await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().version, Some(1));
    }
    assert_eq!(reg.request_count(VERSION, "GET", 200).await, 1);

    let before = reg.request_count(VERSIONS, "POST", 200).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.register("flight-value", &avro(USER_V2_OPTIONAL), false)
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().version, Some(2));
    }
    assert_eq!(reg.request_count(VERSIONS, "POST", 200).await - before, 1);

    // Concurrent misses of an unknown id share the one failing request too.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.schema_by_id(424_242).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap_err().is_not_found());
    }
    assert_eq!(reg.request_count(IDS, "GET", 404).await, 1);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_are_bounded_by_their_capacity() {
    let reg = TestRegistry::start().await;
    let writer = reg.client();
    let mut ids = Vec::new();
    for (i, schema) in [r#""string""#, r#""int""#, r#""long""#].iter().enumerate() {
        ids.push(
            writer
                .register(&format!("cap-{i}"), &avro(schema), false)
                .await
                .unwrap()
                .id,
        );
    }
    let client = RegistryClient::new(reg.config().with_cache_capacity(2)).unwrap();
    for id in &ids {
        client.schema_by_id(*id).await.unwrap();
    }
    // Three ids in a cache of two: the first (never read again) was evicted.
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 3);
    client.schema_by_id(ids[2]).await.unwrap();
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 3);
    client.schema_by_id(ids[0]).await.unwrap();
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 4);

    let disabled = RegistryClient::new(reg.config().with_cache_capacity(0)).unwrap();
    for _ in 0..10 {
        disabled.schema_by_id(ids[1]).await.unwrap();
    }
    assert_eq!(reg.request_count(IDS, "GET", 200).await, 14);
    reg.stop().await;
}

// ---------------------------------------------------------------------------------
// A scripted HTTP server, for headers, retries, fail-over, timeouts and odd answers.
// ---------------------------------------------------------------------------------

/// What the stub does with one request.
#[derive(Clone)]
enum Reply {
    /// Answer with this status and body (JSON content type).
    With(u16, String),
    /// Never answer.
    Hang,
}

fn ok(body: serde_json::Value) -> Reply {
    Reply::With(200, body.to_string())
}

fn err(status: u16, code: i64) -> Reply {
    Reply::With(
        status,
        json!({"error_code": code, "message": format!("scripted {code}")}).to_string(),
    )
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP/1.1 server: answers requests with the scripted replies in order, then
/// with `fallback`, and records what it saw.
struct Stub {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct Script {
    replies: Mutex<VecDeque<Reply>>,
    fallback: Reply,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    async fn start(replies: Vec<Reply>, fallback: Reply) -> Stub {
        Self::start_tls(replies, fallback, None).await
    }

    async fn start_tls(
        replies: Vec<Reply>,
        fallback: Reply,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if tls.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            fallback,
            seen: seen.clone(),
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let script = script.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, script).await;
                            }
                        }
                        None => serve(tcp, script).await,
                    }
                });
            }
        });
        Stub {
            url: format!("{scheme}://{host}:{port}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Serves requests on one connection (keep-alive) until it closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, script: Arc<Script>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_string();
        let path = request_line.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        buf.drain(..head_end + length);
        script.seen.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body,
        });
        let reply = script
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| script.fallback.clone());
        match reply {
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::With(status, body) => {
                let response = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
        }
    }
}

/// A schema answer as `GET /schemas/ids/{id}` gives it.
fn schema_answer() -> Reply {
    ok(json!({"schemaType": "AVRO", "schema": "\"string\"", "guid": "g-1"}))
}

/// A client for `urls` that retries quickly.
fn quick(urls: &[&str]) -> RegistryConfig {
    RegistryConfig::default()
        .with_urls(urls.iter().copied())
        .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(40))
        .with_request_timeout(Duration::from_secs(10))
}

/// A local port nothing listens on.
async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn confluent_headers_are_sent_with_every_request() {
    let stub = Stub::start(vec![], schema_answer()).await;
    let client = RegistryClient::new(quick(&[&stub.url])).unwrap();
    client.schema_by_id(1).await.unwrap();
    client
        .register("a/b c", &avro(r#""string""#), true)
        .await
        .unwrap_err(); // the scripted answer has no id: a BadResponse, after the request
    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.header("content-type"),
            Some("application/vnd.schemaregistry.v1+json")
        );
        assert_eq!(
            s.header("accept"),
            Some("application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json")
        );
        assert_eq!(
            s.header("confluent-accept-unknown-properties"),
            Some("true")
        );
        assert_eq!(
            s.header("confluent-client-version"),
            Some(concat!("rust/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(s.header("authorization"), None);
    }
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/schemas/ids/1")
    );
    // Subjects are quoted with safe='' (`/` is %2F), flags are lower-case `true`.
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].path, "/subjects/a%2Fb%20c/versions?normalize=true");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen[1].body).unwrap(),
        json!({"schema": "\"string\"", "schemaType": "AVRO"})
    );
}

#[tokio::test]
async fn basic_and_bearer_credentials_are_sent() {
    let stub = Stub::start(vec![], schema_answer()).await;
    let basic =
        RegistryClient::new(quick(&[&stub.url]).with_basic_auth("alice", "s3cr:et")).unwrap();
    basic.schema_by_id(1).await.unwrap();
    let bearer = RegistryClient::new(quick(&[&stub.url]).with_bearer_token("tok-123")).unwrap();
    bearer.schema_by_id(1).await.unwrap();
    // Credentials in the URL are Basic auth, and stay out of the request line.
    let in_url = stub.url.replace("http://", "http://bob%40acme:p%40ss@");
    let from_url = RegistryClient::new(quick(&[&in_url])).unwrap();
    assert_eq!(from_url.urls(), std::slice::from_ref(&stub.url));
    from_url.schema_by_id(1).await.unwrap();

    let seen = stub.seen();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Basic {}", b64("alice:s3cr:et")).as_str())
    );
    assert_eq!(seen[1].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(
        seen[2].header("authorization"),
        Some(format!("Basic {}", b64("bob@acme:p@ss")).as_str())
    );
    assert_eq!(seen[2].path, "/schemas/ids/1");
}

#[tokio::test]
async fn retriable_statuses_are_retried_with_backoff_then_succeed() {
    let stub = Stub::start(
        vec![
            err(503, 50003),
            err(503, 50003),
            Reply::With(502, "<html>bad gateway</html>".into()),
        ],
        schema_answer(),
    )
    .await;
    let client = RegistryClient::new(
        quick(&[&stub.url]).with_retry_backoff(Duration::from_millis(100), Duration::from_secs(1)),
    )
    .unwrap();
    let started = Instant::now();
    let schema = client.schema_by_id(1).await.unwrap();
    assert_eq!(schema.schema, "\"string\"");
    assert_eq!(stub.count(), 4);
    // Back-off of rounds 1..3 is at least 50 + 100 + 200 ms (half of 100, 200, 400).
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );

    // 408 and 429 are retriable too (as in Confluent's clients).
    let stub = Stub::start(vec![err(429, 429), err(408, 408)], schema_answer()).await;
    let client = RegistryClient::new(quick(&[&stub.url])).unwrap();
    client.schema_by_id(1).await.unwrap();
    assert_eq!(stub.count(), 3);
}

#[tokio::test]
async fn retries_give_up_after_max_retries_with_the_registry_error() {
    let stub = Stub::start(vec![], err(503, 50002)).await;
    let client = RegistryClient::new(quick(&[&stub.url]).with_max_retries(2)).unwrap();
    let e = client.schema_by_id(1).await.unwrap_err();
    assert_eq!(registry_error(&e), (503, 50002));
    assert_eq!(stub.count(), 3, "one try and two retries");

    let stub = Stub::start(vec![], Reply::With(502, "<html>Bad Gateway</html>".into())).await;
    let client = RegistryClient::new(quick(&[&stub.url]).with_max_retries(0)).unwrap();
    match client.latest("s").await.unwrap_err() {
        ClientError::Registry {
            status: 502,
            error_code: 502,
            message,
        } => assert!(message.contains("<html>Bad Gateway</html>"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.count(), 1);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for (status, code) in [
        (400, 400),
        (401, 401),
        (403, 403),
        (404, 40403),
        (409, 40901),
        (422, 42201),
    ] {
        let stub = Stub::start(vec![], err(status, code)).await;
        let client = RegistryClient::new(quick(&[&stub.url, &stub.url])).unwrap();
        let e = client.schema_by_id(1).await.unwrap_err();
        assert_eq!(registry_error(&e), (status, code));
        assert_eq!(stub.count(), 1, "status {status}: no retry, no fail-over");
    }
    // A non-JSON 4xx body is still a clear registry error.
    let stub = Stub::start(vec![], Reply::With(401, "Unauthorized".into())).await;
    let client = RegistryClient::new(quick(&[&stub.url])).unwrap();
    match client.subjects().await.unwrap_err() {
        ClientError::Registry {
            status: 401,
            error_code: 401,
            message,
        } => assert!(message.contains("Unauthorized"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_from_a_dead_url_to_a_live_registry() {
    let reg = TestRegistry::start().await;
    let id = reg
        .client()
        .register("fo-value", &avro(USER_V1), false)
        .await
        .unwrap()
        .id;
    let dead = dead_url().await;
    let client = RegistryClient::new(quick(&[&dead, &reg.url]).with_max_retries(0)).unwrap();
    assert_eq!(client.schema_by_id(id).await.unwrap().id, id);
    assert_eq!(client.latest("fo-value").await.unwrap().id, id);

    // Only dead URLs: Unreachable, after every URL was tried in every round.
    let client =
        RegistryClient::new(quick(&[&dead, &dead_url().await]).with_max_retries(1)).unwrap();
    match client.schema_by_id(id).await.unwrap_err() {
        ClientError::Unreachable(m) => {
            assert!(m.contains("4 attempt(s) over 2 URL(s)"), "{m}");
            assert!(m.contains("127.0.0.1"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    reg.stop().await;
}

#[tokio::test]
async fn fails_over_on_retriable_statuses_and_sticks_to_the_url_that_answered() {
    let a = Stub::start(vec![], err(503, 50003)).await;
    let b = Stub::start(vec![], schema_answer()).await;
    let client = RegistryClient::new(quick(&[&a.url, &b.url]).with_max_retries(0)).unwrap();
    client.schema_by_id(1).await.unwrap();
    assert_eq!((a.count(), b.count()), (1, 1));
    // The next request starts with the URL that answered.
    client.schema_by_id(2).await.unwrap();
    assert_eq!((a.count(), b.count()), (1, 2));
}

#[tokio::test]
async fn a_registry_that_does_not_answer_times_out() {
    let stub = Stub::start(vec![], Reply::Hang).await;
    let client = RegistryClient::new(
        quick(&[&stub.url])
            .with_request_timeout(Duration::from_millis(300))
            .with_max_retries(1),
    )
    .unwrap();
    let started = Instant::now();
    match client.schema_by_id(1).await.unwrap_err() {
        ClientError::Unreachable(m) => assert!(m.contains("timed out"), "{m}"),
        other => panic!("{other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(stub.count(), 2, "a timeout is retried");

    // A timeout fails over like a refused connection.
    let live = Stub::start(vec![], schema_answer()).await;
    let client = RegistryClient::new(
        quick(&[&stub.url, &live.url])
            .with_request_timeout(Duration::from_millis(300))
            .with_max_retries(0),
    )
    .unwrap();
    client.schema_by_id(1).await.unwrap();
    assert_eq!(live.count(), 1);
}

#[tokio::test]
async fn odd_answers_are_clear_errors_and_old_register_answers_are_completed() {
    let stub = Stub::start(
        vec![
            Reply::With(200, "this is not JSON".into()),
            ok(json!({"schema": "\"string\""})),
            ok(json!({"id": 1, "schema": "x", "schemaType": "XML"})),
            // Before Confluent 7.5, register answers only the id.
            ok(json!({"id": 42})),
        ],
        schema_answer(),
    )
    .await;
    let client = RegistryClient::new(quick(&[&stub.url])).unwrap();
    for _ in 0..3 {
        match client.latest("s").await.unwrap_err() {
            ClientError::BadResponse(m) => {
                assert!(m.contains("/subjects/s/versions/latest"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    let spec = spec(SchemaFormat::Json, r#"{"type":"string"}"#);
    let r = client.register("old", &spec, false).await.unwrap();
    assert_eq!(r.id, 42);
    assert_eq!(r.format, SchemaFormat::Json);
    assert_eq!(r.schema, spec.schema);
    assert_eq!(r.subject.as_deref(), Some("old"));
    // ... and filed under its id.
    assert_eq!(client.schema_by_id(42).await.unwrap().schema, spec.schema);
    assert_eq!(stub.count(), 4);
}

#[test]
fn bad_configurations_fail_when_the_client_is_built() {
    for config in [
        RegistryConfig::default().with_urls(Vec::<String>::new()),
        RegistryConfig::new("not a url"),
        RegistryConfig::new("localhost:8081"),
        RegistryConfig::new("http://localhost:8081").with_ca_pem(b"garbage".to_vec()),
        RegistryConfig::new("http://localhost:8081").with_ca_file("/no/such/ca.pem"),
    ] {
        match RegistryClient::new(config) {
            Err(ClientError::Config(m)) => assert!(!m.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// TLS with a private CA.
// ---------------------------------------------------------------------------------

/// A private CA and a server certificate it signed for `localhost` and 127.0.0.1
/// (P-256, valid 2000–2100), made with openssl for these tests.
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBZTCCAQugAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5BY2NvcmQg
VGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGTEXMBUG
A1UEAwwOQWNjb3JkIFRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATI
yrCAqTDs3YHM+YIkWyirwvRDeKeDRtiSk4q1HCIykwWGCdkss9xkgnbG1qIyluZd
2aQXTK1+lE8Idlm2FUFIo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQE
AwIBBjAdBgNVHQ4EFgQUXwUdMfhwHHWTg25siUCMqRhpoCkwCgYIKoZIzj0EAwID
SAAwRQIgNRadhg4kwwlFsotmM+WeWCKCLpNW++ySZBr4CKKLVZACIQDoVZGwt4BF
dkbPvyd1qnlTVAEt9l5RyWRFUY6Sjbb5OA==
-----END CERTIFICATE-----
";

const TEST_SERVER_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBrzCCAVSgAwIBAgIBAjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5BY2NvcmQg
VGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDESMBAG
A1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEx6WGf8Iq
jUHJ/W0Uw/hdWQM+a2GOo4vIpPyd9ejsS1U28iiaYTUUCxchC9iMMlGGrUnBibBp
4Yf9nAfBJVYC+aOBjzCBjDAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCQYD
VR0TBAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYD
VR0OBBYEFJgIGmY+NazcrNhdX27KfaEidE8tMB8GA1UdIwQYMBaAFF8FHTH4cBx1
k4NubIlAjKkYaaApMAoGCCqGSM49BAMCA0kAMEYCIQCvP3TTHWmTyeyLxzSb0aHH
bRhiQ5MR0WnKYZ2EKESgLAIhAP6Di8lFlGier9W6TAYsoLfZPv6V6QmmK5K9wSbs
VQC9
-----END CERTIFICATE-----
";

const TEST_SERVER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgaX4uQHZczmH1DLzQ
be7eCaoSdVmaTzpg5ZLVQnJyOB2hRANCAATHpYZ/wiqNQcn9bRTD+F1ZAz5rYY6j
i8ik/J316OxLVTbyKJphNRQLFyEL2IwyUYatScGJsGnhh/2cB8ElVgL5
-----END PRIVATE KEY-----
";

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(TEST_SERVER_CERT_PEM.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY_PEM.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let stub = Stub::start_tls(vec![], schema_answer(), Some(tls_acceptor())).await;
    assert!(stub.url.starts_with("https://localhost:"));

    // Trusting the CA (PEM bytes, or a file): the handshake succeeds.
    let client =
        RegistryClient::new(quick(&[&stub.url]).with_ca_pem(TEST_CA_PEM.as_bytes().to_vec()))
            .unwrap();
    assert_eq!(client.schema_by_id(1).await.unwrap().schema, "\"string\"");
    let dir = std::env::temp_dir().join(format!("accord-ca-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    std::fs::write(&file, TEST_CA_PEM).unwrap();
    let client = RegistryClient::new(quick(&[&stub.url]).with_ca_file(&file)).unwrap();
    assert_eq!(client.schema_by_id(1).await.unwrap().schema, "\"string\"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(stub.count(), 2);

    // Without it, the server's certificate is not trusted: no request is made.
    let client = RegistryClient::new(quick(&[&stub.url]).with_max_retries(0)).unwrap();
    match client.schema_by_id(1).await.unwrap_err() {
        ClientError::Unreachable(m) => assert!(
            m.to_lowercase().contains("certificate"),
            "the error names the certificate problem: {m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.count(), 2);
}
