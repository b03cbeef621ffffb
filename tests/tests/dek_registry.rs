//! The DEK registry (`/dek-registry/v1`, confluent-compat.md §8): KEKs and DEKs, their
//! versions, soft and permanent deletes, undeletes, shared KEKs (the server generates
//! and wraps with local-kms), rewrap, validation, and keys surviving a restart.

mod common;

use base64::Engine;
use common::{config, Srv};
use serde_json::{json, Value};

const SECRET: &str = "test-local-kms-secret";

fn kms_config(url: &str, max_keys: usize) -> accord_server::ServerConfig {
    let mut cfg = config(url);
    cfg.local_kms_secret = Some(SECRET.to_string());
    cfg.max_keys = max_keys;
    cfg
}

/// Like `dual!`, with the server's local-kms secret set (and a key limit).
macro_rules! dual_kms {
    ($name:ident, $max:expr, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else {
                    return;
                };
                #[allow(unused_mut)]
                let mut $srv = Srv::start(kms_config(&test_db.url, $max)).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(common::Db::Postgres).await
            }
        }
    };
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

async fn restart(srv: &mut Srv) {
    let url = common::auth::db_url(srv);
    srv.stop().await;
    *srv = Srv::start(kms_config(&url, 20_000)).await;
}

const K: &str = "/dek-registry/v1/keks";

