//! Exit codes and the one error type every subcommand returns.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | ok |
//! | 1 | incompatible, lint errors, or the registry refused the change (409/422) |
//! | 2 | usage or configuration error (bad flags, unreadable or invalid files, bad manifest, not found) |
//! | 3 | registry unreachable, or authentication/authorisation failure |

use std::fmt;
use std::process::ExitCode;

/// What a subcommand that ran to the end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: an incompatibility, a lint error, or a change the registry refused.
    Failed,
}

/// A subcommand that could not run to the end. The message is one line that names the
/// cause; `main` prints it as `accord: <message>`.
#[derive(Debug)]
pub enum CliError {
    /// Exit 1: the registry refused the change itself (409 incompatible, 422 invalid).
    Refused(String),
    /// Exit 2: bad flags, an unreadable or invalid file, a bad manifest, a missing subject.
    Usage(String),
    /// Exit 3: no answer from the registry (refused connection, DNS, timeout, TLS).
    Unreachable(String),
    /// Exit 3: the registry answered 401 or 403.
    Auth(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn code(&self) -> u8 {
        match self {
            CliError::Refused(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) | CliError::Auth(_) => 3,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Refused(m)
            | CliError::Usage(m)
            | CliError::Unreachable(m)
            | CliError::Auth(m) => f.write_str(m),
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
        }
    }
}

pub type CliResult = Result<Outcome, CliError>;
