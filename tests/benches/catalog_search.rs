//! Catalog benchmark: 10,000 streams (issue 19's scale: `ACCORD_BENCH_STREAMS=100000`)
//! with realistic 10-20 field Avro schemas and contracts, written straight into the
//! tables, indexed with `catalog::reindex_all`, then the median latency of typical
//! searches through `catalog::search` and over HTTP, and of the browse requests (the
//! `/ui` pages, `/v1/streams` pages, lineage at depth 3 and its OpenLineage export) over
//! HTTP, against the server in a process of its own, with that process's memory after
//! them.
//!
//! Lineage shape: every stream has a producer service and one to three consumer
//! services of 50 teams; streams form chains of 3 to 5 (a consumer of one produces the
//! next), so lineage goes several hops.
//!
//! Run: `cargo bench -p accord-tests --bench catalog_search` (SQLite, a fresh file). With
//! `ACCORD_BENCH_POSTGRES_URL` set, a fresh database is created on that PostgreSQL
//! server (and dropped afterwards) and the same runs there. `ACCORD_BENCH_STREAMS`
//! changes the number of streams; `ACCORD_BENCH_RUNS` the runs per search (default 50);
//! `ACCORD_BENCH_KEEP=1` keeps the databases for a look at the query plans;
//! `ACCORD_BENCH_ONLY=postgres` leaves SQLite out.

use accord_server::auth::Actor;
use accord_server::catalog::{self, SearchQuery};
use accord_server::storage::Store;
use accord_server::ServerConfig;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const DOMAINS: &[&str] = &[
    "sales",
    "finance",
    "logistics",
    "marketing",
    "identity",
    "inventory",
    "support",
    "risk",
];
const ENTITIES: &[&str] = &[
    "order",
    "payment",
    "invoice",
    "shipment",
    "customer",
    "account",
    "refund",
    "cart",
    "product",
    "price",
    "coupon",
    "session",
    "ticket",
    "parcel",
    "warehouse",
    "subscription",
    "ledger",
    "transfer",
    "review",
    "campaign",
];
const EVENTS: &[&str] = &[
    "created",
    "updated",
    "deleted",
    "placed",
    "settled",
    "cancelled",
    "shipped",
    "approved",
];
const FIELDS: &[(&str, &str, &str)] = &[
    ("order_id", "string", "Unique identifier of the order"),
    ("customer_id", "string", "The customer who acted"),
    (
        "customer_email",
        "string",
        "Contact email address of the customer",
    ),
    ("amount_cents", "long", "Amount in minor units (cents)"),
    ("currency", "string", "ISO 4217 currency code"),
    ("created_at", "long", "When it happened, epoch milliseconds"),
    ("updated_at", "long", "Last change, epoch milliseconds"),
    ("status", "string", "Lifecycle state"),
    ("sku", "string", "Stock keeping unit"),
    ("quantity", "int", "Number of items"),
    ("warehouse_code", "string", "Where the goods are stored"),
    ("carrier", "string", "Shipping carrier name"),
    ("tracking_number", "string", "Carrier tracking number"),
    ("country", "string", "ISO 3166 country code"),
    (
        "postal_code",
        "string",
        "Postal code of the delivery address",
    ),
    ("street", "string", "Street and house number"),
    ("city", "string", "City of the delivery address"),
    ("payment_method", "string", "Card, transfer or wallet"),
    ("iban", "string", "International bank account number"),
    ("card_last4", "string", "Last four digits of the card"),
    ("discount_code", "string", "Applied coupon or voucher"),
    ("tax_cents", "long", "Tax in minor units"),
    ("session_id", "string", "Web session identifier"),
    ("user_agent", "string", "Browser user agent"),
    ("ip_address", "string", "Client IP address"),
    ("campaign_id", "string", "Marketing campaign identifier"),
    ("score", "double", "Risk score between 0 and 1"),
    ("reason", "string", "Free text reason"),
    ("ticket_priority", "int", "Support ticket priority"),
    ("ledger_account", "string", "General ledger account"),
    ("exchange_rate", "double", "Rate applied for conversion"),
    ("loyaltyPoints", "int", "Loyalty points earned"),
    (
        "shippingAddressId",
        "string",
        "Reference to the shipping address",
    ),
    ("isGift", "boolean", "Whether the order is a gift"),
];
const TAGS: &[&str] = &["PII", "financial", "gdpr", "internal", "public", "critical"];

