//! The one error type of the crate. Callers match on variants ("not found",
//! "incompatible", "bad frame") instead of parsing strings.

/// Everything that can go wrong in the client, by cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The registry answered with an error body (status and Confluent `error_code`).
    #[error("registry error {status} (error_code {error_code}): {message}")]
    Registry {
        status: u16,
        error_code: i64,
        message: String,
    },
    /// No registry URL could be reached (after retries and fail-over).
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    /// The registry's answer was not what the API promises.
    #[error("unexpected registry response: {0}")]
    BadResponse(String),
    /// Configuration that cannot work (bad URL, unreadable CA file, ...).
    #[error("client configuration: {0}")]
    Config(String),
    /// A framed record that cannot be read: wrong magic byte, truncated, bad indexes.
    #[error("malformed frame: {0}")]
    Frame(String),
    /// A value that does not match its schema, or bytes that do not decode with it.
    #[error("serialization: {0}")]
    Serialization(String),
    /// The schema itself could not be used (does not parse, wrong type for the value).
    #[error("schema: {0}")]
    Schema(String),
    /// A data-contract rule refused the value.
    #[error("rule '{rule}' failed: {message}")]
    Rule { rule: String, message: String },
    /// The key material of a subject (or of one entity under it) was shredded on purpose:
    /// the data it protected cannot be read any more. Distinct from "not found".
    #[error("key material for subject '{subject}'{} was shredded", entity_suffix(.entity))]
    Shredded {
        subject: String,
        entity: Option<String>,
    },
    /// A data-encryption key could not be obtained or used: the KMS refused or failed,
    /// the key is missing (readers never create one), its material is malformed, or a
    /// ciphertext does not authenticate. Messages never carry key material.
    #[error("encryption: {0}")]
    Encryption(String),
}

fn entity_suffix(entity: &Option<String>) -> String {
    entity
        .as_deref()
        .map(|e| format!(" (entity '{e}')"))
        .unwrap_or_default()
}

impl ClientError {
    /// Confluent's `error_code` when the registry answered with one.
    pub fn error_code(&self) -> Option<i64> {
        match self {
            ClientError::Registry { error_code, .. } => Some(*error_code),
            _ => None,
        }
    }

    /// "Subject, version or schema not found" (40401/40402/40403).
    pub fn is_not_found(&self) -> bool {
        matches!(self.error_code(), Some(40401..=40403))
    }

    /// Key material was shredded ([`ClientError::Shredded`]).
    pub fn is_shredded(&self) -> bool {
        matches!(self, ClientError::Shredded { .. })
    }

    /// The registry refused a schema as incompatible (409).
    pub fn is_incompatible(&self) -> bool {
        matches!(self, ClientError::Registry { status: 409, .. })
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// An error with its chain of causes on one line ("error sending request: connection
/// refused"), because an HTTP or TLS library's own message alone rarely says what went
/// wrong.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
