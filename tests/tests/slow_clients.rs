//! Slow and stalled clients (issue 12) on real sockets: a half-sent request head or body
//! is timed out, an idle keep-alive connection is closed, the connection cap holds with
//! more stalled clients than it allows (normal clients still get served), and a
//! shutdown with a half-sent request open returns within the drain deadline.
//!
//! The limits are set to a few hundred milliseconds so the tests run fast; the bounds
//! asserted are generous (timeout + 3 s) since CI machines are loaded. Each test prints
//! what it measured.

mod common;
use accord_server::ServerConfig;
use common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the tests allow beyond a timeout for the server to act on it.
const MARGIN: Duration = Duration::from_secs(3);

/// Runs `$body` (using `srv: Srv`, `port: u16`) on SQLite and PostgreSQL with the
/// config adjusted by `$tune` (a closure on `&mut ServerConfig`).
macro_rules! slow {
    ($name:ident, $tune:expr, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: Db) {
                let Some(test_db) = TestDb::new(db).await else {
                    return;
                };
                let mut cfg = config(&test_db.url);
                let tune: fn(&mut ServerConfig) = $tune;
                tune(&mut cfg);
                #[allow(unused_mut)]
                let mut $srv = Srv::start(cfg).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Db::Postgres).await
            }
        }
    };
}

fn addr(srv: &Srv) -> std::net::SocketAddr {
    srv.server.as_ref().expect("running").addr
}

async fn connect(srv: &Srv) -> TcpStream {
    TcpStream::connect(addr(srv)).await.expect("connect")
}

/// Reads (and discards) until the server closes the connection (EOF or reset), and
/// returns how long that took from `since`; `None` if still open after `limit`.
async fn closed_within(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    let left = limit.saturating_sub(since.elapsed());
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return since.elapsed(),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(left, read_all).await.ok()
}

/// One HTTP/1.1 response read off a raw socket: status, head, body (Content-Length).
async fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    while data.len() < head_end + len {
        let n = s.read(&mut buf).await.expect("read body");
        assert!(n > 0, "connection closed mid-body");
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..head_end + len]).to_string();
    (status, head, body)
}

/// Server-side sockets of this process accepted on `port` (its own client sockets and
/// connections still waiting in the listen backlog are not counted), from
/// /proc/net/tcp and /proc/self/fd.
fn accepted_sockets(port: u16) -> usize {
    let ours: HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| {
                let link = std::fs::read_link(e.ok()?.path()).ok()?;
                let link = link.to_str()?;
                Some(
                    link.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_string(),
                )
            })
            .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                return false;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // 0A is LISTEN: the listener itself.
            local_port == Some(port) && *state != "0A" && ours.contains(*inode)
        })
        .count()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

slow!(
    half_sent_head_is_closed_after_the_header_timeout,
    |c| {
        c.header_timeout = Duration::from_millis(400);
        c.idle_timeout = Duration::from_secs(30);
        c.body_timeout = Duration::from_secs(30);
    },
    |srv| {
        let timeout = Duration::from_millis(400);
        // Half a request head, then nothing.
        let mut half = connect(&srv).await;
        let since = Instant::now();
        half.write_all(b"GET /subjects HTTP/1.1\r\nHost: accord\r\nAccept: */*\r\n")
            .await
            .unwrap();
        // A connection that sends nothing at all is timed out the same way.
        let mut silent = connect(&srv).await;
        // Meanwhile normal requests are served.
        for _ in 0..3 {
            srv.get("/subjects").await.ok();
        }
        let closed = closed_within(&mut half, since, timeout + MARGIN)
            .await
            .expect("a half-sent head is closed within the header timeout + 3 s");
        println!("half-sent head closed after {closed:?} (header timeout {timeout:?})");
        assert!(closed >= timeout - Duration::from_millis(50), "{closed:?}");
        let silent_closed = closed_within(&mut silent, since, timeout + MARGIN)
            .await
            .expect("a silent connection is closed within the header timeout + 3 s");
        println!("silent connection closed after {silent_closed:?}");
        srv.get("/subjects").await.ok();
    }
);

slow!(
    stalled_body_gets_408,
    |c| {
        c.header_timeout = Duration::from_secs(30);
        c.idle_timeout = Duration::from_secs(30);
        c.body_timeout = Duration::from_millis(400);
    },
    |srv| {
        let timeout = Duration::from_millis(400);
        let mut s = connect(&srv).await;
        let since = Instant::now();
        s.write_all(
            b"POST /subjects/slow-value/versions HTTP/1.1\r\nHost: accord\r\n\
              Content-Type: application/vnd.schemaregistry.v1+json\r\n\
              Content-Length: 100\r\n\r\n{\"schema\": \"",
        )
        .await
        .unwrap();
        let (status, head, body) = tokio::time::timeout(timeout + MARGIN, read_response(&mut s))
            .await
            .expect("an answer within the body timeout + 3 s");
        let answered = since.elapsed();
        println!("stalled body answered {status} after {answered:?} (body timeout {timeout:?})");
        assert_eq!(status, 408, "{head}{body}");
        let j: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(j["error_code"], 408, "{body}");
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        assert!(
            closed_within(&mut s, Instant::now(), MARGIN)
                .await
                .is_some(),
            "the connection closes after the 408"
        );
        // Nothing was registered; a whole request still works.
        assert_eq!(srv.get("/subjects").await.ok(), serde_json::json!([]));
        srv.register("slow-value", USER_V1, serde_json::json!({}))
            .await;
    }
);

