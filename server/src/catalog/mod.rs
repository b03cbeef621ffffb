//! The catalog: full-text search over streams and the subjects bound to no stream.
//!
//! One document per stream (and per free subject) holds its names, subjects, schema
//! fields and docs, contract description, tags, owner, domain, format and lifecycle (see
//! [`index`]). SQLite matches it with FTS5, PostgreSQL with a weighted `tsvector`
//! ('simple' configuration: identifiers, not English), both over words that [`text`]
//! has already cut, so both databases find the same documents. The index is rebuilt in
//! the transaction of every change that emits an outbox event ([`refresh`]), so a
//! registration followed at once by a search finds the new field. The database gives
//! only the ids a search's words match; filters, read access, the total, the facets and
//! the order by name are computed over this node's copy of the documents ([`meta`]).
//!
//! Ranking: the exact name first, then names starting with the query, then relevance
//! ([`relevance`] on SQLite, `ts_rank` on PostgreSQL), then name. A result of more than
//! [`RANKED_BY_RELEVANCE`] hits is ordered without relevance: the exact name, names
//! starting with the query, names containing every query word, then by name; only its
//! page is scored. Filters (format, tag, owner, domain, lifecycle)
//! combine with AND; facet counts are over the filtered result set. With auth on, a
//! principal other than an admin does not see streams whose contract restricts reads
//! (`accord.access.read: restricted`) unless its team owns the stream or has an active
//! consumer on it: the rule of [`crate::governance::check_subject_read`].
//!
//! Highlights are computed in Rust from the query words: each [`SearchMatch`] is a text
//! that matched with the matches wrapped in [`MARK_START`]..[`MARK_END`] (U+0001,
//! U+0002), so a page can HTML-escape the text and then turn the markers into `<mark>`.

pub mod extract;
pub mod index;
pub mod meta;
pub mod text;

pub use index::{ensure_built, refresh, reindex_all};
pub use text::{MARK_END, MARK_START};

use crate::auth::{Actor, Role};
use crate::error::ApiError;
use crate::storage::{Backend, Store, WriteTx};
use index::Parts;
use meta::{Access, Ask, FastSet, Matches};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use text::Term;
use utoipa::ToSchema;

/// The largest page.
pub const MAX_LIMIT: u32 = 100;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// At most this many matches are shown per hit.
const MAX_MATCHES: usize = 8;
/// Longer texts are cut to about this many characters around their first match.
const SNIPPET_CHARS: usize = 160;

/// The formats a `format` filter may name.
pub const FORMATS: &[&str] = &["AVRO", "PROTOBUF", "JSON"];
/// The lifecycles a `lifecycle` filter may name.
pub const LIFECYCLES: &[&str] = &["active", "deprecated"];

/// A search: words (empty: everything, filtered) and filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    pub q: String,
    /// `AVRO`, `PROTOBUF` or `JSON` (any case).
    pub format: Option<String>,
    /// A tag (case-insensitive).
    pub tag: Option<String>,
    /// The owning team (case-insensitive).
    pub owner: Option<String>,
    /// The contract's domain (case-insensitive).
    pub domain: Option<String>,
    /// `active` or `deprecated`.
    pub lifecycle: Option<String>,
    /// 1..=100.
    pub limit: u32,
    pub offset: u32,
}

/// A page of hits, the total and the facets.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// Hits in the whole (filtered) result, not only this page.
    pub total: u64,
    pub hits: Vec<SearchHit>,
    pub facets: Facets,
}

/// A stream, or a subject bound to no stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The stream; absent for a subject bound to no stream.
    pub stream: Option<String>,
    /// The free subject, or the stream's value subject.
    pub subject: Option<String>,
    /// The schema context the subject lives in (`.` unless it is `:.ctx:`-qualified).
    pub context: String,
    /// The stream's name, or the free subject's.
    pub title: String,
    /// The contract's description (purpose, usage, limitations).
    pub description: Option<String>,
    /// `AVRO`, `PROTOBUF` or `JSON`: the latest value schema's.
    pub format: Option<String>,
    /// The owning team (a free subject's: its metadata property `owner`).
    pub owner: Option<String>,
    pub domain: Option<String>,
    /// Contract tags, contract field tags and schema field tags.
    pub tags: Vec<String>,
    /// `active` or `deprecated`.
    pub lifecycle: String,
    /// Relevance (higher is better; 0 without query words). Not comparable across
    /// databases.
    pub score: f64,
    /// What matched, with the matches marked.
    pub matches: Vec<SearchMatch>,
}

/// A text of a hit that the query matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchMatch {
    /// Where: `name`, `subject`, `field`, `doc`, `description`, `tag` or `owner`.
    pub field: String,
    /// The text with every match wrapped in U+0001..U+0002.
    pub text: String,
}

