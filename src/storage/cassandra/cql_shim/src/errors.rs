//! Result codes of the C ABI and the mapping from driver errors onto them.
//!
//! The codes mirror `include/cql_shim.h`. The classification decides what
//! the C++ side tells its callers to do (retry, fix the request, give up), so
//! it errs towards "transient" only for errors another attempt can fix.

use scylla::errors::{
    ConnectionPoolError, DbError, ExecutionError, NewSessionError, PrepareError,
    RequestAttemptError,
};

pub const CQL_OK: i32 = 0;
pub const CQL_ERR_TIMEOUT: i32 = 1;
pub const CQL_ERR_UNAVAILABLE: i32 = 2;
pub const CQL_ERR_INVALID_QUERY: i32 = 3;
pub const CQL_ERR_UNAUTHORIZED: i32 = 4;
pub const CQL_ERR_BAD_CREDENTIALS: i32 = 5;
pub const CQL_ERR_INVALID_ARGUMENT: i32 = 6;
pub const CQL_ERR_NULL: i32 = 7;
pub const CQL_ERR_OTHER: i32 = 8;

/// An error on its way to C: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimError {
    pub code: i32,
    pub message: String,
}

impl ShimError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(CQL_ERR_INVALID_ARGUMENT, message)
    }
}

/// Classifies a server-side error.
pub fn db_error_code(error: &DbError) -> i32 {
    match error {
        DbError::ReadTimeout { .. } | DbError::WriteTimeout { .. } => CQL_ERR_TIMEOUT,
        // ReadFailure/WriteFailure: a replica failed (e.g. it does not know
        // the table yet after a restart). Another attempt, or another
        // replica set, may succeed; persistent causes surface as repeated
        // UNAVAILABLE, which is still the right advice ("back off").
        DbError::Unavailable { .. }
        | DbError::Overloaded
        | DbError::IsBootstrapping
        | DbError::TruncateError
        | DbError::RateLimitReached { .. }
        | DbError::ReadFailure { .. }
        | DbError::WriteFailure { .. } => CQL_ERR_UNAVAILABLE,
        DbError::SyntaxError
        | DbError::Invalid
        | DbError::AlreadyExists { .. }
        | DbError::ConfigError => CQL_ERR_INVALID_QUERY,
        DbError::Unauthorized => CQL_ERR_UNAUTHORIZED,
        DbError::AuthenticationError => CQL_ERR_BAD_CREDENTIALS,
        _ => CQL_ERR_OTHER,
    }
}

fn attempt_error_code(error: &RequestAttemptError) -> i32 {
    match error {
        RequestAttemptError::DbError(db, _) => db_error_code(db),
        RequestAttemptError::SerializationError(_)
        | RequestAttemptError::CqlRequestSerialization(_) => CQL_ERR_INVALID_QUERY,
        RequestAttemptError::UnableToAllocStreamId
        | RequestAttemptError::BrokenConnectionError(_) => CQL_ERR_UNAVAILABLE,
        _ => CQL_ERR_OTHER,
    }
}

fn pool_error_code(_error: &ConnectionPoolError) -> i32 {
    // Every pool error means "no usable connection to that node right now";
    // the driver keeps reconnecting in the background.
    CQL_ERR_UNAVAILABLE
}

pub fn prepare_error_code(error: &PrepareError) -> i32 {
    match error {
        PrepareError::ConnectionPoolError(e) => pool_error_code(e),
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_error_code(first_attempt),
        _ => CQL_ERR_OTHER,
    }
}

pub fn execution_error_code(error: &ExecutionError) -> i32 {
    match error {
        ExecutionError::RequestTimeout(_) => CQL_ERR_TIMEOUT,
        ExecutionError::LastAttemptError(e) => attempt_error_code(e),
        ExecutionError::BadQuery(_) => CQL_ERR_INVALID_QUERY,
        ExecutionError::EmptyPlan | ExecutionError::MetadataError(_) => CQL_ERR_UNAVAILABLE,
        ExecutionError::ConnectionPoolError(e) => pool_error_code(e),
        ExecutionError::PrepareError(e) => prepare_error_code(e),
        ExecutionError::UseKeyspaceError(_) => CQL_ERR_INVALID_QUERY,
        ExecutionError::SchemaAgreementError(_) => CQL_ERR_UNAVAILABLE,
        _ => CQL_ERR_OTHER,
    }
}

pub fn new_session_error_code(error: &NewSessionError) -> i32 {
    // Authentication failures arrive deep inside the metadata/connection
    // error chain as a DbError from the AUTHENTICATE exchange; the variant
    // name in the Debug rendering is the only stable way to spot it across
    // the driver's non-exhaustive enums.
    let debug = format!("{error:?}");
    if debug.contains("AuthenticationError")
        || debug.contains("MissingAuthentication")
        || debug.contains("AuthFinishError")
    {
        return CQL_ERR_BAD_CREDENTIALS;
    }
    match error {
        NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_) => {
            CQL_ERR_INVALID_ARGUMENT
        }
        NewSessionError::FailedToResolveAnyHostname(_) => CQL_ERR_UNAVAILABLE,
        NewSessionError::MetadataError(_) => CQL_ERR_UNAVAILABLE,
        NewSessionError::UseKeyspaceError(_) => CQL_ERR_INVALID_QUERY,
        _ => CQL_ERR_OTHER,
    }
}

pub fn from_execution(error: &ExecutionError) -> ShimError {
    ShimError::new(execution_error_code(error), error.to_string())
}

pub fn from_prepare(error: &PrepareError) -> ShimError {
    ShimError::new(prepare_error_code(error), error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scylla::frame::types::Consistency;

    #[test]
    fn server_errors_map_to_caller_actions() {
        let unavailable = DbError::Unavailable {
            consistency: Consistency::Quorum,
            required: 2,
            alive: 1,
        };
        assert_eq!(db_error_code(&unavailable), CQL_ERR_UNAVAILABLE);
        assert_eq!(db_error_code(&DbError::Overloaded), CQL_ERR_UNAVAILABLE);
        assert_eq!(db_error_code(&DbError::SyntaxError), CQL_ERR_INVALID_QUERY);
        assert_eq!(db_error_code(&DbError::Invalid), CQL_ERR_INVALID_QUERY);
        assert_eq!(db_error_code(&DbError::Unauthorized), CQL_ERR_UNAUTHORIZED);
        assert_eq!(
            db_error_code(&DbError::AuthenticationError),
            CQL_ERR_BAD_CREDENTIALS
        );
        assert_eq!(db_error_code(&DbError::ServerError), CQL_ERR_OTHER);
    }

    #[test]
    fn client_deadline_is_a_timeout() {
        let e = ExecutionError::RequestTimeout(std::time::Duration::from_millis(5));
        assert_eq!(execution_error_code(&e), CQL_ERR_TIMEOUT);
        assert_eq!(
            execution_error_code(&ExecutionError::EmptyPlan),
            CQL_ERR_UNAVAILABLE
        );
    }
}
