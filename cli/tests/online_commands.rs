//! The online subcommands (`check`, `register`, `get`, `subjects`, `versions`, `config`,
//! `mode`, `delete`, `push`), run as the real binary against a real Accord registry
//! started in-process, with every exit code: 0 ok, 1 incompatible or refused, 2 usage
//! (bad flags, missing file, unknown subject), 3 unreachable or refused credentials.

#[path = "online/support.rs"]
mod support;

use support::{accord, accord_in, dead_url, fixture, Registry};

#[test]
fn register_get_versions_and_subjects() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let r = accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    );
    r.expect(0);
    assert_eq!(r.stdout, "users-value: version 1 (id 1)\n");
    // Registering the same schema again finds the same version.
    let r = accord(
        url,
        &[
            "--output",
            "json",
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    );
    let j = r.expect(0).json();
    assert_eq!(
        (
            j["subject"].as_str(),
            j["id"].as_i64(),
            j["version"].as_i64()
        ),
        (Some("users-value"), Some(1), Some(1))
    );
    assert!(j["guid"].is_string());
    let r = accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v2_compatible.avsc"),
        ],
    );
    assert_eq!(r.expect(0).stdout, "users-value: version 2 (id 2)\n");

    // get: the registry's text, by subject (latest or a version) or by id, to stdout or a file.
    let v1 = std::fs::read_to_string(fixture("user_v1.avsc")).unwrap();
    let r = accord(url, &["get", "--subject", "users-value", "--version", "1"]);
    assert_eq!(r.expect(0).stdout.trim(), v1.trim());
    let r = accord(url, &["get", "--subject", "users-value"]);
    assert!(r.expect(0).stdout.contains("email"), "{}", r.stdout);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.avsc");
    accord(url, &["get", "--id", "1", "--out", out.to_str().unwrap()]).expect(0);
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), v1.trim());
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "get",
            "--subject",
            "users-value",
            "--version",
            "latest",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        (
            j["version"].as_i64(),
            j["id"].as_i64(),
            j["schemaType"].as_str()
        ),
        (Some(2), Some(2), Some("AVRO"))
    );

    // versions and subjects, text and JSON.
    assert_eq!(
        accord(url, &["versions", "--subject", "users-value"])
            .expect(0)
            .stdout,
        "1\n2\n"
    );
    accord(
        url,
        &[
            "register",
            "--subject",
            "orders-value",
            &fixture("address.avsc"),
        ],
    )
    .expect(0);
    assert_eq!(
        accord(url, &["subjects"]).expect(0).stdout,
        "orders-value\nusers-value\n"
    );
    let j = accord(url, &["--output", "json", "subjects", "--prefix", "users"])
        .expect(0)
        .json();
    assert_eq!(j, serde_json::json!(["users-value"]));
    let j = accord(
        url,
        &["--output", "json", "versions", "--subject", "users-value"],
    )
    .expect(0)
    .json();
    assert_eq!(j, serde_json::json!([1, 2]));
}

#[test]
fn check_asks_the_registry_at_the_subject_level() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    // A subject without versions accepts anything.
    accord(
        url,
        &[
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    )
    .expect(0);
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0);

    let r = accord(
        url,
        &[
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_compatible.avsc"),
        ],
    );
    r.expect(0);
    let r = accord(
        url,
        &[
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    );
    r.expect(1);
    assert!(
        r.stdout.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{}",
        r.stdout
    );

    let j = accord(
        url,
        &[
            "--output",
            "json",
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    )
    .expect(1)
    .json();
    let check = &j["checks"][0];
    assert_eq!(check["kind"], "compatibility");
    assert_eq!(check["subject"], "users-value");
    assert_eq!(check["level"], "BACKWARD");
    let f = &check["findings"][0];
    assert_eq!(f["rule"], "READER_FIELD_MISSING_DEFAULT_VALUE");
    assert_eq!(f["path"], "/fields/1");
    assert_eq!(f["version"], 1);
    assert_eq!(f["direction"], "backward");
    assert!(f["message"].as_str().unwrap().contains("'age'"), "{f}");
    assert_eq!(
        f["line"], 7,
        "the finding points at the field's line in the file"
    );

    // The level is the subject's configured one: NONE accepts the same change.
    accord(url, &["config", "set", "NONE", "--subject", "users-value"]).expect(0);
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    )
    .expect(0)
    .json();
    assert_eq!(j["checks"][0]["level"], "NONE");

    // References: NAME=SUBJECT:VERSION (or latest).
    accord(
        url,
        &[
            "register",
            "--subject",
            "address-value",
            &fixture("address.avsc"),
        ],
    )
    .expect(0);
    accord(
        url,
        &[
            "check",
            "--subject",
            "customers-value",
            "--reference",
            "com.acme.Address=address-value:latest",
            &fixture("customer.avsc"),
        ],
    )
    .expect(0);
    let r = accord(
        url,
        &[
            "register",
            "--subject",
            "customers-value",
            "--reference",
            "com.acme.Address=address-value:1",
            &fixture("customer.avsc"),
        ],
    );
    r.expect(0);
    // Without the reference the schema does not parse: the registry's verdict is a finding.
    let r = accord(
        url,
        &[
            "check",
            "--subject",
            "customers-value",
            &fixture("customer.avsc"),
        ],
    );
    r.expect(1);
}

