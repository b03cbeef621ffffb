//! The one error type of the HTTP layer and the one table that maps it to Confluent's
//! HTTP status and `error_code`.
//!
//! Handlers return `Result<T, ApiError>` and never build error responses by hand; the
//! body is always Confluent's `{"error_code": N, "message": "..."}`. Internal errors are
//! logged with their detail and returned without it. Confluent's media types and
//! [`json_response`] live here too, below the HTTP layer, because the error body is
//! one such response; `api` re-exports them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Confluent's preferred response media type.
pub const VND_V1: &str = "application/vnd.schemaregistry.v1+json";
/// Confluent's unversioned media type.
pub const VND: &str = "application/vnd.schemaregistry+json";

/// A JSON response with Confluent's media type (renegotiated in `api::outer`).
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(VND_V1))],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Confluent's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error_code: u32,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // 4xx from the HTTP layer (rest-utils' mappers in Confluent).
    #[error("{0}")]
    MalformedBody(String),
    #[error("HTTP 404 Not Found")]
    RouteNotFound,
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    #[error("Request body is larger than the configured limit (--max-body-bytes)")]
    PayloadTooLarge,
    #[error("Unsupported Content-Type '{0}'; send application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json or application/json")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),

    // Registry errors (Confluent's table, confluent-compat.md §2).
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema not found")]
    SchemaNotFoundUnderSubject,
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error("Subject '{0}' Version {1} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted(String, i64),
    #[error("Subject '{0}' Version {1} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted(String, i64),
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", details.join(", "))]
    Incompatible {
        subject: String,
        details: Vec<String>,
    },
    #[error("{0}")]
    VersionConflict(String),
    #[error("{0}")]
    InvalidSchema(String),
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibilityLevel,
    #[error("Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")]
    InvalidMode,
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("One or more references exist to the schema {{subject={subject},version={version}}}.")]
    ReferenceExists { subject: String, version: i64 },
    #[error("The specified subject '{0}' is not a valid.")]
    InvalidSubject(String),
    #[error("{0}")]
    InvalidRuleSet(String),
    #[error("The specified context '{0}' is not empty.")]
    ContextNotEmpty(String),
    /// A parse or compatibility check exceeded its work budget (see `crate::work`).
    #[error("Schema too complex: {0}")]
    SchemaTooComplex(String),

    // Identity and access (Accord's own codes where Confluent has none).
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Principal '{0}' not found")]
    PrincipalNotFound(String),
    #[error("API key '{0}' not found")]
    KeyNotFound(String),
    #[error("Principal '{0}' already exists")]
    PrincipalExists(String),
    #[error("Principal '{0}' is the last enabled admin: make another admin first")]
    LastAdmin(String),

    // Streams and data contracts (Accord's own codes, in ranges Confluent leaves free:
    // 404xx 20s, 409xx 20s, 422xx 20s, 403xx 20s).
    #[error("Stream '{0}' not found")]
    StreamNotFound(String),
    #[error("Contract version {version} of stream '{stream}' not found")]
    ContractVersionNotFound { stream: String, version: i64 },
    #[error("Consumer '{service}' of stream '{stream}' not found")]
    ConsumerNotFound { stream: String, service: String },
    #[error("Stream '{0}' has no producer")]
    ProducerNotFound(String),
    #[error("Stream '{stream}' is deprecated{}{}: new consumers are refused", successor.as_ref().map(|s| format!("; use its successor '{s}'")).unwrap_or_default(), sunset.as_ref().map(|d| format!(" (sunset {d})")).unwrap_or_default())]
    StreamDeprecated {
        stream: String,
        successor: Option<String>,
        sunset: Option<String>,
    },
    #[error("{0}")]
    ConsumerRefused(String),
    /// A consuming service is registered by another team: it stays that team's.
    #[error("{0}")]
    ConsumerTaken(String),
    #[error("Invalid contract:\n{}", .0.join("\n"))]
    InvalidContract(Vec<String>),
    #[error("Schema being registered violates the lint rules of the contract of stream \"{stream}\" (subject \"{subject}\"), details: [{}]", findings.join(", "))]
    LintViolation {
        subject: String,
        stream: String,
        findings: Vec<String>,
    },

    // Breaking-change proposals (see `crate::proposals`).
    #[error("Proposal '{0}' not found")]
    ProposalNotFound(String),
    #[error(
        "Proposal {id} is {status}: only an open proposal may be reviewed, released or withdrawn"
    )]
    ProposalClosed { id: i64, status: String },
    #[error("Proposal {id} is not approved by every impacted consumer (pending: {}): release it when they all approve, or force it with a written reason", pending.join(", "))]
    ProposalNotApproved { id: i64, pending: Vec<String> },

    // Webhook subscriptions (see `crate::webhooks`).
    #[error("Webhook subscription '{0}' not found")]
    WebhookNotFound(String),
    #[error("{0}")]
    InvalidWebhook(String),
    #[error("Webhook subscription '{webhook}' has no delivery of event {seq} (never matched, or pruned)")]
    WebhookDeliveryNotFound { webhook: String, seq: i64 },
    #[error("The delivery of event {seq} to webhook '{webhook}' is pending: it is being retried already")]
    WebhookDeliveryPending { webhook: String, seq: i64 },

    // DEK registry (Confluent's 404/409/422 70s) and Accord's per-entity keys and
    // shredding (see `crate::dek`).
    #[error("Key '{0}' not found")]
    DekKeyNotFound(String),
    #[error("Key '{0}' was not deleted first before being permanently deleted")]
    DekKeyNotSoftDeleted(String),
    #[error("Key '{0}' must be undeleted first")]
    DekKeyMustUndelete(String),
    #[error("Key '{0}' already exists; use a different value")]
    DekKeyExists(String),
    #[error("Too many keys: at most {0} keys may exist")]
    DekTooManyKeys(usize),
    #[error("Invalid or missing value for field '{field}' of key{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    DekInvalidKey { field: String, detail: String },
    #[error("{0}")]
    DekReferencesExist(String),
    #[error("{0}")]
    KmsAccessDenied(String),
    #[error("Key material for {0} was shredded")]
    KeyShredded(String),
    #[error("{0}")]
    BatchTooLarge(String),
    #[error("Error while generating or wrapping a key with the KMS: {0}")]
    DekGeneration(String),

    // Observed usage (see `crate::usage`).
    #[error("{0}")]
    NotObserved(String),
    #[error("{what} was read in the last {days} days by {}: delete it with force=true if they no longer need it", list_names(readers))]
    InUse {
        what: String,
        readers: Vec<String>,
        days: u32,
    },

    // 5xx.
    #[error("Error while talking to the storage backend; try again")]
    StoreUnavailable,
    #[error("The registry's storage is full: nothing of this request was stored. Free space on the database's disk (or raise --sqlite-max-pages) and retry")]
    StorageFull,
    #[error("The request did not complete within {0} ms (--request-timeout-ms), most likely because the database stopped answering; try again")]
    OperationTimeout(u128),
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The one table: (HTTP status, Confluent `error_code`).
    pub fn status_and_code(&self) -> (StatusCode, u32) {
        use ApiError::*;
        match self {
            MalformedBody(_) => (StatusCode::BAD_REQUEST, 400),
            RouteNotFound => (StatusCode::NOT_FOUND, 404),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 405),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 413),
            UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 415),
            Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, 422),
            SubjectNotFound(_) => (StatusCode::NOT_FOUND, 40401),
            VersionNotFound(_) => (StatusCode::NOT_FOUND, 40402),
            SchemaNotFoundUnderSubject | SchemaNotFound(_) => (StatusCode::NOT_FOUND, 40403),
            SubjectSoftDeleted(_) => (StatusCode::NOT_FOUND, 40404),
            SubjectNotSoftDeleted(_) => (StatusCode::NOT_FOUND, 40405),
            VersionSoftDeleted(..) => (StatusCode::NOT_FOUND, 40406),
            VersionNotSoftDeleted(..) => (StatusCode::NOT_FOUND, 40407),
            SubjectConfigNotFound(_) => (StatusCode::NOT_FOUND, 40408),
            SubjectModeNotFound(_) => (StatusCode::NOT_FOUND, 40409),
            Incompatible { .. } => (StatusCode::CONFLICT, 40901),
            VersionConflict(_) => (StatusCode::CONFLICT, 409),
            InvalidSchema(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            InvalidVersion(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            InvalidCompatibilityLevel => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            InvalidMode => (StatusCode::UNPROCESSABLE_ENTITY, 42204),
            OperationNotPermitted(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42205),
            ReferenceExists { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42206),
            InvalidSubject(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42208),
            InvalidRuleSet(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42210),
            ContextNotEmpty(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42211),
            // Accord's own (Confluent has no such limit).
            SchemaTooComplex(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42240),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, 401),
            Forbidden(_) => (StatusCode::FORBIDDEN, 40301),
            PrincipalNotFound(_) => (StatusCode::NOT_FOUND, 40450),
            KeyNotFound(_) => (StatusCode::NOT_FOUND, 40451),
            PrincipalExists(_) => (StatusCode::CONFLICT, 40950),
            LastAdmin(_) => (StatusCode::CONFLICT, 40951),
            StreamNotFound(_) => (StatusCode::NOT_FOUND, 40420),
            ContractVersionNotFound { .. } => (StatusCode::NOT_FOUND, 40421),
            ConsumerNotFound { .. } => (StatusCode::NOT_FOUND, 40422),
            ProducerNotFound(_) => (StatusCode::NOT_FOUND, 40423),
            StreamDeprecated { .. } => (StatusCode::CONFLICT, 40920),
            ConsumerRefused(_) => (StatusCode::FORBIDDEN, 40320),
            ConsumerTaken(_) => (StatusCode::CONFLICT, 40923),
            InvalidContract(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42220),
            LintViolation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42221),
            ProposalNotFound(_) => (StatusCode::NOT_FOUND, 40424),
            ProposalClosed { .. } => (StatusCode::CONFLICT, 40921),
            ProposalNotApproved { .. } => (StatusCode::CONFLICT, 40922),
            WebhookNotFound(_) => (StatusCode::NOT_FOUND, 40430),
            InvalidWebhook(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42230),
            WebhookDeliveryNotFound { .. } => (StatusCode::NOT_FOUND, 40431),
            WebhookDeliveryPending { .. } => (StatusCode::CONFLICT, 40930),
            InUse { .. } => (StatusCode::CONFLICT, 40940),
            NotObserved(_) => (StatusCode::NOT_FOUND, 40440),
            DekKeyNotFound(_) => (StatusCode::NOT_FOUND, 40470),
            DekKeyNotSoftDeleted(_) => (StatusCode::NOT_FOUND, 40471),
            DekKeyMustUndelete(_) => (StatusCode::NOT_FOUND, 40472),
            DekKeyExists(_) => (StatusCode::CONFLICT, 40971),
            DekTooManyKeys(_) => (StatusCode::CONFLICT, 40972),
            DekInvalidKey { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42271),
            DekReferencesExist(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42272),
            KmsAccessDenied(_) => (StatusCode::FORBIDDEN, 40370),
            KeyShredded(_) => (StatusCode::GONE, 41070),
            BatchTooLarge(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42200),
            DekGeneration(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50070),
            // 503 rather than Confluent's 500: both clients retry 503 and fail over to
            // another node, which is what a database outage calls for.
            StoreUnavailable => (StatusCode::SERVICE_UNAVAILABLE, 50001),
            // Accord's own: 507 says what is wrong (retrying elsewhere will not help
            // until space is freed), and the write was not acknowledged.
            StorageFull => (StatusCode::INSUFFICIENT_STORAGE, 50701),
            // Confluent's "operation timeout" code, with 503 so clients retry.
            OperationTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, 50002),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 500),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        let class = match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreFault::Unavailable,
            sqlx::Error::Database(db) => classify(db.as_ref()),
            _ => StoreFault::Other,
        };
        match class {
            StoreFault::Full => {
                tracing::warn!(error = %err, "storage full");
                ApiError::StorageFull
            }
            StoreFault::Unavailable => {
                tracing::warn!(error = %err, "storage unavailable");
                ApiError::StoreUnavailable
            }
            StoreFault::Other => ApiError::Internal(err.into()),
        }
    }
}