dual_kms!(kek_lifecycle_and_errors, 20_000, |srv| {
    // Create: kmsType normalized, NON_NULL (no doc), shared false by default.
    let kek = srv
        .post(
            K,
            json!({"name": "kek1", "kmsType": "AWS", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/a"}),
        )
        .await
        .ok();
    assert_eq!(kek["name"], "kek1");
    assert_eq!(kek["kmsType"], "aws-kms");
    assert_eq!(kek["kmsProps"], json!({}));
    assert_eq!(kek["shared"], false);
    assert_eq!(kek["deleted"], false);
    assert!(kek["ts"].as_i64().unwrap() > 0);
    assert!(kek.get("doc").is_none(), "null doc omitted: {kek}");
    assert_eq!(srv.get(&format!("{K}/kek1")).await.ok(), kek);

    // Duplicates, bad input.
    srv.post(
        K,
        json!({"name": "kek1", "kmsType": "aws-kms", "kmsKeyId": "arn:aws:kms:x"}),
    )
    .await
    .assert_error(409, 40971);
    let msg = srv
        .post(
            K,
            json!({"name": "1bad", "kmsType": "local-kms", "kmsKeyId": "k"}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("'name'"), "{msg}");
    let msg = srv
        .post(
            K,
            json!({"name": "kek2", "kmsType": "aws-kms", "kmsKeyId": "not-an-arn"}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("kmsKeyId"), "{msg}");
    let msg = srv
        .post(K, json!({"name": "kek2", "kmsKeyId": "x"}))
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("kmsType"), "{msg}");
    srv.raw(
        reqwest::Method::POST,
        K,
        Some(("application/json", String::new())),
    )
    .await
    .assert_error(422, 422);
    let msg = srv
        .raw(
            reqwest::Method::POST,
            K,
            Some(("application/json", "{\"name\":".into())),
        )
        .await
        .assert_error(400, 400);
    assert!(msg.contains("line 1"), "{msg}");
    srv.post(K, json!({"name": 5})).await.assert_error(400, 400);
    srv.get(&format!("{K}/nope")).await.assert_error(404, 40470);
    srv.get(&format!("{K}/b%20ad"))
        .await
        .assert_error(422, 42271);

    // Update: set doc and props, then null clears.
    let up = srv
        .put(
            &format!("{K}/kek1"),
            json!({"doc": "orders", "kmsProps": {"a": "b"}}),
        )
        .await
        .ok();
    assert_eq!(up["doc"], "orders");
    assert_eq!(up["kmsProps"], json!({"a": "b"}));
    let up = srv
        .put(&format!("{K}/kek1"), json!({"kmsProps": null}))
        .await
        .ok();
    assert_eq!(up["doc"], "orders", "absent keeps");
    assert_eq!(up["kmsProps"], json!({}), "null clears");
    srv.put(&format!("{K}/nope"), json!({"doc": "x"}))
        .await
        .assert_error(404, 40470);
    srv.put(&format!("{K}/kek1"), json!({"shared": "yes"}))
        .await
        .assert_error(422, 42271);

    // List, soft delete, deleted=true, permanent.
    srv.post(
        K,
        json!({"name": "kek0", "kmsType": "local-kms", "kmsKeyId": "k0"}),
    )
    .await
    .ok();
    assert_eq!(srv.get(K).await.ok(), json!(["kek0", "kek1"]));
    assert_eq!(
        srv.get(&format!("{K}?limit=1&offset=1")).await.ok(),
        json!(["kek1"])
    );
    srv.delete(&format!("{K}/kek1?permanent=true"))
        .await
        .assert_error(404, 40471);
    let r = srv.delete(&format!("{K}/kek1")).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    srv.get(&format!("{K}/kek1")).await.assert_error(404, 40470);
    assert_eq!(
        srv.get(&format!("{K}/kek1?deleted=true")).await.ok()["deleted"],
        true
    );
    assert_eq!(srv.get(K).await.ok(), json!(["kek0"]));
    assert_eq!(
        srv.get(&format!("{K}?deleted=true")).await.ok(),
        json!(["kek0", "kek1"])
    );
    // An equivalent create undeletes; a different one conflicts.
    srv.post(
        K,
        json!({"name": "kek1", "kmsType": "aws-kms", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/b"}),
    )
    .await
    .assert_error(409, 40971);
    let back = srv
        .post(K, json!({"name": "kek1", "kmsType": "aws-kms", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/a"}))
        .await
        .ok();
    assert_eq!(back["deleted"], false);
    assert_eq!(back["doc"], "orders");
    // Explicit undelete.
    assert_eq!(srv.delete(&format!("{K}/kek0")).await.status.as_u16(), 204);
    assert_eq!(
        srv.post(&format!("{K}/kek0/undelete"), json!({}))
            .await
            .status
            .as_u16(),
        204
    );
    srv.post(&format!("{K}/nope/undelete"), json!({}))
        .await
        .assert_error(404, 40470);
    // Permanent after soft.
    assert_eq!(srv.delete(&format!("{K}/kek0")).await.status.as_u16(), 204);
    assert_eq!(
        srv.delete(&format!("{K}/kek0?permanent=true"))
            .await
            .status
            .as_u16(),
        204
    );
    srv.get(&format!("{K}/kek0?deleted=true"))
        .await
        .assert_error(404, 40470);
    // A non-shared KEK cannot be tested.
    srv.post(&format!("{K}/kek1/test"), json!({}))
        .await
        .assert_error(422, 42271);
});

dual_kms!(dek_versions_deletes_and_errors, 20_000, |srv| {
    srv.post(
        K,
        json!({"name": "k", "kmsType": "local-kms", "kmsKeyId": "id"}),
    )
    .await
    .ok();
    let deks = format!("{K}/k/deks");
    let m1 = b64(&[1u8; 62]);
    let m2 = b64(&[2u8; 62]);

    // Non-shared: the client sends the material.
    let msg = srv
        .post(&format!("{deks}/orders-value"), json!({}))
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("encryptedKeyMaterial"), "{msg}");
    let msg = srv
        .post(
            &format!("{deks}/orders-value"),
            json!({"encryptedKeyMaterial": "!!not base64"}),
        )
        .await
        .assert_error(422, 42271);
    assert!(
        msg.contains("encryptedKeyMaterial") && msg.contains("base64"),
        "{msg}"
    );
    let msg = srv
        .post(
            &format!("{deks}/orders-value"),
            json!({"algorithm": "ROT13", "encryptedKeyMaterial": m1}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("algorithm") && msg.contains("ROT13"), "{msg}");
    srv.post(
        &format!("{deks}/orders-value"),
        json!({"version": 0, "encryptedKeyMaterial": m1}),
    )
    .await
    .assert_error(422, 42271);
    srv.post(
        &format!("{K}/nokek/deks/orders-value"),
        json!({"encryptedKeyMaterial": m1}),
    )
    .await
    .assert_error(404, 40470);
    srv.post(
        &format!("{deks}/a%0Ab"),
        json!({"encryptedKeyMaterial": m1}),
    )
    .await
    .assert_error(422, 42271);

    let d1 = srv
        .post(
            &format!("{deks}/orders-value"),
            json!({"encryptedKeyMaterial": m1}),
        )
        .await
        .ok();
    assert_eq!(d1["kekName"], "k");
    assert_eq!(d1["subject"], "orders-value");
    assert_eq!(d1["version"], 1);
    assert_eq!(d1["algorithm"], "AES256_GCM");
    assert_eq!(d1["encryptedKeyMaterial"], m1);
    assert_eq!(d1["deleted"], false);
    assert!(d1.get("keyMaterial").is_none(), "not shared: {d1}");
    srv.post(
        &format!("{deks}/orders-value"),
        json!({"encryptedKeyMaterial": m2}),
    )
    .await
    .assert_error(409, 40971);
    srv.post(
        &format!("{deks}/orders-value"),
        json!({"version": 2, "encryptedKeyMaterial": m2}),
    )
    .await
    .ok();
    // The deprecated form, subject in the body.
    let d = srv
        .post(
            &deks,
            json!({"subject": "payments-value", "encryptedKeyMaterial": m1}),
        )
        .await
        .ok();
    assert_eq!(d["subject"], "payments-value");

    // Reads: GET is version 1; latest / -1 the highest; bad versions 42202.
    assert_eq!(
        srv.get(&format!("{deks}/orders-value")).await.ok()["version"],
        1
    );
    assert_eq!(
        srv.get(&format!("{deks}/orders-value/versions")).await.ok(),
        json!([1, 2])
    );
    for v in ["latest", "-1", "2"] {
        let d = srv
            .get(&format!("{deks}/orders-value/versions/{v}"))
            .await
            .ok();
        assert_eq!(d["version"], 2, "{v}");
        assert_eq!(d["encryptedKeyMaterial"], m2);
    }
    for v in ["0", "abc", "-2"] {
        srv.get(&format!("{deks}/orders-value/versions/{v}"))
            .await
            .assert_error(422, 42202);
    }
    srv.get(&format!("{deks}/orders-value/versions/3"))
        .await
        .assert_error(404, 40470);
    srv.get(&format!("{deks}/orders-value?algorithm=bogus"))
        .await
        .assert_error(422, 42271);

    // Algorithm is part of the identity.
    srv.get(&format!("{deks}/orders-value?algorithm=AES128_GCM"))
        .await
        .assert_error(404, 40470);
    let d128 = srv
        .post(
            &format!("{deks}/orders-value"),
            json!({"algorithm": "AES128_GCM", "encryptedKeyMaterial": m2}),
        )
        .await
        .ok();
    assert_eq!(d128["algorithm"], "AES128_GCM");
    assert_eq!(
        srv.get(&format!("{deks}/orders-value?algorithm=AES128_GCM"))
            .await
            .ok()["encryptedKeyMaterial"],
        m2
    );
    assert_eq!(
        srv.get(&format!("{deks}/orders-value")).await.ok()["encryptedKeyMaterial"],
        m1
    );

    // Listings.
    assert_eq!(
        srv.get(&deks).await.ok(),
        json!(["orders-value", "payments-value"])
    );
    srv.post(
        K,
        json!({"name": "other", "kmsType": "local-kms", "kmsKeyId": "id"}),
    )
    .await
    .ok();
    assert_eq!(
        srv.get(&format!("{K}?subjectPrefix=orders")).await.ok(),
        json!(["k"])
    );
    assert_eq!(
        srv.get(&format!("{K}?subjectPrefix=zzz&subjectPrefix=pay"))
            .await
            .ok(),
        json!(["k"])
    );
    srv.get(&format!("{K}/nokek/deks"))
        .await
        .assert_error(404, 40470);

    // A KEK with live DEKs cannot be deleted.
    srv.delete(&format!("{K}/k")).await.assert_error(422, 42272);

    // Version delete: soft, deleted=true lists it, undelete, permanent after soft.
    let v2 = format!("{deks}/orders-value/versions/2");
    srv.delete(&format!("{v2}?permanent=true"))
        .await
        .assert_error(404, 40471);
    assert_eq!(srv.delete(&v2).await.status.as_u16(), 204);
    srv.delete(&v2).await.assert_error(404, 40470);
    assert_eq!(
        srv.get(&format!("{deks}/orders-value/versions")).await.ok(),
        json!([1])
    );
    assert_eq!(
        srv.get(&format!("{deks}/orders-value/versions?deleted=true"))
            .await
            .ok(),
        json!([1, 2])
    );
    srv.get(&v2).await.assert_error(404, 40470);
    assert_eq!(
        srv.get(&format!("{v2}?deleted=true")).await.ok()["deleted"],
        true
    );
    assert_eq!(
        srv.get(&format!("{deks}/orders-value/versions/latest"))
            .await
            .ok()["version"],
        1
    );
    assert_eq!(
        srv.post(&format!("{v2}/undelete"), json!({}))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(srv.get(&v2).await.ok()["deleted"], false);

    // Whole-DEK delete; an equivalent create undeletes; permanent after soft.
    let all = format!("{deks}/orders-value");
    assert_eq!(srv.delete(&all).await.status.as_u16(), 204);
    srv.get(&all).await.assert_error(404, 40470);
    srv.post(&all, json!({"encryptedKeyMaterial": m2}))
        .await
        .assert_error(409, 40971);
    let again = srv
        .post(&all, json!({"encryptedKeyMaterial": m1}))
        .await
        .ok();
    assert_eq!(again["deleted"], false);
    assert_eq!(again["version"], 1);
    assert_eq!(
        srv.post(&format!("{all}/undelete"), json!({}))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(
        srv.get(&format!("{all}/versions")).await.ok(),
        json!([1, 2])
    );
    assert_eq!(srv.delete(&all).await.status.as_u16(), 204);
    assert_eq!(
        srv.delete(&format!("{all}?permanent=true"))
            .await
            .status
            .as_u16(),
        204
    );
    srv.get(&format!("{all}?deleted=true"))
        .await
        .assert_error(404, 40470);

    // Undelete of a DEK whose KEK is soft-deleted: 40472.
    for (s, alg) in [
        ("payments-value", "AES256_GCM"),
        ("orders-value", "AES128_GCM"),
    ] {
        assert_eq!(
            srv.delete(&format!("{deks}/{s}?algorithm={alg}"))
                .await
                .status
                .as_u16(),
            204
        );
    }
    assert_eq!(srv.delete(&format!("{K}/k")).await.status.as_u16(), 204);
    srv.post(&format!("{deks}/payments-value/undelete"), json!({}))
        .await
        .assert_error(404, 40472);
    // Permanent KEK delete while (soft-deleted) DEKs exist: 42272.
    srv.delete(&format!("{K}/k?permanent=true"))
        .await
        .assert_error(422, 42272);
});

dual_kms!(too_many_keys, 2, |srv| {
    srv.post(
        K,
        json!({"name": "k", "kmsType": "local-kms", "kmsKeyId": "id"}),
    )
    .await
    .ok();
    let m = b64(&[7u8; 62]);
    for s in ["a", "b"] {
        srv.post(
            &format!("{K}/k/deks/{s}"),
            json!({"encryptedKeyMaterial": m}),
        )
        .await
        .ok();
    }
    srv.post(&format!("{K}/k/deks/c"), json!({"encryptedKeyMaterial": m}))
        .await
        .assert_error(409, 40972);
});

dual_kms!(
    shared_kek_generates_wraps_and_survives_restart,
    20_000,
    |srv| {
        srv.post(
            K,
            json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "master", "shared": true}),
        )
        .await
        .ok();
        let tested = srv.post(&format!("{K}/shared/test"), json!({})).await.ok();
        assert_eq!(tested["name"], "shared");

        let path = format!("{K}/shared/deks/orders-value");
        let d = srv.post(&path, json!({"version": 1})).await.ok();
        let key = unb64(&d["keyMaterial"]);
        assert_eq!(key.len(), 34, "AES256_GCM Tink proto");
        assert_eq!(&key[..2], &[0x1A, 0x20]);
        let wrapped = unb64(&d["encryptedKeyMaterial"]);
        assert_eq!(wrapped.len(), 62, "local-kms: iv(12) || ct(34) || tag(16)");
        assert_ne!(&wrapped[12..46], &key[..], "material is encrypted");

        let d128 = srv
            .post(&path, json!({"algorithm": "AES128_GCM"}))
            .await
            .ok();
        let k128 = unb64(&d128["keyMaterial"]);
        assert_eq!(k128.len(), 18);
        assert_eq!(&k128[..2], &[0x1A, 0x10]);

        // Under a shared KEK the server makes every DEK: supplied material is refused,
        // whether it unwraps or not, for an existing DEK or a new one.
        for (subject, material) in [
            ("orders-value", d["encryptedKeyMaterial"].clone()),
            ("payments-value", json!(b64(&[9u8; 62]))),
        ] {
            let msg = srv
                .post(
                    &format!("{K}/shared/deks/{subject}"),
                    json!({"encryptedKeyMaterial": material}),
                )
                .await
                .assert_error(422, 42271);
            assert!(
                msg.contains("encryptedKeyMaterial") && msg.contains("shared"),
                "{msg}"
            );
        }
        // SIV cannot be generated by the server: 42271 naming the algorithm.
        let msg = srv
            .post(&path, json!({"algorithm": "AES256_SIV"}))
            .await
            .assert_error(422, 42271);
        assert!(msg.contains("algorithm"), "{msg}");

        // GET returns the same key, unwrapped from storage.
        let got = srv.get(&path).await.ok();
        assert_eq!(got["keyMaterial"], d["keyMaterial"]);

        // Rewrap: new wrapping, same key.
        let re = srv
            .post(&format!("{path}?rewrap=true"), json!({}))
            .await
            .ok();
        assert_eq!(re["keyMaterial"], d["keyMaterial"]);
        assert_ne!(re["encryptedKeyMaterial"], d["encryptedKeyMaterial"]);
        srv.post(&format!("{K}/shared/deks/none?rewrap=true"), json!({}))
            .await
            .assert_error(404, 40470);

        // Every release is audited (auth off: anonymous), never with the material.
        let store = &srv.server.as_ref().unwrap().state.registry.store;
        let released: Vec<String> = sqlx::query_scalar(
            "SELECT target FROM audit_log WHERE action = 'keys.release' ORDER BY seq",
        )
        .fetch_all(store.reader())
        .await
        .unwrap();
        assert!(released.len() >= 4, "{released:?}");
        assert!(released.contains(&"dek:shared/orders-value/AES256_GCM/1".to_string()));
        for material in [&d["keyMaterial"], &d128["keyMaterial"], &re["keyMaterial"]] {
            let material = material.as_str().unwrap();
            let leaked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE target LIKE $1 OR principal LIKE $1 \
                 OR COALESCE(before_digest, '') LIKE $1 OR COALESCE(after_digest, '') LIKE $1",
            )
            .bind(format!("%{material}%"))
            .fetch_one(store.reader())
            .await
            .unwrap();
            assert_eq!(leaked, 0, "key material in the audit log");
            let leaked: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE payload LIKE $1")
                    .bind(format!("%{material}%"))
                    .fetch_one(store.reader())
                    .await
                    .unwrap();
            assert_eq!(leaked, 0, "key material in an event");
        }

        // Keys survive a restart (the KEK secret comes from the config again).
        restart(&mut srv).await;
        let after = srv.get(&path).await.ok();
        assert_eq!(after["keyMaterial"], d["keyMaterial"]);
        assert_eq!(after["encryptedKeyMaterial"], re["encryptedKeyMaterial"]);
        assert_eq!(srv.get(K).await.ok(), json!(["shared"]));
        assert_eq!(
            srv.get(&format!("{path}?algorithm=AES128_GCM")).await.ok()["keyMaterial"],
            d128["keyMaterial"]
        );
    }
);

dual_kms!(shared_kek_without_a_kms_is_a_kms_error, 20_000, |srv| {
    srv.post(K, json!({"name": "gcp", "kmsType": "gcp-kms", "kmsKeyId": "projects/p/keys/k", "shared": true}))
        .await
        .ok();
    let msg = srv
        .post(&format!("{K}/gcp/deks/s"), json!({}))
        .await
        .assert_error(500, 50070);
    assert!(msg.contains("gcp-kms"), "{msg}");
    srv.post(&format!("{K}/gcp/test"), json!({}))
        .await
        .assert_error(500, 50070);
});

// `latest` of a permanent delete is the highest version of all (the soft-deleted one it
// must be), not the highest live one; undelete picks the same way.
dual_kms!(permanent_delete_of_latest, 20_000, |srv| {
    srv.post(
        K,
        json!({"name": "k", "kmsType": "local-kms", "kmsKeyId": "id"}),
    )
    .await
    .ok();
    let dek = format!("{K}/k/deks/s");
    for v in [1, 2] {
        srv.post(
            &dek,
            json!({"version": v, "encryptedKeyMaterial": b64(&[v as u8; 62])}),
        )
        .await
        .ok();
    }
    let latest = format!("{dek}/versions/latest");
    assert_eq!(srv.delete(&latest).await.status.as_u16(), 204);
    let r = srv.delete(&format!("{latest}?permanent=true")).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    assert_eq!(
        srv.get(&format!("{dek}/versions?deleted=true")).await.ok(),
        json!([1])
    );
    // Latest is now 1 (live): a permanent delete needs a soft delete first.
    srv.delete(&format!("{latest}?permanent=true"))
        .await
        .assert_error(404, 40471);
    assert_eq!(srv.delete(&latest).await.status.as_u16(), 204);
    assert_eq!(
        srv.post(&format!("{latest}/undelete"), json!({}))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(srv.get(&dek).await.ok()["version"], 1);
});

// KMS failures name the KEK and the kind of error, never the provider's text.
dual_kms!(kms_errors_do_not_echo_the_provider, 20_000, |srv| {
    srv.post(
        K,
        json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await
    .ok();
    let path = format!("{K}/shared/deks/s");
    srv.post(&path, json!({})).await.ok();
    // Stored material that no longer unwraps (local-kms says "does not authenticate
    // under this local-kms secret"; AWS would name ARNs and accounts).
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("UPDATE deks SET material = $1 WHERE subject = 's'")
        .bind(b64(&[9u8; 62]))
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    let msg = srv.get(&path).await.assert_error(500, 50070);
    assert!(
        msg.contains("'shared'") && msg.contains("cannot be unwrapped"),
        "{msg}"
    );
    assert!(!msg.contains("authenticate"), "provider text: {msg}");
});

// The entity hash key may not change under a database: its fingerprint is stored at first
// start and a different key is refused at start.
dual_kms!(entity_hash_key_change_is_refused, 20_000, |srv| {
    let url = common::auth::db_url(&srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url).await.unwrap();
    let fp: String = sqlx::query_scalar(
        "SELECT value FROM server_secrets WHERE name = 'entity_hash_key_fingerprint'",
    )
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(fp.len(), 64);
    // The generated key was used: configuring one now is refused.
    let mut cfg = kms_config(&url, 20_000);
    cfg.entity_hash_key = Some("ab".repeat(32));
    let err = accord_server::dek::Keys::load(&store, &cfg)
        .await
        .err()
        .expect("a different entity hash key is refused")
        .to_string();
    assert!(err.contains("ACCORD_ENTITY_HASH_KEY"), "{err}");
    // Without a configured key the stored one is used, as before.
    cfg.entity_hash_key = None;
    accord_server::dek::Keys::load(&store, &cfg).await.unwrap();
    // A configured key is pinned the same way (a fresh database: forget the generated one).
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("DELETE FROM server_secrets")
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    cfg.entity_hash_key = Some("ab".repeat(32));
    accord_server::dek::Keys::load(&store, &cfg).await.unwrap();
    accord_server::dek::Keys::load(&store, &cfg).await.unwrap();
    cfg.entity_hash_key = Some("cd".repeat(32));
    let err = accord_server::dek::Keys::load(&store, &cfg)
        .await
        .err()
        .expect("a changed entity hash key is refused")
        .to_string();
    assert!(err.contains("ACCORD_ENTITY_HASH_KEY"), "{err}");
    store.close().await;
    cfg.entity_hash_key = Some("ab".repeat(32));
    srv = Srv::start(cfg).await;
    srv.get(K).await.ok();
});

/// Restarts `srv` with auth on (and the KMS); returns the admin's key.
async fn restart_with_auth(srv: &mut Srv) -> common::auth::Key {
    let url = common::auth::db_url(srv);
    srv.stop().await;
    let st = accord_server::storage::Store::connect(&url).await.unwrap();
    let key = accord_server::auth::bootstrap_admin(&st, "admin", false)
        .await
        .unwrap()
        .unwrap();
    st.close().await;
    let mut cfg = kms_config(&url, 20_000);
    cfg.auth = true;
    *srv = Srv::start(cfg).await;
    common::auth::Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    }
}

async fn audited(srv: &Srv, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT principal, target FROM audit_log WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(srv.server.as_ref().unwrap().state.registry.store.reader())
        .await
        .unwrap()
}

// With auth on: KEK mutations are for admins (members create non-shared KEKs only), a
// member cannot launder another subject's wrapped key through a shared KEK, and reading a
// soft-deleted DEK of a shared KEK goes through the release check.
dual_kms!(
    auth_kek_admin_laundering_and_deleted_release,
    20_000,
    |srv| {
        use common::auth::{call, principal_with_key, Key};
        use reqwest::Method;
        let admin = restart_with_auth(&mut srv).await;
        let who = |name: &str, role: &str, team: &str| json!({"name": name, "role": role, "kind": "service", "team": team});
        let owner =
            principal_with_key(&srv, &admin, who("checkout-svc", "member", "checkout")).await;
        let mallory = principal_with_key(&srv, &admin, who("mallory", "member", "fraud")).await;
        let resp = srv
            .http
            .put(format!("{}/v1/streams/orders/contract", srv.base))
            .header("Content-Type", "application/yaml")
            .header("Authorization", admin.basic())
            .body(common::ORDERS_CONTRACT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let req = |k: &Key, m: Method, p: &str, b: Option<Value>| {
            let k = k.basic();
            let p = p.to_string();
            let srv = &srv;
            async move { call(srv, m, &p, Some(&k), b).await }
        };
        let shared =
            json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true});

        // Members may create non-shared KEKs, not shared ones.
        let msg = req(&mallory, Method::POST, K, Some(shared.clone()))
            .await
            .assert_error(403, 40301);
        assert!(msg.contains("shared"), "{msg}");
        req(
            &mallory,
            Method::POST,
            K,
            Some(json!({"name": "own", "kmsType": "local-kms", "kmsKeyId": "m"})),
        )
        .await
        .ok();
        req(&admin, Method::POST, K, Some(shared)).await.ok();
        // Update, delete, undelete and test: admins only, whoever created the KEK.
        for kek in ["shared", "own"] {
            let at = format!("{K}/{kek}");
            req(
                &mallory,
                Method::PUT,
                &at,
                Some(json!({"shared": kek != "shared"})),
            )
            .await
            .assert_error(403, 40301);
            req(&mallory, Method::DELETE, &at, None)
                .await
                .assert_error(403, 40301);
            req(&mallory, Method::POST, &format!("{at}/undelete"), None)
                .await
                .assert_error(403, 40301);
            req(&mallory, Method::POST, &format!("{at}/test"), None)
                .await
                .assert_error(403, 40301);
        }
        let kek = req(&admin, Method::GET, &format!("{K}/shared"), None)
            .await
            .ok();
        assert_eq!(kek["shared"], true, "unchanged");
        assert_eq!(
            req(&admin, Method::GET, &format!("{K}/own"), None)
                .await
                .ok()["shared"],
            false
        );
        for (action, n) in [
            ("kek.create-shared.denied", 1),
            ("kek.update.denied", 2),
            ("kek.delete.denied", 2),
            ("kek.undelete.denied", 2),
            ("kek.test.denied", 2),
        ] {
            let rows = audited(&srv, action).await;
            assert_eq!(rows.len(), n, "{action}: {rows:?}");
            assert!(rows.iter().all(|(p, _)| p == "mallory"), "{rows:?}");
        }
        // An admin may.
        req(&admin, Method::POST, &format!("{K}/shared/test"), None)
            .await
            .ok();
        req(
            &admin,
            Method::PUT,
            &format!("{K}/own"),
            Some(json!({"doc": "x"})),
        )
        .await
        .ok();
        let r = req(&admin, Method::DELETE, &format!("{K}/own"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.text);
        // A create that would undelete is an undelete.
        req(
            &mallory,
            Method::POST,
            K,
            Some(json!({"name": "own", "kmsType": "local-kms", "kmsKeyId": "m"})),
        )
        .await
        .assert_error(403, 40301);

        // The owner's key; mallory may not obtain it ...
        let dek = format!("{K}/shared/deks/orders-value");
        let d = req(&owner, Method::POST, &dek, Some(json!({}))).await.ok();
        assert!(d["keyMaterial"].is_string());
        req(&mallory, Method::GET, &dek, None)
            .await
            .assert_error(403, 40301);
        // ... nor launder its wrapped material through a subject of no stream.
        let msg = req(
            &mallory,
            Method::POST,
            &format!("{K}/shared/deks/scratch-value"),
            Some(json!({"encryptedKeyMaterial": d["encryptedKeyMaterial"]})),
        )
        .await
        .assert_error(422, 42271);
        assert!(msg.contains("shared") && msg.contains("never"), "{msg}");
        req(
            &mallory,
            Method::GET,
            &format!("{K}/shared/deks/scratch-value"),
            None,
        )
        .await
        .assert_error(404, 40470);
        // A key of its own under the shared KEK is generated by the server.
        let own = req(
            &mallory,
            Method::POST,
            &format!("{K}/shared/deks/scratch-value"),
            Some(json!({})),
        )
        .await
        .ok();
        assert_ne!(own["keyMaterial"], d["keyMaterial"]);

        // Soft-deleted: still only through the release check, audited.
        let r = req(&owner, Method::DELETE, &dek, None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.text);
        let before = audited(&srv, "keys.release.denied").await.len();
        req(&mallory, Method::GET, &format!("{dek}?deleted=true"), None)
            .await
            .assert_error(403, 40301);
        req(
            &mallory,
            Method::GET,
            &format!("{dek}/versions/latest?deleted=true"),
            None,
        )
        .await
        .assert_error(403, 40301);
        let denied = audited(&srv, "keys.release.denied").await;
        assert_eq!(denied.len(), before + 2, "{denied:?}");
        assert_eq!(
            denied.last().unwrap(),
            &(
                "mallory".to_string(),
                "dek:shared/orders-value/AES256_GCM/1".to_string()
            )
        );
        let got = req(&owner, Method::GET, &format!("{dek}?deleted=true"), None)
            .await
            .ok();
        assert_eq!(got["deleted"], true);
        assert_eq!(got["keyMaterial"], d["keyMaterial"]);
    }
);