/// A stream's contract, not the subject's config, sets the level its subjects are checked
/// at; the report names the level that was applied (issue 17, item 3).
#[test]
fn check_reports_the_level_the_registry_enforced() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0);
    accord(url, &["config", "set", "NONE", "--subject", "users-value"]).expect(0);
    let contract = serde_json::json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "users", "version": "1.0.0",
        "status": "active", "team": {"name": "identity"},
        "support": [{"channel": "identity-oncall", "url": "mailto:id@acme.example"}],
        "customProperties": [
            {"property": "accord.stream", "value": {"name": "users"}},
            {"property": "accord.evolution", "value": {"compatibility": "FULL_TRANSITIVE"}}
        ]
    });
    let (status, body) = reg.call("PUT", "/v1/streams/users/contract", Some(contract));
    assert_eq!(status, 200, "{body}");

    // NONE would accept a new required field; the contract's FULL_TRANSITIVE does not,
    // and the report says FULL_TRANSITIVE.
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    )
    .expect(1)
    .json();
    assert_eq!(j["checks"][0]["level"], "FULL_TRANSITIVE", "{j}");
    let r = accord(
        url,
        &[
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    );
    r.expect(1);
    assert!(r.stdout.contains("FULL_TRANSITIVE"), "{}", r.stdout);
    assert!(!r.stdout.contains("NONE"), "{}", r.stdout);
    // A passing check names no level in its answer: the label is the contract's still.
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_compatible.avsc"),
        ],
    )
    .expect(0)
    .json();
    assert_eq!(j["checks"][0]["level"], "FULL_TRANSITIVE", "{j}");
    // The subject's own config is still NONE: the label came from the check.
    let r = accord(url, &["config", "get", "--subject", "users-value"]);
    assert_eq!(r.expect(0).stdout.trim(), "NONE");
    // A subject of no stream is labelled with its configured level, as before.
    accord(
        url,
        &["config", "set", "FORWARD", "--subject", "loose-value"],
    )
    .expect(0);
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "check",
            "--subject",
            "loose-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0)
    .json();
    assert_eq!(j["checks"][0]["level"], "FORWARD", "{j}");
}

