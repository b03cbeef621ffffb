//! Paged listings (issue 19) over HTTP on SQLite and PostgreSQL: `GET /v1/streams`, the
//! consumer and producer registrations (`/v1/consumers`, `/v1/producers`, a stream's
//! consumers), a stream's proposals, webhooks, principals and the audit log, a page at a
//! time (`limit`, `after`, `X-Total-Count`, `Link: rel="next"`), in a stable order,
//! without duplicates or gaps while rows are added between pages.

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
    let (items, total, next) = page_of(srv, path).await;
    let names = items
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    (names, total.expect("X-Total-Count"), next)
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

/// One page of any list: its items, `X-Total-Count` (when sent) and the next path.
async fn page_of(srv: &Srv, path: &str) -> (Vec<Value>, Option<i64>, Option<String>) {
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
    let total = header("x-total-count").map(|t| t.parse().unwrap());
    let next = header("link").map(|l| {
        assert!(l.ends_with("; rel=\"next\""), "{l}");
        l.trim_start_matches('<')
            .split_once('>')
            .unwrap()
            .0
            .to_string()
    });
    let body: Value = resp.json().await.unwrap();
    (body.as_array().unwrap().clone(), total, next)
}

/// Every page of the list at `path`, calling `between` after each page but the last
/// (to write between pages); asserts full pages before the last and that the walk
/// ends. Returns the items' keys in order and the last total.
async fn walk<F, Fut>(
    srv: &Srv,
    path: &str,
    limit: usize,
    key: fn(&Value) -> String,
    mut between: F,
) -> (Vec<String>, Option<i64>)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut path = format!("{path}{sep}limit={limit}");
    let mut keys = Vec::new();
    for n in 0.. {
        assert!(n < 100, "paging {path} does not end");
        let (items, total, next) = page_of(srv, &path).await;
        keys.extend(items.iter().map(key));
        match next {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page before the last is full: {path}");
                between(n).await;
                path = next;
            }
            None => return (keys, total),
        }
    }
    unreachable!()
}

/// The body of a 2xx (200 or 201).
fn done(r: common::Resp) -> Value {
    assert!(r.status.is_success(), "{}: {}", r.status, r.text);
    r.json()
}

fn strictly_increasing<T: PartialOrd + std::fmt::Debug>(v: &[T]) {
    assert!(
        v.windows(2).all(|w| w[0] < w[1]),
        "not strictly increasing: {v:?}"
    );
}

fn owned_contract(stream: &str, team: &str) -> Value {
    let mut c = contract(stream);
    c["team"]["name"] = json!(team);
    c
}

async fn consumer(srv: &Srv, stream: &str, service: &str, team: &str) {
    srv.post(
        &format!("/v1/streams/{stream}/consumers"),
        json!({"service": service, "team": team}),
    )
    .await
    .ok();
}

