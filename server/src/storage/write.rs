//! Write transactions and their group commit.
//!
//! Every mutation runs in one [`WriteTx`]; writers pass a gate one at a time (SQLite
//! has one writer connection; PostgreSQL serialises writers with an advisory lock
//! anyway). A `COMMIT` is the dearest statement of a small mutation: SQLite appends
//! every page the transaction touched to its WAL, PostgreSQL flushes its WAL to disk.
//! So when a writer is done and others are already waiting at the gate, it does not
//! commit: it leaves its open transaction for the next writer (a *group*) and waits.
//! The next writer continues the same transaction inside a `SAVEPOINT`, so its failure
//! undoes only its own part, and the last writer of the group commits for everyone.
//! Each waiting writer answers only after that `COMMIT` succeeded; if it fails, every
//! member of the group answers the error. A group is bounded in members and age, so a
//! steady stream of writers cannot hold the first one's answer back.
//!
//! Nobody is left waiting without a bound: a parked writer waits at most the gate's
//! wait plus the commit's, and if the writer counted as waiting gave up before taking
//! the group, the parked writer takes the gate back itself and commits.
//!
//! The commit runs in a task of its own, so a cancelled request (a client that hung
//! up) cannot leave a group half-committed; the notices of the whole group go to the
//! store's notice sink (the node's caches) before anyone answers.

use super::{Backend, Notice, Store, NOTIFY_CHANNEL};
use crate::error::ApiError;
use sqlx::{Any, Executor};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Most writers in one group.
const GROUP_MEMBERS: usize = 16;
/// Oldest a group may be (from its first writer's commit) and still take another
/// writer.
const GROUP_AGE: Duration = Duration::from_millis(10);
/// How often a parked writer checks that somebody took its group.
const ORPHAN_CHECK: Duration = Duration::from_millis(5);
/// Longest a background `ROLLBACK` of an abandoned transaction may take before its
/// connection is closed instead.
const ROLLBACK_BOUND: Duration = Duration::from_secs(2);
/// The savepoint of the writer that joined a group after `members` others: a name of
/// its own, so that undoing a member whose `SAVEPOINT` never ran (a request cancelled
/// before it was sent) fails, and the group is discarded, instead of rolling back to an
/// earlier member's savepoint (savepoints are not released; see [`WriteTx::commit`]).
fn savepoint(members: usize) -> String {
    format!("accord_member_{members}")
}

/// What a group's writers share: the gate, the parked transaction, the notice sink.
pub(super) struct Writers {
    backend: Backend,
    gate: Arc<Semaphore>,
    /// Longest a writer waits for the gate.
    gate_wait: Duration,
    /// Writers waiting at the gate now.
    waiting: AtomicUsize,
    /// The open transaction of writers waiting for its commit, if any.
    parked: Mutex<Option<Group>>,
    next_group: AtomicU64,
    /// Committed transactions and the writers they held (group commit's effect).
    commits: AtomicU64,
    members: AtomicU64,
    sink: OnceLock<NoticeSink>,
    /// Commits still to be made alone after a lost one. A database at its size limit
    /// fails the whole group when the commit writes the pages (FTS5 writes its index
    /// then), though one writer alone might still fit; so after a failure writers
    /// commit alone for a while, and the last write that fits is stored.
    solo: AtomicUsize,
    /// The audit chain's last entry as this node last wrote it (see [`ChainHead`]).
    chain_head: Mutex<Option<ChainHead>>,
}

/// The audit chain's last entry as this node last appended it: a hint that saves the
/// read of the head before each append. It may be stale (another node appended, or the
/// entry was rolled back), so an append that uses it checks it against the table in
/// the same statement and reads the head when they differ.
#[derive(Debug, Clone)]
pub struct ChainHead {
    /// The audit key's fingerprint stored with the chain (`None`: unkeyed).
    pub key_fingerprint: Option<String>,
    pub seq: i64,
    pub hash: String,
}

/// Where committed notices are applied on this node (its caches).
pub type NoticeSink = Arc<dyn Fn(&Notice) + Send + Sync>;