#[test]
fn register_refused_exits_1_with_the_reasons_on_one_line() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0);
    let r = accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    );
    r.expect(1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("accord: the registry refused the schema"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{}",
        r.stderr
    );
    // An invalid schema (422) is refused too.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.avsc");
    std::fs::write(
        &bad,
        r#"{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}"#,
    )
    .unwrap();
    let r = accord(
        url,
        &["register", "--subject", "x-value", bad.to_str().unwrap()],
    );
    r.expect(1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn config_mode_and_delete() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    assert_eq!(
        accord(url, &["config", "get"]).expect(0).stdout,
        "BACKWARD\n"
    );
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0);
    assert_eq!(
        accord(url, &["config", "get", "--subject", "users-value"])
            .expect(0)
            .stdout,
        "BACKWARD (global)\n"
    );
    assert_eq!(
        accord(
            url,
            &[
                "config",
                "set",
                "full_transitive",
                "--subject",
                "users-value"
            ]
        )
        .expect(0)
        .stdout,
        "FULL_TRANSITIVE\n"
    );
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "config",
            "get",
            "--subject",
            "users-value",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        j,
        serde_json::json!({"subject": "users-value", "compatibilityLevel": "FULL_TRANSITIVE", "inherited": false})
    );
    accord(url, &["config", "set", "FORWARD"]).expect(0);
    assert_eq!(
        accord(url, &["config", "get"]).expect(0).stdout,
        "FORWARD\n"
    );
    accord(url, &["config", "set", "SIDEWAYS"]).expect(2);

    assert_eq!(
        accord(url, &["mode", "get"]).expect(0).stdout,
        "READWRITE\n"
    );
    assert_eq!(
        accord(
            url,
            &["mode", "set", "readonly", "--subject", "users-value"]
        )
        .expect(0)
        .stdout,
        "READONLY\n"
    );
    let j = accord(
        url,
        &[
            "--output",
            "json",
            "mode",
            "get",
            "--subject",
            "users-value",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        j,
        serde_json::json!({"subject": "users-value", "mode": "READONLY", "inherited": false})
    );
    // A read-only subject refuses a new version.
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v2_compatible.avsc"),
        ],
    )
    .expect(1);
    accord(
        url,
        &["mode", "set", "READWRITE", "--subject", "users-value"],
    )
    .expect(0);
    accord(url, &["mode", "set", "WRITEONLY"]).expect(2);
    // IMPORT while subjects exist needs --force.
    accord(url, &["mode", "set", "IMPORT"]).expect(1);
    accord(url, &["mode", "set", "IMPORT", "--force"]).expect(0);
    accord(url, &["mode", "set", "READWRITE"]).expect(0);

    // Soft delete of a version, then of the subject; --permanent soft-deletes first.
    accord(url, &["config", "set", "NONE", "--subject", "users-value"]).expect(0);
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    )
    .expect(0);
    let r = accord(
        url,
        &["delete", "--subject", "users-value", "--version", "2"],
    );
    assert_eq!(
        r.expect(0).stdout,
        "users-value: deleted version(s) 2 (soft)\n"
    );
    assert_eq!(
        accord(url, &["versions", "--subject", "users-value"])
            .expect(0)
            .stdout,
        "1\n"
    );
    assert_eq!(
        accord(url, &["versions", "--subject", "users-value", "--deleted"])
            .expect(0)
            .stdout,
        "1\n2\n"
    );
    accord(
        url,
        &[
            "delete",
            "--subject",
            "users-value",
            "--version",
            "2",
            "--permanent",
        ],
    )
    .expect(0);
    assert_eq!(
        accord(url, &["versions", "--subject", "users-value", "--deleted"])
            .expect(0)
            .stdout,
        "1\n"
    );
    let j = accord(
        url,
        &["--output", "json", "delete", "--subject", "users-value"],
    )
    .expect(0)
    .json();
    assert_eq!(
        j,
        serde_json::json!({"subject": "users-value", "versions": [1], "permanent": false})
    );
    assert_eq!(accord(url, &["subjects"]).expect(0).stdout, "");
    assert_eq!(
        accord(url, &["subjects", "--deleted"]).expect(0).stdout,
        "users-value\n"
    );
    accord(url, &["delete", "--subject", "users-value", "--permanent"]).expect(0);
    assert_eq!(accord(url, &["subjects", "--deleted"]).expect(0).stdout, "");
    // Permanent delete of a live subject: soft first, then for good.
    accord(
        url,
        &[
            "register",
            "--subject",
            "other-value",
            &fixture("address.avsc"),
        ],
    )
    .expect(0);
    accord(url, &["delete", "--subject", "other-value", "--permanent"]).expect(0);
    assert_eq!(accord(url, &["subjects", "--deleted"]).expect(0).stdout, "");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let r = accord(url, &["check", "--subject", "s", "/no/such/file.avsc"]);
    r.expect(2);
    assert!(r.stderr.contains("/no/such/file.avsc"), "{}", r.stderr);
    accord(url, &["register", "--subject", "s", "/no/such/file.avsc"]).expect(2);
    accord(url, &["check", "--subject", "s", &fixture("support.rs")]).expect(2);
    accord(url, &["check", &fixture("user_v1.avsc")]).expect(2);
    let r = accord(url, &["get", "--subject", "nobody-value"]);
    r.expect(2);
    assert_eq!(r.stderr, "accord: subject 'nobody-value' not found\n");
    accord(url, &["versions", "--subject", "nobody-value"]).expect(2);
    accord(url, &["get", "--id", "42"]).expect(2);
    accord(url, &["get", "--subject", "s", "--version", "0"]).expect(2);
    accord(url, &["delete", "--subject", "nobody-value"]).expect(2);
    accord(url, &["--user", "alice", "subjects"]).expect(2);
    accord(url, &["--password", "secret", "subjects"]).expect(2);
    accord(url, &["--ca-cert", "/no/such/ca.pem", "subjects"]).expect(2);
    accord(
        url,
        &[
            "check",
            "--subject",
            "s",
            "--reference",
            "nonsense",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(2);
    // clap's own errors are exit 2 too.
    let r = accord(url, &["get"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn unreachable_registry_exits_3_with_one_line_naming_the_url() {
    let url = dead_url();
    let start = std::time::Instant::now();
    for args in [
        vec!["check", "--subject", "s"],
        vec!["register", "--subject", "s"],
    ] {
        let mut args = args;
        let file = fixture("user_v1.avsc");
        args.push(&file);
        let r = accord(&url, &args);
        r.expect(3);
        assert!(
            r.stderr
                .starts_with(&format!("accord: cannot reach the registry at {url}")),
            "{}",
            r.stderr
        );
    }
    let r = accord(&url, &["subjects"]);
    r.expect(3);
    assert!(r.stderr.contains(&url), "{}", r.stderr);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "fails fast: {:?}",
        start.elapsed()
    );
}

#[test]
fn refused_credentials_exit_3_with_one_line() {
    // Accord has no auth yet: a stand-in that answers 401 as Confluent does.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"error_code":401,"message":"Unauthorized"}"#,
        )
    });
    rt.spawn(async move { axum::serve(listener, app).await });
    for args in [
        vec!["--token", "t0k3n", "subjects"],
        vec!["--user", "alice", "--password", "pw", "config", "get"],
        vec!["check", "--subject", "s", "FILE"],
    ] {
        let file = fixture("user_v1.avsc");
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "FILE" { file.as_str() } else { a })
            .collect();
        let r = accord(&url, &args);
        r.expect(3);
        assert!(
            r.stderr.contains("refused the credentials (401"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains(&url), "{}", r.stderr);
        assert!(
            !r.stderr.contains("t0k3n") && !r.stderr.contains("pw)"),
            "{}",
            r.stderr
        );
    }
}

