//! Soft and permanent deletes over HTTP (confluent-compat.md §1.3, §2, §9.3): return
//! values, the 4040x codes, the `deleted*` listings, what stays readable by id, id
//! reuse on re-register and never after a permanent delete, config and mode on delete,
//! and the reference checks (42206, `referencedby`).

mod common;
use common::*;
use serde_json::{json, Value};

const USER_V3: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"city","type":"string","default":""}]}"#;
const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}"#;
const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"com.acme.Address"}]}"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Registers `ORDER` in `subject`, referencing version `version` of `address`.
async fn register_order(srv: &Srv, subject: &str, version: i64) -> Value {
    srv.register(
        subject,
        ORDER,
        json!({"references": [{"name": "com.acme.Address", "subject": "address", "version": version}]}),
    )
    .await
}

dual!(soft_delete_returns_versions_and_hides_them, |srv| {
    srv.register("s", USER_V1, json!({})).await;
    srv.register("s", USER_V2_OPTIONAL, json!({})).await;
    srv.register("s", USER_V3, json!({})).await;

    // A version: the answer is its number.
    assert_eq!(srv.delete("/subjects/s/versions/2").await.ok(), json!(2));
    assert_eq!(srv.get("/subjects/s/versions").await.ok(), json!([1, 3]));
    assert_eq!(
        srv.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1, 2, 3])
    );
    assert_eq!(
        srv.get("/subjects/s/versions?deletedOnly=true").await.ok(),
        json!([2])
    );
    assert_eq!(
        srv.get("/subjects/s/versions?deletedAsNegative=true")
            .await
            .ok(),
        json!([1, -2, 3])
    );
    srv.get("/subjects/s/versions/2")
        .await
        .assert_error(404, 40402);
    let v2 = srv.get("/subjects/s/versions/2?deleted=true").await.ok();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["deleted"], true);
    assert_eq!(
        srv.get("/subjects/s/versions/1").await.ok()["deleted"],
        false
    );

    // Twice: 40406; permanently without a soft delete first: 40407.
    let msg = srv
        .delete("/subjects/s/versions/2")
        .await
        .assert_error(404, 40406);
    assert!(msg.contains("'s'") && msg.contains('2'), "{msg}");
    let msg = srv
        .delete("/subjects/s/versions/3?permanent=true")
        .await
        .assert_error(404, 40407);
    assert!(msg.contains("'s'") && msg.contains('3'), "{msg}");
    // Unknown version and unknown subject.
    srv.delete("/subjects/s/versions/9")
        .await
        .assert_error(404, 40402);
    srv.delete("/subjects/s/versions/9?permanent=true")
        .await
        .assert_error(404, 40402);
    srv.delete("/subjects/nope/versions/1")
        .await
        .assert_error(404, 40401);
    srv.delete("/subjects/s/versions/0")
        .await
        .assert_error(422, 42202);

    // The subject: the answer is the versions it soft-deleted (not the one already gone).
    assert_eq!(srv.delete("/subjects/s").await.ok(), json!([1, 3]));
    let msg = srv.delete("/subjects/s").await.assert_error(404, 40404);
    assert!(msg.contains("'s'"), "{msg}");
    assert_eq!(srv.get("/subjects").await.ok(), json!([]));
    assert_eq!(srv.get("/subjects?deleted=true").await.ok(), json!(["s"]));
    assert_eq!(
        srv.get("/subjects?deletedOnly=true").await.ok(),
        json!(["s"])
    );
    srv.get("/subjects/s/versions")
        .await
        .assert_error(404, 40401);
    srv.get("/subjects/s/versions/latest")
        .await
        .assert_error(404, 40401);
    assert_eq!(
        srv.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1, 2, 3])
    );
    assert_eq!(
        srv.get("/subjects/s/versions?deletedAsNegative=true")
            .await
            .ok(),
        json!([-1, -2, -3])
    );
    assert_eq!(
        srv.get("/subjects/s/versions/latest?deleted=true")
            .await
            .ok()["version"],
        3
    );
    // Lookup does not find soft-deleted versions unless asked to.
    srv.post("/subjects/s", json!({"schema": USER_V1}))
        .await
        .assert_error(404, 40401);
    let found = srv
        .post("/subjects/s?deleted=true", json!({"schema": USER_V1}))
        .await
        .ok();
    assert_eq!(found["version"], 1);

    // Permanently: every version, soft-deleted earlier or with the subject.
    assert_eq!(
        srv.delete("/subjects/s?permanent=true").await.ok(),
        json!([1, 2, 3])
    );
    assert_eq!(srv.get("/subjects?deleted=true").await.ok(), json!([]));
    srv.get("/subjects/s/versions?deleted=true")
        .await
        .assert_error(404, 40401);
    srv.delete("/subjects/s").await.assert_error(404, 40401);
    srv.delete("/subjects/s?permanent=true")
        .await
        .assert_error(404, 40401);
});