/// What a database error means for the request.
#[derive(Debug, PartialEq, Eq)]
enum StoreFault {
    /// The database cannot grow: SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`.
    Full,
    /// The database is there but cannot serve now.
    Unavailable,
    Other,
}

/// SQLite reports extended result codes (the primary code in the low byte); PostgreSQL
/// reports SQLSTATEs.
fn classify(db: &dyn sqlx::error::DatabaseError) -> StoreFault {
    let Some(code) = db.code() else {
        return StoreFault::Other;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return match code.parse::<i32>().map(|c| c & 0xff) {
            // SQLITE_FULL
            Ok(13) => StoreFault::Full,
            // BUSY, LOCKED, READONLY (e.g. a file system remounted read-only), IOERR,
            // CANTOPEN
            Ok(5 | 6 | 8 | 10 | 14) => StoreFault::Unavailable,
            _ => StoreFault::Other,
        };
    }
    pg_fault(&code)
}

/// PostgreSQL: class 08 (connection), 53 (resources; 53100 is a full disk), 57
/// (operator intervention: shutdown, and `statement_timeout` as 57014), 55P03
/// (`lock_timeout`), 25P03 (`idle_in_transaction_session_timeout`), 40001/40P01
/// (serialisation failure, deadlock: retry).
fn pg_fault(code: &str) -> StoreFault {
    if code == "53100" {
        StoreFault::Full
    } else if code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || matches!(code, "55P03" | "25P03" | "40001" | "40P01")
    {
        StoreFault::Unavailable
    } else {
        StoreFault::Other
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_code) = self.status_and_code();
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = ?err, "internal error");
        }
        let body = ErrorBody {
            error_code,
            message: self.to_string(),
        };
        json_response(status, &body)
    }
}

/// At most ten names, then how many more.
fn list_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_codes_map_to_their_fault() {
        assert_eq!(pg_fault("53100"), StoreFault::Full);
        for code in [
            "08006", "53300", "57014", "57P01", "55P03", "25P03", "40001",
        ] {
            assert_eq!(pg_fault(code), StoreFault::Unavailable, "{code}");
        }
        assert_eq!(pg_fault("23505"), StoreFault::Other);
        assert_eq!(
            ApiError::StorageFull.status_and_code(),
            (StatusCode::INSUFFICIENT_STORAGE, 50701)
        );
    }
}
