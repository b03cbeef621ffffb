//! The web catalog in a real headless Chromium (common/browser.rs drives it with
//! fantoccini) against a real `accord` server on SQLite, filled with the small catalog of
//! common/catalog.rs. Each test saves a screenshot of its page under
//! `target/ui-screenshots/` as a test artifact.

mod common;

use common::browser::Browser;
use common::catalog::fill;
use common::{config, Db, Srv, TestDb};

/// A server with the sample catalog, and a browser (or `None`: skipped, said so).
async fn setup(width: u32, height: u32) -> Option<(Browser, Srv, TestDb)> {
    let browser = Browser::start_sized(width, height).await?;
    let test_db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let srv = Srv::start(config(&test_db.url)).await;
    fill(&srv).await;
    Some((browser, srv, test_db))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_a_stream_by_a_field_name() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    b.goto(&format!("{}/ui", srv.base)).await;
    b.screenshot("home").await;
    let q = b.find("#search-q").await;
    b.type_into(&q, "order_id\u{E007}").await; // Enter submits the GET form
    let results = b.find("#results").await;
    let text = b.text(&results).await;
    assert!(text.contains("shop.orders"), "{text}");
    assert!(
        b.url().await.contains("q=order_id"),
        "the search is a shareable URL: {}",
        b.url().await
    );
    let marked = b.find("#results mark").await;
    assert!(
        b.text(&marked).await.contains("order"),
        "the match is highlighted"
    );
    b.screenshot("search-order_id").await;
    // The first result leads to the stream.
    let link = b.find("#results li.result a").await;
    b.click(&link).await;
    assert!(b.url().await.contains("/ui/streams/shop.orders"));
    b.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_page_shows_versions_and_a_diff() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    b.goto(&format!("{}/ui/streams/shop.orders", srv.base))
        .await;
    let versions = b.text(&b.find("#versions-value").await).await;
    assert!(
        versions.contains('1') && versions.contains('2'),
        "{versions}"
    );
    assert!(b
        .text(&b.find("#producer").await)
        .await
        .contains("order-svc"));
    assert!(b
        .text(&b.find("#consumers").await)
        .await
        .contains("billing-svc"));
    b.screenshot("stream").await;

    b.goto(&format!(
        "{}/ui/subjects/shop.orders-value/diff?from=1&to=2",
        srv.base
    ))
    .await;
    let verdict = b.text(&b.find("#verdict").await).await;
    assert!(verdict.contains("Incompatible"), "{verdict}");
    let problems = b.text(&b.find("#incompatibilities").await).await;
    assert!(problems.contains("/fields/2"), "{problems}");
    assert!(b.text(&b.find("#diff").await).await.contains("amount"));
    b.screenshot("diff").await;

    b.goto(&format!(
        "{}/ui/subjects/shop.orders-value/versions/2",
        srv.base
    ))
    .await;
    let fields = b.text(&b.find("#fields").await).await;
    assert!(
        fields.contains("order_id") && fields.contains("email"),
        "{fields}"
    );
    b.screenshot("version").await;
    b.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_svg_renders() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    b.goto(&format!("{}/ui/streams/shop.orders/lineage", srv.base))
        .await;
    let svg = b.find("#lineage-svg").await;
    let size = b
        .script(
            "const r = document.querySelector('#lineage-svg').getBoundingClientRect(); \
             return [r.width, r.height];",
        )
        .await;
    assert!(
        size[0].as_f64().unwrap_or(0.0) > 100.0 && size[1].as_f64().unwrap_or(0.0) > 50.0,
        "the SVG is laid out with a size: {size}"
    );
    let text = b.text(&svg).await;
    for name in ["order-svc", "shop.orders", "billing-svc", "stats-svc"] {
        assert!(text.contains(name), "{name} in the graph: {text}");
    }
    b.screenshot("lineage").await;
    b.close().await;
    srv.stop().await;
}

