//! Schema contexts over HTTP, as Confluent 8.x serves them (issue 14, point 1): qualified
//! subjects, ids per context, the context-scoped URL prefix for subject, schema, config
//! and mode routes, config and mode resolved subject → context → global, listings by
//! `subjectPrefix`, `/contexts`, context name validation and deleting a context. Both
//! databases; every answer checked for status, error_code or exact body.

mod common;
use serde_json::{json, Value};

const A: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"}]}"#;
const B: &str = r#"{"type":"record","name":"B","fields":[{"name":"b","type":"string"}]}"#;
const C: &str = r#"{"type":"record","name":"C","fields":[{"name":"c","type":"string"}]}"#;
// A backward-incompatible successor of A (a new field without a default).
const A2_BREAKS: &str = r#"{"type":"record","name":"A","fields":[{"name":"a","type":"string"},{"name":"n","type":"int"}]}"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

dual!(ids_are_allocated_per_context, |srv| {
    // The default context gets 1 and 2; a new context starts again at 1.
    assert_eq!(id_of(&srv.register("a", A, json!({})).await), 1);
    assert_eq!(id_of(&srv.register("b", B, json!({})).await), 2);
    let eu_c = srv.register(":.eu:c", C, json!({})).await;
    assert_eq!(id_of(&eu_c), 1);
    assert_eq!(eu_c["subject"], ":.eu:c");
    // The same schema in another context is a new id there; within the context it is
    // reused across subjects.
    assert_eq!(id_of(&srv.register(":.eu:a", A, json!({})).await), 2);
    assert_eq!(id_of(&srv.register(":.eu:a2", A, json!({})).await), 2);
    // The default context continues where it was.
    assert_eq!(id_of(&srv.register("c", C, json!({})).await), 3);
    // The context-scoped URL registers in the context.
    let scoped = srv
        .post("/contexts/.eu/subjects/d/versions", json!({"schema": B}))
        .await
        .ok();
    assert_eq!(id_of(&scoped), 3);
    assert_eq!(scoped["subject"], ":.eu:d");

    // By id: the default context without a subject, the context through the prefix or
    // a qualified subject.
    let by_default = srv.get("/schemas/ids/1").await.ok();
    assert_eq!(by_default["schema"], A);
    let in_eu = srv.get("/contexts/.eu/schemas/ids/1").await.ok();
    assert_eq!(in_eu["schema"], C);
    let qualified = srv.get("/schemas/ids/1?subject=%3A.eu%3Ac").await.ok();
    assert_eq!(qualified["schema"], C);
    assert_eq!(qualified["subject"], ":.eu:c");
    assert_eq!(qualified["version"], 1);
    // An unqualified subject that holds no such id in the default context is looked
    // for in the other contexts, as Confluent does.
    let found = srv.get("/schemas/ids/3?subject=d").await.ok();
    assert_eq!(found["subject"], ":.eu:d");
    assert_eq!(found["schema"], B);
    // A subject that does not hold the id: 40403.
    srv.get("/schemas/ids/1?subject=b")
        .await
        .assert_error(404, 40403);
    srv.get("/contexts/.eu/schemas/ids/9")
        .await
        .assert_error(404, 40403);
    // fetchMaxId is the context's highest id.
    assert_eq!(
        srv.get("/contexts/.eu/schemas/ids/1?fetchMaxId=true")
            .await
            .ok()["maxId"],
        3
    );
    assert_eq!(
        srv.get("/schemas/ids/1?fetchMaxId=true").await.ok()["maxId"],
        3
    );
    // The subjects and versions of an id stay in its context.
    assert_eq!(
        srv.get("/contexts/.eu/schemas/ids/2/subjects").await.ok(),
        json!([":.eu:a", ":.eu:a2"])
    );
    assert_eq!(
        srv.get("/contexts/.eu/schemas/ids/2/versions").await.ok(),
        json!([{"subject": ":.eu:a", "version": 1}, {"subject": ":.eu:a2", "version": 1}])
    );
    assert_eq!(srv.get("/schemas/ids/2/subjects").await.ok(), json!(["b"]));
    // A GUID names the content: one id per context that holds it.
    let guid = by_default["guid"].as_str().unwrap().to_string();
    assert_eq!(
        srv.get(&format!("/schemas/guids/{guid}/ids")).await.ok(),
        json!([{"context": ".", "id": 1}, {"context": ".eu", "id": 2}])
    );
    // Reading a version through either form gives the context's id.
    assert_eq!(id_of(&srv.get("/subjects/:.eu:a/versions/1").await.ok()), 2);
    assert_eq!(
        id_of(
            &srv.get("/contexts/.eu/subjects/a/versions/latest")
                .await
                .ok()
        ),
        2
    );
    // Lookup in a context.
    let looked = srv
        .post("/contexts/.eu/subjects/c", json!({"schema": C}))
        .await
        .ok();
    assert_eq!(
        (id_of(&looked), looked["subject"].clone()),
        (1, json!(":.eu:c"))
    );
});

