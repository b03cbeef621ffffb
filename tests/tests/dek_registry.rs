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

        // Supplying material for an existing shared DEK: 40971.
        srv.post(
            &path,
            json!({"encryptedKeyMaterial": d["encryptedKeyMaterial"]}),
        )
        .await
        .assert_error(409, 40971);
        // Material a shared KEK cannot unwrap is refused (the server would serve it).
        let msg = srv
            .post(
                &format!("{K}/shared/deks/payments-value"),
                json!({"encryptedKeyMaterial": b64(&[9u8; 62])}),
            )
            .await
            .assert_error(422, 42271);
        assert!(msg.contains("does not unwrap"), "{msg}");
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
        let material = d["keyMaterial"].as_str().unwrap();
        let leaked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE target LIKE $1")
            .bind(format!("%{material}%"))
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(leaked, 0);

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