/// A small deterministic generator (xorshift), so every run builds the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn stream_name(i: usize) -> String {
    let d = DOMAINS[i % DOMAINS.len()];
    let e = ENTITIES[(i / DOMAINS.len()) % ENTITIES.len()];
    let ev = EVENTS[(i / (DOMAINS.len() * ENTITIES.len())) % EVENTS.len()];
    format!("{d}.{e}-{ev}-{i}")
}

/// The chain stream `i` is in: its first stream and its length (3 to 5).
fn chain_of(i: usize) -> (usize, usize) {
    // Chains of 3, 4, 5, 3, 4, 5, … streams: 12 streams per cycle of three chains.
    let (cycle, k) = (i / 12, i % 12);
    let (offset, len) = match k {
        0..=2 => (0, 3),
        3..=6 => (3, 4),
        _ => (7, 5),
    };
    (cycle * 12 + offset, len)
}

fn avro_schema(rng: &mut Rng, i: usize) -> String {
    let n = 10 + rng.below(11);
    let start = rng.below(FIELDS.len());
    let fields: Vec<_> = (0..n)
        .map(|k| {
            let (name, ty, doc) = FIELDS[(start + k * 7) % FIELDS.len()];
            let mut f = json!({"name": name, "type": ty, "doc": doc});
            if name.contains("email") || name.contains("iban") || name.contains("ip_") {
                f["confluent:tags"] = json!(["PII"]);
            }
            f
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let fields: Vec<_> = fields
        .into_iter()
        .filter(|f| seen.insert(f["name"].as_str().unwrap_or("").to_string()))
        .collect();
    json!({"type": "record", "name": format!("Event{i}"), "namespace": "com.acme.events",
        "doc": "A business event.", "fields": fields})
    .to_string()
}

/// Regions that split each of the 8 business areas into 5 domains: 40 domains.
const REGIONS: &[&str] = &["", "-emea", "-apac", "-amer", "-latam"];

/// Stream `i`'s domain (one of 40; `sales` among them) and owning team (one of 50).
fn domain_of(i: usize) -> String {
    format!(
        "{}{}",
        DOMAINS[i % DOMAINS.len()],
        REGIONS[(i / DOMAINS.len()) % REGIONS.len()]
    )
}

fn owner_of(i: usize) -> String {
    format!("team-{}", i % 50)
}

fn contract(rng: &mut Rng, i: usize, name: &str) -> String {
    let domain = domain_of(i);
    let team = owner_of(i);
    let tags = vec![TAGS[rng.below(TAGS.len())], TAGS[rng.below(TAGS.len())]];
    json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": format!("{name}-contract"),
        "version": "1.0.0", "status": if i.is_multiple_of(17) { "deprecated" } else { "active" },
        "domain": domain,
        "description": {"purpose": format!("Events of the {domain} domain about {}s, for analytics and operations.",
            ENTITIES[(i / DOMAINS.len()) % ENTITIES.len()])},
        "tags": tags,
        "team": {"name": team},
        "customProperties": [{"property": "accord.stream", "value": {"name": name}}]
    })
    .to_string()
}

