//! The web catalog at `/ui`, over HTTP on a real server: a small organisation is
//! registered through the JSON API, then each page is fetched and read as a person
//! would (what it shows, what it links to, what it says when something is missing),
//! plus escaping of user content and the access rules with auth on.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth};
use common::catalog::{fill, orders_contract};
use common::Srv;
use reqwest::Method;
use serde_json::json;

async fn html(srv: &Srv, path: &str) -> String {
    let r = srv.get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    assert!(
        r.content_type.starts_with("text/html"),
        "GET {path}: {}",
        r.content_type
    );
    r.text
}

dual!(pages_show_the_catalog, |srv| {
    fill(&srv).await;

    let home = html(&srv, "/ui").await;
    assert!(home.contains("id=\"search-form\"") && home.contains("id=\"search-q\""));
    assert!(home.contains("href=\"/ui/streams/shop.orders\""));
    assert!(home.contains("shop.legacy-orders"));

    // The stream page: description (escaped), owner, contract, versions, consumers, producer.
    let stream = html(&srv, "/ui/streams/shop.orders").await;
    assert!(
        stream.contains("Orders &lt;script&gt;alert(1)&lt;/script&gt; placed in the shop"),
        "{stream}"
    );
    assert!(!stream.contains("<script>alert(1)"));
    assert!(stream.contains("href=\"/ui/teams/checkout\""));
    assert!(stream.contains("mailto:checkout@shop.example"));
    assert!(stream.contains("id=\"compatibility-level\">BACKWARD<"));
    assert!(stream.contains("freshness"));
    assert!(stream.contains("id=\"versions-value\""));
    assert!(stream.contains("href=\"/ui/subjects/shop.orders-value/versions/2\""));
    assert!(stream.contains("href=\"/ui/subjects/shop.orders-value/versions/1\""));
    assert!(stream.contains("id=\"producer\">order-svc<"));
    assert!(stream.contains("billing-svc") && stream.contains("stats-svc"));
    assert!(stream.contains(">active<") && stream.contains(">pending<"));
    assert!(!stream.contains("deprecation-banner"));

    // A version: highlighted schema and the field table, PII encrypted.
    let v1 = html(&srv, "/ui/subjects/shop.orders-value/versions/1").await;
    assert!(v1.contains("id=\"fields\""));
    assert!(v1.contains("<code>order_id</code>") && v1.contains("Unique order id"));
    assert!(v1.contains("<span class=\"k\">&quot;fields&quot;</span>"));
    let email_row = v1
        .split("<tr>")
        .find(|r| r.contains("<code>email</code>"))
        .expect("email row");
    assert!(email_row.contains("PII") && email_row.contains("encrypted"));
    let amount_row = v1
        .split("<tr>")
        .find(|r| r.contains("<code>amount</code>"))
        .expect("amount row");
    assert!(!amount_row.contains(">encrypted<"));
    assert!(v1.contains("id=\"version-select\""));

    // The diff: verdict at the contract's level and the incompatibility.
    let diff = html(&srv, "/ui/subjects/shop.orders-value/diff?from=1&to=2").await;
    assert!(diff.contains("id=\"verdict\""));
    assert!(diff.contains("Incompatible") && diff.contains("BACKWARD"));
    assert!(diff.contains("id=\"incompatibilities\""));
    assert!(diff.contains("/fields/2"), "{diff}");
    assert!(diff.contains("class=\"changed\""));
    assert!(diff.contains("id=\"diff-from\"") && diff.contains("id=\"diff-to\""));
    let same = html(&srv, "/ui/subjects/shop.orders-value/diff?from=2&to=2").await;
    assert!(same.contains("Compatible"));

    // Lineage of a stream and of its domain.
    let lineage = html(&srv, "/ui/streams/shop.orders/lineage").await;
    assert!(lineage.contains("<svg"));
    for name in ["order-svc", "shop.orders", "billing-svc", "stats-svc"] {
        assert!(lineage.contains(name), "{name} in {lineage}");
    }
    assert!(lineage.contains("class=\"legend\""));
    let domain = html(&srv, "/ui/domains/shop/lineage").await;
    assert!(domain.contains("<svg") && domain.contains("shop.legacy-orders"));

    // Teams.
    let team = html(&srv, "/ui/teams/checkout").await;
    assert!(team.contains("id=\"team-streams\"") && team.contains("shop.orders"));
    assert!(team.contains("id=\"team-outgoing\"") && team.contains("billing-svc"));
    let finance = html(&srv, "/ui/teams/finance").await;
    assert!(finance.contains("id=\"team-incoming\"") && finance.contains("shop.orders"));
    assert!(html(&srv, "/ui/teams")
        .await
        .contains("href=\"/ui/teams/data\""));

    // The deprecated stream's banner links the successor.
    let legacy = html(&srv, "/ui/streams/shop.legacy-orders").await;
    assert!(legacy.contains("id=\"deprecation-banner\""));
    assert!(legacy.contains("2027-01-31"));
    assert!(legacy.contains("id=\"successor-link\" href=\"/ui/streams/shop.orders\""));

    // Search by a field name, with the match highlighted.
    let found = html(&srv, "/ui/search?q=order_id").await;
    assert!(found.contains("id=\"results\""), "{found}");
    assert!(found.contains("href=\"/ui/streams/shop.orders\""));
    assert!(found.contains("<mark>"));
    let filtered = html(&srv, "/ui/search?q=&lifecycle=deprecated").await;
    assert!(filtered.contains("shop.legacy-orders"));
    assert!(!filtered.contains("href=\"/ui/streams/shop.orders\""));
    let nothing = html(&srv, "/ui/search?q=zzzznothing").await;
    assert!(nothing.contains("id=\"no-results\""));

    // The stylesheet.
    let css = srv.get("/ui/static/accord.css").await;
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css"));
});