dual!(listings_select_contexts, |srv| {
    srv.register("a", A, json!({})).await;
    srv.register(":.eu:b", B, json!({})).await;
    srv.register(":.us:c", C, json!({})).await;
    // The default subjectPrefix `:*:` lists every context, qualified.
    assert_eq!(
        srv.get("/subjects").await.ok(),
        json!([":.eu:b", ":.us:c", "a"])
    );
    assert_eq!(
        srv.get("/subjects?subjectPrefix=%3A*%3A").await.ok(),
        json!([":.eu:b", ":.us:c", "a"])
    );
    assert_eq!(
        srv.get("/subjects?subjectPrefix=%3A.eu%3A").await.ok(),
        json!([":.eu:b"])
    );
    // An unqualified prefix is the default context's.
    assert_eq!(
        srv.get("/subjects?subjectPrefix=a").await.ok(),
        json!(["a"])
    );
    assert_eq!(srv.get("/subjects?subjectPrefix=b").await.ok(), json!([]));
    assert_eq!(
        srv.get("/contexts/.us/subjects").await.ok(),
        json!([":.us:c"])
    );
    // /schemas: the default context unless a prefix says otherwise.
    let all: Vec<String> = srv
        .get("/schemas?subjectPrefix=%3A*%3A")
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, vec![":.eu:b", ":.us:c", "a"]);
    let eu = srv.get("/contexts/.eu/schemas").await.ok();
    assert_eq!(eu.as_array().unwrap().len(), 1);
    assert_eq!(
        (eu[0]["subject"].clone(), eu[0]["id"].clone()),
        (json!(":.eu:b"), json!(1))
    );
    assert_eq!(srv.get("/schemas").await.ok().as_array().unwrap().len(), 1);

    // The catalog finds a context's subjects and says which context they live in.
    let found = srv.get("/v1/catalog/search?q=b").await.ok();
    let hit = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"] == ":.eu:b")
        .unwrap_or_else(|| panic!("no :.eu:b in {found}"))
        .clone();
    assert_eq!(hit["context"], ".eu");

    // /contexts: the default first, then by name; contextPrefix, offset and limit.
    assert_eq!(srv.get("/contexts").await.ok(), json!([".", ".eu", ".us"]));
    assert_eq!(
        srv.get("/contexts?contextPrefix=.u").await.ok(),
        json!([".us"])
    );
    assert_eq!(
        srv.get("/contexts?offset=1&limit=1").await.ok(),
        json!([".eu"])
    );
});