/// Counts of the filtered result by value, most frequent first (then by value).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    pub formats: Vec<FacetCount>,
    pub tags: Vec<FacetCount>,
    pub owners: Vec<FacetCount>,
    pub domains: Vec<FacetCount>,
}

/// One facet value and how many hits have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Rebuilds the index entries of a change, in its transaction (called by
/// [`crate::outbox`] for every event).
pub async fn on_change(
    w: &mut WriteTx,
    stream: Option<&str>,
    subject: Option<&str>,
) -> Result<(), ApiError> {
    refresh(&mut w.tx, stream, subject).await
}

impl SearchQuery {
    /// A query with the default page (20 hits from the first).
    pub fn new(q: impl Into<String>) -> SearchQuery {
        SearchQuery {
            q: q.into(),
            limit: 20,
            ..SearchQuery::default()
        }
    }

    /// 422 for a bad parameter, naming it and what is allowed.
    pub fn check(&self) -> Result<(), ApiError> {
        let bad = |m: String| Err(ApiError::Unprocessable(m));
        if self.q.chars().count() > MAX_QUERY_CHARS {
            return bad(format!("q: at most {MAX_QUERY_CHARS} characters"));
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return bad(format!(
                "limit: expected 1 to {MAX_LIMIT}, got {}",
                self.limit
            ));
        }
        if let Some(f) = &self.format {
            if !FORMATS.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                return bad(format!(
                    "format: expected one of {}, got '{f}'",
                    FORMATS.join(", ")
                ));
            }
        }
        if let Some(l) = &self.lifecycle {
            if !LIFECYCLES.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                return bad(format!(
                    "lifecycle: expected one of {}, got '{l}'",
                    LIFECYCLES.join(", ")
                ));
            }
        }
        for (name, v) in [
            ("tag", &self.tag),
            ("owner", &self.owner),
            ("domain", &self.domain),
        ] {
            if v.as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.len() > 200)
            {
                return bad(format!(
                    "{name}: expected a non-empty value of at most 200 characters"
                ));
            }
        }
        Ok(())
    }
}

/// The first `limit` streams by name whose contract declares `domain` (as the index
/// holds it), and how many there are in all.
pub async fn streams_of_domain(
    store: &Store,
    domain: &str,
    limit: usize,
) -> Result<(Vec<String>, usize), ApiError> {
    let filter = "FROM catalog_docs WHERE domain_lc = $1 AND domain = $2 AND stream IS NOT NULL";
    let names = sqlx::query(&format!(
        "SELECT stream {filter} ORDER BY stream LIMIT {limit}"
    ))
    .bind(domain.to_lowercase())
    .bind(domain)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("stream"))
    .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {filter}"))
        .bind(domain.to_lowercase())
        .bind(domain)
        .fetch_one(store.reader())
        .await?
        .try_get("n")?;
    Ok((names, usize::try_from(total).unwrap_or(0)))
}

/// Every domain a stream's contract declares, sorted.
pub async fn domains(store: &Store) -> Result<Vec<String>, ApiError> {
    Ok(sqlx::query(
        "SELECT DISTINCT domain FROM catalog_docs WHERE domain IS NOT NULL AND stream IS NOT NULL ORDER BY domain",
    )
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| r.try_get::<String, _>("domain"))
    .collect::<Result<Vec<_>, _>>()?)
}

/// At most this many hits are ordered by relevance (scored one by one); a larger result
/// is ordered by name tiers and then by name alone, and only its page is scored.
pub const RANKED_BY_RELEVANCE: usize = 500;

/// The columns' weights in the relevance, in the index's column order: name, subjects,
/// fields, docs, description, tags, owner.
const WEIGHTS: [f64; 7] = [10.0, 6.0, 4.0, 1.0, 2.0, 4.0, 3.0];

/// SQLite: BM25's term-frequency part per column, weighted, computed here from the
/// indexed words of the documents scored. FTS5's `bm25()` also computes each phrase's
/// document frequency, a walk over the phrase's whole posting list (100 ms for a common
/// field name at 100,000 streams) whatever the number of rows scored; every hit
/// contains every query word, so that factor would only weigh the words against each
/// other, and is left out. The column lengths are averaged over the documents scored.
fn relevance(rows: &[(i64, [String; 7])], terms: &[Term]) -> HashMap<i64, f64> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let counted: Vec<(i64, [(usize, usize); 7])> = rows
        .iter()
        .map(|(id, cols)| (*id, cols.each_ref().map(|c| text::occurrences(c, terms))))
        .collect();
    let mut avg = [0.0f64; 7];
    for (_, cols) in &counted {
        for (a, (_, len)) in avg.iter_mut().zip(cols) {
            *a += *len as f64;
        }
    }
    let n = counted.len().max(1) as f64;
    avg.iter_mut().for_each(|a| *a = (*a / n).max(1.0));
    counted
        .into_iter()
        .map(|(id, cols)| {
            let score = cols
                .iter()
                .zip(avg.iter().zip(WEIGHTS))
                .map(|((tf, len), (avg, w))| {
                    let tf = *tf as f64;
                    w * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * *len as f64 / avg))
                })
                .sum();
            (id, score)
        })
        .collect()
}