dual!(proposal_page_shows_report_reviews_and_candidate, |srv| {
    fill(&srv).await;
    // `amount` back to a number: incompatible with v2 at BACKWARD.
    let candidate = common::catalog::ORDERS_V2.replace(
        r#"{"name":"amount","type":"string"}"#,
        r#"{"name":"amount","type":"long"}"#,
    );
    let opened = srv
        .post(
            "/v1/streams/shop.orders/proposals",
            json!({"schema": candidate}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let id = opened.json()["id"].as_i64().unwrap();
    srv.post(
        &format!("/v1/proposals/{id}/reviews"),
        json!({"consumer": "billing-svc", "decision": "approve", "comment": "fine <b>by</b> us"}),
    )
    .await
    .ok();

    let stream = html(&srv, "/ui/streams/shop.orders").await;
    assert!(
        stream.contains(&format!("href=\"/ui/proposals/{id}\"")),
        "{stream}"
    );
    assert!(
        stream.contains("incompatibilities."),
        "the count comes from the report"
    );

    let page = html(&srv, &format!("/ui/proposals/{id}")).await;
    assert!(page.contains("id=\"proposal-status\"") && page.contains(">open<"));
    assert!(page.contains("id=\"proposal-verdict\"") && page.contains("BACKWARD"));
    assert!(page.contains("id=\"proposal-report\""));
    assert!(page.contains("billing-svc") && page.contains("approved"));
    assert!(
        page.contains("fine &lt;b&gt;by&lt;/b&gt; us"),
        "comments are escaped"
    );
    assert!(page.contains("stats-svc") && page.contains("pending"));
    assert!(page.contains("id=\"proposal-schema\"") && page.contains("long"));
    assert!(page.contains(&format!("/v1/proposals/{id}/release")));

    let r = srv.get("/ui/proposals/999").await;
    assert_eq!(r.status, 404);
    assert!(r.content_type.starts_with("text/html"));
});

dual!(user_links_cannot_run_script, |srv| {
    let mut c = orders_contract("NONE");
    c["support"] = json!([
        {"channel": "click-me", "tool": "email", "url": "javascript:fetch('/v1/principals')"},
        {"channel": "JaVaScRiPt-upper", "url": " JAVASCRIPT:alert(1)"},
        {"channel": "oncall", "tool": "email", "url": "mailto:oncall@shop.example"},
        {"channel": "wiki", "url": "https://wiki.shop.example/orders"}
    ]);
    srv.put("/v1/streams/shop.orders/contract", c).await.ok();
    let page = html(&srv, "/ui/streams/shop.orders").await;
    assert!(
        !page.to_ascii_lowercase().contains("href=\"javascript"),
        "{page}"
    );
    assert!(
        !page.to_ascii_lowercase().contains("href=\" javascript"),
        "{page}"
    );
    assert!(page.contains("click-me") && page.contains("JaVaScRiPt-upper"));
    assert!(page.contains("href=\"mailto:oncall@shop.example\""));
    assert!(page.contains("href=\"https://wiki.shop.example/orders\""));
    // No page may run script at all.
    for path in ["/ui", "/ui/streams/shop.orders", "/ui/no/such/page"] {
        let r = reqwest::get(format!("{}{path}", srv.base)).await.unwrap();
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp:?}");
        assert!(!csp.contains("script-src"), "{path}: {csp:?}");
    }
});

dual!(missing_things_are_pages_that_say_what_to_do, |srv| {
    let empty = html(&srv, "/ui").await;
    assert!(empty.contains("id=\"empty-catalog\"") && empty.contains("accord demo"));

    let r = srv.get("/ui/streams/nope").await;
    assert_eq!(r.status, 404);
    assert!(r.content_type.starts_with("text/html"));
    assert!(r.text.contains("Stream not found") && r.text.contains("action=\"/ui/search\""));

    // A page number past the end (or absurdly large) shows the last page.
    let r = srv.get("/ui?page=18446744073709551615").await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = srv.get("/ui/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(r.content_type.starts_with("text/html"));
    assert!(r.text.contains("href=\"/ui\""));

    let r = srv.get("/ui/teams/ghosts").await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("Team not found"));

    let r = srv.get("/ui/subjects/none-value/versions/1").await;
    assert_eq!(r.status, 404);
    assert!(r.content_type.starts_with("text/html"));

    // The JSON API keeps its JSON errors.
    srv.get("/v1/streams/nope").await.assert_error(404, 40420);
});

dual!(pages_respect_access_with_auth_on, |srv| {
    fill(&srv).await;
    // shop.orders restricts reads: only checkout, approved consumers (finance) and admins.
    let mut restricted = orders_contract("BACKWARD");
    restricted["customProperties"]
        .as_array_mut()
        .unwrap()
        .push(json!({"property": "accord.access", "value": {"read": "restricted"}}));
    srv.put("/v1/streams/shop.orders/contract", restricted)
        .await
        .ok();
    // A proposal on the restricted stream (its candidate is one of its schemas).
    let candidate = common::catalog::ORDERS_V2.replace(
        r#"{"name":"amount","type":"string"}"#,
        r#"{"name":"amount","type":"long"}"#,
    );
    let opened = srv
        .post(
            "/v1/streams/shop.orders/proposals",
            json!({"schema": candidate}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let proposal = format!("/v1/proposals/{}", opened.json()["id"]);
    let admin = restart_with_auth(&mut srv).await;

    // No credentials: an HTML 401 with a Basic challenge, so a browser asks.
    let resp = srv
        .http
        .get(format!("{}/ui", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("Sign in"));

    let outsider = principal_with_key(
        &srv,
        &admin,
        json!({"name": "analyst", "role": "reader", "team": "marketing"}),
    )
    .await;
    let consumer = principal_with_key(
        &srv,
        &admin,
        json!({"name": "biller", "role": "reader", "team": "finance"}),
    )
    .await;

    let page = |key: String, path: &'static str| {
        let srv = &srv;
        async move { call(srv, Method::GET, path, Some(&key), None).await }
    };
    let r = page(admin.basic(), "/ui/streams/shop.orders").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("id=\"versions-value\""));

    // The outsider sees the stream (metadata is open) but not its schemas.
    let r = page(outsider.basic(), "/ui/streams/shop.orders").await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("id=\"versions-value\""));
    assert!(r.text.contains("restricts reads"));
    let r = page(
        outsider.basic(),
        "/ui/subjects/shop.orders-value/versions/1",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.content_type.starts_with("text/html"));
    assert!(r.text.contains("Not allowed"));
    let r = page(outsider.basic(), "/ui/subjects/shop.orders-value/diff").await;
    assert_eq!(r.status, 403);
    let r = page(outsider.basic(), "/ui/search?q=order_id").await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("href=\"/ui/streams/shop.orders\""));

    // The approved consumer's team reads them.
    let r = page(
        consumer.basic(),
        "/ui/subjects/shop.orders-value/versions/2",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Signed in as"));

    // Proposals: the outsider sees status and consumers, not the candidate or the report.
    let r = call(&srv, Method::GET, &proposal, Some(&outsider.basic()), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = r.json();
    assert_eq!(p["status"], "open");
    assert!(p["schema"].is_null() && p["report"].is_null(), "{p}");
    let list = call(
        &srv,
        Method::GET,
        "/v1/streams/shop.orders/proposals",
        Some(&outsider.basic()),
        None,
    )
    .await;
    assert!(list.json()[0]["schema"].is_null(), "{}", list.text);
    let r = call(&srv, Method::GET, &proposal, Some(&consumer.basic()), None).await;
    assert!(r.json()["schema"]["schema"]
        .as_str()
        .unwrap()
        .contains("long"));
    let ui = proposal.replace("/v1/", "/ui/");
    let r = call(&srv, Method::GET, &ui, Some(&outsider.basic()), None).await;
    assert_eq!(r.status, 200);
    assert!(
        !r.text.contains("id=\"proposal-schema\"") && !r.text.contains("id=\"proposal-report\"")
    );
    assert!(r.text.contains("restricts who may read"));
    let r = call(&srv, Method::GET, &ui, Some(&consumer.basic()), None).await;
    assert!(r.text.contains("id=\"proposal-schema\"") && r.text.contains("id=\"proposal-report\""));
});
