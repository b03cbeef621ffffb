//! Modes over HTTP (confluent-compat.md §1.3, §2, §9.4): the `/mode` endpoints,
//! READONLY blocking writes with 42205, and IMPORT with explicit ids and versions.

mod common;
use serde_json::{json, Value};

const A: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}"#;
const B: &str = r#"{"type":"record","name":"B","fields":[{"name":"b","type":"string"}]}"#;
const C: &str = r#"{"type":"record","name":"C","fields":[{"name":"c","type":"string"}]}"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

dual!(mode_endpoints, |srv| {
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    // Input in any case, stored upper-case; the answer echoes the request as
    // Confluent's does (its ModeUpdateRequest), letter case included.
    assert_eq!(
        srv.put("/mode", json!({"mode": "readonly"})).await.ok(),
        json!({"mode": "readonly"})
    );
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READONLY"}));
    let msg = srv
        .put("/mode", json!({"mode": "SIDEWAYS"}))
        .await
        .assert_error(422, 42204);
    assert!(msg.contains("READWRITE"), "{msg}");
    srv.put("/mode", json!({"mode": 3}))
        .await
        .assert_error(422, 42204);
    srv.put("/mode/s", json!({"mode": "nope"}))
        .await
        .assert_error(422, 42204);
    // FORWARD is a global mode only.
    srv.put("/mode/s", json!({"mode": "FORWARD"}))
        .await
        .assert_error(422, 42204);
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READONLY"}));

    // Subject level: 40409 until set, or the global mode with defaultToGlobal.
    let msg = srv.get("/mode/s").await.assert_error(404, 40409);
    assert!(msg.contains("'s'"), "{msg}");
    assert_eq!(
        srv.get("/mode/s?defaultToGlobal=true").await.ok(),
        json!({"mode": "READONLY"})
    );
    srv.delete("/mode/s").await.assert_error(404, 40401);
    assert_eq!(
        srv.put("/mode/s", json!({"mode": "ReadWrite"})).await.ok(),
        json!({"mode": "ReadWrite"})
    );
    assert_eq!(srv.get("/mode/s").await.ok(), json!({"mode": "READWRITE"}));
    assert_eq!(
        srv.get("/mode/s?defaultToGlobal=true").await.ok(),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        srv.delete("/mode/s").await.ok(),
        json!({"mode": "READWRITE"})
    );
    srv.get("/mode/s").await.assert_error(404, 40409);

    // DELETE /mode answers with the old mode and goes back to the default.
    assert_eq!(srv.delete("/mode").await.ok(), json!({"mode": "READONLY"}));
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    assert_eq!(srv.delete("/mode").await.ok(), json!({"mode": "READWRITE"}));
});

dual!(delete_global_mode_recursive_clears_subject_modes, |srv| {
    srv.put("/mode/a", json!({"mode": "READONLY"})).await.ok();
    srv.put("/mode/b", json!({"mode": "READWRITE"})).await.ok();
    srv.put("/mode", json!({"mode": "READONLY"})).await.ok();
    // Not recursive: subject modes stay.
    assert_eq!(srv.delete("/mode").await.ok(), json!({"mode": "READONLY"}));
    assert_eq!(srv.get("/mode/a").await.ok(), json!({"mode": "READONLY"}));
    assert_eq!(srv.get("/mode/b").await.ok(), json!({"mode": "READWRITE"}));

    srv.put("/mode", json!({"mode": "READONLY"})).await.ok();
    assert_eq!(
        srv.delete("/mode?recursive=true").await.ok(),
        json!({"mode": "READONLY"})
    );
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    srv.get("/mode/a").await.assert_error(404, 40409);
    srv.get("/mode/b").await.assert_error(404, 40409);
    // With everything cleared, `a` accepts writes again.
    assert_eq!(srv.register("a", A, json!({})).await["version"], 1);
});

