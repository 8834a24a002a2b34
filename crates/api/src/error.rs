//! The one error type of the API and its JSON shape:
//! `{"error": {"code": "…", "message": "…", "field": "…"?}, "detail": …}`.
//!
//! `detail` is FastAPI's field, kept for clients of the original service: a string, or
//! for a 422 naming a field, a list of `{loc, msg, type}` (`loc` such as
//! `["body", "tags", 2]`). Where the original had words for an error ("API key
//! required", "Project 'x' not found"), `detail` and `message` use them.
//!
//! Every failure a handler, an extractor or the auth middleware can produce becomes an
//! [`ApiError`]. Store failures are mapped here to fixed, generic messages: database text
//! goes to the log, never to a client.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use federation_domain::ValidationError;
use federation_domain::{HeartbeatError, HeartbeatRejected, RepositoryError, ServiceError};
use serde::Serialize;
use serde_json::Value;

/// Stable machine-readable codes of the `error.code` field.
pub mod code {
    pub const MALFORMED_JSON: &str = "malformed_json";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const HEARTBEAT_KEY_REQUIRED: &str = "heartbeat_key_required";
    pub const HEARTBEAT_KEY_INVALID: &str = "heartbeat_key_invalid";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    pub const DUPLICATE: &str = "duplicate";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const VALIDATION_ERROR: &str = "validation_error";
    pub const UNAVAILABLE: &str = "unavailable";
    pub const INTERNAL: &str = "internal";
}

/// Where the field to blame is, as FastAPI's `loc` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The JSON body.
    Body,
    /// A query parameter.
    Query,
    /// A path parameter.
    Path,
    /// A header.
    Header,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Body => "body",
            Location::Query => "query",
            Location::Path => "path",
            Location::Header => "header",
        }
    }
}

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    field: Option<String>,
    location: Location,
    allow: Option<&'static str>,
    /// The original service's words, when they differ from `message`.
    detail: Option<&'static str>,
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
    /// FastAPI's `detail`, for clients of the original service: a string, or for a 422
    /// that names a field, a list of `{loc, msg, type}`.
    #[schema(value_type = Detail)]
    pub detail: Value,
}

/// FastAPI's `detail`: a string, or a list of validation failures.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// What went wrong, in words.
    Message(String),
    /// Each failing field.
    Fields(Vec<FieldError>),
}

/// One failing field, as FastAPI lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: `body`, `query`, `path` or `header`, then the field's path
    /// (`["body", "tags", 2]`).
    #[schema(example = json!(["body", "slug"]))]
    pub loc: Vec<LocPart>,
    /// What is wrong with it.
    pub msg: String,
    /// `missing` for an absent required field, else `value_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One step of a field's place: a name, or an index in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    /// A field's name, or where the field is (`body`, `query`).
    Name(String),
    /// An index in a list.
    Index(u64),
}

