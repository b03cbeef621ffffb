//! The offline admin tools and the serve safety check, as the real binary:
//! `accord admin bootstrap` prints a working admin key once, `accord audit verify`
//! exits 0 on an intact chain and 1 naming the first bad seq of a tampered one,
//! `accord audit checkpoint` prints the head and `audit verify --checkpoint` catches a
//! truncation the chain alone cannot show, and a wrong audit key is refused (on SQLite,
//! and on PostgreSQL when ACCORD_TEST_POSTGRES_URL is set); `accord serve` refuses a
//! non-loopback address without --auth. `accord admin principals ...` and
//! `accord admin keys ...` manage principals and keys online, on a running registry.

#[path = "online/support.rs"]
mod support;

use accord_server::ServerConfig;
use std::process::Stdio;
use support::{command, Run};

fn run(args: &[&str]) -> Run {
    let out = command(None)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("accord runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stdout_bytes: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn line<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {stdout:?}"))
        .trim()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Bootstrap, use the key against a server with auth on, then verify and tamper.
fn bootstrap_then_verify(url: &str) {
    let r = run(&["admin", "bootstrap", "--database-url", url]);
    r.expect(0);
    assert!(r.stderr.contains("shown once"), "{}", r.stderr);
    let key_id = line(&r.stdout, "key id:").to_string();
    let bearer = line(&r.stdout, "bearer:").to_string();
    assert_eq!(line(&r.stdout, "basic:").split_once(':').unwrap().0, key_id);

    // A second bootstrap is refused (exit 1) unless forced.
    let again = run(&["admin", "bootstrap", "--database-url", url]);
    again.expect(1);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let forced = run(&["admin", "bootstrap", "--database-url", url, "--force"]);
    forced.expect(0);
    assert_ne!(line(&forced.stdout, "key id:"), key_id);

    // The printed key works on a server with auth on; no key is a 401.
    let rt = rt();
    rt.block_on(async {
        let server = accord_server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: url.to_string(),
            auth: true,
            ..ServerConfig::default()
        })
        .await
        .expect("server");
        let http = reqwest::Client::new();
        let ok = http
            .put(format!("{}/config", server.url()))
            .header("Authorization", format!("Bearer {bearer}"))
            .header("Content-Type", "application/json")
            .body(r#"{"compatibility":"FULL"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let denied = http
            .get(format!("{}/subjects", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 401);
        server.stop().await.unwrap();
    });

    // principal.create, key.create, key.create (forced), config.put.
    let ok = run(&["audit", "verify", "--database-url", url]);
    ok.expect(0);
    assert_eq!(ok.stdout, "audit log intact: 4 entries\n");

    // The checkpoint is the head, SEQ:HASH, and verifies.
    let cp = run(&["audit", "checkpoint", "--database-url", url]);
    cp.expect(0);
    let token = cp.stdout.trim().to_string();
    let (seq, hash) = token.split_once(':').expect("SEQ:HASH");
    assert_eq!((seq, hash.len()), ("4", 64), "{token}");
    let with_cp = run(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--checkpoint",
        &token,
    ]);
    assert_eq!(
        with_cp.expect(0).stdout,
        "audit log intact: 4 entries; checkpoint 4 matches\n"
    );
    let malformed = run(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--checkpoint",
        "4",
    ]);
    malformed.expect(2);
    assert!(
        malformed.stderr.contains("SEQ:HASH"),
        "{}",
        malformed.stderr
    );

    // Another key is refused, naming the fingerprint; a missing key file too.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    let other = other.display().to_string();
    let wrong = run(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--audit-key-file",
        &other,
    ]);
    wrong.expect(2);
    assert!(wrong.stderr.contains("fingerprint"), "{}", wrong.stderr);
    let missing = dir.path().join("missing.key").display().to_string();
    let none = run(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--audit-key-file",
        &missing,
    ]);
    none.expect(2);
    assert!(none.stderr.contains("no audit key"), "{}", none.stderr);
    assert!(
        !dir.path().join("missing.key").exists(),
        "verify never makes a key"
    );

    let exec = |sql: &'static str| {
        rt.block_on(async {
            let store = accord_server::storage::Store::connect(url).await.unwrap();
            let mut w = store.begin_write().await.unwrap();
            sqlx::query(sql).execute(&mut *w.tx).await.unwrap();
            w.commit().await.unwrap();
            store.close().await;
        })
    };
    // Truncation: the chain alone still verifies, the checkpoint does not.
    exec("DELETE FROM audit_log WHERE seq = 4");
    let cut = run(&["audit", "verify", "--database-url", url]);
    assert_eq!(cut.expect(0).stdout, "audit log intact: 3 entries\n");
    let cut = run(&[
        "audit",
        "verify",
        "--database-url",
        url,
        "--checkpoint",
        &token,
    ]);
    cut.expect(1);
    assert!(
        cut.stdout
            .starts_with("audit log BROKEN: first bad seq 4: ")
            && cut.stdout.contains("truncated"),
        "{}",
        cut.stdout
    );

    exec("UPDATE audit_log SET principal = 'mallory' WHERE seq = 3");
    let bad = run(&["audit", "verify", "--database-url", url]);
    bad.expect(1);
    assert_eq!(
        bad.stdout,
        "audit log BROKEN: first bad seq 3: entry 3 was altered (its hash does not match \
         its content)\n"
    );
    // No checkpoint of a broken log.
    let cp = run(&["audit", "checkpoint", "--database-url", url]);
    cp.expect(1);
    assert!(cp.stderr.contains("BROKEN at seq 3"), "{}", cp.stderr);
}