dual!(global_readonly_blocks_writes, |srv| {
    srv.register("s", A, json!({})).await;
    srv.put("/config/s", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.put("/mode", json!({"mode": "READONLY"})).await.ok();

    let msg = srv
        .post("/subjects/s/versions", json!({"schema": B}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("read-only"), "{msg}");
    srv.post("/subjects/new/versions", json!({"schema": B}))
        .await
        .assert_error(422, 42205);
    // Even re-registering what is already there.
    srv.post("/subjects/s/versions", json!({"schema": A}))
        .await
        .assert_error(422, 42205);
    srv.delete("/subjects/s/versions/1")
        .await
        .assert_error(422, 42205);
    srv.delete("/subjects/s").await.assert_error(422, 42205);
    srv.put("/config/s", json!({"compatibility": "FULL"}))
        .await
        .assert_error(422, 42205);
    srv.delete("/config/s").await.assert_error(422, 42205);
    srv.put("/config", json!({"compatibility": "FULL"}))
        .await
        .assert_error(422, 42205);

    // Reads still work.
    assert_eq!(srv.get("/subjects/s/versions").await.ok(), json!([1]));
    assert_eq!(
        srv.post("/subjects/s", json!({"schema": A})).await.ok()["version"],
        1
    );
    assert_eq!(
        srv.post(
            "/compatibility/subjects/s/versions/latest",
            json!({"schema": B})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    assert_eq!(
        srv.get("/config/s").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );

    // A subject-level READWRITE overrides the global READONLY.
    srv.put("/mode/open", json!({"mode": "READWRITE"}))
        .await
        .ok();
    assert_eq!(srv.register("open", A, json!({})).await["version"], 1);

    // Mode changes stay possible, and lift the block.
    assert_eq!(
        srv.put("/mode", json!({"mode": "READWRITE"})).await.ok(),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(srv.register("s", B, json!({})).await["version"], 2);
    assert_eq!(
        srv.put("/config", json!({"compatibility": "FULL"}))
            .await
            .ok(),
        json!({"compatibility": "FULL"})
    );
});

dual!(subject_readonly_blocks_only_that_subject, |srv| {
    srv.register("locked", A, json!({})).await;
    srv.register("free", A, json!({})).await;
    assert_eq!(
        srv.put("/mode/locked", json!({"mode": "READONLY"}))
            .await
            .ok(),
        json!({"mode": "READONLY"})
    );
    let msg = srv
        .post("/subjects/locked/versions", json!({"schema": B}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("locked"), "{msg}");
    srv.delete("/subjects/locked")
        .await
        .assert_error(422, 42205);
    srv.delete("/subjects/locked/versions/latest")
        .await
        .assert_error(422, 42205);
    srv.put("/config/locked", json!({"compatibility": "NONE"}))
        .await
        .assert_error(422, 42205);
    // READONLY_OVERRIDE (deprecated) blocks the same way.
    srv.put("/mode/locked", json!({"mode": "READONLY_OVERRIDE"}))
        .await
        .ok();
    srv.post("/subjects/locked/versions", json!({"schema": B}))
        .await
        .assert_error(422, 42205);

    // Other subjects and the global config are unaffected.
    srv.put("/config/free", json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(srv.register("free", B, json!({})).await["version"], 2);
    assert_eq!(srv.delete("/subjects/free/versions/2").await.ok(), json!(2));
    srv.put("/config", json!({"compatibility": "NONE"}))
        .await
        .ok();

    // Removing the subject mode lifts it.
    srv.delete("/mode/locked").await.ok();
    assert_eq!(srv.register("locked", B, json!({})).await["version"], 2);
});

dual!(switching_to_import_needs_an_empty_scope_or_force, |srv| {
    srv.register("live", A, json!({})).await;
    let msg = srv
        .put("/mode", json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("existing subjects"), "{msg}");
    srv.put("/mode/live", json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    srv.get("/mode/live").await.assert_error(404, 40409);
    // A subject of its own with no versions can switch; others' versions do not count.
    assert_eq!(
        srv.put("/mode/fresh", json!({"mode": "import"})).await.ok(),
        json!({"mode": "import"})
    );
    // force=true (any case) switches anyway.
    assert_eq!(
        srv.put("/mode/live?force=True", json!({"mode": "IMPORT"}))
            .await
            .ok(),
        json!({"mode": "IMPORT"})
    );
    assert_eq!(
        srv.put("/mode?force=true", json!({"mode": "IMPORT"}))
            .await
            .ok(),
        json!({"mode": "IMPORT"})
    );
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "IMPORT"}));
    srv.delete("/mode?recursive=true").await.ok();

    // Soft-deleted subjects do not count as existing, and switching hard-deletes them
    // (confluent-compat.md §9.4), so imports can bring those versions back.
    srv.delete("/subjects/live").await.ok();
    assert_eq!(
        srv.put("/mode", json!({"mode": "IMPORT"})).await.ok(),
        json!({"mode": "IMPORT"})
    );
    srv.get("/subjects/live/versions?deleted=true")
        .await
        .assert_error(404, 40401);
    // Already in IMPORT: setting it again needs no empty scope.
    srv.register("imported", B, json!({"id": 50, "version": 1}))
        .await;
    assert_eq!(
        srv.put("/mode", json!({"mode": "IMPORT"})).await.ok(),
        json!({"mode": "IMPORT"})
    );
    srv.put("/mode", json!({"mode": "READWRITE"})).await.ok();
});

dual!(
    switching_to_import_keeps_referenced_soft_deleted_versions,
    |srv| {
        srv.register("base", A, json!({})).await;
        let user = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"A"}]}"#;
        srv.register(
            "user",
            user,
            json!({"references": [{"name": "A", "subject": "base", "version": 1}]}),
        )
        .await;
        srv.delete("/subjects/user").await.ok();
        srv.delete("/subjects/base").await.ok();
        // base v1 is soft-deleted but still referenced by (soft-deleted) user v1.
        srv.put("/mode?force=true", json!({"mode": "IMPORT"}))
            .await
            .assert_error(422, 42206);
        assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    }
);

dual!(import_mode_uses_given_ids_and_versions, |srv| {
    srv.put("/mode", json!({"mode": "IMPORT"})).await.ok();

    // Ids and versions as given, not max + 1.
    let a = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": A, "id": 100, "version": 5}),
        )
        .await
        .ok();
    assert_eq!((id_of(&a), a["version"].as_i64()), (100, Some(5)));
    let b = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": B, "id": 50, "version": 2}),
        )
        .await
        .ok();
    assert_eq!((id_of(&b), b["version"].as_i64()), (50, Some(2)));
    assert_eq!(srv.get("/subjects/imp/versions").await.ok(), json!([2, 5]));
    assert_eq!(
        srv.get("/subjects/imp/versions/latest").await.ok()["id"],
        100
    );
    assert_eq!(srv.get("/schemas/ids/50").await.ok()["schema"], b["schema"]);

    // Without an id: 42205.
    let msg = srv
        .post("/subjects/imp/versions", json!({"schema": C}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("import"), "{msg}");
    // An id another schema has: 42205 "Overwrite ...".
    let msg = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": C, "id": 100, "version": 6}),
        )
        .await
        .assert_error(422, 42205);
    assert!(msg.starts_with("Overwrite new schema with id 100"), "{msg}");
    srv.post(
        "/subjects/other/versions",
        json!({"schema": C, "id": 50, "version": 1}),
    )
    .await
    .assert_error(422, 42205);
    // The identical (schema, id) again: fine, same version.
    let again = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": A, "id": 100, "version": 5}),
        )
        .await
        .ok();
    assert_eq!((id_of(&again), again["version"].as_i64()), (100, Some(5)));
    // ...and under another subject.
    let elsewhere = srv
        .post(
            "/subjects/imp2/versions",
            json!({"schema": A, "id": 100, "version": 1}),
        )
        .await
        .ok();
    assert_eq!(id_of(&elsewhere), 100);
    assert_eq!(srv.get("/subjects/imp/versions").await.ok(), json!([2, 5]));
    // The same text under an id of its own: kept as given.
    let second_id = srv
        .post(
            "/subjects/imp3/versions",
            json!({"schema": A, "id": 120, "version": 1}),
        )
        .await
        .ok();
    assert_eq!(id_of(&second_id), 120);
    assert_eq!(
        srv.get("/schemas/ids/120").await.ok()["schema"],
        a["schema"]
    );
    // No compatibility check in IMPORT (A then B then an int under one subject).
    let int = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": "\"int\"", "id": 7, "version": 9}),
        )
        .await
        .ok();
    assert_eq!(int["version"], 9);

    // Back to READWRITE: new ids go above everything imported.
    srv.put("/mode", json!({"mode": "READWRITE"})).await.ok();
    let fresh = srv.register("after", C, json!({})).await;
    assert_eq!(id_of(&fresh), 121);
    assert_eq!(fresh["version"], 1);
    // ...and versions after the highest imported one.
    srv.put("/config/imp", json!({"compatibility": "NONE"}))
        .await
        .ok();
    let next = srv.register("imp", C, json!({})).await;
    assert_eq!(next["version"], 10);
    assert_eq!(id_of(&next), 121);
    // Registering without an id in READWRITE finds imported schemas' ids.
    assert_eq!(id_of(&srv.register("late", B, json!({})).await), 50);
});