slow!(
    idle_keep_alive_connection_is_closed_after_the_idle_timeout,
    |c| {
        // The idle wait is longer than the header timeout: it must not be cut at that.
        c.header_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_millis(1500);
        c.body_timeout = Duration::from_secs(30);
    },
    |srv| {
        let idle = Duration::from_millis(1500);
        let mut s = connect(&srv).await;
        let request = b"GET /subjects HTTP/1.1\r\nHost: accord\r\n\r\n";
        s.write_all(request).await.unwrap();
        let (status, _, _) = read_response(&mut s).await;
        assert_eq!(status, 200);
        // Idle for longer than the header timeout: still open, a second request works.
        tokio::time::sleep(Duration::from_millis(800)).await;
        s.write_all(request).await.unwrap();
        let (status, _, _) = read_response(&mut s).await;
        assert_eq!(
            status, 200,
            "a keep-alive connection outlives the header timeout"
        );
        let since = Instant::now();
        let closed = closed_within(&mut s, since, idle + MARGIN)
            .await
            .expect("an idle keep-alive connection is closed within the idle timeout + 3 s");
        println!("idle keep-alive connection closed after {closed:?} (idle timeout {idle:?})");
        assert!(closed >= idle - Duration::from_millis(100), "{closed:?}");
    }
);

slow!(
    connection_cap_holds_and_normal_clients_get_through,
    |c| {
        c.max_connections = 20;
        c.header_timeout = Duration::from_millis(500);
        c.idle_timeout = Duration::from_secs(30);
        c.body_timeout = Duration::from_secs(30);
    },
    |srv| {
        let port = addr(&srv).port();
        let fds_before = open_fds();
        let mut stalled = Vec::new();
        for _ in 0..40 {
            let mut s = connect(&srv).await;
            s.write_all(b"GET /subjects HTTP/1.1\r\nHost: accord\r\n")
                .await
                .unwrap();
            stalled.push(s);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        let accepted = accepted_sockets(port);
        let fds = open_fds();
        println!(
            "40 stalled clients, cap 20: {accepted} accepted by the server; \
             process fds {fds_before} -> {fds} (40 of them the clients' own; the other \
             variant may run meanwhile)"
        );
        assert!(
            accepted <= 20,
            "{accepted} connections accepted over a cap of 20"
        );
        // A normal client waits in the backlog while the stalled ones time out (two
        // rounds of the header timeout), then is served.
        let since = Instant::now();
        let r = srv.get("/subjects").await;
        let took = since.elapsed();
        println!("a normal request behind 40 stalled clients took {took:?}");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(took < Duration::from_millis(1000) + MARGIN, "{took:?}");
        // Every stalled client is closed in the end.
        for s in &mut stalled {
            assert!(
                closed_within(s, since, Duration::from_millis(1000) + MARGIN)
                    .await
                    .is_some(),
                "a stalled connection over the cap is closed once accepted"
            );
        }
        assert!(accepted_sockets(port) <= 1);
        srv.get("/subjects").await.ok();
    }
);

slow!(
    stop_returns_within_the_drain_deadline_with_half_sent_requests,
    |c| {
        // Only the drain can end these connections in time.
        c.shutdown_drain = Duration::from_millis(1000);
        c.header_timeout = Duration::from_secs(60);
        c.body_timeout = Duration::from_secs(60);
        c.idle_timeout = Duration::from_secs(60);
    },
    |srv| {
        let drain = Duration::from_millis(1000);
        let mut head = connect(&srv).await;
        head.write_all(b"GET /subjects HTTP/1.1\r\nHost: accord\r\n")
            .await
            .unwrap();
        let mut body = connect(&srv).await;
        body.write_all(
            b"POST /subjects/drain-value/versions HTTP/1.1\r\nHost: accord\r\n\
              Content-Type: application/vnd.schemaregistry.v1+json\r\n\
              Content-Length: 100\r\n\r\n{\"schema\"",
        )
        .await
        .unwrap();
        // An idle keep-alive connection does not hold the drain up at all.
        let mut idle = connect(&srv).await;
        idle.write_all(b"GET /subjects HTTP/1.1\r\nHost: accord\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut idle).await.0, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let since = Instant::now();
        let server = srv.server.take().expect("running");
        tokio::time::timeout(drain + MARGIN, server.stop())
            .await
            .expect("stop() returns within the drain deadline + 3 s")
            .expect("clean stop");
        let took = since.elapsed();
        println!("stop() with half-sent requests open returned after {took:?} (drain {drain:?})");
        for s in [&mut head, &mut body, &mut idle] {
            assert!(
                closed_within(s, Instant::now(), MARGIN).await.is_some(),
                "the server closed every connection"
            );
        }
    }
);
