//! Errors of the domain layer.

use thiserror::Error;

/// An input value that breaks a domain rule.
///
/// `field` names the offending field as a client spelled it (`slug`, `tags[2]`,
/// `hub_url`); `message` says why in words a person can act on. Both reach API
/// clients (422 bodies) and operators (errors in `projects.yaml`), so neither ever
/// carries anything but the rule and, where useful, the rejected value's length.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field, as the client named it (`slug`, `tags[3]`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// The value breaks no rule of its own but conflicts with what it meets (the
    /// service's clock, the resource addressed): a schema cannot state it, so the API
    /// answers 409 with this code rather than 422.
    pub conflict: Option<&'static str>,
}

impl ValidationError {
    /// A failure of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            conflict: None,
        }
    }

    /// A value of `field` that conflicts with the service's clock (`clock_conflict`).
    pub fn against_clock(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::conflict("clock_conflict", field, message)
    }

    /// A value of `field` that conflicts with what it meets; `code` names the kind.
    pub fn conflict(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            conflict: Some(code),
            ..Self::new(field, message)
        }
    }

    /// The same error, reported under another field name (`tags[3]`, `projects[2].slug`).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

impl From<federation_wire::rules::RuleError> for ValidationError {
    fn from(e: federation_wire::rules::RuleError) -> Self {
        ValidationError::new(e.field, e.message)
    }
}

/// A failure of the persistence port.
///
/// The text is for logs only: the API maps every variant to a fixed, generic message
/// so database details never reach a client.
#[derive(Debug, Clone, Error)]
pub enum RepositoryError {
    /// The store cannot be reached or timed out (connection refused, pool exhausted).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with an error we did not expect.
    #[error("store error: {0}")]
    Internal(String),
    /// A write fenced by the sweeper lease carried a term that is no longer current:
    /// another replica took the lease. Nothing was written.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The change breaks a domain rule once applied to what the store holds (a
    /// metadata merge past its bounds). Nothing was written.
    #[error(transparent)]
    Rejected(ValidationError),
}

/// A failure to publish a status event.
#[derive(Debug, Error)]
#[error("status event not published: {0}")]
pub struct EventError(pub String);

/// The errors of the use cases in [`crate::service`].
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    /// Input failed validation.
    Validation(#[from] ValidationError),
    #[error("project {0} not found")]
    /// No project with this slug.
    NotFound(String),
    #[error(transparent)]
    /// The store failed.
    Repository(RepositoryError),
}

impl From<RepositoryError> for ServiceError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Rejected(v) => ServiceError::Validation(v),
            other => ServiceError::Repository(other),
        }
    }
}