/// Two hops: billing-svc, a consumer of shop.orders, produces finance.invoices, which
/// ledger-svc reads. The page shows both hops, and its depth links go back to one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_hop_lineage_follows_services_and_changes_depth() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    srv.put(
        "/v1/streams/finance.invoices/contract",
        serde_json::json!({
            "apiVersion": "v3.1.0", "kind": "DataContract", "id": "finance-invoices",
            "version": "1.0.0", "status": "active", "team": {"name": "finance"},
            "support": [{"channel": "finance-oncall", "tool": "email", "url": "mailto:finance@shop.example"}],
            "customProperties": [{"property": "accord.stream", "value": {"name": "finance.invoices"}}]
        }),
    )
    .await
    .ok();
    srv.put(
        "/v1/streams/finance.invoices/producer",
        serde_json::json!({"service": "billing-svc", "team": "finance"}),
    )
    .await
    .ok();
    srv.post(
        "/v1/streams/finance.invoices/consumers",
        serde_json::json!({"service": "ledger-svc", "team": "ledger"}),
    )
    .await
    .ok();

    b.goto(&format!("{}/ui/streams/shop.orders/lineage", srv.base))
        .await;
    let svg = b.find("#lineage-svg").await;
    let text = b.text(&svg).await;
    for name in [
        "order-svc",
        "shop.orders",
        "billing-svc",
        "finance.invoices",
        "ledger-svc",
        "Streams 1 hop(s) down",
    ] {
        assert!(text.contains(name), "{name} in the graph: {text}");
    }
    // finance.invoices is drawn right of billing-svc, which is right of shop.orders.
    let x = |label: &'static str| {
        format!(
            "const t = [...document.querySelectorAll('#lineage-svg text')].find(e => e.textContent === '{label}'); \
             return t ? t.getBoundingClientRect().left : -1;"
        )
    };
    let (orders, billing, invoices) = (
        b.script(&x("shop.orders")).await.as_f64().unwrap(),
        b.script(&x("billing-svc")).await.as_f64().unwrap(),
        b.script(&x("finance.invoices")).await.as_f64().unwrap(),
    );
    assert!(
        orders >= 0.0 && orders < billing && billing < invoices,
        "columns in flow order: {orders} {billing} {invoices}"
    );
    b.screenshot("lineage-multi-hop").await;

    // One hop: the depth link reloads the page without the second hop.
    let one = b.find("#lineage-depth a[href$='depth=1']").await;
    b.click(&one).await;
    let svg = b.find("#lineage-svg").await;
    let text = b.text(&svg).await;
    assert!(b.url().await.ends_with("depth=1"));
    assert!(text.contains("billing-svc"), "{text}");
    assert!(!text.contains("finance.invoices"), "{text}");
    b.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_stream_shows_the_banner_and_its_successor() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    b.goto(&format!("{}/ui/streams/shop.legacy-orders", srv.base))
        .await;
    let banner = b.text(&b.find("#deprecation-banner").await).await;
    assert!(banner.contains("2027-01-31"), "{banner}");
    b.screenshot("deprecated").await;
    let successor = b.find("#successor-link").await;
    b.click(&successor).await;
    assert!(
        b.url().await.ends_with("/ui/streams/shop.orders"),
        "{}",
        b.url().await
    );
    b.close().await;
    srv.stop().await;
}

/// On a phone-sized window the stream page does not scroll sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_page_fits_a_phone() {
    let Some((b, mut srv, _db)) = setup(390, 844).await else {
        return;
    };
    b.goto(&format!("{}/ui/streams/shop.orders", srv.base))
        .await;
    let fits = b
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
        .await;
    assert_eq!(fits, true, "no horizontal scrolling at 390 px");
    b.screenshot("stream-phone").await;
    b.close().await;
    srv.stop().await;
}

/// Keyboard only: Tab reaches the search box (with a visible focus ring), typing and
/// Enter search, and Tab then reaches the result's link, which Enter follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_works_from_the_keyboard() {
    let Some((b, mut srv, _db)) = setup(1280, 900).await else {
        return;
    };
    b.goto(&format!("{}/ui", srv.base)).await;
    // The search box has the focus on arrival, or Tab reaches it.
    let focused = "const e = document.activeElement; \
                   return e.id || e.tagName + ':' + (e.textContent || '').trim();";
    let mut seen = Vec::new();
    for _ in 0..15 {
        let id = b.script(focused).await;
        if id == "search-q" {
            break;
        }
        seen.push(id);
        b.keys("\u{E004}").await;
    }
    assert!(
        seen.len() < 15,
        "Tab reaches the search box; focus went: {seen:?}"
    );
    let outline = b
        .script("return getComputedStyle(document.activeElement).outlineStyle;")
        .await;
    assert_ne!(outline, "none", "the focused field shows a focus ring");
    b.keys("order_id\u{E007}").await;
    b.find("#results").await;
    let mut on_result = false;
    for _ in 0..40 {
        b.keys("\u{E004}").await;
        let href = b
            .script("return document.activeElement.getAttribute('href') || '';")
            .await;
        if href
            .as_str()
            .is_some_and(|h| h.ends_with("/ui/streams/shop.orders"))
        {
            on_result = true;
            break;
        }
    }
    assert!(on_result, "Tab reaches the result's link");
    b.keys("\u{E007}").await;
    b.find("#versions-value").await;
    assert!(b.url().await.ends_with("/ui/streams/shop.orders"));
    b.close().await;
    srv.stop().await;
}