dual!(config_and_mode_resolve_subject_context_global, |srv| {
    srv.register(":.eu:a", A, json!({})).await;
    // A context's config, set through the scoped URL or the qualified key; the answer
    // echoes the request as Confluent's does.
    assert_eq!(
        srv.put("/contexts/.eu/config", json!({"compatibility": "none"}))
            .await
            .ok(),
        json!({"compatibility": "none"})
    );
    assert_eq!(
        srv.get("/config/:.eu:").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    // A subject without its own config: 40408 unless defaultToGlobal, which resolves to
    // the context's.
    srv.get("/config/:.eu:a").await.assert_error(404, 40408);
    assert_eq!(
        srv.get("/config/:.eu:a?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(
        srv.get("/contexts/.eu/config/a?defaultToGlobal=true")
            .await
            .ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    // The context's NONE lets an incompatible version in; the default context keeps
    // the global BACKWARD.
    srv.register(":.eu:a", A2_BREAKS, json!({})).await;
    srv.register("a", A, json!({})).await;
    srv.post("/subjects/a/versions", json!({"schema": A2_BREAKS}))
        .await
        .assert_error(409, 40901);
    // The subject's own config wins over the context's.
    srv.put("/config/:.eu:a", json!({"compatibility": "FULL"}))
        .await
        .ok();
    assert_eq!(
        srv.get("/config/:.eu:a?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    // `:.__GLOBAL:` is below the global config.
    srv.put("/config/:.__GLOBAL:", json!({"compatibility": "FORWARD"}))
        .await
        .ok();
    assert_eq!(
        srv.get("/config/x?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    srv.put("/config", json!({"compatibility": "FULL_TRANSITIVE"}))
        .await
        .ok();
    assert_eq!(
        srv.get("/config/x?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );

    // Modes: the context's READONLY stops its subjects only.
    assert_eq!(
        srv.put("/contexts/.eu/mode", json!({"mode": "readonly"}))
            .await
            .ok(),
        json!({"mode": "readonly"})
    );
    assert_eq!(
        srv.get("/mode/:.eu:").await.ok(),
        json!({"mode": "READONLY"})
    );
    assert_eq!(
        srv.get("/mode/:.eu:a?defaultToGlobal=true").await.ok(),
        json!({"mode": "READONLY"})
    );
    let msg = srv
        .post("/subjects/:.eu:b/versions", json!({"schema": B}))
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("in context .eu"), "{msg}");
    srv.register("b", B, json!({})).await;
    srv.delete("/mode/:.eu:").await.ok();
    srv.register(":.eu:b", B, json!({})).await;
});

dual!(import_mode_in_a_context, |srv| {
    srv.register("a", A, json!({})).await;
    // IMPORT for a context needs that context empty, not the whole registry.
    srv.put("/mode/:.imp:", json!({"mode": "IMPORT"}))
        .await
        .ok();
    let r = srv
        .post(
            "/subjects/:.imp:x/versions",
            json!({"schema": B, "id": 100, "version": 3}),
        )
        .await
        .ok();
    assert_eq!((id_of(&r), r["version"].clone()), (100, json!(3)));
    // The same id in the same context with other content: 42205, naming the context.
    let msg = srv
        .post(
            "/subjects/:.imp:y/versions",
            json!({"schema": C, "id": 100}),
        )
        .await
        .assert_error(422, 42205);
    assert!(
        msg.contains("Overwrite new schema with id 100 in context .imp is not permitted"),
        "{msg}"
    );
    // Id 100 of the default context is free: the imported one lives in `.imp`.
    srv.get("/schemas/ids/100").await.assert_error(404, 40403);
    assert_eq!(
        srv.get("/contexts/.imp/schemas/ids/100").await.ok()["schema"],
        B
    );
    // A registration without an id while importing: 42205.
    srv.post("/subjects/:.imp:z/versions", json!({"schema": C}))
        .await
        .assert_error(422, 42205);
    // Default-context registrations are not in IMPORT mode.
    assert_eq!(id_of(&srv.register("c", C, json!({})).await), 2);
});

dual!(references_resolve_in_the_referrers_context, |srv| {
    let addr = r#"{"type":"record","name":"Addr","namespace":"x","fields":[{"name":"s","type":"string"}]}"#;
    let user = r#"{"type":"record","name":"User","namespace":"x","fields":[{"name":"a","type":"x.Addr"}]}"#;
    srv.register(":.eu:addr", addr, json!({})).await;
    // `addr` unqualified, registered under `.eu`: the context's `addr`.
    let r = srv
        .register(
            ":.eu:user",
            user,
            json!({"references": [{"name": "x.Addr", "subject": "addr", "version": 1}]}),
        )
        .await;
    assert_eq!(id_of(&r), 2);
    // The default context has no `addr`: the same reference is 42201 there.
    srv.post(
        "/subjects/user/versions",
        json!({"schema": user, "references": [{"name": "x.Addr", "subject": "addr", "version": 1}]}),
    )
    .await
    .assert_error(422, 42201);
    assert_eq!(
        srv.get("/subjects/:.eu:addr/versions/1/referencedby")
            .await
            .ok(),
        json!([2])
    );
});

dual!(context_names_and_deletion, |srv| {
    // A colon inside a context name: 400, as Confluent's context filter answers.
    srv.get("/contexts/e:u/subjects")
        .await
        .assert_error(400, 400);
    // Reserved subjects stay invalid in any context.
    srv.post("/subjects/:.eu:__GLOBAL/versions", json!({"schema": A}))
        .await
        .assert_error(422, 42208);
    srv.post("/subjects/:.__GLOBAL:x/versions", json!({"schema": A}))
        .await
        .assert_error(422, 42208);
    // Deleting: unknown 40401, non-empty 42211 (soft-deleted subjects count), then 204.
    srv.delete("/contexts/.nope").await.assert_error(404, 40401);
    srv.register(":.eu:a", A, json!({})).await;
    srv.delete("/contexts/.eu").await.assert_error(422, 42211);
    srv.delete("/subjects/:.eu:a").await.ok();
    srv.delete("/contexts/.eu").await.assert_error(422, 42211);
    srv.delete("/subjects/:.eu:a?permanent=true").await.ok();
    let gone = srv.delete("/contexts/:.eu:").await;
    assert_eq!(gone.status.as_u16(), 204, "{}", gone.text);
    assert_eq!(srv.get("/contexts").await.ok(), json!(["."]));
    // The default context cannot go while it has subjects.
    srv.register("a", A, json!({})).await;
    // (`/contexts/.` is `/contexts` once a client normalises the dot segment.)
    srv.delete("/contexts/:.:").await.assert_error(422, 42211);
    // A context made again after deletion gives out ids that never collide with the
    // deleted one's.
    assert_eq!(id_of(&srv.register(":.eu:b", B, json!({})).await), 1);
});