/// What a writer hears once its group's `COMMIT` ended: the group's notices, or why
/// nothing was stored.
type Outcome = Result<Vec<Notice>, ApiError>;

/// A parked open transaction and the writers whose work it holds.
struct Group {
    conn: PoolConn,
    state: GroupState,
}

type PoolConn = sqlx::pool::PoolConnection<Any>;

impl Writers {
    pub(super) fn new(backend: Backend, gate_wait: Duration) -> Writers {
        Writers {
            backend,
            gate: Arc::new(Semaphore::new(1)),
            gate_wait,
            waiting: AtomicUsize::new(0),
            parked: Mutex::new(None),
            next_group: AtomicU64::new(1),
            commits: AtomicU64::new(0),
            members: AtomicU64::new(0),
            sink: OnceLock::new(),
            solo: AtomicUsize::new(0),
            chain_head: Mutex::new(None),
        }
    }

    fn take_parked(&self) -> Option<Group> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn park(&self, group: Group) {
        *self.parked.lock().unwrap_or_else(|p| p.into_inner()) = Some(group);
    }
}

/// Counts a writer as waiting at the gate while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Store {
    /// Starts the one transaction of a mutation. On PostgreSQL it takes a cluster-wide
    /// advisory lock first, so that concurrent registrations through different nodes
    /// are serialised (id allocation and "same schema, one version" depend on it).
    /// When writers ahead of this one wait for their commit, it continues their
    /// transaction (see the module documentation).
    ///
    /// The transaction is driven with plain `BEGIN`/`COMMIT`/`ROLLBACK` on a pooled
    /// connection rather than sqlx's `Transaction`, whose depth counter stays raised
    /// when a `COMMIT` fails (SQLite on a full disk): the next `begin` then opens a
    /// `SAVEPOINT` inside the dead transaction and every later "commit" only releases
    /// it, so writes were acknowledged and never stored. Here any doubt discards the
    /// connection instead (see [`WriteTx`]).
    pub async fn begin_write(&self) -> Result<WriteTx, ApiError> {
        let writers = self.writers.clone();
        let permit = {
            writers.waiting.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&writers.waiting);
            tokio::time::timeout(writers.gate_wait, writers.gate.clone().acquire_owned())
                .await
                .map_err(|_| ApiError::StoreUnavailable)?
                .map_err(|_| ApiError::StoreUnavailable)?
        };
        if let Some(group) = writers.take_parked() {
            let name = savepoint(group.state.members);
            let mut w = WriteTx {
                tx: TxConn(Some(group.conn)),
                notices: Vec::new(),
                gate: Some(permit),
                writers,
                group: Some(group.state),
            };
            // On error `w` drops: its (empty) part is undone and the group committed.
            w.tx.execute(format!("SAVEPOINT {name}").as_str()).await?;
            return Ok(w);
        }
        let conn = self.write.acquire().await?;
        // The transaction is a `WriteTx` before its `BEGIN` is sent: a request cancelled
        // while that runs drops it, and its `ROLLBACK` ends what the `BEGIN` opened (or
        // fails when nothing was begun, and the connection is closed). A bare connection
        // would go back to the pool inside a transaction, and every later writer's
        // `BEGIN` on it would fail.
        let mut w = WriteTx {
            tx: TxConn(Some(conn)),
            notices: Vec::new(),
            gate: Some(permit),
            writers,
            group: None,
        };
        // SQLite: IMMEDIATE takes the write lock now, not halfway through. PostgreSQL:
        // the cluster-wide advisory lock, in the same round trip.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; SELECT pg_advisory_xact_lock(7301)",
        };
        if let Err(e) = w.tx.execute(begin).await {
            if let Some(mut conn) = w.tx.0.take() {
                conn.close_on_drop();
            }
            return Err(e.into());
        }
        Ok(w)
    }

    /// Where this node applies the notices of every commit (its caches), before the
    /// writers answer; the first one set stays.
    pub fn set_notice_sink(&self, sink: NoticeSink) {
        let _ = self.writers.sink.set(sink);
    }

    /// Transactions committed and the writes they held, since the store opened: their
    /// ratio is the mean group size.
    pub fn commit_counts(&self) -> (u64, u64) {
        (
            self.writers.commits.load(Ordering::Relaxed),
            self.writers.members.load(Ordering::Relaxed),
        )
    }
}