async fn fill(store: &Store, streams: usize) {
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut w = store.begin_write().await.expect("tx");
    let now = 1_700_000_000_000i64;
    for i in 0..streams {
        let name = stream_name(i);
        let value = format!("{name}-value");
        let id = i as i64 + 1;
        let schema = avro_schema(&mut rng, i);
        sqlx::query(
            "INSERT INTO schemas (id, guid, hash, schema_type, schema_text, refs, metadata, rule_set, created_ms) \
             VALUES ($1, $2, $3, 'AVRO', $4, '[]', NULL, NULL, $5)",
        )
        .bind(id)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(format!("hash-{i}"))
        .bind(schema)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .expect("schema");
        sqlx::query(
            "INSERT INTO subject_versions (subject, version, schema_id, deleted, ts) VALUES ($1, 1, $2, 0, $3)",
        )
        .bind(&value)
        .bind(id)
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .expect("version");
        let status = if i.is_multiple_of(17) {
            "deprecated"
        } else {
            "active"
        };
        sqlx::query(
            "INSERT INTO streams (name, key_subject, value_subject, owner_team, status, sunset, successor, \
             created_ms, updated_ms, read_access) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $6, $7)",
        )
        .bind(&name)
        .bind(format!("{name}-key"))
        .bind(&value)
        .bind(owner_of(i))
        .bind(status)
        .bind(now)
        .bind(if i.is_multiple_of(10) { "restricted" } else { "authenticated" })
        .execute(&mut *w.tx)
        .await
        .expect("stream");
        sqlx::query(
            "INSERT INTO stream_contracts (stream, version, digest, body, created_ms, created_by) \
             VALUES ($1, 1, $2, $3, $4, 'bench')",
        )
        .bind(&name)
        .bind(format!("digest-{i}"))
        .bind(contract(&mut rng, i, &name))
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .expect("contract");
        // Chains of 3 to 5 streams: stream i's producer is `svc-i`, which (within a chain)
        // consumes stream i - 1; one or two more consumers read each stream.
        let (chain_start, _) = chain_of(i);
        let team = |k: usize| format!("team-{}", k % 50);
        sqlx::query(
            "INSERT INTO stream_producers (stream, service, team, updated_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&name)
        .bind(format!("svc-{i}"))
        .bind(team(i))
        .bind(now)
        .execute(&mut *w.tx)
        .await
        .expect("producer");
        let mut consumers = vec![(format!("reader-{}", i % 997), team(i + 7))];
        if i % 3 == 0 {
            consumers.push((format!("audit-{}", i % 101), team(i + 13)));
        }
        if i + 1 < streams && chain_of(i + 1).0 == chain_start {
            consumers.push((format!("svc-{}", i + 1), team(i + 1)));
        }
        for (service, t) in consumers {
            sqlx::query(
                "INSERT INTO stream_consumers (stream, service, team, status, registered_ms) \
                 VALUES ($1, $2, $3, 'active', $4)",
            )
            .bind(&name)
            .bind(service)
            .bind(t)
            .bind(now)
            .execute(&mut *w.tx)
            .await
            .expect("consumer");
        }
    }
    w.commit().await.expect("commit");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn searches(first: &str) -> Vec<(String, SearchQuery, String)> {
    let q = |s: &str| SearchQuery::new(s);
    let with = |s: &str, f: &dyn Fn(&mut SearchQuery)| {
        let mut x = SearchQuery::new(s);
        f(&mut x);
        x
    };
    vec![
        ("exact stream name".into(), q(first), format!("q={first}")),
        (
            "field name order_id".into(),
            q("order_id"),
            "q=order_id".into(),
        ),
        ("prefix ord".into(), q("ord"), "q=ord".into()),
        (
            "two words: customer email".into(),
            q("customer email"),
            "q=customer%20email".into(),
        ),
        (
            "doc word: tracking".into(),
            q("tracking"),
            "q=tracking".into(),
        ),
        (
            "words + filters: payment, AVRO, tag PII".into(),
            with("payment", &|x| {
                x.format = Some("AVRO".into());
                x.tag = Some("PII".into());
            }),
            "q=payment&format=AVRO&tag=PII".into(),
        ),
        (
            "no words, owner filter, page 3".into(),
            with("", &|x| {
                x.owner = Some("team-7".into());
                x.offset = 40;
            }),
            "owner=team-7&offset=40".into(),
        ),
        (
            "no words: everything (facets over all)".into(),
            q(""),
            String::new(),
        ),
    ]
}

async fn run(url: String, streams: usize, runs: usize) {
    let store = Store::connect(&url).await.expect("store");
    let t = Instant::now();
    fill(&store, streams).await;
    println!("fill {streams} streams: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut w = store.begin_write().await.expect("tx");
    catalog::reindex_all(&mut w.tx).await.expect("reindex");
    w.commit().await.expect("commit");
    println!(
        "reindex_all: {:.1} s ({:.2} ms per stream)",
        t.elapsed().as_secs_f64(),
        ms(t.elapsed()) / streams as f64
    );
    if url.starts_with("postgres") {
        // What autovacuum does soon after a bulk load: statistics for the planner and
        // the visibility map for index-only scans. Without them the first minutes after
        // the seeding are measured, not the steady state.
        let t = Instant::now();
        sqlx::raw_sql("VACUUM ANALYZE")
            .execute(store.reader())
            .await
            .expect("vacuum analyze");
        println!("VACUUM ANALYZE: {:.1} s", t.elapsed().as_secs_f64());
    }

    // What a change pays for keeping the index fresh: the refresh of one stream's
    // document inside its write transaction (rolled back here).
    let mut times = Vec::with_capacity(runs);
    for k in 0..runs {
        let name = stream_name((k * 197) % streams);
        let mut w = store.begin_write().await.expect("tx");
        let t = Instant::now();
        catalog::refresh(&mut w.tx, Some(&name), None)
            .await
            .expect("refresh");
        times.push(t.elapsed());
        drop(w);
    }
    println!(
        "refresh of one stream in a change's transaction: median {:.2} ms",
        ms(median(times))
    );

    let first = stream_name(1);
    let list = searches(&first);
    println!(
        "{:<42} {:>8} {:>12} {:>12}",
        "search", "total", "median ms", "max ms"
    );
    for (name, q, _) in &list {
        let r = catalog::search(&store, &Actor::Anonymous, q)
            .await
            .expect("search");
        if name.starts_with("exact") {
            assert_eq!(r.hits[0].title, first, "exact name first");
        }
        assert!(r.total > 0, "{name}: no hits");
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let r = catalog::search(&store, &Actor::Anonymous, q)
                .await
                .expect("search");
            times.push(t.elapsed());
            std::hint::black_box(r);
        }
        let max = *times.iter().max().unwrap_or(&Duration::ZERO);
        println!(
            "{:<42} {:>8} {:>12.2} {:>12.2}",
            name,
            r.total,
            ms(median(times)),
            ms(max)
        );
    }
    store.close().await;

    // The same through HTTP (JSON encoding and the router included), against the server
    // in a process of its own (this bench, run again with ACCORD_BENCH_SERVE), so that
    // its memory is measured apart from the seeding's.
    let mut child = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .arg("--bench")
        .env("ACCORD_BENCH_SERVE", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("server process");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("server url");
    let base = line.trim().to_string();
    assert!(base.starts_with("http://"), "server said {line:?}");
    let http = reqwest::Client::new();
    println!("over HTTP:");
    for (name, _, query) in &list {
        let get = || http.get(format!("{base}/v1/catalog/search?{query}")).send();
        let resp = get().await.expect("request");
        assert_eq!(resp.status(), 200);
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let body = get().await.expect("request").bytes().await.expect("body");
            times.push(t.elapsed());
            std::hint::black_box(body);
        }
        println!("{:<42} {:>8} {:>12.2}", name, "", ms(median(times)));
    }
    browse(&http, &base, streams, runs).await;
    let (rss, peak) = memory_mb(child.id());
    println!("server memory after every page type: {rss:.0} MB RSS (peak {peak:.0} MB)");
    // Closing its stdin stops the server.
    drop(child.stdin.take());
    let _ = child.wait();
}

/// The server alone (`ACCORD_BENCH_SERVE=URL`): its base URL on stdout, then it serves
/// until stdin closes.
fn serve(url: String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let server = accord_server::start(ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: url,
            ..ServerConfig::default()
        })
        .await
        .expect("server");
        println!("{}", server.url());
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
        })
        .await;
        server.stop().await.expect("stop");
    });
}