dual!(permanent_delete_needs_a_soft_delete_first, |srv| {
    srv.register("p", USER_V1, json!({})).await;
    srv.register("p", USER_V2_OPTIONAL, json!({})).await;
    let msg = srv
        .delete("/subjects/p?permanent=true")
        .await
        .assert_error(404, 40405);
    assert!(msg.contains("'p'"), "{msg}");
    // Nothing was deleted by the refusal.
    assert_eq!(srv.get("/subjects/p/versions").await.ok(), json!([1, 2]));

    // One version permanently: soft first, then permanent; it is gone from every list.
    assert_eq!(srv.delete("/subjects/p/versions/1").await.ok(), json!(1));
    assert_eq!(
        srv.delete("/subjects/p/versions/1?permanent=true")
            .await
            .ok(),
        json!(1)
    );
    assert_eq!(
        srv.get("/subjects/p/versions?deleted=true").await.ok(),
        json!([2])
    );
    srv.get("/subjects/p/versions/1?deleted=true")
        .await
        .assert_error(404, 40402);
    srv.delete("/subjects/p/versions/1?permanent=true")
        .await
        .assert_error(404, 40402);
    // A subject that is only partly soft-deleted is still 40405.
    srv.delete("/subjects/p?permanent=true")
        .await
        .assert_error(404, 40405);
});

dual!(ids_stay_readable_until_no_version_uses_them, |srv| {
    let a = srv.register("a", USER_V1, json!({})).await;
    let id = id_of(&a);
    let b = srv.register("b", USER_V1, json!({})).await;
    assert_eq!(id_of(&b), id);
    // Warm the id cache so that a stale entry would show.
    srv.get(&format!("/schemas/ids/{id}")).await.ok();

    srv.delete("/subjects/a").await.ok();
    srv.delete("/subjects/b").await.ok();
    // Consumers can still decode old data after a soft delete.
    let by_id = srv.get(&format!("/schemas/ids/{id}")).await.ok();
    assert_eq!(by_id["schema"], a["schema"]);
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}/schema")).await.status,
        200
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}/versions")).await.ok(),
        json!([])
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}/versions?deleted=true"))
            .await
            .ok(),
        json!([{"subject": "a", "version": 1}, {"subject": "b", "version": 1}])
    );

    // One of two users gone for good: still there.
    srv.delete("/subjects/a?permanent=true").await.ok();
    assert_eq!(srv.get(&format!("/schemas/ids/{id}")).await.status, 200);
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id}/subjects?deleted=true"))
            .await
            .ok(),
        json!(["b"])
    );
    // The last one gone: 40403 on every by-id route.
    srv.delete("/subjects/b/versions/1?permanent=true")
        .await
        .ok();
    let msg = srv
        .get(&format!("/schemas/ids/{id}"))
        .await
        .assert_error(404, 40403);
    assert!(msg.contains(&id.to_string()), "{msg}");
    srv.get(&format!("/schemas/ids/{id}/schema"))
        .await
        .assert_error(404, 40403);
    srv.get(&format!("/schemas/ids/{id}/subjects"))
        .await
        .assert_error(404, 40403);
    srv.get(&format!("/schemas/ids/{id}/versions"))
        .await
        .assert_error(404, 40403);
    srv.get(&format!("/schemas/guids/{}", a["guid"].as_str().unwrap()))
        .await
        .assert_error(404, 40403);
});

dual!(latest_skips_soft_deleted_versions, |srv| {
    srv.register("l", USER_V1, json!({})).await;
    srv.register("l", USER_V2_OPTIONAL, json!({})).await;
    let v3 = srv.register("l", USER_V3, json!({})).await;
    // Read latest first so a cached latest would be stale after the delete.
    assert_eq!(
        srv.get("/subjects/l/versions/latest").await.ok()["version"],
        3
    );
    // Deleting `latest` deletes the current latest and answers with its number.
    assert_eq!(
        srv.delete("/subjects/l/versions/latest").await.ok(),
        json!(3)
    );
    let latest = srv.get("/subjects/l/versions/latest").await.ok();
    assert_eq!(latest["version"], 2);
    assert_eq!(srv.get("/subjects/l/versions/-1").await.ok()["version"], 2);
    assert_eq!(
        srv.get("/subjects/l/versions/latest?deleted=true")
            .await
            .ok()["version"],
        3
    );
    assert_eq!(
        srv.get("/schemas?latestOnly=true").await.ok()[0]["version"],
        2
    );
    // Compatibility checks compare with version 2, not the deleted 3: `city` as an int
    // reads version 2's data (default) but not version 3's (a string).
    let int_city = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"city","type":"int","default":0}]}"#;
    for path in ["versions/latest", "versions"] {
        let check = srv
            .post(
                &format!("/compatibility/subjects/l/{path}?verbose=true"),
                json!({"schema": int_city}),
            )
            .await
            .ok();
        assert_eq!(check["is_compatible"], true, "{path}: {check}");
    }
    assert_eq!(srv.register("l", int_city, json!({})).await["version"], 4);
    srv.delete("/subjects/l/versions/4").await.ok();
    srv.delete("/subjects/l/versions/4?permanent=true")
        .await
        .ok();
    // Permanently deleting `latest` takes the highest version, soft-deleted included.
    assert_eq!(
        srv.delete("/subjects/l/versions/latest?permanent=true")
            .await
            .ok(),
        json!(3)
    );
    assert_eq!(
        srv.get("/subjects/l/versions?deleted=true").await.ok(),
        json!([1, 2])
    );
    // The id of the removed version is gone (no other version used it).
    srv.get(&format!("/schemas/ids/{}", id_of(&v3)))
        .await
        .assert_error(404, 40403);
});

