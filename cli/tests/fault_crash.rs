//! The crash part of the fault suite: the real `accord` binary is killed with SIGKILL
//! under concurrent write load and restarted on the same database, and every write it
//! acknowledged must still be there, with its id and version; no id may name two
//! schemas and no subject may have a version gap.
//!
//! - `kill9_sqlite`, `kill9_postgres`: one node, several kills and restarts.
//! - `three_nodes_postgres_one_killed`: three nodes on one PostgreSQL database, one
//!   killed mid-run; the other two keep acknowledging writes; the killed one restarts.
//!
//! PostgreSQL runs on a fresh database created on `ACCORD_TEST_POSTGRES_URL` (dropped at
//! the end); without it the PostgreSQL tests say they are skipped, and with
//! `ACCORD_REQUIRE_POSTGRES=1` they fail instead. The kill timing is pseudo-random;
//! the seed is printed and `ACCORD_FAULT_SEED` replays it. Every wait is bounded and
//! each test has an overall deadline. The counts measured are printed on stderr
//! (`cargo test -p accord --test fault_crash -- --nocapture`).

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUBJECTS: u64 = 4;
const WRITERS: usize = 8;
const KILLS: usize = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const TEST_DEADLINE: Duration = Duration::from_secs(110);
const VND: &str = "application/vnd.schemaregistry.v1+json";

// ---------------------------------------------------------------------------------
// Databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