/// The ids of the documents the query words match (the index alone; one row).
async fn match_ids(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    terms: &[Term],
) -> Result<Matches, ApiError> {
    let (sql, query) = match backend {
        Backend::Sqlite => (
            "SELECT group_concat(rowid) AS ids FROM catalog_fts WHERE catalog_fts MATCH $1",
            text::fts5_query(terms),
        ),
        Backend::Postgres => (
            "SELECT string_agg(CAST(id AS TEXT), ',') AS ids FROM catalog_docs \
             WHERE tsv @@ to_tsquery('simple', $1)",
            text::tsquery(terms),
        ),
    };
    let ids: Option<String> = sqlx::query(sql)
        .bind(query)
        .fetch_one(&mut *conn)
        .await?
        .try_get("ids")?;
    Ok(Matches::new(
        ids.iter()
            .flat_map(|s| s.split(','))
            .filter_map(|id| id.trim().parse().ok())
            .collect(),
    ))
}

/// The relevance of each of `ids` for the query words (higher is better): on SQLite
/// [`relevance`], on PostgreSQL `ts_rank` (with the tsvector's weights).
async fn scores(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    terms: &[Term],
    ids: &[i64],
) -> Result<HashMap<i64, f64>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    if backend == Backend::Sqlite {
        let mut rows = Vec::with_capacity(ids.len());
        for r in sqlx::query(
            "SELECT rowid AS id, name, subjects, fields, docs, description, tags, owner \
             FROM catalog_fts WHERE rowid IN (SELECT value FROM json_each($1))",
        )
        .bind(format!("[{list}]"))
        .fetch_all(&mut *conn)
        .await?
        {
            let col = |c: &str| {
                r.try_get::<Option<String>, _>(c)
                    .map(Option::unwrap_or_default)
            };
            rows.push((
                r.try_get("id")?,
                [
                    col("name")?,
                    col("subjects")?,
                    col("fields")?,
                    col("docs")?,
                    col("description")?,
                    col("tags")?,
                    col("owner")?,
                ],
            ));
        }
        return Ok(relevance(&rows, terms));
    }
    sqlx::query(
        "SELECT id, CAST(ts_rank(tsv, to_tsquery('simple', $1)) AS DOUBLE PRECISION) AS score \
         FROM catalog_docs WHERE id = ANY(CAST(string_to_array($2, ',') AS BIGINT[]))",
    )
    .bind(text::tsquery(terms))
    .bind(list)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("score")?)))
    .collect()
}