const MANIFEST: &str = r#"
schemas:
  - file: schemas/customer.avsc
    subject: customers-value
    references:
      - name: com.acme.Address
        file: schemas/address.avsc
  - file: schemas/address.avsc
    subject: address-value
"#;

/// A repository with the manifest and its two schemas (customer references address).
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
    std::fs::write(dir.path().join("accord.yaml"), MANIFEST).unwrap();
    for f in ["customer.avsc", "address.avsc"] {
        std::fs::copy(fixture(f), dir.path().join("schemas").join(f)).unwrap();
    }
    dir
}

#[test]
fn push_registers_references_first_and_is_idempotent() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let repo = repository();
    let dir = Some(repo.path());

    let r = accord_in(dir, url, &["push", "--dry-run"], None);
    assert_eq!(
        r.expect(0).stdout,
        "address-value: schemas/address.avsc [would-register]\ncustomers-value: schemas/customer.avsc [would-register]\n"
    );
    assert_eq!(
        accord(url, &["subjects"]).expect(0).stdout,
        "",
        "a dry run registers nothing"
    );

    let r = accord_in(dir, url, &["push"], None);
    assert_eq!(
        r.expect(0).stdout,
        "address-value: version 1 (id 1) [new]\ncustomers-value: version 1 (id 2) [new]\n"
    );
    let r = accord_in(dir, url, &["--output", "json", "push"], None);
    let j = r.expect(0).json();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert!(
        j.as_array()
            .unwrap()
            .iter()
            .all(|row| row["status"] == "unchanged"),
        "{j}"
    );
    assert_eq!(j[1]["subject"], "customers-value");
    assert_eq!(j[1]["file"], "schemas/customer.avsc");
    // The reference was registered as {name, subject, version}.
    let j = accord(
        url,
        &["--output", "json", "get", "--subject", "customers-value"],
    )
    .expect(0)
    .json();
    assert_eq!(
        j["references"],
        serde_json::json!([{"name": "com.acme.Address", "subject": "address-value", "version": 1}])
    );

    // A compatible change to the referenced schema is new; the referrer is unchanged
    // only if its reference still points at the old version, so it is new too.
    std::fs::write(
        repo.path().join("schemas/address.avsc"),
        r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"},{"name":"zip","type":["null","string"],"default":null}]}"#,
    )
    .unwrap();
    let r = accord_in(dir, url, &["push"], None);
    assert_eq!(
        r.expect(0).stdout,
        "address-value: version 2 (id 3) [new]\ncustomers-value: version 2 (id 4) [new]\n"
    );

    // An incompatible change is refused: exit 1, the rest named as not pushed.
    std::fs::write(
        repo.path().join("schemas/address.avsc"),
        r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"int"}]}"#,
    )
    .unwrap();
    let r = accord_in(dir, url, &["push"], None);
    r.expect(1);
    assert!(r.stderr.contains("schemas/address.avsc"), "{}", r.stderr);
    assert!(
        r.stderr.contains("not pushed: customers-value"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_without_file_checks_every_manifest_schema() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    let repo = repository();
    let dir = Some(repo.path());
    // Nothing registered: the reference cannot be resolved yet.
    let r = accord_in(dir, url, &["check"], None);
    r.expect(2);
    assert!(r.stderr.contains("accord push"), "{}", r.stderr);
    accord_in(dir, url, &["push"], None).expect(0);

    let j = accord_in(dir, url, &["--output", "json", "check"], None)
        .expect(0)
        .json();
    let checks = j["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0]["subject"], "address-value");
    assert_eq!(checks[1]["subject"], "customers-value");

    std::fs::write(
        repo.path().join("schemas/address.avsc"),
        r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"int"}]}"#,
    )
    .unwrap();
    let r = accord_in(dir, url, &["check"], None);
    r.expect(1);
    assert!(r.stdout.contains("address-value"), "{}", r.stdout);
    // No manifest: a usage error.
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join(".git")).unwrap();
    accord_in(Some(empty.path()), url, &["check"], None).expect(2);
    accord_in(Some(empty.path()), url, &["push"], None).expect(2);
}

