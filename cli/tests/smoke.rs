//! Smoke test of the real binary: `accord serve` with its defaults creates the SQLite
//! file under ./accord-data, serves the API, and on SIGTERM finishes and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn serve_runs_on_the_embedded_default_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("accord-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("ACCORD_DATABASE_URL")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord starts");
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = http
            .post(format!("{base}/subjects/smoke-value/versions"))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(r#"{"schema":"\"string\""}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["id"], 1);
        // The GUID of Avro "string" is Confluent's (confluent-compat.md §6.2).
        assert_eq!(body["guid"], "095d71cf-1255-6b9d-5e33-0ad575b3df5d");
    });
    assert!(
        dir.join("accord-data/accord.db").exists(),
        "the default SQLite file is created"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 12: with a half-sent request head and a half-sent body open (both far from
/// their own timeouts), SIGTERM still ends the process once the drain deadline passes.
#[test]
fn sigterm_exits_within_the_drain_deadline_with_half_sent_requests_open() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("accord-smoke-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let drain = Duration::from_millis(2000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-drain-ms",
            &drain.as_millis().to_string(),
        ])
        .env_remove("ACCORD_DATABASE_URL")
        .env_remove("ACCORD_HEADER_TIMEOUT_MS")
        .env_remove("ACCORD_BODY_TIMEOUT_MS")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord starts");
    let start = Instant::now();
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.write_all(b"GET /health/ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?;
            let mut out = String::new();
            std::io::Read::read_to_string(&mut s, &mut out)?;
            Ok(out.starts_with("HTTP/1.1 200"))
        });
        if ready.unwrap_or(false) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Half a head (the header timeout is 10 s by default) and half a body (20 s).
    let mut head = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    head.write_all(b"GET /subjects HTTP/1.1\r\nHost: a\r\n")
        .unwrap();
    let mut body = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    body.write_all(
        b"POST /subjects/s-value/versions HTTP/1.1\r\nHost: a\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"schema\"",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > drain + Duration::from_secs(5) {
            let _ = child.kill();
            panic!("no exit within the drain deadline + 5 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "exited {:?} after SIGTERM with half-sent requests open (drain {drain:?})",
        start.elapsed()
    );
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    drop((head, body));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openapi_subcommand_prints_the_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/subjects"].is_object());
}