/// Searches the catalog as `actor` may see it.
///
/// In one read transaction (one snapshot): this node's copy of the documents catches up
/// ([`meta`]); the index gives the ids the words match; the copy filters them, checks
/// read access, counts the total and the facets and orders them by name; the database
/// scores the result when it is small enough to order by relevance
/// ([`RANKED_BY_RELEVANCE`]), else only the page; then the page's details.
pub async fn search(
    store: &Store,
    actor: &Actor,
    q: &SearchQuery,
) -> Result<SearchResults, ApiError> {
    q.check()?;
    let terms = text::terms(&q.q);
    let backend = store.backend();
    let copy = store.catalog_meta().clone();
    let mut tx = store.reader().begin().await?;
    if backend == Backend::Postgres {
        // The plans are cheap, but cost estimates can cross the JIT threshold, and
        // compiling costs far more than the query.
        sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    }
    copy.sync(&mut tx).await?;
    let matches = if terms.is_empty() {
        None
    } else {
        Some(match_ids(&mut tx, backend, &terms).await?)
    };
    let access = match actor {
        Actor::Principal(p) if p.role != Role::Admin => {
            let team = p.team.clone().filter(|t| !t.is_empty());
            let mut consumes = FastSet::default();
            if let (Some(team), true) = (&team, copy.any_restricted()) {
                for r in sqlx::query(
                    "SELECT DISTINCT stream FROM stream_consumers WHERE team = $1 AND status = 'active'",
                )
                .bind(team)
                .fetch_all(&mut *tx)
                .await?
                {
                    consumes.insert(r.try_get("stream")?);
                }
            }
            Access::Team { team, consumes }
        }
        _ => Access::All,
    };
    let lower = |v: &Option<String>| v.as_ref().map(|v| v.trim().to_lowercase());
    let ask = Ask {
        format: q.format.as_ref().map(|f| f.to_ascii_uppercase()),
        tag: lower(&q.tag),
        owner: lower(&q.owner),
        domain: lower(&q.domain),
        lifecycle: q.lifecycle.as_ref().map(|l| l.to_ascii_lowercase()),
        access,
        needle: q.q.trim().to_lowercase(),
        parts: terms.iter().flatten().cloned().collect(),
        matches,
        wanted: (q.offset as usize).saturating_add(q.limit as usize),
    };
    let walk = copy.clone();
    let found = tokio::task::spawn_blocking(move || walk.find(&ask))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("catalog search: {e}")))?;
    let mut ranked = found.ranked;
    let mut score = HashMap::new();
    if !terms.is_empty() {
        // `ranked` is in name order; the sorts are stable, so name breaks ties.
        if ranked.len() <= RANKED_BY_RELEVANCE {
            let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
            score = scores(&mut tx, backend, &terms, &ids).await?;
            let of = |id: &i64| score.get(id).copied().unwrap_or(0.0);
            ranked.sort_by(|(a, ta), (b, tb)| {
                ta.min(&2)
                    .cmp(tb.min(&2))
                    .then_with(|| of(b).total_cmp(&of(a)))
            });
        } else {
            ranked.sort_by_key(|(_, tier)| *tier);
        }
    }
    let page: Vec<i64> = ranked
        .iter()
        .skip(q.offset as usize)
        .take(q.limit as usize)
        .map(|(id, _)| *id)
        .collect();
    if !terms.is_empty() && score.is_empty() {
        score = scores(&mut tx, backend, &terms, &page).await?;
    }
    let mut hits = Vec::with_capacity(page.len());
    let mut ids = Vec::with_capacity(page.len());
    for (id, mut hit) in copy.hits(&page) {
        hit.score = score.get(&id).copied().unwrap_or(0.0);
        ids.push(id);
        hits.push(hit);
    }

    // The page's details: description, tags, and the texts to highlight.
    let mut details: HashMap<i64, (Option<String>, Vec<String>, Parts)> = HashMap::new();
    if !ids.is_empty() {
        let sql = format!(
            "SELECT doc_id, description, tags, parts FROM catalog_details WHERE doc_id IN ({})",
            crate::storage::q::placeholders_after(0, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(*id);
        }
        for r in query.fetch_all(&mut *tx).await? {
            let tags: String = r.try_get("tags")?;
            let parts: String = r.try_get("parts")?;
            details.insert(
                r.try_get("doc_id")?,
                (
                    r.try_get("description")?,
                    serde_json::from_str(&tags).map_err(ApiError::internal)?,
                    serde_json::from_str(&parts).map_err(ApiError::internal)?,
                ),
            );
        }
    }
    tx.commit().await?;
    for (hit, id) in hits.iter_mut().zip(&ids) {
        let Some((description, tags, parts)) = details.remove(id) else {
            continue;
        };
        hit.description = description;
        hit.tags = tags;
        if !terms.is_empty() {
            hit.matches = highlights(hit, &parts, &terms);
        }
    }
    Ok(SearchResults {
        total: found.total,
        hits,
        facets: found.facets,
    })
}

/// The texts of `hit` that `terms` match, marked, in the order name, subject, field,
/// doc, description, tag, owner.
fn highlights(hit: &SearchHit, parts: &Parts, terms: &[Term]) -> Vec<SearchMatch> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&str, String), ()> = HashMap::new();
    let groups: [(&str, Vec<&str>); 7] = [
        ("name", vec![hit.title.as_str()]),
        (
            "subject",
            parts.subjects.iter().map(String::as_str).collect(),
        ),
        ("field", parts.fields.iter().map(String::as_str).collect()),
        ("doc", parts.docs.iter().map(String::as_str).collect()),
        (
            "description",
            hit.description.as_deref().into_iter().collect(),
        ),
        ("tag", hit.tags.iter().map(String::as_str).collect()),
        ("owner", hit.owner.as_deref().into_iter().collect()),
    ];
    for (field, texts) in groups {
        for t in texts {
            if out.len() >= MAX_MATCHES {
                return out;
            }
            if let Some(text) = text::highlight(t, terms, SNIPPET_CHARS) {
                if seen.insert((field, text.clone()), ()).is_none() {
                    out.push(SearchMatch {
                        field: field.to_string(),
                        text,
                    });
                }
            }
        }
    }
    out
}
