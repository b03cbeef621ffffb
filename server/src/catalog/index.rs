//! Index upkeep: building a stream's or a free subject's document and writing it.
//!
//! [`refresh`] runs inside the transaction of every change that emits an outbox event
//! (see [`crate::outbox`]), so a search after a committed change sees it; it rebuilds the
//! documents of the stream and subject the event names, and of every subject whose
//! binding to a stream may have changed with it. [`reindex_all`] rebuilds everything;
//! [`ensure_built`] runs it once, at the first start after the migration.
//!
//! A document: the stream name (or the free subject's name) as title; its subjects;
//! the field names, docs and tags of the latest live version of each subject; the
//! contract's description, domain, tags, field tags, field names and descriptions; the
//! owning team; the value schema's format; and the lifecycle and read restriction out of
//! the stream row.

use super::extract::{self, Extracted};
use super::text::index_words;
use crate::error::ApiError;
use crate::storage::q::is_postgres;
use crate::storage::{q, SchemaRecord, SchemaReference, Store};
use accord_compat::{ParsedSchema, Reference, SchemaFormat};
use accord_contracts::Contract;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeSet, HashSet};

type R<T> = Result<T, ApiError>;

/// The texts highlights are computed from (stored as JSON with the document).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Parts {
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub docs: Vec<String>,
}

/// One document of the index.
#[derive(Debug, Clone)]
struct Doc {
    key: String,
    stream: Option<String>,
    /// The free subject, or a stream's value subject.
    subject: Option<String>,
    key_subject: Option<String>,
    title: String,
    description: Option<String>,
    format: Option<String>,
    owner: Option<String>,
    domain: Option<String>,
    lifecycle: String,
    read_access: String,
    tags: Vec<String>,
    parts: Parts,
}

/// Rebuilds, in the caller's transaction, the documents that a change of `stream`
/// and/or `subject` may have changed: the stream's, the streams binding the subject,
/// and the free-subject documents of their subjects (before and after the change).
pub async fn refresh(
    conn: &mut AnyConnection,
    stream: Option<&str>,
    subject: Option<&str>,
) -> R<()> {
    let mut streams: BTreeSet<String> = stream.map(str::to_string).into_iter().collect();
    let mut subjects: BTreeSet<String> = subject.map(str::to_string).into_iter().collect();
    if let Some(subject) = subject {
        let rows =
            sqlx::query("SELECT name FROM streams WHERE key_subject = $1 OR value_subject = $1")
                .bind(subject)
                .fetch_all(&mut *conn)
                .await?;
        for r in rows {
            streams.insert(r.try_get("name")?);
        }
    }
    for s in &streams {
        subjects.extend(index_stream(conn, s).await?);
    }
    for s in &subjects {
        index_subject(conn, s).await?;
    }
    Ok(())
}

/// [`refresh`] for a registration, which has already read the streams `subject`
/// belongs to (by name; none for most subjects) and, when the new version is the
/// subject's latest, holds its schema and its parse (`latest`), which are then neither
/// read nor parsed again in the writers' lock.
pub async fn refresh_known(
    conn: &mut AnyConnection,
    streams: &[&str],
    subject: &str,
    latest: Option<Latest<'_>>,
) -> R<()> {
    let mut subjects: BTreeSet<String> = BTreeSet::new();
    for s in streams {
        subjects.extend(index_stream(conn, s).await?);
    }
    subjects.remove(subject);
    index_subject_bound(conn, subject, !streams.is_empty(), latest).await?;
    for s in &subjects {
        index_subject(conn, s).await?;
    }
    Ok(())
}