dual!(reregistering_a_soft_deleted_schema_keeps_its_id, |srv| {
    let v1 = srv.register("r", USER_V1, json!({})).await;
    let id1 = id_of(&v1);
    let v2 = srv.register("r", USER_V2_OPTIONAL, json!({})).await;
    srv.delete("/subjects/r/versions/1").await.ok();

    // Same schema again: a new version (max + 1, counting the deleted one), same id.
    let again = srv.register("r", USER_V1, json!({})).await;
    assert_eq!(id_of(&again), id1);
    assert_eq!(again["version"], 3);
    // The older soft-deleted version with that id is gone for good.
    assert_eq!(
        srv.get("/subjects/r/versions?deleted=true").await.ok(),
        json!([2, 3])
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{id1}/versions?deleted=true"))
            .await
            .ok(),
        json!([{"subject": "r", "version": 3}])
    );

    // A whole subject soft-deleted and registered again: versions continue, id kept.
    assert_eq!(srv.delete("/subjects/r").await.ok(), json!([2, 3]));
    let back = srv.register("r", USER_V2_OPTIONAL, json!({})).await;
    assert_eq!(id_of(&back), id_of(&v2));
    assert_eq!(back["version"], 4);
    assert_eq!(srv.get("/subjects/r/versions").await.ok(), json!([4]));
    assert_eq!(srv.get("/subjects").await.ok(), json!(["r"]));
});

