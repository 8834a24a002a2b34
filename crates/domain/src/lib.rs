//! The pure core of the federation service.
//!
//! Models and their validation ([`model`]), heartbeat decoding ([`heartbeat`]), the
//! status rules ([`policy`], [`presence`]), the ports adapters implement ([`ports`]) and
//! the use cases over them ([`service`]). Nothing here does I/O: no database, HTTP or
//! bus client, and no async runtime.

#![warn(missing_docs)]

pub mod bus_permissions;
pub mod error;
pub mod flapping;
#[cfg(test)]
mod fuzz;
pub mod heartbeat;
pub mod incident;
#[cfg(any(test, feature = "mock"))]
pub mod memory;
pub mod metadata;
pub mod model;
pub mod notify;
pub mod policy;
pub mod ports;
pub mod presence;
pub mod readiness;
pub mod redact;
pub mod replication;
pub mod service;
pub mod stats;
#[cfg(any(test, feature = "mock"))]
pub mod testing;
pub mod uptime;

pub use bus_permissions::{BusDenial, BusOperation, DeniedUse};
pub use error::{EventError, RepositoryError, ServiceError, ValidationError};
pub use flapping::{FlapJudge, FlapMark, Flapping, FLAPPING_DEFAULT};
pub use heartbeat::{Heartbeat, HeartbeatError, Reported};
pub use model::{
    chain_onto, maintenance_started, reason, CatalogApplied, CatalogPlan, HeartbeatCredential,
    HeartbeatInterval, HeartbeatKeyDigest, HubUrl, ListFilter, LoggedSteps, Maintenance,
    MaintenanceChange, MaintenanceInput, MeshNamespace, Metadata, MetadataPatch, Origin,
    PresenceRecord, Project, ProjectName, ProjectPage, ProjectPatch, Registration,
    RegistrationInput, Slug, Status, Tag, Tags, Transition, Upserted, Version,
};
pub use policy::StatusPolicy;
pub use ports::{
    ChangeLog, Clock, HeartbeatRelay, Lease, ManualClock, NoRelay, NoStatusEvents,
    ProjectRepository, StatusEvents, SystemClock,
};
pub use presence::{Flush, GuardState, MassExpiry, Presence, StatusCounts};
pub use replication::{
    Change, ChangeFilter, ChangeKind, ChangesSince, LongestOffline, Registry, RenderedPage,
    Renderer, Role, Snapshot, Summary, Term,
};
pub use service::{
    ChangeListener, Federation, FlushFailed, HeartbeatRejected, Ports, ReplicaOptions, TickReport,
};
pub use stats::{ClockSkew, HeartbeatCounters, TransitionCounters, HEARTBEAT_OUTCOMES};