/// Rebuilds every document, in the caller's transaction.
pub async fn reindex_all(conn: &mut AnyConnection) -> R<()> {
    for table in ["catalog_tags", "catalog_details"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM catalog_docs")
        .execute(&mut *conn)
        .await?;
    if !is_postgres(conn) {
        sqlx::query("DELETE FROM catalog_fts")
            .execute(&mut *conn)
            .await?;
    }
    // Every node's copy of the documents is void (see `super::meta`).
    sqlx::query("DELETE FROM catalog_gone")
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE catalog_state SET rev = rev + 1, rebuilt_rev = rev + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    let streams: Vec<String> = sqlx::query("SELECT name FROM streams ORDER BY name")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("name"))
        .collect::<Result<_, _>>()?;
    for s in &streams {
        index_stream(conn, s).await?;
    }
    let subjects: Vec<String> = sqlx::query(
        "SELECT DISTINCT subject FROM subject_versions v WHERE deleted = 0 \
         AND NOT EXISTS (SELECT 1 FROM streams s WHERE s.key_subject = v.subject OR s.value_subject = v.subject) \
         ORDER BY subject",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("subject"))
    .collect::<Result<_, _>>()?;
    for s in &subjects {
        index_subject(conn, s).await?;
    }
    if is_postgres(conn) {
        // Fresh statistics, so that the planner neither misjudges the new rows nor pays
        // for JIT compiling the searches.
        sqlx::query("ANALYZE catalog_docs, catalog_details, catalog_tags")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE catalog_state SET built = 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Builds the whole index once, when it never was (the first start after the
/// migration, with streams and subjects already stored). Several nodes starting at
/// once serialise on the write transaction; the later ones find it built.
pub async fn ensure_built(store: &Store) -> R<()> {
    let built = |row: sqlx::any::AnyRow| -> R<bool> { Ok(row.try_get::<i64, _>("built")? != 0) };
    let row = sqlx::query("SELECT built FROM catalog_state WHERE id = 1")
        .fetch_one(store.reader())
        .await?;
    if built(row)? {
        return Ok(());
    }
    let mut w = store.begin_write().await?;
    let row = sqlx::query("SELECT built FROM catalog_state WHERE id = 1")
        .fetch_one(&mut *w.tx)
        .await?;
    if !built(row)? {
        reindex_all(&mut w.tx).await?;
    }
    w.commit().await?;
    Ok(())
}

/// The latest live schema of `subject` with its parts.
async fn subject_parts(
    conn: &mut AnyConnection,
    subject: &str,
) -> R<Option<(String, Extracted, Option<String>)>> {
    let Some(v) = q::latest_version(&mut *conn, subject, false).await? else {
        return Ok(None);
    };
    let Some(schema) = q::schema_row(&mut *conn, v.schema_id).await? else {
        return Ok(None);
    };
    Ok(Some(parts_from_row(conn, &schema).await?))
}

/// [`parts_of`] a stored schema, reading a Protobuf schema's references (Avro and JSON
/// Schema are read as JSON, without theirs).
async fn parts_from_row(
    conn: &mut AnyConnection,
    schema: &SchemaRecord,
) -> R<(String, Extracted, Option<String>)> {
    let references = match schema.format {
        SchemaFormat::Protobuf => reference_closure(conn, &schema.references).await?,
        _ => Vec::new(),
    };
    let parts = extract::schema(schema.format, &schema.schema, &references);
    Ok(parts_of(schema, parts))
}

/// What a subject's document takes from its latest schema: format, the fields, docs
/// and tags `parts` extracted from it, and the owner its metadata names.
fn parts_of(schema: &SchemaRecord, mut parts: Extracted) -> (String, Extracted, Option<String>) {
    let owner = extract::metadata(schema.metadata.as_ref(), &mut parts);
    (schema.format.as_str().to_string(), parts, owner)
}

/// At most this many referenced schemas are read for one indexed schema.
const MAX_REFERENCES: usize = 1_000;

/// The texts of `refs` and of everything they reference, each import name once (the
/// first version named wins, as in the registry's own resolution). Versions deleted
/// softly still count: the schema was registered with them. A reference that is gone
/// is left out, so the schema then indexes as far as it compiles (nothing, if it uses
/// the missing types).
async fn reference_closure(
    conn: &mut AnyConnection,
    refs: &[SchemaReference],
) -> R<Vec<Reference>> {
    let mut out: Vec<Reference> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut todo: Vec<SchemaReference> = refs.iter().rev().cloned().collect();
    while let Some(r) = todo.pop() {
        if out.len() >= MAX_REFERENCES || !seen.insert(r.name.clone()) {
            continue;
        }
        let Some(v) = q::version(&mut *conn, &r.subject, r.version).await? else {
            continue;
        };
        let Some(row) = q::schema_row(&mut *conn, v.schema_id).await? else {
            continue;
        };
        todo.extend(row.references.iter().rev().cloned());
        out.push(Reference::new(r.name, row.schema));
    }
    Ok(out)
}

/// Rebuilds the document of stream `name` (removing it if the stream is gone) and
/// returns its subjects before and after, whose free-subject documents may change.
async fn index_stream(conn: &mut AnyConnection, name: &str) -> R<Vec<String>> {
    let key = format!("s:{name}");
    let mut touched = Vec::new();
    if let Some(old) =
        sqlx::query("SELECT key_subject, subject FROM catalog_docs WHERE doc_key = $1")
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await?
    {
        touched.extend(old.try_get::<Option<String>, _>("key_subject")?);
        touched.extend(old.try_get::<Option<String>, _>("subject")?);
    }
    let row = sqlx::query(
        "SELECT key_subject, value_subject, owner_team, status, read_access FROM streams WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        delete_doc(conn, &key).await?;
        return Ok(touched);
    };
    let key_subject: String = row.try_get("key_subject")?;
    let value_subject: String = row.try_get("value_subject")?;
    touched.push(key_subject.clone());
    touched.push(value_subject.clone());
    let mut extracted = Extracted::default();
    let mut description = None;
    let mut domain = None;
    let contract = crate::governance::contract_row(&mut *conn, name, None).await?;
    if let Some((_, doc)) = contract {
        if let Ok(c) = Contract::from_value(doc) {
            description = contract_description(&c);
            domain = c.domain.clone().filter(|d| !d.trim().is_empty());
            c.tags.iter().for_each(|t| extracted.tag(t));
            for f in c.fields() {
                if let Some(leaf) = f.path.rsplit('.').next() {
                    extracted.field(leaf);
                }
                if let Some(d) = &f.description {
                    extracted.doc(d);
                }
                f.tags.iter().for_each(|t| extracted.tag(t));
            }
        }
    }
    let mut format = None;
    // The value schema first: its names rank as the stream's fields, its format is the
    // stream's.
    for subject in [&value_subject, &key_subject] {
        if let Some((fmt, parts, _)) = subject_parts(conn, subject).await? {
            format.get_or_insert(fmt);
            extracted.merge(parts);
        }
    }
    let mut subjects = vec![value_subject.clone()];
    if key_subject != value_subject {
        subjects.push(key_subject.clone());
    }
    let doc = Doc {
        key,
        stream: Some(name.to_string()),
        subject: Some(value_subject),
        key_subject: Some(key_subject),
        title: name.to_string(),
        description,
        format,
        owner: row.try_get("owner_team")?,
        domain,
        lifecycle: row.try_get("status")?,
        read_access: row.try_get("read_access")?,
        tags: extracted.tags,
        parts: Parts {
            subjects,
            fields: extracted.fields,
            docs: extracted.docs,
        },
    };
    write_doc(conn, &doc).await?;
    Ok(touched)
}

/// The contract's description as one text: purpose, usage, limitations.
fn contract_description(c: &Contract) -> Option<String> {
    let d = c.description.as_ref()?;
    let text: Vec<&str> = [&d.purpose, &d.usage, &d.limitations]
        .into_iter()
        .filter_map(|s| s.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!text.is_empty()).then(|| text.join("\n"))
}

/// Rebuilds the document of a subject bound to no stream; removes it when the subject
/// is bound to one or has no live version.
async fn index_subject(conn: &mut AnyConnection, subject: &str) -> R<()> {
    let bound = sqlx::query(
        "SELECT 1 AS one FROM streams WHERE key_subject = $1 OR value_subject = $1 LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    index_subject_bound(conn, subject, bound, None).await
}

/// A subject's latest schema as a registration holds it: the stored row and, unless
/// the import stored it unparsed, its parse.
pub type Latest<'a> = (&'a SchemaRecord, Option<&'a ParsedSchema>);

/// The document of a subject that belongs (`bound`) or not to a stream: only a free
/// subject has one of its own. Built from `latest` when the caller holds the subject's
/// latest schema.
async fn index_subject_bound(
    conn: &mut AnyConnection,
    subject: &str,
    bound: bool,
    latest: Option<Latest<'_>>,
) -> R<()> {
    let key = format!("u:{subject}");
    let parts = match (bound, latest) {
        (true, _) => None,
        (false, Some((schema, parsed))) => match parsed.and_then(extract::parsed) {
            Some(parts) => Some(parts_of(schema, parts)),
            None => Some(parts_from_row(conn, schema).await?),
        },
        (false, None) => subject_parts(conn, subject).await?,
    };
    let Some((format, extracted, owner)) = parts else {
        return delete_doc(conn, &key).await;
    };
    let doc = Doc {
        key,
        stream: None,
        subject: Some(subject.to_string()),
        key_subject: None,
        title: subject.to_string(),
        description: None,
        format: Some(format),
        owner,
        domain: None,
        lifecycle: "active".to_string(),
        read_access: "authenticated".to_string(),
        tags: extracted.tags,
        parts: Parts {
            subjects: vec![subject.to_string()],
            fields: extracted.fields,
            docs: extracted.docs,
        },
    };
    write_doc(conn, &doc).await
}

async fn delete_doc(conn: &mut AnyConnection, key: &str) -> R<()> {
    let id: Option<i64> = sqlx::query("SELECT id FROM catalog_docs WHERE doc_key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
    let Some(id) = id else { return Ok(()) };
    if !is_postgres(conn) {
        sqlx::query("DELETE FROM catalog_fts WHERE rowid = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    for table in ["catalog_tags", "catalog_details"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE doc_id = $1"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM catalog_docs WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    // The removal's revision, for the nodes' copies of the documents.
    sqlx::query(&format!(
        "INSERT INTO catalog_gone (rev, doc_id) VALUES ({NEXT_REV}, $1)"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(BUMP_REV).execute(&mut *conn).await?;
    Ok(())
}

/// The catalog's next revision (see migration 0019 and `super::meta`): what a document
/// written or removed in this statement is stamped with. [`BUMP_REV`] then makes it the
/// current one, later in the same transaction.
const NEXT_REV: &str = "(SELECT rev + 1 FROM catalog_state WHERE id = 1)";
/// Raises the catalog's revision to [`NEXT_REV`].
const BUMP_REV: &str = "UPDATE catalog_state SET rev = rev + 1 WHERE id = 1";

/// The searchable columns, in the FTS5 table's order (weights in `super::search`).
struct Columns {
    name: String,
    subjects: String,
    fields: String,
    docs: String,
    description: String,
    tags: String,
    owner: String,
}

impl Columns {
    /// The columns in the FTS5 table's order (and the tsvector's parameters').
    fn all(&self) -> [&str; 7] {
        [
            &self.name,
            &self.subjects,
            &self.fields,
            &self.docs,
            &self.description,
            &self.tags,
            &self.owner,
        ]
    }
}

fn columns(doc: &Doc) -> Columns {
    let strs = |v: &[String]| index_words(v.iter().map(String::as_str));
    Columns {
        name: index_words([doc.title.as_str()]),
        subjects: strs(&doc.parts.subjects),
        fields: strs(&doc.parts.fields),
        docs: strs(&doc.parts.docs),
        description: index_words(doc.description.as_deref()),
        tags: strs(&doc.tags),
        owner: index_words(doc.owner.as_deref()),
    }
}

/// PostgreSQL's weighted `tsvector` of a document, from parameters $14..$20 (the
/// searchable columns, in [`Columns`] order).
const TSV: &str =
    "setweight(to_tsvector('simple', $14), 'A') || setweight(to_tsvector('simple', $15), 'B') \
     || setweight(to_tsvector('simple', $16), 'B') || setweight(to_tsvector('simple', $17), 'D') \
     || setweight(to_tsvector('simple', $18), 'C') || setweight(to_tsvector('simple', $19), 'B') \
     || setweight(to_tsvector('simple', $20), 'C')";

/// A catalog_docs statement with the document's columns bound ($1..$13: the key, the
/// columns, `lowered` the lower-cased title, owner and domain among them) and, on
/// PostgreSQL, the tsvector's ($14..$20).
fn doc_query<'q>(
    sql: &'q str,
    doc: &'q Doc,
    lowered: &'q [Option<String>; 3],
    tsv: Option<[&'q str; 7]>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let [title_lc, owner_lc, domain_lc] = lowered.each_ref().map(Option::as_deref);
    let mut query = sqlx::query(sql)
        .bind(&doc.key)
        .bind(doc.stream.as_deref())
        .bind(doc.subject.as_deref())
        .bind(doc.key_subject.as_deref())
        .bind(&doc.title)
        .bind(title_lc)
        .bind(doc.format.as_deref())
        .bind(doc.owner.as_deref())
        .bind(owner_lc)
        .bind(doc.domain.as_deref())
        .bind(domain_lc)
        .bind(&doc.lifecycle)
        .bind(&doc.read_access);
    for c in tsv.into_iter().flatten() {
        query = query.bind(c);
    }
    query
}

/// Writes `doc`: an existing document is updated in place (its id, and so its FTS
/// rowid, kept), a new one inserted. Both statements of each table take the same
/// parameters in the same order.
async fn write_doc(conn: &mut AnyConnection, doc: &Doc) -> R<()> {
    let pg = is_postgres(conn);
    let cols = columns(doc);
    // $1..$13 the document's columns ($1 its key), $14..$20 (PostgreSQL) the tsvector's.
    // An existing document is updated in place (one statement that says whether there
    // was one); a new one is inserted.
    let update = format!(
        "UPDATE catalog_docs SET stream = $2, subject = $3, key_subject = $4, \
         title = $5, title_lc = $6, format = $7, owner = $8, owner_lc = $9, domain = $10, \
         domain_lc = $11, lifecycle = $12, read_access = $13, rev = {NEXT_REV}{} WHERE doc_key = $1 \
         RETURNING id, (SELECT tags FROM catalog_details WHERE doc_id = catalog_docs.id) AS old_tags",
        if pg {
            format!(", tsv = {TSV}")
        } else {
            String::new()
        },
    );
    let insert = format!(
        "INSERT INTO catalog_docs (doc_key, stream, subject, key_subject, title, title_lc, \
         format, owner, owner_lc, domain, domain_lc, lifecycle, read_access, rev{}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {NEXT_REV}{}) RETURNING id",
        if pg { ", tsv" } else { "" },
        if pg {
            format!(", {TSV}")
        } else {
            String::new()
        }
    );
    let lowered = [Some(&doc.title), doc.owner.as_ref(), doc.domain.as_ref()]
        .map(|s| s.map(|s| s.to_lowercase()));
    let tsv = pg.then(|| cols.all());
    let bound = |sql| doc_query(sql, doc, &lowered, tsv);
    // An existing document also gives its stored tags: the tag rows are rewritten only
    // when those change.
    let existing: Option<(i64, Option<String>)> = bound(&update)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("id")?, r.try_get("old_tags")?)))
        .transpose()?;
    let id = match &existing {
        Some((id, _)) => *id,
        None => bound(&insert).fetch_one(&mut *conn).await?.try_get("id")?,
    };
    let tags = serde_json::to_string(&doc.tags).map_err(ApiError::internal)?;
    let parts = serde_json::to_string(&doc.parts).map_err(ApiError::internal)?;
    let tags_changed = existing
        .as_ref()
        .is_none_or(|(_, old)| old.as_deref() != Some(tags.as_str()));
    // $1 the id, $2..$4 the details, $5..$11 (SQLite) the FTS5 columns; on SQLite the
    // details, the FTS5 row, the old tags' removal and the revision's raise go in one
    // round trip; on PostgreSQL the raise rides on the details' statement.
    let mut sql = if pg {
        format!("WITH bump AS ({BUMP_REV}) ")
    } else {
        String::new()
    };
    sql.push_str(match existing {
        Some(_) => {
            "UPDATE catalog_details SET description = $2, tags = $3, parts = $4 WHERE doc_id = $1"
        }
        None => {
            "INSERT INTO catalog_details (doc_id, description, tags, parts) VALUES ($1, $2, $3, $4)"
        }
    });
    if !pg {
        sql.push_str(match existing {
            Some(_) => "; UPDATE catalog_fts SET name = $5, subjects = $6, fields = $7, docs = $8, \
                 description = $9, tags = $10, owner = $11 WHERE rowid = $1",
            None => "; INSERT INTO catalog_fts (rowid, name, subjects, fields, docs, description, tags, owner) \
                 VALUES ($1, $5, $6, $7, $8, $9, $10, $11)",
        });
    }
    let remove_tags = existing.is_some() && tags_changed;
    if remove_tags && !pg {
        sql.push_str("; DELETE FROM catalog_tags WHERE doc_id = $1");
    }
    if !pg {
        sql.push_str("; ");
        sql.push_str(BUMP_REV);
    }
    let mut query = sqlx::query(&sql)
        .bind(id)
        .bind(doc.description.as_deref())
        .bind(tags)
        .bind(parts);
    if !pg {
        for c in cols.all() {
            query = query.bind(c.to_string());
        }
    }
    query.execute(&mut *conn).await?;
    if remove_tags && pg {
        sqlx::query("DELETE FROM catalog_tags WHERE doc_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if !tags_changed {
        return Ok(());
    }
    for t in &doc.tags {
        sqlx::query(
            "INSERT INTO catalog_tags (doc_id, tag, tag_lc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(t)
        .bind(t.to_lowercase())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