dual!(permanent_subject_delete_drops_config_and_mode, |srv| {
    srv.register("c", USER_V1, json!({})).await;
    srv.put("/config/c", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.put("/mode/c", json!({"mode": "READWRITE"})).await.ok();

    // Soft delete keeps them.
    srv.delete("/subjects/c").await.ok();
    assert_eq!(
        srv.get("/config/c").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(srv.get("/mode/c").await.ok(), json!({"mode": "READWRITE"}));
    // A permanent delete of a single version keeps them too.
    srv.register("c", USER_V1, json!({})).await;
    srv.register("c", USER_V2_REQUIRED, json!({})).await; // NONE still applies
    srv.delete("/subjects/c/versions/3").await.ok();
    srv.delete("/subjects/c/versions/3?permanent=true")
        .await
        .ok();
    assert_eq!(srv.get("/config/c").await.status, 200);
    assert_eq!(srv.get("/mode/c").await.status, 200);

    // Permanent delete of the subject removes both.
    srv.delete("/subjects/c").await.ok();
    srv.delete("/subjects/c?permanent=true").await.ok();
    srv.get("/config/c").await.assert_error(404, 40408);
    srv.get("/mode/c").await.assert_error(404, 40409);
    // Other subjects' settings are untouched.
    srv.put("/config/keep", json!({"compatibility": "FULL"}))
        .await
        .ok();
    srv.register("gone", USER_V1, json!({})).await;
    srv.delete("/subjects/gone").await.ok();
    srv.delete("/subjects/gone?permanent=true").await.ok();
    assert_eq!(
        srv.get("/config/keep").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
});

dual!(ids_are_never_reused_after_a_permanent_delete, |srv| {
    srv.put("/config", json!({"compatibility": "NONE"}))
        .await
        .ok();
    let a = id_of(&srv.register("x", "\"string\"", json!({})).await);
    let b = id_of(&srv.register("x", "\"int\"", json!({})).await);
    assert!(b > a);
    // The highest id's only version, gone for good.
    srv.delete("/subjects/x/versions/2").await.ok();
    srv.delete("/subjects/x/versions/2?permanent=true")
        .await
        .ok();
    let c = id_of(&srv.register("x", "\"long\"", json!({})).await);
    assert!(c > b, "new schema got {c}, ids up to {b} were given");
    // Everything gone for good.
    srv.delete("/subjects/x").await.ok();
    srv.delete("/subjects/x?permanent=true").await.ok();
    assert_eq!(srv.get("/subjects?deleted=true").await.ok(), json!([]));
    let d = id_of(&srv.register("y", "\"double\"", json!({})).await);
    assert!(d > c, "new schema got {d}, ids up to {c} were given");
    let with_max = srv
        .get(&format!("/schemas/ids/{d}?fetchMaxId=true"))
        .await
        .ok();
    assert_eq!(with_max["maxId"].as_i64(), Some(d));
});

dual!(references_block_deletes, |srv| {
    let addr = srv.register("address", ADDRESS, json!({})).await;
    let order = register_order(&srv, "order", 1).await;
    let order_id = id_of(&order);
    assert_eq!(
        order["references"],
        json!([{"name": "com.acme.Address", "subject": "address", "version": 1}])
    );

    assert_eq!(
        srv.get("/subjects/address/versions/1/referencedby")
            .await
            .ok(),
        json!([order_id])
    );
    assert_eq!(
        srv.get("/subjects/address/versions/latest/referencedby")
            .await
            .ok(),
        json!([order_id])
    );
    assert_eq!(
        srv.get("/subjects/order/versions/1/referencedby")
            .await
            .ok(),
        json!([])
    );
    srv.get("/subjects/address/versions/2/referencedby")
        .await
        .assert_error(404, 40402);
    srv.get("/subjects/nope/versions/1/referencedby")
        .await
        .assert_error(404, 40401);

    // A live referrer blocks a soft delete of the version and of the subject.
    let msg = srv
        .delete("/subjects/address/versions/1")
        .await
        .assert_error(422, 42206);
    assert!(
        msg.contains("subject=address") && msg.contains("version=1"),
        "{msg}"
    );
    srv.delete("/subjects/address")
        .await
        .assert_error(422, 42206);
    srv.delete("/subjects/address/versions/latest")
        .await
        .assert_error(422, 42206);
    assert_eq!(srv.get("/subjects/address/versions").await.ok(), json!([1]));

    // The referrer soft-deleted: it no longer blocks a soft delete...
    srv.delete("/subjects/order").await.ok();
    assert_eq!(
        srv.get("/subjects/address/versions/1/referencedby")
            .await
            .ok(),
        json!([])
    );
    assert_eq!(
        srv.get("/subjects/address/versions/1/referencedby?deleted=true")
            .await
            .ok(),
        json!([order_id])
    );
    assert_eq!(
        srv.delete("/subjects/address/versions/1").await.ok(),
        json!(1)
    );
    // ...but any referrer, even soft-deleted, blocks a permanent delete.
    srv.delete("/subjects/address/versions/1?permanent=true")
        .await
        .assert_error(422, 42206);
    srv.delete("/subjects/address?permanent=true")
        .await
        .assert_error(422, 42206);
    // The referenced schema stays readable for the referrer.
    assert_eq!(
        srv.get(&format!("/schemas/ids/{}", id_of(&addr)))
            .await
            .status,
        200
    );
    assert_eq!(
        srv.get(&format!("/schemas/ids/{order_id}")).await.status,
        200
    );

    // The referrer gone for good: now the referenced subject can go too.
    srv.delete("/subjects/order?permanent=true").await.ok();
    assert_eq!(
        srv.delete("/subjects/address?permanent=true").await.ok(),
        json!([1])
    );
    assert_eq!(srv.get("/subjects?deleted=true").await.ok(), json!([]));
});

dual!(
    referrers_in_the_same_subject_do_not_block_a_subject_delete,
    |srv| {
        srv.put("/config/self", json!({"compatibility": "NONE"}))
            .await
            .ok();
        srv.register("address", ADDRESS, json!({})).await;
        srv.register("self", ADDRESS, json!({})).await;
        // Version 2 of `self` references version 1 of `self`.
        srv.post(
        "/subjects/self/versions",
        json!({"schema": ORDER, "references": [{"name": "com.acme.Address", "subject": "self", "version": 1}]}),
    )
    .await
    .ok();
        // The version alone is blocked by its live referrer...
        srv.delete("/subjects/self/versions/1")
            .await
            .assert_error(422, 42206);
        // ...the whole subject is not, soft or permanent.
        assert_eq!(srv.delete("/subjects/self").await.ok(), json!([1, 2]));
        assert_eq!(
            srv.delete("/subjects/self?permanent=true").await.ok(),
            json!([1, 2])
        );
        // A referrer in another subject still blocks.
        register_order(&srv, "order", 1).await;
        srv.delete("/subjects/address")
            .await
            .assert_error(422, 42206);
    }
);