/// A group of writers sharing a transaction, without its connection (which the writer
/// holding the group has meanwhile).
struct GroupState {
    id: u64,
    /// Writers waiting for the commit (all members but the one holding the group).
    waiters: Vec<oneshot::Sender<Outcome>>,
    notices: Vec<Notice>,
    members: usize,
    opened: Instant,
}

/// The transaction of one mutation, open on a connection of the write pool (possibly
/// shared with earlier writers of its group, see the module documentation).
///
/// It ends in one of three ways, none of which lets a connection with a transaction in
/// doubt back into the pool:
/// - [`WriteTx::commit`] succeeds: the connection goes back clean (or on to the next
///   writer of the group);
/// - `COMMIT` fails: nobody knows what the database kept of the transaction, so the
///   connection is closed, never reused (closing rolls back whatever is left open);
/// - dropped without commit (an error, a refusal, a cancelled request): a bounded
///   `ROLLBACK` (to the writer's savepoint, in a group) runs in the background and the
///   connection is closed if that fails or times out.
pub struct WriteTx {
    /// The connection in its transaction; `&mut w.tx` is the `AnyConnection` to run the
    /// mutation's statements on.
    pub tx: TxConn,
    notices: Vec<Notice>,
    /// The writers' gate, held until the transaction has ended or passed on.
    gate: Option<OwnedSemaphorePermit>,
    writers: Arc<Writers>,
    /// The group this writer joined (it runs inside the savepoint [`savepoint`] names).
    group: Option<GroupState>,
}

/// The pooled connection of a [`WriteTx`]; `None` only once the transaction ended.
pub struct TxConn(Option<PoolConn>);

const TX_ENDED: &str = "a WriteTx's connection is taken only when the transaction ends";

impl std::ops::Deref for TxConn {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        self.0.as_deref().expect(TX_ENDED)
    }
}

impl std::ops::DerefMut for TxConn {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        self.0.as_deref_mut().expect(TX_ENDED)
    }
}

impl WriteTx {
    /// The audit chain head this node last appended (a hint, see [`ChainHead`]).
    pub fn chain_head(&self) -> Option<ChainHead> {
        self.writers
            .chain_head
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the entry just appended as the chain's head (a hint).
    pub fn set_chain_head(&self, head: Option<ChainHead>) {
        *self
            .writers
            .chain_head
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = head;
    }

    pub fn notify(&mut self, notice: Notice) {
        if !self.notices.contains(&notice) {
            self.notices.push(notice);
        }
    }

    /// Commits; on PostgreSQL the notices of the whole group go out with the commit
    /// (NOTIFY is transactional). Returns the notices (of the whole group) once they
    /// have been applied to the notice sink, so the local node can apply them too. An
    /// `Ok` means the database committed: only then may a write be acknowledged.
    ///
    /// A member's savepoint is not released: the group's `COMMIT` ends them all, and
    /// each member's has a name of its own ([`savepoint`]).
    pub async fn commit(mut self) -> Result<Vec<Notice>, ApiError> {
        let Some(conn) = self.tx.0.take() else {
            return Err(ApiError::internal(anyhow::anyhow!(TX_ENDED)));
        };
        let writers = self.writers.clone();
        let permit = self.gate.take();
        let mut group = self.group.take().unwrap_or_else(|| GroupState {
            id: writers.next_group.fetch_add(1, Ordering::Relaxed),
            waiters: Vec::new(),
            notices: Vec::new(),
            members: 0,
            opened: Instant::now(),
        });
        for n in std::mem::take(&mut self.notices) {
            if !group.notices.contains(&n) {
                group.notices.push(n);
            }
        }
        group.members += 1;
        let others_wait = writers.waiting.load(Ordering::SeqCst) > 0;
        let alone = writers
            .solo
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if others_wait
            && !alone
            && group.members < GROUP_MEMBERS
            && group.opened.elapsed() < GROUP_AGE
        {
            let (tx, rx) = oneshot::channel();
            group.waiters.push(tx);
            let id = group.id;
            writers.park(Group { conn, state: group });
            drop(permit);
            return wait_for_group(writers, id, rx).await;
        }
        finish(writers, conn, group, permit).await
    }
}

/// A parked writer's wait for its group's commit. Should nobody take the group (the
/// writer counted as waiting gave up), this writer takes the gate and commits it.
async fn wait_for_group(
    writers: Arc<Writers>,
    id: u64,
    mut rx: oneshot::Receiver<Outcome>,
) -> Result<Vec<Notice>, ApiError> {
    let deadline = Instant::now() + writers.gate_wait * 2 + ROLLBACK_BOUND;
    loop {
        match tokio::time::timeout(ORPHAN_CHECK, &mut rx).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(_)) => return Err(lost("the group's writer went away")),
            Err(_) if Instant::now() >= deadline => {
                return Err(lost("the group's commit did not come"))
            }
            Err(_) => {}
        }
        // A permit free now means nobody took the group after it was parked (whoever
        // takes the gate takes the parked group first).
        let Ok(permit) = writers.gate.clone().try_acquire_owned() else {
            continue;
        };
        let orphan = {
            let mut parked = writers.parked.lock().unwrap_or_else(|p| p.into_inner());
            match parked.as_ref() {
                Some(g) if g.state.id == id => parked.take(),
                _ => None,
            }
        };
        if let Some(g) = orphan {
            // This writer's own sender is among the waiters: its outcome arrives on rx.
            let _ = finish(writers.clone(), g.conn, g.state, Some(permit)).await;
        }
    }
}

