//! Schema contexts, as Confluent has them (confluent-compat.md §1.1).
//!
//! A subject qualified as `:.ctx:orders` lives in context `.ctx`; an unqualified subject
//! (or one qualified `:.:`) lives in the default context `.`. Subjects of a non-default
//! context are stored qualified, default ones unqualified, so a subject string names one
//! subject everywhere.
//!
//! Schema ids are allocated per context. A context gets a number when its first subject
//! is registered (the default context is 0), and a stored id carries it in its high 32
//! bits: stored = (number << 32) | the id clients see. The default context's stored ids
//! are the ids clients see; [`public_id`] turns any stored id into the id to answer with,
//! and [`stored_id`] turns a client's id and its context back.

use crate::error::ApiError;
use sqlx::{Any, Executor, Row};

/// The default context's name.
pub const DEFAULT: &str = ".";
/// The special context whose config and mode apply below every other (`:.__GLOBAL:`).
pub const GLOBAL_CONTEXT: &str = ".__GLOBAL";
/// The subject prefix that selects every context in listings.
pub const WILDCARD: &str = ":*:";

const SHIFT: u32 = 32;
const LOW: i64 = 0xFFFF_FFFF;

/// The id a client sees for a stored id.
pub fn public_id(stored: i64) -> i64 {
    stored & LOW
}

/// The stored id of a client's `id` in the context numbered `no`.
pub fn stored_id(no: i64, id: i64) -> i64 {
    (no << SHIFT) | (id & LOW)
}

/// The range of stored ids of context `no`: `base < id < base + 2^32`.
pub fn id_base(no: i64) -> i64 {
    no << SHIFT
}

/// The context number a stored id belongs to.
pub fn context_no_of(stored: i64) -> i64 {
    stored >> SHIFT
}

/// A subject split into its context (`.`, `.ctx`) and its name within the context.
/// `:*:name` has the context `*`.
pub fn split(subject: &str) -> (&str, &str) {
    if let Some(rest) = subject.strip_prefix(":.") {
        match rest.find(':') {
            // ":" + "." + context name, then the subject after the closing colon.
            Some(i) => (&subject[1..i + 2], &rest[i + 1..]),
            None => (&subject[1..], ""),
        }
    } else if let Some(rest) = subject.strip_prefix(WILDCARD) {
        ("*", rest)
    } else {
        (DEFAULT, subject)
    }
}

/// The context of a subject (`.` for an unqualified one).
pub fn of(subject: &str) -> &str {
    split(subject).0
}

/// The subject as stored: `:.:x` is `x`; anything else is kept.
pub fn canonical(subject: &str) -> &str {
    subject.strip_prefix(":.:").unwrap_or(subject)
}

/// `subject` qualified with `context` unless it names a context itself (how Confluent
/// resolves an unqualified reference, or a subject in a context-scoped URL).
pub fn qualify(context: &str, subject: &str) -> String {
    if subject.starts_with(":.") || subject.starts_with(WILDCARD) || context == DEFAULT {
        canonical(subject).to_string()
    } else {
        format!(":{context}:{subject}")
    }
}

/// The prefix of subjects in `context` (`""` for the default one).
pub fn prefix(context: &str) -> String {
    if context == DEFAULT {
        String::new()
    } else {
        format!(":{context}:")
    }
}

/// A context name as a client wrote it (`ctx`, `.ctx`, `:.ctx:`) in Confluent's form
/// (`.ctx`); a name with a colon inside is 400, as Confluent answers.
pub fn normalize(raw: &str) -> Result<String, ApiError> {
    let mut c = raw.strip_prefix(':').unwrap_or(raw);
    c = c.strip_suffix(':').unwrap_or(c);
    if c.contains(':') {
        return Err(ApiError::MalformedBody(
            "Context name cannot contain a colon".to_string(),
        ));
    }
    if c.chars().any(char::is_control) {
        return Err(ApiError::MalformedBody(format!(
            "Context name '{}' contains a control character",
            c.escape_debug()
        )));
    }
    Ok(if c.starts_with('.') {
        c.to_string()
    } else {
        format!(".{c}")
    })
}

/// Whether `subject` belongs to the selection a listing's `subjectPrefix` makes:
/// `:*:p` selects every context (subjects whose own name starts with `p`), `:.ctx:p` the
/// context `.ctx`, and an unqualified `p` the default context.
pub fn prefix_matches(prefix: &str, subject: &str) -> bool {
    let (pctx, pname) = split(prefix);
    let (sctx, sname) = split(subject);
    (pctx == "*" || pctx == sctx) && sname.starts_with(pname)
}

