//! Validated value types and the project model.
//!
//! Every value that enters the service (a POST body, an entry of `projects.yaml`, a
//! heartbeat) passes through the constructors here, so one rule holds everywhere.

pub use crate::metadata::{Metadata, MetadataPatch};

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as validated.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

mod catalog;
mod hub_url;
mod interval;
mod key;
mod list;
mod maintenance;
mod name;
mod namespace;
mod patch;
mod project;
pub mod reason;
mod slug;
mod status;
mod tags;
mod text;
mod transition;
mod version;

pub use catalog::{CatalogApplied, CatalogPlan};
pub use federation_wire::rules::{MESH_NAMESPACE_PATTERN, SLUG_PATTERN};
pub use federation_wire::{blank, blank_chars, RFC3339_PATTERN, TIMESTAMP_PATTERN};
pub use hub_url::{HubUrl, HUB_URL_MAX, HUB_URL_MIN, HUB_URL_PATTERN};
pub use interval::HeartbeatInterval;
pub use key::{HeartbeatCredential, HeartbeatKeyDigest};
pub use list::{parse_limit, ListFilter, ProjectPage, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};
pub use maintenance::{
    maintenance_started, Maintenance, MaintenanceChange, MaintenanceInput, MAINTENANCE_MAX,
    MAINTENANCE_REASON_MAX,
};
pub use name::{ProjectName, NAME_MAX};
pub use namespace::{MeshNamespace, MESH_NAMESPACE_MAX};
pub use patch::ProjectPatch;
pub use project::{Origin, Project, Registration, RegistrationInput, Upserted};
pub use slug::{Slug, SLUG_MAX};
pub use status::Status;
pub use tags::{Tag, Tags, TAGS_MAX, TAG_MAX};
pub use text::{is_format_char, NO_FORMAT_CHARS_PATTERN, TEXT_PATTERN};
pub use transition::{chain_onto, LoggedSteps, PresenceRecord, Transition};
pub use version::{Version, VERSION_MAX};

#[cfg(test)]
mod tests;