/// `--context` works in one schema context: registrations land there (with the
/// context's own ids), reads and listings see only it, and a check compares with its
/// versions; a context name with a colon is a usage error.
#[test]
fn context_flag_works_in_one_context() {
    let reg = Registry::start();
    let url = reg.url.as_str();
    accord(
        url,
        &[
            "register",
            "--subject",
            "users-value",
            &fixture("user_v1.avsc"),
        ],
    )
    .expect(0);
    let r = accord(
        url,
        &[
            "register",
            "--subject",
            "other-value",
            &fixture("address.avsc"),
        ],
    );
    assert_eq!(r.expect(0).stdout, "other-value: version 1 (id 2)\n");
    let r = accord(
        url,
        &[
            "--context",
            "eu",
            "register",
            "--subject",
            "users-value",
            &fixture("user_v2_compatible.avsc"),
        ],
    );
    // The context's first schema is its own id 1 (the default context has 1 and 2).
    assert_eq!(r.expect(0).stdout, "users-value: version 1 (id 1)\n");
    let r = accord(url, &["--context", ".eu", "--output", "json", "subjects"]);
    assert_eq!(r.expect(0).json(), serde_json::json!([":.eu:users-value"]));
    let r = accord(url, &["--context", "eu", "get", "--subject", "users-value"]);
    assert!(r.expect(0).stdout.contains("email"), "{}", r.stdout);
    // The default context still has only version 1.
    let r = accord(
        url,
        &["--output", "json", "versions", "--subject", "users-value"],
    );
    assert_eq!(r.expect(0).json(), serde_json::json!([1]));
    // The context's check compares with the context's versions.
    let r = accord(
        url,
        &[
            "--context",
            "eu",
            "check",
            "--subject",
            "users-value",
            &fixture("user_v2_incompatible.avsc"),
        ],
    );
    r.expect(1);
    accord(url, &["--context", "e:u", "subjects"]).expect(2);
}