/// The number of a context, if it has one.
pub async fn number<'e, E: Executor<'e, Database = Any>>(
    e: E,
    context: &str,
) -> Result<Option<i64>, ApiError> {
    if context == DEFAULT {
        return Ok(Some(0));
    }
    let row = sqlx::query("SELECT no FROM contexts WHERE name = $1")
        .bind(context)
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("no")).transpose()?)
}

/// The number of a context, numbering it now if it has none (inside a write
/// transaction, which holds the writers' lock).
pub async fn ensure(conn: &mut sqlx::AnyConnection, context: &str) -> Result<i64, ApiError> {
    if let Some(no) = number(&mut *conn, context).await? {
        return Ok(no);
    }
    let next: i64 = sqlx::query("SELECT COALESCE(MAX(no), 0) + 1 AS n FROM contexts")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    // 2^31 contexts keep every stored id within a positive i64.
    if next >= 1 << 31 {
        return Err(ApiError::MalformedBody("Too many contexts".to_string()));
    }
    sqlx::query("INSERT INTO contexts (no, name, created_ms) VALUES ($1, $2, $3)")
        .bind(next)
        .bind(context)
        .bind(crate::registry::now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(next)
}

/// The name of the context numbered `no`.
pub async fn name<'e, E: Executor<'e, Database = Any>>(e: E, no: i64) -> Result<String, ApiError> {
    if no == 0 {
        return Ok(DEFAULT.to_string());
    }
    let row = sqlx::query("SELECT name FROM contexts WHERE no = $1")
        .bind(no)
        .fetch_optional(e)
        .await?;
    Ok(row
        .map(|r| r.try_get::<String, _>("name"))
        .transpose()?
        .unwrap_or_else(|| DEFAULT.to_string()))
}

/// Every context: the default one first, then the others by name.
pub async fn all<'e, E: Executor<'e, Database = Any>>(e: E) -> Result<Vec<String>, ApiError> {
    // Deleted contexts keep their row under a name no context can have (see `remove`).
    let rows = sqlx::query("SELECT name FROM contexts WHERE name NOT LIKE '#%' ORDER BY name")
        .fetch_all(e)
        .await?;
    let mut out = vec![DEFAULT.to_string()];
    for r in rows {
        out.push(r.try_get("name")?);
    }
    Ok(out)
}

/// Forgets a context (its subjects are gone); its number is not given out again, so
/// ids of its schemas stay unique.
pub async fn remove(conn: &mut sqlx::AnyConnection, context: &str) -> Result<bool, ApiError> {
    // The row stays, renamed out of the way, so that the number is never reused and
    // the stored ids of the context's old schemas stay unique.
    let res = sqlx::query("UPDATE contexts SET name = $1 WHERE name = $2")
        .bind(format!("#deleted:{}:{context}", crate::registry::now_ms()))
        .bind(context)
        .execute(&mut *conn)
        .await?;
    Ok(res.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_qualified_subjects() {
        assert_eq!(split("orders"), (".", "orders"));
        assert_eq!(split(":.:orders"), (".", "orders"));
        assert_eq!(split(":.eu:orders"), (".eu", "orders"));
        assert_eq!(split(":.eu:"), (".eu", ""));
        assert_eq!(split(":.eu"), (".eu", ""));
        assert_eq!(split(":*:ord"), ("*", "ord"));
        assert_eq!(qualify(".eu", "b"), ":.eu:b");
        assert_eq!(qualify(".eu", ":.us:b"), ":.us:b");
        assert_eq!(qualify(".", ":.:b"), "b");
    }

    #[test]
    fn ids_carry_their_context() {
        let s = stored_id(3, 7);
        assert_eq!(public_id(s), 7);
        assert_eq!(context_no_of(s), 3);
        assert_eq!(stored_id(0, 42), 42);
        assert!(s > id_base(3) && s < id_base(4));
    }

    #[test]
    fn prefixes_select_contexts() {
        assert!(prefix_matches(":*:", ":.eu:a"));
        assert!(prefix_matches(":*:", "a"));
        assert!(prefix_matches(":*:a", ":.eu:ab"));
        assert!(!prefix_matches(":*:b", ":.eu:ab"));
        assert!(prefix_matches(":.eu:", ":.eu:a"));
        assert!(!prefix_matches(":.eu:", "a"));
        assert!(prefix_matches("", "a"));
        assert!(!prefix_matches("", ":.eu:a"));
        assert!(prefix_matches("a", "ab"));
        assert!(prefix_matches(":.:a", "ab"));
    }

    #[test]
    fn context_names_normalize() {
        assert_eq!(normalize("eu").unwrap(), ".eu");
        assert_eq!(normalize(".eu").unwrap(), ".eu");
        assert_eq!(normalize(":.eu:").unwrap(), ".eu");
        assert!(normalize("e:u").is_err());
        assert_eq!(normalize(".").unwrap(), ".");
    }
}