/// A fresh database for one test: a SQLite file in a temp dir (removed), or a PostgreSQL
/// database `accord_<uuid>` (dropped).
struct TestDb {
    url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    async fn new(db: Db) -> Option<TestDb> {
        match db {
            Db::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("accord-fault-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Some(TestDb {
                    url: format!("sqlite://{}/accord.db", dir.display()),
                    dir: Some(dir),
                    pg: None,
                })
            }
            Db::Postgres => {
                let required = std::env::var("ACCORD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
                let Ok(admin) = std::env::var("ACCORD_TEST_POSTGRES_URL") else {
                    assert!(
                        !required,
                        "ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set"
                    );
                    eprintln!(
                        "SKIPPED: PostgreSQL fault test (set ACCORD_TEST_POSTGRES_URL to run it)"
                    );
                    return None;
                };
                let name = format!("accord_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at ACCORD_TEST_POSTGRES_URL is unreachable: {e}")
                    });
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                Some(TestDb {
                    url: replace_db(&admin, &name),
                    dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// A folder for the nodes' logs: the SQLite folder, or a temp dir of its own.
    fn log_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| {
            let name = self.pg.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
            let dir = std::env::temp_dir().join(format!("accord-fault-logs-{name}"));
            std::fs::create_dir_all(&dir).expect("log dir");
            dir
        })
    }
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap_or(0) + 2 => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // After a failure the SQLite file and the logs are kept for a look.
        let keep = std::thread::panicking();
        if let Some(dir) = &self.dir {
            if keep {
                eprintln!("fault_crash: test failed; kept {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        if let Some((admin, name)) = self.pg.take() {
            if !keep {
                let _ = std::fs::remove_dir_all(
                    std::env::temp_dir().join(format!("accord-fault-logs-{name}")),
                );
            }
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async move {
                        if let Ok(mut conn) =
                            <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                        {
                            let _ = sqlx::Executor::execute(
                                &mut conn,
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

// ---------------------------------------------------------------------------------
// Nodes: `accord serve` processes

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `accord serve` process; killed (SIGKILL) when dropped. On a failure its log tail
/// is printed.
struct Node {
    name: String,
    database_url: String,
    log: PathBuf,
    child: Option<Child>,
    base: String,
}

impl Node {
    fn spawn(name: &str, database_url: &str, log_dir: &Path) -> Node {
        let mut node = Node {
            name: name.to_string(),
            database_url: database_url.to_string(),
            log: log_dir.join(format!("{name}.log")),
            child: None,
            base: String::new(),
        };
        node.start();
        node
    }

    /// Starts the process on a new free port (the data stays where it is).
    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let port = free_port();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_accord"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &self.database_url,
            ])
            .env_remove("ACCORD_DATABASE_URL")
            .env_remove("ACCORD_LISTEN")
            .env_remove("ACCORD_AUTH")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("accord starts");
        self.child = Some(child);
        self.base = format!("http://127.0.0.1:{port}");
    }

    /// Waits (bounded) until `/health/ready` answers 200; returns how long it took.
    async fn wait_ready(&mut self, http: &reqwest::Client) -> Duration {
        let start = Instant::now();
        loop {
            if let Ok(r) = http
                .get(format!("{}/health/ready", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status() == 200 {
                    return start.elapsed();
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{} exited before it was ready ({status}); log:\n{}",
                        self.name,
                        self.log_tail()
                    );
                }
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "{} was not ready within {READY_TIMEOUT:?}; log:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "fault_crash: log of {} ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Pseudo-randomness with a printed seed

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

fn seed() -> u64 {
    std::env::var("ACCORD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ (u64::from(std::process::id()) << 32)
        })
}

// ---------------------------------------------------------------------------------
// The write load

/// A 200 answer to a registration.
#[derive(Debug, Clone)]
struct Ack {
    subject: String,
    version: i64,
    id: i64,
    /// The schema text sent (unique per new schema).
    sent: String,
    /// The schema in the answer, parsed.
    stored: Value,
    node: usize,
    at: Instant,
}

/// A registration whose outcome is unknown: the connection was cut (or the server
/// answered with an error), so it may or may not have been committed.
#[derive(Debug, Clone)]
struct Unknown {
    subject: String,
    sent: String,
}

#[derive(Default)]
struct Load {
    acks: Mutex<Vec<Ack>>,
    unknown: Mutex<Vec<Unknown>>,
    /// Non-200 answers by status, with the first bodies seen.
    answers: Mutex<BTreeMap<u16, (usize, Vec<String>)>>,
    /// Requests refused at connect (the node was down): never reached a server.
    refused: AtomicU64,
    next_schema: AtomicU64,
}

impl Load {
    fn acks(&self) -> Vec<Ack> {
        self.acks.lock().expect("acks").clone()
    }

    fn acks_since(&self, node: usize, since: Instant) -> usize {
        self.acks
            .lock()
            .expect("acks")
            .iter()
            .filter(|a| a.node == node && a.at > since)
            .count()
    }

    fn new_schema(&self) -> String {
        let k = self.next_schema.fetch_add(1, Ordering::SeqCst);
        json!({
            "type": "record",
            "name": format!("Rec{k}"),
            "namespace": "fault.crash",
            "fields": [{"name": format!("f{k}"), "type": "long"}, {"name": "note", "type": "string", "default": ""}]
        })
        .to_string()
    }
}

fn subject_name(i: u64) -> String {
    format!("fault-{i}-value")
}

/// Registers schemas on `bases[node]` until `stop`: mostly new ones, every fourth an
/// already acknowledged one (on its own subject or another).
async fn writer(
    w: usize,
    node: usize,
    bases: Arc<Vec<Mutex<String>>>,
    http: reqwest::Client,
    load: Arc<Load>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ ((w as u64 + 1) << 40));
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let mut subject = subject_name(rng.below(SUBJECTS));
        let mut sent = None;
        if n.is_multiple_of(4) {
            let acks = load.acks.lock().expect("acks");
            if !acks.is_empty() {
                let a = &acks[rng.below(acks.len() as u64) as usize];
                if rng.below(2) == 0 {
                    subject = a.subject.clone();
                }
                sent = Some(a.sent.clone());
            }
        }
        let sent = sent.unwrap_or_else(|| load.new_schema());
        let base = bases[node].lock().expect("base").clone();
        let result = http
            .post(format!("{base}/subjects/{subject}/versions"))
            .header("Content-Type", VND)
            .body(json!({"schema": sent}).to_string())
            .send()
            .await;
        let unknown = Unknown {
            subject: subject.clone(),
            sent: sent.clone(),
        };
        match result {
            Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                Ok(body) => {
                    let stored = body["schema"]
                        .as_str()
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or(Value::Null);
                    let (Some(version), Some(id)) = (body["version"].as_i64(), body["id"].as_i64())
                    else {
                        panic!("a 200 registration answer without version and id: {body}");
                    };
                    assert_eq!(body["subject"], subject.as_str(), "answer: {body}");
                    load.acks.lock().expect("acks").push(Ack {
                        subject,
                        version,
                        id,
                        sent,
                        stored,
                        node,
                        at: Instant::now(),
                    });
                }
                // The body was cut: committed, but not acknowledged.
                Err(_) => load.unknown.lock().expect("unknown").push(unknown),
            },
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                {
                    let mut answers = load.answers.lock().expect("answers");
                    let e = answers.entry(status).or_default();
                    e.0 += 1;
                    if e.1.len() < 3 {
                        e.1.push(body);
                    }
                }
                load.unknown.lock().expect("unknown").push(unknown);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                if e.is_connect() {
                    load.refused.fetch_add(1, Ordering::SeqCst);
                } else {
                    load.unknown.lock().expect("unknown").push(unknown);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

struct Writers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    /// `count` writers; writer `w` talks to node `w % bases.len()`.
    fn spawn(
        count: usize,
        bases: &Arc<Vec<Mutex<String>>>,
        http: &reqwest::Client,
        load: &Arc<Load>,
        seed: u64,
    ) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|w| {
                tokio::spawn(writer(
                    w,
                    w % bases.len(),
                    bases.clone(),
                    http.clone(),
                    load.clone(),
                    stop.clone(),
                    seed,
                ))
            })
            .collect();
        Writers { stop, tasks }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), t)
                .await
                .expect("a writer stops within its request timeout")
                .expect("a writer panicked");
        }
    }
}

/// Waits (bounded) until node `node` has acknowledged `count` writes after `since`.
async fn wait_for_acks(load: &Load, node: usize, since: Instant, count: usize, within: Duration) {
    let start = Instant::now();
    while load.acks_since(node, since) < count {
        assert!(
            start.elapsed() < within,
            "node {node} acknowledged {} writes in {within:?}, expected {count}; answers: {:?}",
            load.acks_since(node, since),
            load.answers.lock().expect("answers")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
}

async fn set_compatibility_none(http: &reqwest::Client, base: &str) {
    // Every new record is a different schema; no compatibility between them is wanted.
    let r = http
        .put(format!("{base}/config"))
        .header("Content-Type", VND)
        .body(json!({"compatibility": "NONE"}).to_string())
        .send()
        .await
        .expect("PUT /config");
    assert_eq!(r.status(), 200, "PUT /config: {:?}", r.text().await);
}

// ---------------------------------------------------------------------------------
// Verification

#[derive(Debug, Default)]
struct Report {
    acks: usize,
    acked_versions: usize,
    acked_ids: usize,
    present: usize,
    lost: usize,
    duplicate_ids: usize,
    version_gaps: usize,
    stored_versions: usize,
    unknown: usize,
    unknown_present: usize,
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn parse_schema(body: &Value) -> Value {
    body["schema"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// Runs `f` over `items` with up to 8 at once; returns the problems found.
async fn each<T, F, Fut>(items: Vec<T>, f: F) -> Vec<String>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<String>> + Send,
{
    let chunk = items.len().div_ceil(8).max(1);
    let mut items = items.into_iter();
    let mut tasks = Vec::new();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut problems = Vec::new();
            for item in part {
                problems.extend(f(item).await);
            }
            problems
        }));
    }
    let mut problems = Vec::new();
    for t in tasks {
        problems.extend(t.await.expect("a check panicked"));
    }
    problems
}

/// Checks every acknowledged write through every node in `bases`, and what the nodes
/// store: one schema per id, one id per schema, versions 1..n per subject. Panics with
/// the problems found; returns the counts.
async fn verify(http: &reqwest::Client, bases: &[String], load: &Load) -> Report {
    let acks = load.acks();
    let unknown = load.unknown.lock().expect("unknown").clone();
    let mut problems = Vec::new();

    // The answers among themselves.
    let mut by_version: HashMap<(String, i64), Ack> = HashMap::new();
    let mut by_subject_schema: HashMap<(String, String), (i64, i64)> = HashMap::new();
    let mut schema_of_id: HashMap<i64, String> = HashMap::new();
    let mut id_of_schema: HashMap<String, i64> = HashMap::new();
    let mut duplicate_ids = 0;
    for a in &acks {
        if let Some(prev) = by_version.get(&(a.subject.clone(), a.version)) {
            if prev.id != a.id || prev.sent != a.sent {
                problems.push(format!(
                    "{} version {} acknowledged as id {} and as id {}",
                    a.subject, a.version, prev.id, a.id
                ));
            }
        } else {
            by_version.insert((a.subject.clone(), a.version), a.clone());
        }
        let key = (a.subject.clone(), a.sent.clone());
        let got = (a.version, a.id);
        if let Some(prev) = by_subject_schema.insert(key, got) {
            if prev != got {
                problems.push(format!(
                    "one schema in {} acknowledged as (version, id) {prev:?} and {got:?}",
                    a.subject
                ));
            }
        }
        if let Some(prev) = schema_of_id.insert(a.id, a.sent.clone()) {
            if prev != a.sent {
                duplicate_ids += 1;
                problems.push(format!(
                    "id {} acknowledged for two schemas: {prev} and {}",
                    a.id, a.sent
                ));
            }
        }
        if let Some(prev) = id_of_schema.insert(a.sent.clone(), a.id) {
            if prev != a.id {
                problems.push(format!(
                    "schema {} acknowledged with ids {prev} and {}",
                    a.sent, a.id
                ));
            }
        }
    }

    // Every acknowledged version and id, through every node.
    let mut lost = 0;
    let mut present = 0;
    let versions: Vec<Ack> = by_version.values().cloned().collect();
    for base in bases {
        let b = base.clone();
        let h = http.clone();
        let found = each(versions.clone(), move |a: Ack| {
            let (h, base) = (h.clone(), b.clone());
            async move {
                let (status, body) = get(
                    &h,
                    format!("{base}/subjects/{}/versions/{}", a.subject, a.version),
                )
                .await;
                if status != 200 {
                    return vec![format!(
                        "LOST: {} version {} (id {}) acknowledged, now {status} on {base}: {body}",
                        a.subject, a.version, a.id
                    )];
                }
                let mut p = Vec::new();
                if body["id"].as_i64() != Some(a.id) || parse_schema(&body) != a.stored {
                    p.push(format!(
                        "{} version {} acknowledged as id {} {}, now {body} on {base}",
                        a.subject, a.version, a.id, a.stored
                    ));
                }
                p
            }
        })
        .await;
        let lost_here = found.iter().filter(|p| p.starts_with("LOST")).count();
        lost += lost_here;
        present += versions.len() - lost_here;
        problems.extend(found);

        let ids: Vec<(i64, Value)> = {
            let mut seen = HashSet::new();
            versions
                .iter()
                .filter(|a| seen.insert(a.id))
                .map(|a| (a.id, a.stored.clone()))
                .collect()
        };
        let base = base.clone();
        let h = http.clone();
        problems.extend(
            each(ids, move |(id, stored): (i64, Value)| {
                let (h, base) = (h.clone(), base.clone());
                async move {
                    let (status, body) = get(&h, format!("{base}/schemas/ids/{id}")).await;
                    if status != 200 || parse_schema(&body) != stored {
                        vec![format!(
                            "id {id} acknowledged as {stored}, now {status} {body} on {base}"
                        )]
                    } else {
                        Vec::new()
                    }
                }
            })
            .await,
        );
    }

    // What the nodes store: versions 1..n, one schema per id, one id per schema.
    let mut version_gaps = 0;
    let mut stored_versions = 0;
    let mut stored_schema_of_id: HashMap<i64, Value> = HashMap::new();
    for base in bases {
        let (status, subjects) = get(http, format!("{base}/subjects")).await;
        assert_eq!(status, 200, "GET /subjects on {base}: {subjects}");
        let subjects: Vec<String> = subjects
            .as_array()
            .expect("a subject list")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        let mut all: Vec<(String, i64)> = Vec::new();
        for s in &subjects {
            let (status, list) = get(http, format!("{base}/subjects/{s}/versions")).await;
            assert_eq!(status, 200, "GET versions of {s} on {base}: {list}");
            let list: Vec<i64> = list
                .as_array()
                .expect("a version list")
                .iter()
                .filter_map(Value::as_i64)
                .collect();
            let expected: Vec<i64> = (1..=list.len() as i64).collect();
            if list != expected {
                version_gaps += 1;
                problems.push(format!("{s} on {base} has versions {list:?}, not 1..n"));
            }
            all.extend(list.into_iter().map(|v| (s.clone(), v)));
        }
        stored_versions = all.len();
        let h = http.clone();
        let b = base.clone();
        let rows = Arc::new(Mutex::new(Vec::new()));
        let r2 = rows.clone();
        problems.extend(
            each(all, move |(s, v): (String, i64)| {
                let (h, b, rows) = (h.clone(), b.clone(), r2.clone());
                async move {
                    let (status, body) = get(&h, format!("{b}/subjects/{s}/versions/{v}")).await;
                    if status != 200 {
                        return vec![format!(
                            "{s} version {v} listed but {status} on {b}: {body}"
                        )];
                    }
                    let id = body["id"].as_i64().unwrap_or(-1);
                    rows.lock()
                        .expect("rows")
                        .push((s, id, parse_schema(&body)));
                    Vec::new()
                }
            })
            .await,
        );
        let rows = rows.lock().expect("rows").clone();
        let mut ids_in_subject: HashSet<(String, i64)> = HashSet::new();
        let mut id_of_stored: HashMap<String, i64> = HashMap::new();
        for (s, id, schema) in rows {
            if !ids_in_subject.insert((s.clone(), id)) {
                problems.push(format!("{s} has two versions with id {id} on {base}"));
            }
            if let Some(prev) = stored_schema_of_id.get(&id) {
                if *prev != schema {
                    duplicate_ids += 1;
                    problems.push(format!(
                        "id {id} names two schemas on {base}: {prev} and {schema}"
                    ));
                }
            } else {
                stored_schema_of_id.insert(id, schema.clone());
            }
            if let Some(prev) = id_of_stored.insert(schema.to_string(), id) {
                if prev != id {
                    problems.push(format!(
                        "one schema stored with ids {prev} and {id} on {base}: {schema}"
                    ));
                }
            }
        }
    }

    // Writes of unknown outcome: absent, or present and consistent.
    let mut unknown_present = 0;
    let mut seen = HashSet::new();
    for u in unknown
        .iter()
        .filter(|u| seen.insert((u.subject.clone(), u.sent.clone())))
    {
        let r = http
            .post(format!("{}/subjects/{}", bases[0], u.subject))
            .header("Content-Type", VND)
            .body(json!({"schema": u.sent}).to_string())
            .send()
            .await
            .expect("lookup");
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200 => {
                unknown_present += 1;
                let id = body["id"].as_i64().unwrap_or(-1);
                let version = body["version"].as_i64().unwrap_or(-1);
                if let Some(acked) = id_of_schema.get(&u.sent) {
                    if *acked != id {
                        problems.push(format!(
                            "cut write of a schema acknowledged as id {acked} is stored as id {id}"
                        ));
                    }
                }
                if let Some(&(v, i)) = by_subject_schema.get(&(u.subject.clone(), u.sent.clone())) {
                    if (v, i) != (version, id) {
                        problems.push(format!(
                            "cut write in {} stored as ({version}, {id}), acknowledged as ({v}, {i})",
                            u.subject
                        ));
                    }
                }
                if stored_schema_of_id.get(&id) != Some(&parse_schema(&body)) {
                    problems.push(format!(
                        "cut write stored as id {id} inconsistently: {body}"
                    ));
                }
            }
            404 => {
                if by_subject_schema.contains_key(&(u.subject.clone(), u.sent.clone())) {
                    problems.push(format!(
                        "LOST: a schema acknowledged in {} is not found there: {}",
                        u.subject, u.sent
                    ));
                }
            }
            _ => problems.push(format!("lookup in {} gave {status}: {body}", u.subject)),
        }
    }

    let report = Report {
        acks: acks.len(),
        acked_versions: by_version.len(),
        acked_ids: schema_of_id.len(),
        present: present / bases.len().max(1),
        lost,
        duplicate_ids,
        version_gaps,
        stored_versions,
        unknown: seen.len(),
        unknown_present,
    };
    assert!(
        problems.is_empty(),
        "{} problem(s) ({report:?}):\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    report
}

fn print_report(label: &str, r: &Report) {
    eprintln!(
        "fault_crash: {label}: acknowledged writes {} ({} distinct subject versions, {} distinct ids), \
         present {}/{}, lost {}, duplicate ids {}, version gaps {}, stored versions {}, \
         unknown-outcome writes {} (of which committed {})",
        r.acks,
        r.acked_versions,
        r.acked_ids,
        r.present,
        r.acked_versions,
        r.lost,
        r.duplicate_ids,
        r.version_gaps,
        r.stored_versions,
        r.unknown,
        r.unknown_present
    );
}

/// Prints the refused connections and the non-200 answers, and asserts there were none
/// of the latter: a running node answers a valid registration with 200 (compatibility
/// is NONE), whatever happens to the other nodes.
fn print_answers(label: &str, load: &Load) {
    let answers = load.answers.lock().expect("answers");
    eprintln!(
        "fault_crash: {label}: refused at connect (node down) {}, non-200 answers {:?}",
        load.refused.load(Ordering::SeqCst),
        answers
    );
    assert!(
        answers.is_empty(),
        "a running node answered registrations with errors: {answers:?}"
    );
}

// ---------------------------------------------------------------------------------
// The tests

/// One node, KILLS kills with SIGKILL under load, each followed by a restart on the same
/// database and a full check.
async fn kill9(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    let label = format!("kill9 {db:?}");
    let seed = seed();
    eprintln!("fault_crash: {label}: seed {seed} (ACCORD_FAULT_SEED={seed} replays the timing)");
    let mut rng = Rng::new(seed);
    let http = client();
    let started = Instant::now();
    let mut node = Node::spawn("node0", &test_db.url, &test_db.log_dir());
    let first_ready = node.wait_ready(&http).await;
    set_compatibility_none(&http, &node.base).await;
    let bases = Arc::new(vec![Mutex::new(node.base.clone())]);
    let load = Arc::new(Load::default());
    let mut restarts = Vec::new();
    let mut per_epoch = Vec::new();

    for epoch in 0..=KILLS {
        let epoch_start = Instant::now();
        let writers = Writers::spawn(WRITERS, &bases, &http, &load, seed ^ epoch as u64);
        // Kill under load: only once this run of the node has acknowledged writes.
        wait_for_acks(&load, 0, epoch_start, 1, Duration::from_secs(20)).await;
        let wait = rng.between(300, 1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if epoch == KILLS {
            writers.stop().await;
            per_epoch.push(load.acks_since(0, epoch_start));
            break;
        }
        node.kill9();
        let killed = Instant::now();
        writers.stop().await;
        per_epoch.push(load.acks_since(0, epoch_start));
        node.start();
        *bases[0].lock().expect("base") = node.base.clone();
        node.wait_ready(&http).await;
        let restart = killed.elapsed();
        restarts.push(restart);
        let r = verify(&http, &[node.base.clone()], &load).await;
        eprintln!(
            "fault_crash: {label}: kill {} after {wait} ms of load; restart to ready {} ms",
            epoch + 1,
            restart.as_millis()
        );
        print_report(&format!("{label} after kill {}", epoch + 1), &r);
    }

    let r = verify(&http, &[node.base.clone()], &load).await;
    print_report(&format!("{label} final"), &r);
    print_answers(&label, &load);
    eprintln!(
        "fault_crash: {label}: kills {KILLS}, acknowledged per run {per_epoch:?}, first start ready {} ms, \
         restart (kill to ready) ms {:?}, total {} ms",
        first_ready.as_millis(),
        restarts.iter().map(Duration::as_millis).collect::<Vec<_>>(),
        started.elapsed().as_millis()
    );
    assert_eq!(restarts.len(), KILLS);
    assert!(
        per_epoch.iter().all(|&n| n > 0),
        "every run acknowledged writes: {per_epoch:?}"
    );
    assert_eq!(r.lost, 0);
    assert_eq!(r.duplicate_ids, 0);
    assert_eq!(r.version_gaps, 0);
    drop(node);
    drop(test_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_sqlite() {
    tokio::time::timeout(TEST_DEADLINE, kill9(Db::Sqlite))
        .await
        .expect("kill9_sqlite finishes within its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_postgres() {
    tokio::time::timeout(TEST_DEADLINE, kill9(Db::Postgres))
        .await
        .expect("kill9_postgres finishes within its deadline");
}

async fn three_nodes() {
    let Some(test_db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let label = "three nodes Postgres";
    let seed = seed();
    eprintln!("fault_crash: {label}: seed {seed} (ACCORD_FAULT_SEED={seed} replays the timing)");
    let mut rng = Rng::new(seed);
    let http = client();
    let started = Instant::now();
    let logs = test_db.log_dir();
    // All three start at once (their migrations serialise on the database).
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node::spawn(&format!("node{i}"), &test_db.url, &logs))
        .collect();
    for n in nodes.iter_mut() {
        n.wait_ready(&http).await;
    }
    set_compatibility_none(&http, &nodes[0].base).await;
    let bases = Arc::new(
        nodes
            .iter()
            .map(|n| Mutex::new(n.base.clone()))
            .collect::<Vec<_>>(),
    );
    let load = Arc::new(Load::default());
    // Nine writers, three per node.
    let writers = Writers::spawn(9, &bases, &http, &load, seed);
    for i in 0..3 {
        wait_for_acks(&load, i, started, 1, Duration::from_secs(20)).await;
    }
    let wait = rng.between(300, 1500);
    tokio::time::sleep(Duration::from_millis(wait)).await;

    let victim = rng.below(3) as usize;
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let before_kill = load.acks().len();
    nodes[victim].kill9();
    let killed = Instant::now();
    // The survivors keep acknowledging writes.
    let mut first_after_kill = Vec::new();
    for &i in &survivors {
        wait_for_acks(&load, i, killed, 1, Duration::from_secs(10)).await;
        first_after_kill.push(killed.elapsed());
    }
    for &i in &survivors {
        wait_for_acks(&load, i, killed, 20, Duration::from_secs(15)).await;
    }
    let survivor_acks: Vec<usize> = survivors
        .iter()
        .map(|&i| load.acks_since(i, killed))
        .collect();
    let survivor_window = killed.elapsed();

    // Restart the killed node; its writers reach it again.
    nodes[victim].start();
    *bases[victim].lock().expect("base") = nodes[victim].base.clone();
    nodes[victim].wait_ready(&http).await;
    let restart = killed.elapsed();
    let back = Instant::now();
    wait_for_acks(&load, victim, back, 5, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    writers.stop().await;

    // Past the longest a node serves a cached latest version (--latest-ttl-ms).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let all: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let r = verify(&http, &all, &load).await;
    print_report(label, &r);
    print_answers(label, &load);
    eprintln!(
        "fault_crash: {label}: node{victim} killed after {wait} ms of load ({before_kill} acknowledged before), \
         survivors' first acknowledgement after the kill at ms {:?}, survivors acknowledged {survivor_acks:?} \
         in the first {} ms after the kill, kill to restarted-ready {} ms, total {} ms",
        first_after_kill.iter().map(Duration::as_millis).collect::<Vec<_>>(),
        survivor_window.as_millis(),
        restart.as_millis(),
        started.elapsed().as_millis()
    );
    assert_eq!(r.lost, 0);
    assert_eq!(r.duplicate_ids, 0);
    assert_eq!(r.version_gaps, 0);
    drop(nodes);
    drop(test_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_postgres_one_killed() {
    tokio::time::timeout(TEST_DEADLINE, three_nodes())
        .await
        .expect("three_nodes_postgres_one_killed finishes within its deadline");
}