/// A group's transaction is lost (or its fate unknown): its writers answer 503, as
/// for a database that does not answer.
fn lost(why: &str) -> ApiError {
    tracing::warn!("a write group was not committed: {why}");
    ApiError::StoreUnavailable
}

/// A failed commit's error for another writer of the group (`ApiError` is not
/// `Clone`): a full or unavailable database is told as such to every writer.
fn for_member(e: &ApiError) -> ApiError {
    match e {
        ApiError::StorageFull => ApiError::StorageFull,
        ApiError::StoreUnavailable => ApiError::StoreUnavailable,
        other => ApiError::internal(anyhow::anyhow!("the write was not committed: {other}")),
    }
}

/// Commits a group in a task of its own (a cancelled caller cannot stop it halfway),
/// applies its notices to the sink and tells its waiting writers.
async fn finish(
    writers: Arc<Writers>,
    mut conn: PoolConn,
    group: GroupState,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Vec<Notice>, ApiError> {
    let task = tokio::spawn(async move {
        let _permit = permit;
        let committed = match writers.backend {
            Backend::Postgres if !group.notices.is_empty() => {
                match notify(&mut conn, &group.notices).await {
                    Ok(()) => conn.execute("COMMIT").await,
                    Err(e) => Err(e),
                }
            }
            _ => conn.execute("COMMIT").await,
        };
        let outcome = match committed {
            Ok(_) => {
                writers.commits.fetch_add(1, Ordering::Relaxed);
                writers
                    .members
                    .fetch_add(group.members as u64, Ordering::Relaxed);
                if let Some(sink) = writers.sink.get() {
                    group.notices.iter().for_each(|n| sink(n));
                }
                Ok(group.notices)
            }
            Err(e) => {
                tracing::warn!(error = %e, "COMMIT failed; the writer connection is discarded");
                conn.close_on_drop();
                forget(&writers);
                writers.solo.store(GROUP_MEMBERS, Ordering::SeqCst);
                Err(ApiError::from(e))
            }
        };
        for w in group.waiters {
            let _ = w.send(match &outcome {
                Ok(n) => Ok(n.clone()),
                Err(e) => Err(for_member(e)),
            });
        }
        outcome
    });
    match task.await {
        Ok(outcome) => outcome,
        Err(e) => Err(ApiError::internal(anyhow::anyhow!("commit task: {e}"))),
    }
}

/// PostgreSQL: the group's notices, sent in its transaction (so they go out with its
/// commit, and only then), in one statement.
async fn notify(conn: &mut PoolConn, notices: &[Notice]) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = notices.iter().map(Notice::payload).collect();
    let payloads = serde_json::to_string(&payloads).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query("SELECT pg_notify($1, value) FROM json_array_elements_text(CAST($2 AS json))")
        .bind(NOTIFY_CHANNEL)
        .bind(payloads)
        .execute(&mut **conn)
        .await?;
    Ok(())
}

