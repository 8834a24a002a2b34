//! Lists: the filter, the page size and a page.

use super::project::Project;
use super::slug::Slug;
use super::status::Status;
use super::tags::Tag;
use crate::error::ValidationError;

/// How many entries a history returns when the client does not say. (A project list
/// without `limit` returns every project, as the original did.)
pub const LIST_LIMIT_DEFAULT: u32 = 100;
/// The most projects one list returns.
pub const LIST_LIMIT_MAX: u32 = 1000;

/// Which projects a list returns, in slug order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only projects in this status.
    pub status: Option<Status>,
    /// Only projects with this tag (ignoring case).
    pub tag: Option<Tag>,
    /// At most this many, 1..=[`LIST_LIMIT_MAX`]; `None`: every match.
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u64,
    /// Only projects whose slug sorts after this one (cursor paging).
    pub after: Option<Slug>,
    /// Only projects whose metadata holds each of these `(key, value)` pairs (see
    /// [`Metadata::matches`]).
    pub meta: Vec<(String, String)>,
}

/// Validates a raw page size (`limit`, of a list or a history): an integer in
/// 1..=[`LIST_LIMIT_MAX`]; `None` takes [`LIST_LIMIT_DEFAULT`].
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ValidationError> {
    let Some(raw) = raw else {
        return Ok(LIST_LIMIT_DEFAULT);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=LIST_LIMIT_MAX).contains(l))
        .ok_or_else(|| {
            ValidationError::new(
                "limit",
                format!("must be an integer between 1 and {LIST_LIMIT_MAX}"),
            )
        })
}

impl ListFilter {
    /// Validates raw query values; `None` takes the default (no `limit`: every match).
    pub fn parse(
        status: Option<&str>,
        tag: Option<&str>,
        limit: Option<&str>,
        offset: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let status = status.map(Status::parse).transpose()?;
        let tag = tag.map(Tag::parse).transpose()?;
        let limit = limit.map(|l| parse_limit(Some(l))).transpose()?;
        let offset = match offset {
            None => 0,
            // At most i64::MAX: the stores take it as a signed 64-bit integer.
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|o| u64::try_from(o).ok())
                .ok_or_else(|| ValidationError::new("offset", "must be a non-negative integer"))?,
        };
        Ok(Self {
            status,
            tag,
            limit,
            offset,
            after: None,
            meta: Vec::new(),
        })
    }

    /// Adds the `meta.KEY=VALUE` conditions (every one must hold); errors name the
    /// parameter `meta.KEY`.
    pub fn with_meta<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        conditions: &[(K, V)],
    ) -> Result<Self, ValidationError> {
        if conditions.len() > crate::metadata::META_FILTERS_MAX {
            return Err(ValidationError::new(
                "meta",
                format!(
                    "at most {} meta.KEY conditions",
                    crate::metadata::META_FILTERS_MAX
                ),
            ));
        }
        for (key, value) in conditions {
            let key = key.as_ref();
            crate::metadata::check_key(key).map_err(|e| {
                let shown: String = key.chars().take(64).collect();
                e.at(format!("meta.{shown}"))
            })?;
            self.meta.push((key.to_owned(), value.as_ref().to_owned()));
        }
        Ok(self)
    }

    /// Sets the cursor (`after=<slug>`); errors name the field `after`.
    pub fn with_after(mut self, after: Option<&str>) -> Result<Self, ValidationError> {
        self.after = after
            .map(|a| Slug::parse(a).map_err(|e| e.at("after")))
            .transpose()?;
        Ok(self)
    }

    /// Whether `project` passes the status and tag conditions (not the paging ones).
    pub fn matches(&self, project: &Project) -> bool {
        self.status.is_none_or(|s| project.status == s)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| project.tags.iter().any(|have| have.matches(t)))
            && self
                .meta
                .iter()
                .all(|(k, v)| project.metadata.matches(k, v))
    }

    /// Whether only paging is asked for (every project matches).
    pub fn is_unfiltered(&self) -> bool {
        self.status.is_none() && self.tag.is_none() && self.meta.is_empty()
    }
}

/// One page of a list, with the number of projects the filter matches in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    /// The projects of this page.
    pub items: Vec<Project>,
    /// How many projects match the filter in all.
    pub total: u64,
    /// The change-log revision the page reflects (`X-Federation-Index`).
    pub revision: u64,
}