#[test]
fn bootstrap_and_audit_verify_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/accord.db", dir.path().display());
    bootstrap_then_verify(&url);
}

#[test]
fn bootstrap_and_audit_verify_on_postgres() {
    let Ok(admin) = std::env::var("ACCORD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("ACCORD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set"
        );
        eprintln!("SKIPPED: PostgreSQL variant (set ACCORD_TEST_POSTGRES_URL to run it)");
        return;
    };
    let name = format!("accord_cli_{}", std::process::id());
    let exec = |sql: String| {
        let admin = admin.clone();
        rt().block_on(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
            sqlx::Executor::execute(&mut c, sql.as_str())
                .await
                .expect("sql");
        })
    };
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    exec(format!("CREATE DATABASE {name}"));
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let url = format!("{base}/{name}");
    let result = std::panic::catch_unwind(|| bootstrap_then_verify(&url));
    exec(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn serve_refuses_a_public_address_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/accord.db", dir.path().display());
    let r = run(&["serve", "--listen", "0.0.0.0:0", "--database-url", &db]);
    r.expect(2);
    assert!(
        r.stderr.contains("without authentication") && r.stderr.contains("--insecure"),
        "{}",
        r.stderr
    );
    // Nothing was created: the check comes before the database is opened.
    assert!(!dir.path().join("accord.db").exists());
}