/// After a group's transaction was lost: a later member may have read (and cached)
/// what an earlier one wrote, ids included, and those ids will be given out again. So
/// the node forgets every schema it caches, as after a permanent delete.
fn forget(writers: &Writers) {
    if let Some(sink) = writers.sink.get() {
        sink(&Notice::Schemas);
    }
}

/// Fails the writers of a group whose transaction is lost.
fn fail(writers: &Writers, group: GroupState, why: &str) {
    forget(writers);
    writers.solo.store(GROUP_MEMBERS, Ordering::SeqCst);
    for w in group.waiters {
        let _ = w.send(Err(lost(why)));
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.tx.0.take() else {
            return;
        };
        let gate = self.gate.take();
        let group = self.group.take();
        let writers = self.writers.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    match group {
                        // Undo this writer's part; the group's earlier work commits.
                        Some(group) => {
                            let name = savepoint(group.members);
                            let undo = format!(
                                "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
                            );
                            let undone = tokio::time::timeout(
                                ROLLBACK_BOUND,
                                conn.execute(undo.as_str()),
                            )
                            .await
                            .is_ok_and(|r| r.is_ok());
                            if undone {
                                let _ = finish(writers, conn, group, gate).await;
                            } else {
                                tracing::warn!(
                                    "ROLLBACK TO SAVEPOINT failed; the group's transaction is discarded"
                                );
                                conn.close_on_drop();
                                fail(&writers, group, "the transaction could not be recovered");
                            }
                        }
                        None => {
                            // The next writer of this node waits until this one has ended.
                            let _gate = gate;
                            let rolled_back =
                                tokio::time::timeout(ROLLBACK_BOUND, conn.execute("ROLLBACK"))
                                    .await
                                    .is_ok_and(|r| r.is_ok());
                            if !rolled_back {
                                tracing::warn!(
                                    "ROLLBACK failed; the writer connection is discarded"
                                );
                                conn.close_on_drop();
                            }
                        }
                    }
                });
            }
            Err(_) => {
                conn.close_on_drop();
                if let Some(group) = group {
                    fail(&writers, group, "the runtime ended");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The group commit, driven by hand: a writer counted as waiting is what makes a
    //! committing writer park its transaction, so the tests count one in directly.
    use super::*;
    use sqlx::Row;

    /// A store on a fresh SQLite file, and one on PostgreSQL when
    /// `ACCORD_TEST_POSTGRES_URL` is set (required when `ACCORD_REQUIRE_POSTGRES=1`).
    async fn stores(name: &str) -> Vec<Store> {
        let dir = std::env::temp_dir().join(format!(
            "accord-group-{name}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        let mut out = vec![Store::connect(&url).await.expect("sqlite store")];
        match std::env::var("ACCORD_TEST_POSTGRES_URL") {
            Ok(pg) => out.push(Store::connect(&pg).await.expect("postgres store")),
            Err(_) if std::env::var("ACCORD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set")
            }
            Err(_) => eprintln!("{name}: PostgreSQL variant skipped (no ACCORD_TEST_POSTGRES_URL)"),
        }
        out
    }

    fn key(name: &str, part: &str) -> String {
        format!("group-test-{name}-{}-{part}", std::process::id())
    }

    async fn put(w: &mut WriteTx, key: &str) {
        sqlx::query("INSERT INTO configs (subject, body) VALUES ($1, '{}')")
            .bind(key)
            .execute(&mut *w.tx)
            .await
            .expect("insert");
    }

    async fn stored(store: &Store, key: &str) -> bool {
        sqlx::query("SELECT COUNT(*) AS n FROM configs WHERE subject = $1")
            .bind(key)
            .fetch_one(store.reader())
            .await
            .expect("count")
            .try_get::<i64, _>("n")
            .expect("n")
            == 1
    }

    async fn clean(store: &Store, keys: &[&str]) {
        for k in keys {
            sqlx::query("DELETE FROM configs WHERE subject = $1")
                .bind(*k)
                .execute(store.reader())
                .await
                .expect("clean");
        }
    }

    /// Returns once a committing writer has parked its transaction (bounded).
    async fn until_parked(store: &Store) {
        let parked = async {
            while store.writers.parked.lock().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), parked)
            .await
            .expect("the committing writer parks its transaction");
    }

    /// Commits `w` in a task while a writer is counted as waiting, and returns once
    /// the transaction is parked for the next writer.
    async fn park(
        store: &Store,
        w: WriteTx,
    ) -> tokio::task::JoinHandle<Result<Vec<Notice>, ApiError>> {
        store.writers.waiting.fetch_add(1, Ordering::SeqCst);
        let task = tokio::spawn(w.commit());
        until_parked(store).await;
        store.writers.waiting.fetch_sub(1, Ordering::SeqCst);
        task
    }

    #[tokio::test]
    async fn a_waiting_writer_continues_the_transaction_and_one_commit_stores_both() {
        for store in stores("both").await {
            let (a, b) = (key("both", "a"), key("both", "b"));
            let before = store.commit_counts();
            let mut w1 = store.begin_write().await.expect("begin");
            put(&mut w1, &a).await;
            w1.notify(Notice::Subject(a.clone()));
            // The second writer arrives while the first holds the gate: it waits there,
            // counted, and the gate passes to it (the semaphore is fair) when the first
            // parks its transaction, so the first's check for an orphaned group cannot
            // take the gate back in between, however slow the machine.
            let second = store.begin_write();
            tokio::pin!(second);
            assert!(futures::poll!(second.as_mut()).is_pending());
            let first = tokio::spawn(w1.commit());
            until_parked(&store).await;
            // Parked, not committed: a reader does not see it yet.
            assert!(!stored(&store, &a).await);
            let mut w2 = second.await.expect("joins the group");
            assert!(
                w2.group.is_some(),
                "the second writer continues the first's transaction"
            );
            put(&mut w2, &b).await;
            w2.notify(Notice::Subject(b.clone()));
            let notices = w2.commit().await.expect("group commits");
            let first = first
                .await
                .expect("task")
                .expect("first answered after the commit");
            assert!(stored(&store, &a).await && stored(&store, &b).await);
            // Both writers hear the group's notices; one COMMIT held two writes.
            for n in [&notices, &first] {
                assert!(
                    n.contains(&Notice::Subject(a.clone()))
                        && n.contains(&Notice::Subject(b.clone()))
                );
            }
            let after = store.commit_counts();
            assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2));
            clean(&store, &[&a, &b]).await;
        }
    }

    #[tokio::test]
    async fn a_failing_member_is_undone_alone() {
        for store in stores("undo").await {
            let (a, b) = (key("undo", "a"), key("undo", "b"));
            let mut w1 = store.begin_write().await.expect("begin");
            put(&mut w1, &a).await;
            let first = park(&store, w1).await;
            let mut w2 = store.begin_write().await.expect("joins the group");
            put(&mut w2, &b).await;
            // A refusal after writing, or a cancelled request: the writer is dropped.
            drop(w2);
            tokio::time::timeout(Duration::from_secs(5), first)
                .await
                .expect("the group is committed without its failed member")
                .expect("task")
                .expect("the first write is committed");
            assert!(stored(&store, &a).await, "the earlier member's write stays");
            assert!(
                !stored(&store, &b).await,
                "the failed member's write is undone"
            );
            // The gate is free again: the next writer begins a transaction of its own.
            let w3 = tokio::time::timeout(Duration::from_secs(5), store.begin_write())
                .await
                .expect("gate free")
                .expect("begin");
            assert!(w3.group.is_none());
            drop(w3);
            clean(&store, &[&a]).await;
        }
    }

    #[tokio::test]
    async fn a_group_nobody_takes_is_committed_by_its_own_writer() {
        for store in stores("orphan").await {
            let a = key("orphan", "a");
            let mut w1 = store.begin_write().await.expect("begin");
            put(&mut w1, &a).await;
            // The writer counted as waiting never comes (it gave up).
            let first = park(&store, w1).await;
            tokio::time::timeout(Duration::from_secs(5), first)
                .await
                .expect("the parked writer does not wait forever")
                .expect("task")
                .expect("and commits its group itself");
            assert!(stored(&store, &a).await);
            assert!(store.writers.parked.lock().unwrap().is_none());
            clean(&store, &[&a]).await;
        }
    }

    /// Polls `f` up to `polls` times (letting the database's side run between polls),
    /// then drops it unless it finished: a request cancelled at that point.
    async fn cancel_after<F: std::future::Future>(f: F, polls: usize) -> bool {
        let mut f = std::pin::pin!(f);
        for _ in 0..polls {
            if futures::poll!(f.as_mut()).is_ready() {
                return true;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        false
    }

    /// The next writer's whole mutation, bounded.
    async fn write_one(store: &Store, key: &str) {
        let one = async {
            let mut w = store.begin_write().await?;
            put(&mut w, key).await;
            w.commit().await
        };
        tokio::time::timeout(Duration::from_secs(10), one)
            .await
            .expect("the next writer is not held up")
            .expect("the next writer commits");
    }

    #[tokio::test]
    async fn a_writer_cancelled_while_beginning_leaves_no_transaction_behind() {
        for store in stores("begin-cancel").await {
            for polls in 1..12 {
                let begun = cancel_after(store.begin_write(), polls).await;
                let k = key("begin-cancel", &polls.to_string());
                write_one(&store, &k).await;
                assert!(
                    stored(&store, &k).await,
                    "after {polls} poll(s), begun {begun}"
                );
                clean(&store, &[&k]).await;
            }
        }
    }

    #[tokio::test]
    async fn a_member_cancelled_while_joining_undoes_only_its_own_part() {
        for store in stores("join-cancel").await {
            for polls in 1..8 {
                let (a, b) = (
                    key("join-cancel", &format!("a{polls}")),
                    key("join-cancel", &format!("b{polls}")),
                );
                let mut w1 = store.begin_write().await.expect("begin");
                put(&mut w1, &a).await;
                let first = park(&store, w1).await;
                // The second writer joins the group and goes away at some point of it.
                let joining = async {
                    let mut w2 = store.begin_write().await.expect("joins");
                    put(&mut w2, &b).await;
                    std::future::pending::<()>().await;
                };
                cancel_after(joining, polls).await;
                tokio::time::timeout(Duration::from_secs(10), first)
                    .await
                    .expect("the group is committed")
                    .expect("task")
                    .expect("the first write is committed");
                assert!(
                    stored(&store, &a).await,
                    "after {polls} poll(s) the first write stays"
                );
                assert!(!stored(&store, &b).await, "the cancelled member is undone");
                let c = key("join-cancel", &format!("c{polls}"));
                write_one(&store, &c).await;
                clean(&store, &[&a, &c]).await;
            }
        }
    }

    #[tokio::test]
    async fn a_cancelled_waiting_writer_still_has_its_write_committed_and_applied() {
        for store in stores("cancel").await {
            let (a, b) = (key("cancel", "a"), key("cancel", "b"));
            let applied = Arc::new(Mutex::new(Vec::<Notice>::new()));
            let seen = applied.clone();
            store.set_notice_sink(Arc::new(move |n| seen.lock().unwrap().push(n.clone())));
            let mut w1 = store.begin_write().await.expect("begin");
            put(&mut w1, &a).await;
            w1.notify(Notice::Subject(a.clone()));
            let first = park(&store, w1).await;
            // The first writer's request goes away while it waits for the commit.
            first.abort();
            let mut w2 = store.begin_write().await.expect("joins the group");
            put(&mut w2, &b).await;
            w2.commit().await.expect("group commits");
            assert!(
                stored(&store, &a).await,
                "the cancelled writer's part is committed"
            );
            // Its notice reached the node's caches all the same.
            assert!(applied
                .lock()
                .unwrap()
                .contains(&Notice::Subject(a.clone())));
            clean(&store, &[&a, &b]).await;
        }
    }
}
