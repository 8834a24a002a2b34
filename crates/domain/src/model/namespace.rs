//! A project's mesh namespace: the NATS subject prefix of its hub.

use std::fmt;

use serde::Serialize;

use super::slug::Slug;
use crate::error::ValidationError;

/// Longest mesh namespace, in characters.
pub const MESH_NAMESPACE_MAX: usize = federation_wire::rules::MESH_NAMESPACE_MAX;

/// The NATS subject prefix of a project's mesh: dot-separated tokens of `[A-Za-z0-9_-]`,
/// at most 100 characters (no wildcards, no blanks, no empty token). `hub.<slug>` when
/// the client sends none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshNamespace(Box<str>);

impl MeshNamespace {
    /// The namespace a slug implies.
    pub fn for_slug(slug: &Slug) -> Self {
        Self(format!("hub.{slug}").into())
    }

    /// Validates a namespace given explicitly, by the wire crate's rule.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        federation_wire::rules::mesh_namespace(raw)
            .map(|s| Self(s.into()))
            .map_err(ValidationError::from)
    }

    /// Validates `raw`; `None` (or blank, within the length bound) gives the default
    /// `hub.<slug>`.
    pub fn resolve(slug: &Slug, raw: Option<&str>) -> Result<Self, ValidationError> {
        let stated = raw
            .map(federation_wire::rules::stated_mesh_namespace)
            .transpose()?
            .flatten();
        Ok(stated.map_or_else(|| Self::for_slug(slug), |s| Self(s.into())))
    }

    /// The namespace as validated (`hub.<slug>` unless set otherwise).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a namespace read back from storage, which only ever holds validated ones.
    pub fn from_stored(raw: String) -> Self {
        Self(raw.into())
    }
}

impl fmt::Display for MeshNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MeshNamespace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