/// Starts `accord serve --auth` on `db`, waits until it listens, stops it, and returns
/// everything it wrote to stderr.
fn serve_with_auth_once(db: &str) -> String {
    use std::io::{BufRead, BufReader, Read};
    let mut child = command(None)
        .args([
            "serve",
            "--auth",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("accord serve runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut listening = false;
    for l in BufReader::new(stdout).lines() {
        let Ok(l) = l else { break };
        if l.contains("accord registry listening") {
            listening = true;
            break;
        }
        if std::time::Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the server did not start");
    err_reader.join().expect("stderr")
}

#[test]
fn first_start_with_auth_prints_one_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/accord.db", dir.path().display());
    let first = serve_with_auth_once(&db);
    assert!(first.contains("shown ONCE"), "{first}");
    let secret = line(&first, "accord:   secret:").to_string();
    assert_eq!(secret.len(), 64);
    let second = serve_with_auth_once(&db);
    assert!(!second.contains("secret:"), "{second}");
    // The printed key is the admin's: the offline verify sees its two entries.
    let r = run(&["audit", "verify", "--database-url", &db]);
    assert_eq!(r.expect(0).stdout, "audit log intact: 2 entries\n");
}

/// The online admin commands against a registry with auth on: create, list, show,
/// set-role, set-team, disable, enable, keys create/revoke/rotate, delete, with the
/// usual exit codes (1 refused, 2 not found, 3 credentials refused).
#[test]
fn principals_and_keys_online() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/accord.db", dir.path().display());
    let boot = run(&["admin", "bootstrap", "--database-url", &db]);
    boot.expect(0);
    let admin = line(&boot.stdout, "bearer:").to_string();
    let rt = rt();
    let server = rt
        .block_on(accord_server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: db.clone(),
            auth: true,
            ..ServerConfig::default()
        }))
        .expect("server");
    let url = server.url();
    let as_admin = |args: &[&str]| {
        let mut all = vec!["--url", url.as_str(), "--token", admin.as_str(), "admin"];
        all.extend_from_slice(args);
        run(&all)
    };

    as_admin(&["principals", "create", "bob", "--role", "reader"]).expect(0);
    let created = as_admin(&["keys", "create", "bob", "--expires-in-days", "30"]);
    created.expect(0);
    assert!(created.stderr.contains("shown once"), "{}", created.stderr);
    let bob_id = line(&created.stdout, "key id:").to_string();
    let bob = line(&created.stdout, "bearer:").to_string();
    assert!(line(&created.stdout, "expires:").ends_with('Z'));
    let secret = line(&created.stdout, "secret:").to_string();

    let list = as_admin(&["principals", "list"]);
    list.expect(0);
    assert!(
        list.stdout
            .contains("bob  user  role=reader team=- enabled"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains(&bob_id) && !list.stdout.contains(&secret));
    let json = as_admin(&["--output", "json", "principals", "show", "bob"]);
    let v: serde_json::Value = serde_json::from_str(&json.expect(0).stdout).expect("JSON");
    assert_eq!(v["keys"][0]["keyId"], bob_id.as_str());
    assert_eq!(v["keys"][0]["status"], "active");

    let r = as_admin(&[
        "principals",
        "set-role",
        "bob",
        "member",
        "--team",
        "orders",
    ]);
    assert_eq!(r.expect(0).stdout, "principal 'bob' is now member\n");
    as_admin(&["principals", "set-team", "bob", "billing"]).expect(0);
    // A member needs a team: refused (1).
    as_admin(&["principals", "set-team", "bob", "--none"]).expect(1);
    let show = as_admin(&["principals", "show", "bob"]);
    assert!(
        show.expect(0).stdout.contains("role=member team=billing"),
        "{}",
        show.stdout
    );

    // Disabled: bob's key is refused (3); enabled again it works.
    as_admin(&["principals", "disable", "bob"]).expect(0);
    let bob_call = |args: &[&str]| {
        let mut all = vec!["--url", url.as_str(), "--token", bob.as_str()];
        all.extend_from_slice(args);
        run(&all)
    };
    bob_call(&["subjects"]).expect(3);
    as_admin(&["principals", "enable", "bob"]).expect(0);
    bob_call(&["subjects"]).expect(0);
    // Not an admin: 3.
    bob_call(&["admin", "principals", "list"]).expect(3);

    // bob rotates his key: the new one works, the old one is refused.
    let rotated = bob_call(&["admin", "keys", "rotate"]);
    rotated.expect(0);
    let new_bob = line(&rotated.stdout, "bearer:").to_string();
    assert_ne!(new_bob, bob);
    bob_call(&["subjects"]).expect(3);
    run(&["--url", &url, "--token", &new_bob, "subjects"]).expect(0);

    // Revoke the new key.
    let new_id = line(&rotated.stdout, "key id:").to_string();
    as_admin(&["keys", "revoke", "bob", &new_id]).expect(0);
    run(&["--url", &url, "--token", &new_bob, "subjects"]).expect(3);
    as_admin(&["keys", "revoke", "bob", &new_id]).expect(2);

    // Unknown principal: 2. The last admin: refused (1). Delete bob.
    as_admin(&["principals", "show", "nobody"]).expect(2);
    let last = as_admin(&["principals", "delete", "admin"]);
    last.expect(1);
    assert!(
        last.stderr.contains("last enabled admin"),
        "{}",
        last.stderr
    );
    as_admin(&["principals", "delete", "bob"]).expect(0);
    as_admin(&["principals", "show", "bob"]).expect(2);
    rt.block_on(server.stop()).unwrap();

    // Every change is in the (intact) audit log.
    let v = run(&["audit", "verify", "--database-url", &db]);
    v.expect(0);
}
