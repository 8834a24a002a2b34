use std::fmt;

use chrono::{TimeDelta, Utc};

use super::*;
use crate::error::ValidationError;

/// The field an error names.
fn field_of<T: fmt::Debug>(r: Result<T, ValidationError>) -> String {
    r.expect_err("should be rejected").field
}

mod hub_url;
mod list_filter;
mod maintenance;
mod name;
mod namespace;
mod registration;
mod serde;
mod slug;
mod status;
mod tags;
mod version;
