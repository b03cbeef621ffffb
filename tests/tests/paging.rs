//! Paged listings (issue 19) over HTTP on SQLite and PostgreSQL: `GET /v1/streams` a page
//! at a time (`limit`, `after`, `X-Total-Count`, `Link: rel="next"`), in a stable order,
//! without duplicates or gaps while streams are added between pages.

mod common;

use common::Srv;
use serde_json::{json, Value};

fn contract(stream: &str) -> Value {
    json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": format!("{stream}-contract"),
        "version": "1.0.0", "status": "active", "team": {"name": "paging"},
        "support": [{"channel": "oncall", "tool": "email", "url": "mailto:paging@example.com"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": stream}}]
    })
}

async fn stream(srv: &Srv, name: &str) {
    srv.put(&format!("/v1/streams/{name}/contract"), contract(name))
        .await
        .ok();
}

/// One page: its stream names, `X-Total-Count`, and the `Link` header's next path.
async fn page(srv: &Srv, path: &str) -> (Vec<String>, i64, Option<String>) {
    let resp = srv
        .http
        .get(format!("{}{path}", srv.base))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), 200, "GET {path}");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let total: i64 = header("x-total-count")
        .expect("X-Total-Count")
        .parse()
        .unwrap();
    let next = header("link").map(|l| {
        assert!(l.ends_with("; rel=\"next\""), "{l}");
        l.trim_start_matches('<')
            .split_once('>')
            .unwrap()
            .0
            .to_string()
    });
    let body: Value = resp.json().await.unwrap();
    let names = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    (names, total, next)
}

dual!(streams_page_stably_while_streams_are_added, |srv| {
    // s00, s02, … s48: 25 streams.
    let before: Vec<String> = (0..50).step_by(2).map(|i| format!("s{i:02}")).collect();
    for s in &before {
        stream(&srv, s).await;
    }
    srv.register("s10-value", common::USER_V1, json!({})).await;

    let mut seen: Vec<String> = Vec::new();
    let mut added_after_cursor: Vec<String> = Vec::new();
    let mut path = "/v1/streams?limit=7".to_string();
    let mut pages = 0;
    loop {
        let (names, total, next) = page(&srv, &path).await;
        pages += 1;
        assert!(names.len() <= 7);
        assert!(total >= 25, "{total}");
        seen.extend(names.iter().cloned());
        let Some(next) = next else {
            assert!(names.len() <= 7);
            break;
        };
        assert_eq!(names.len(), 7, "a page before the last is full");
        // Between pages, a stream before the cursor and one after it are added.
        let last = names.last().unwrap().clone();
        let k: usize = last[1..].parse().unwrap();
        stream(&srv, &format!("s{:02}", k.saturating_sub(1))).await;
        if k + 1 < 50 {
            let later = format!("s{:02}", k + 1);
            stream(&srv, &later).await;
            added_after_cursor.push(later);
        }
        path = next;
        assert!(pages < 20, "paging does not end");
    }
    // Strictly increasing: no duplicates, a stable order.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    // No gaps: every stream there before paging began, and every one added ahead of the
    // cursor, is on a page.
    for s in before.iter().chain(added_after_cursor.iter()) {
        assert!(seen.contains(s), "{s} missing from {seen:?}");
    }

    // The latest value schema is filled in on the page that holds the stream.
    let (names, total, next) = page(&srv, "/v1/streams?limit=2&after=s09").await;
    assert_eq!(names[0], "s10");
    assert!(next.is_some());
    let all: i64 = total;
    let body = srv.get("/v1/streams?limit=1&after=s09").await.ok();
    assert_eq!(body[0]["latestValueSchema"]["version"], 1);

    // The last page has no next link; the total counts every stream.
    let (names, total, next) = page(&srv, "/v1/streams?after=s48").await;
    assert!(names.iter().all(|n| n.as_str() > "s48"));
    assert!(next.is_none());
    assert_eq!(total, all);
    let (every, _, next) = page(&srv, "/v1/streams").await;
    assert_eq!(every.len() as i64, all, "one default page holds up to 1000");
    assert!(next.is_none());

    // The subject filter.
    let (names, total, _) = page(&srv, "/v1/streams?subject=s10-value").await;
    assert_eq!(names, ["s10"]);
    assert_eq!(total, 1);
    let (names, total, _) = page(&srv, "/v1/streams?subject=nothing-value").await;
    assert!(names.is_empty());
    assert_eq!(total, 0);

    for bad in ["0", "1001", "-3", "many"] {
        srv.get(&format!("/v1/streams?limit={bad}"))
            .await
            .assert_error(422, 422);
    }
});