/// A process's resident memory and its peak, in MB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every page type and listing, over HTTP: median and size of the answer.
async fn browse(http: &reqwest::Client, base: &str, streams: usize, runs: usize) {
    let mid = stream_name(streams / 2 + 1);
    let chain_end = {
        // The last stream of a chain in the middle: lineage upstream goes its whole length.
        let (start, len) = chain_of(streams / 2);
        stream_name((start + len - 1).min(streams - 1))
    };
    // The bench's stream names are URL-safe (letters, digits, '.', '-').
    let enc = |s: &str| s.to_string();
    let requests = [
        ("/ui (home)".to_string(), "/ui".to_string()),
        ("/ui/teams".into(), "/ui/teams".into()),
        ("/ui/teams/{team}".into(), "/ui/teams/team-7".into()),
        (
            "/ui/streams/{s}".into(),
            format!("/ui/streams/{}", enc(&mid)),
        ),
        (
            "/ui/streams/{s}/lineage (depth 2)".into(),
            format!("/ui/streams/{}/lineage", enc(&chain_end)),
        ),
        (
            "/ui/streams/{s}/lineage?depth=3".into(),
            format!("/ui/streams/{}/lineage?depth=3", enc(&chain_end)),
        ),
        (
            "/ui/domains/{d}/lineage".into(),
            "/ui/domains/sales/lineage".into(),
        ),
        (
            "/ui/search?q=order_id".into(),
            "/ui/search?q=order_id".into(),
        ),
        (
            "/v1/streams?limit=100".into(),
            "/v1/streams?limit=100".into(),
        ),
        (
            "/v1/streams?limit=100&after={mid}".into(),
            format!("/v1/streams?limit=100&after={}", enc(&mid)),
        ),
        (
            "/v1/streams (default page, 1000)".into(),
            "/v1/streams".into(),
        ),
        (
            "/ui/teams/{team}?owned=20".into(),
            "/ui/teams/team-7?owned=20&incoming=3".into(),
        ),
        (
            "/ui/subjects/{s}/versions/1".into(),
            format!("/ui/subjects/{}-value/versions/1", enc(&mid)),
        ),
        (
            "/ui/subjects/{s}/diff".into(),
            format!("/ui/subjects/{}-value/diff", enc(&mid)),
        ),
        (
            "/ui/search?owner=team-7&page=3".into(),
            "/ui/search?q=&owner=team-7&page=3".into(),
        ),
        (
            "/ui/search?q=customer email".into(),
            "/ui/search?q=customer%20email".into(),
        ),
        (
            "/v1/consumers?limit=100".into(),
            "/v1/consumers?limit=100".into(),
        ),
        (
            "/v1/consumers?team=team-7&limit=100".into(),
            "/v1/consumers?team=team-7&limit=100".into(),
        ),
        (
            "/v1/producers?limit=100&after={mid}".into(),
            format!("/v1/producers?limit=100&after={}", enc(&mid)),
        ),
        (
            "/v1/streams/{s}/consumers".into(),
            format!("/v1/streams/{}/consumers", enc(&mid)),
        ),
        (
            "/v1/streams/{s}/proposals".into(),
            format!("/v1/streams/{}/proposals", enc(&mid)),
        ),
        ("/v1/principals".into(), "/v1/principals".into()),
        ("/v1/webhooks".into(), "/v1/webhooks".into()),
        ("/v1/audit".into(), "/v1/audit".into()),
        (
            "/v1/lineage depth 3 both".into(),
            format!("/v1/lineage?stream={}&depth=3", enc(&chain_end)),
        ),
        (
            "/v1/lineage/openlineage depth 3".into(),
            format!("/v1/lineage/openlineage?stream={}&depth=3", enc(&chain_end)),
        ),
    ];
    println!("browse over HTTP ({} runs each):", runs.min(20));
    println!("{:<42} {:>10} {:>12}", "request", "bytes", "median ms");
    for (name, path) in &requests {
        let url = format!("{base}{path}");
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..runs.min(20) {
            let t = Instant::now();
            let resp = http.get(&url).send().await.expect("request");
            let status = resp.status();
            let body = resp.bytes().await.expect("body");
            times.push(t.elapsed());
            assert!(status.is_success(), "{path}: {status}");
            size = body.len();
        }
        println!("{:<42} {:>10} {:>12.2}", name, size, ms(median(times)));
    }
}