impl FieldError {
    /// The failure of `field` (`tags[2]`, `projects[1].slug`) at `location`.
    pub fn new(location: Location, field: &str, msg: &str) -> Self {
        let mut loc = vec![LocPart::Name(location.as_str().to_owned())];
        for part in field.split('.') {
            let (name, rest) = part.split_once('[').unwrap_or((part, ""));
            if !name.is_empty() {
                loc.push(LocPart::Name(name.to_owned()));
            }
            for index in rest.split('[') {
                let index = index.trim_end_matches(']');
                if index.is_empty() {
                    continue;
                }
                loc.push(
                    index
                        .parse::<u64>()
                        .map_or_else(|_| LocPart::Name(index.to_owned()), LocPart::Index),
                );
            }
        }
        let kind = if msg == "is required" {
            "missing"
        } else {
            "value_error"
        };
        FieldError {
            loc,
            msg: msg.to_owned(),
            kind,
        }
    }
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable and machine-readable: `malformed_json`, `unauthorized`, `forbidden`,
    /// `not_found`, `method_not_allowed`, `payload_too_large`, `unsupported_media_type`,
    /// `request_timeout`, `duplicate` (a repeated query parameter, header or JSON key;
    /// `field` names it), `bad_request`, `uri_too_long`, `request_header_fields_too_large`,
    /// `validation_error`, `unavailable`, `internal`, or a heartbeat rejection kind
    /// (`invalid_json`, `wrong_type`, `missing_slug`, `invalid_field`, `slug_mismatch`,
    /// `bad_namespace`, `replay`, `future_timestamp`).
    #[schema(example = "validation_error")]
    pub code: &'a str,
    pub message: &'a str,
    /// The request field to blame, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "slug")]
    pub field: Option<&'a str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            location: Location::Body,
            allow: None,
            detail: None,
        }
    }

    /// Names the request field to blame (in the body unless [`ApiError::at`] says).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Says where the field to blame is.
    pub fn at(mut self, location: Location) -> Self {
        self.location = location;
        self
    }

    /// The `detail` to answer: the original's words for this error.
    fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
            detail: self.detail(),
        }
    }

    /// FastAPI's `detail` for this error.
    pub fn detail(&self) -> Value {
        match &self.field {
            Some(field) if self.status == StatusCode::UNPROCESSABLE_ENTITY => {
                serde_json::json!([FieldError::new(self.location, field, &self.message)])
            }
            _ => Value::from(self.detail.unwrap_or(&self.message)),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    pub fn malformed_json(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::MALFORMED_JSON, message)
    }

    /// 401, with `WWW-Authenticate: ApiKey` as the original sent.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHORIZED,
            "API key required (send it in the X-API-Key header)",
        )
        .with_detail("API key required")
    }

    /// 403 for a key that is no key of ours.
    pub fn invalid_key() -> Self {
        Self::forbidden("Invalid API key")
    }

    pub fn forbidden(message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    /// 404 for a project, in the original's words.
    pub fn project_not_found(slug: &str) -> Self {
        Self::not_found(format!("Project '{slug}' not found"))
    }

    /// 404 for a path that is no route (FastAPI's `Not Found`).
    pub fn no_route() -> Self {
        Self::not_found("no such resource").with_detail("Not Found")
    }

    /// 405, with the `Allow` header listing the methods the resource has.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            format!("method not allowed here; allowed: {allow}"),
        )
        .with_detail("Method Not Allowed");
        e.allow = Some(allow);
        e
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 408: the body did not arrive in time. The connection is closed after it.
    pub fn request_timeout(within: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            code::REQUEST_TIMEOUT,
            format!(
                "the request body was not received within {}s",
                within.as_secs_f64()
            ),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON (Content-Type: application/json)",
        )
    }

    /// 422 naming the field; 409 when the value conflicts with the service's clock
    /// (no schema can state that rule, so a schema-valid request meets it).
    pub fn validation(e: ValidationError) -> Self {
        let (status, code) = match e.conflict {
            Some(code) => (StatusCode::CONFLICT, code),
            None => (StatusCode::UNPROCESSABLE_ENTITY, code::VALIDATION_ERROR),
        };
        Self::new(status, code, e.message).with_field(e.field)
    }

    /// 422 naming a query parameter.
    pub fn query(e: ValidationError) -> Self {
        Self::validation(e).at(Location::Query)
    }

    /// 422 without a field (the body as a whole is wrong).
    pub fn unprocessable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code::VALIDATION_ERROR,
            message,
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "the catalog store is unavailable; try again later",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(allow) = self.allow {
            res.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey")));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body is not waited for: the connection ends here.
            res.force_close();
        }
        res.json(self.body())
    }
}

impl From<RepositoryError> for ApiError {
    /// Logs the store's own text and answers with a generic one.
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Rejected(v) => ApiError::validation(v),
            RepositoryError::Unavailable(_) => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::unavailable()
            }
            RepositoryError::Internal(_) | RepositoryError::Fenced(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(v) => ApiError::validation(v),
            ServiceError::NotFound(slug) => ApiError::project_not_found(&slug),
            ServiceError::Repository(r) => r.into(),
        }
    }
}

impl From<HeartbeatRejected> for ApiError {
    fn from(e: HeartbeatRejected) -> Self {
        match e {
            HeartbeatRejected::UnknownProject(slug) => {
                ApiError::not_found(format!("Project '{slug}' not found in catalog"))
            }
            e @ HeartbeatRejected::KeyRequired(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                code::HEARTBEAT_KEY_REQUIRED,
                e.to_string(),
            ),
            e @ HeartbeatRejected::KeyInvalid(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                code::HEARTBEAT_KEY_INVALID,
                e.to_string(),
            ),
            HeartbeatRejected::Invalid(HeartbeatError::Oversize { .. }) => {
                ApiError::payload_too_large(federation_domain::heartbeat::MAX_HEARTBEAT_BYTES)
            }
            HeartbeatRejected::Invalid(h) => {
                let status = if h.conflicts() {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                let mut err = ApiError::new(status, h.kind(), h.to_string());
                if let Some(field) = h.field() {
                    err = err.with_field(field);
                }
                err
            }
        }
    }
}