dual!(
    registrations_proposals_webhooks_principals_and_audit_page,
    |srv| {
        // r00..r11 owned by team t1, each produced by p-(i mod 3) and read by c-1 and c-2
        // of team t2.
        let streams: Vec<String> = (0..12).map(|i| format!("r{i:02}")).collect();
        for (i, s) in streams.iter().enumerate() {
            srv.put(
                &format!("/v1/streams/{s}/contract"),
                owned_contract(s, "t1"),
            )
            .await
            .ok();
            srv.put(
                &format!("/v1/streams/{s}/producer"),
                json!({"service": format!("p-{}", i % 3), "team": "t1"}),
            )
            .await
            .ok();
            for c in ["c-1", "c-2"] {
                consumer(&srv, s, c, "t2").await;
            }
        }
        let pair = |v: &Value| {
            format!(
                "{}/{}",
                v["stream"].as_str().unwrap(),
                v["service"].as_str().unwrap()
            )
        };

        // Every consumer registration, five at a time; between pages one is added before
        // the cursor (c-0 on r00) and one after it (zz on r11, once).
        let before: Vec<String> = streams
            .iter()
            .flat_map(|s| [format!("{s}/c-1"), format!("{s}/c-2")])
            .collect();
        let added = std::cell::Cell::new(false);
        let (seen, total) = walk(&srv, "/v1/consumers", 5, pair, |n| {
            let srv = &srv;
            let first = !added.replace(true);
            async move {
                consumer(srv, "r00", &format!("c-0{n}"), "t3").await;
                if first {
                    consumer(srv, "r11", "zz", "t3").await;
                }
            }
        })
        .await;
        strictly_increasing(&seen);
        for k in before.iter().chain(["r11/zz".to_string()].iter()) {
            assert!(seen.contains(k), "{k} missing from {seen:?}");
        }
        assert!(total.unwrap() >= 25, "{total:?}");

        // Filters, with their totals; a team's walk over the team index.
        let (t2, total) = walk(&srv, "/v1/consumers?team=t2", 7, pair, |_| async {}).await;
        assert_eq!(t2, before);
        assert_eq!(total, Some(24));
        let (c1, total) = walk(
            &srv,
            "/v1/consumers?service=c-1&team=t2",
            5,
            pair,
            |_| async {},
        )
        .await;
        assert_eq!(c1.len(), 12);
        assert_eq!(total, Some(12));
        let (one, _, next) = page_of(&srv, "/v1/consumers?stream=r11&service=zz").await;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["team"], "t3");
        assert!(next.is_none());

        // Producers by stream, and by team and service.
        let by_stream = |v: &Value| v["stream"].as_str().unwrap().to_string();
        let (all, total) = walk(&srv, "/v1/producers", 5, by_stream, |_| async {}).await;
        assert_eq!(all, streams);
        assert_eq!(total, Some(12));
        let (p0, total) = walk(
            &srv,
            "/v1/producers?team=t1&service=p-0",
            3,
            by_stream,
            |_| async {},
        )
        .await;
        assert_eq!(p0, ["r00", "r03", "r06", "r09"]);
        assert_eq!(total, Some(4));

        // One stream's consumers by service.
        let by_service = |v: &Value| v["service"].as_str().unwrap().to_string();
        let (svcs, total) = walk(
            &srv,
            "/v1/streams/r11/consumers",
            1,
            by_service,
            |_| async {},
        )
        .await;
        assert_eq!(svcs, ["c-1", "c-2", "zz"]);
        assert_eq!(total, Some(3));
        let (observed, total) = walk(
            &srv,
            "/v1/streams/r11/consumers?include=observed",
            2,
            by_service,
            |_| async {},
        )
        .await;
        assert_eq!(observed, ["c-1", "c-2", "zz"]);
        assert_eq!(total, Some(3));
        srv.get("/v1/streams/nowhere/consumers?limit=1")
            .await
            .assert_error(404, 40420);

        // A stream's proposals by id: five, each opened and withdrawn.
        srv.register("r05-value", common::USER_V1, json!({})).await;
        for _ in 0..5 {
            let p = done(
                srv.post(
                    "/v1/streams/r05/proposals",
                    json!({"schema": common::USER_V2_REQUIRED}),
                )
                .await,
            );
            srv.post(&format!("/v1/proposals/{}/withdraw", p["id"]), json!({}))
                .await
                .ok();
        }
        let id = |v: &Value| format!("{:08}", v["id"].as_i64().unwrap());
        let (ids, total) = walk(&srv, "/v1/streams/r05/proposals", 2, id, |_| async {}).await;
        assert_eq!(ids.len(), 5);
        strictly_increasing(&ids);
        assert_eq!(total, Some(5));

        // Webhooks, oldest first; one added between pages is on a later page, none twice.
        for i in 0..5 {
            done(
                srv.post(
                    "/v1/webhooks",
                    json!({"url": format!("http://127.0.0.1:9/h{i}"), "eventTypes": ["*"]}),
                )
                .await,
            );
        }
        let url = |v: &Value| v["url"].as_str().unwrap().to_string();
        let (urls, total) = walk(&srv, "/v1/webhooks", 2, url, |n| {
            let srv = &srv;
            async move {
                if n == 0 {
                    done(
                        srv.post(
                            "/v1/webhooks",
                            json!({"url": "http://127.0.0.1:9/late", "eventTypes": ["*"]}),
                        )
                        .await,
                    );
                }
            }
        })
        .await;
        // By (creation ms, id): two created in the same millisecond may come either way.
        let mut sorted = urls.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["h0", "h1", "h2", "h3", "h4", "late"].map(|h| format!("http://127.0.0.1:9/{h}"))
        );
        assert_eq!(total, Some(6));

        // Principals by name.
        for n in ["pa", "pb", "pc", "pd", "pe"] {
            done(
                srv.post("/v1/principals", json!({"name": n, "role": "reader"}))
                    .await,
            );
        }
        let name = |v: &Value| v["name"].as_str().unwrap().to_string();
        let (names, total) = walk(&srv, "/v1/principals", 2, name, |_| async {}).await;
        strictly_increasing(&names);
        assert!(["pa", "pb", "pc", "pd", "pe"]
            .iter()
            .all(|n| names.contains(&n.to_string())));
        assert_eq!(total, Some(names.len() as i64));

        // The audit log by seq, no total.
        let seq = |v: &Value| format!("{:012}", v["seq"].as_i64().unwrap());
        let (seqs, total) = walk(&srv, "/v1/audit", 50, seq, |_| async {}).await;
        strictly_increasing(&seqs);
        assert!(seqs.len() > 50, "{}", seqs.len());
        assert_eq!(total, None);

        // Limits outside a list's range and malformed cursors are 422s that say what.
        for path in [
            "/v1/consumers?limit=0",
            "/v1/producers?limit=1001",
            "/v1/streams/r11/consumers?limit=x",
            "/v1/streams/r05/proposals?limit=-1",
            "/v1/webhooks?limit=1001",
            "/v1/principals?limit=0",
            "/v1/audit?limit=1001",
        ] {
            let msg = srv.get(path).await.assert_error(422, 422);
            assert!(msg.contains("limit"), "{path}: {msg}");
        }
        for path in [
            "/v1/consumers?after=r00",
            "/v1/webhooks?after=%5B%22x%22%2C%22y%22%5D",
            "/v1/streams/r05/proposals?after=first",
        ] {
            let msg = srv.get(path).await.assert_error(422, 422);
            assert!(msg.contains("after"), "{path}: {msg}");
        }
    }
);