fn main() {
    if let Ok(url) = std::env::var("ACCORD_BENCH_SERVE") {
        return serve(url);
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "catalog search bench: run with `cargo bench -p accord-tests --bench catalog_search`"
        );
        return;
    }
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let streams = env("ACCORD_BENCH_STREAMS", 10_000);
    let runs = env("ACCORD_BENCH_RUNS", 50).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("accord-catalog-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        if std::env::var("ACCORD_BENCH_ONLY").is_ok_and(|v| v == "postgres") {
            println!("== SQLite: left out (ACCORD_BENCH_ONLY=postgres)");
        } else {
            println!("== SQLite");
            run(
                format!("sqlite://{}/bench.db", dir.display()),
                streams,
                runs,
            )
            .await;
        }
        let keep = std::env::var("ACCORD_BENCH_KEEP").is_ok_and(|v| v == "1");
        if keep {
            println!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Ok(admin) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
            let name = format!("accord_catbench_{}", std::process::id());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create database");
            let (base, query) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
            let base = &base[..base.rfind('/').unwrap_or(base.len())];
            let url = if query.is_empty() {
                format!("{base}/{name}")
            } else {
                format!("{base}/{name}?{query}")
            };
            println!("== PostgreSQL");
            run(url, streams, runs).await;
            if keep {
                println!("kept database {name}");
                return;
            }
            let _ = sqlx::Executor::execute(
                &mut conn,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
            )
            .await;
        }
    });
}