dual!(explicit_ids_need_import_mode, |srv| {
    let a = srv.register("s", A, json!({})).await;
    let id = id_of(&a);
    // Outside IMPORT an explicit id is refused...
    let msg = srv
        .post("/subjects/s/versions", json!({"schema": B, "id": 77}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("not in import mode"), "{msg}");
    srv.post("/subjects/t/versions", json!({"schema": A, "id": id + 1}))
        .await
        .assert_error(422, 42205);
    // ...unless it is the same schema with the id it already has (the fast path).
    let same = srv
        .post("/subjects/s/versions", json!({"schema": A, "id": id}))
        .await
        .ok();
    assert_eq!((id_of(&same), same["version"].as_i64()), (id, Some(1)));
    assert_eq!(srv.get("/subjects").await.ok(), json!(["s"]));

    // In IMPORT mode for one subject only: that subject takes ids, others do not.
    srv.put("/mode/imp", json!({"mode": "IMPORT"})).await.ok();
    let imported = srv
        .post(
            "/subjects/imp/versions",
            json!({"schema": B, "id": 40, "version": 3}),
        )
        .await
        .ok();
    assert_eq!(
        (id_of(&imported), imported["version"].as_i64()),
        (40, Some(3))
    );
    srv.post("/subjects/imp/versions", json!({"schema": C}))
        .await
        .assert_error(422, 42205);
    srv.post("/subjects/u/versions", json!({"schema": C, "id": 41}))
        .await
        .assert_error(422, 42205);
    assert_eq!(id_of(&srv.register("u", C, json!({})).await), 41);
});
