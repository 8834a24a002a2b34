//! A change of the log applied to the project the registry already holds: in place,
//! field by field, so that what did not change keeps its allocation (a status change
//! replaces no string; a fleet's first beats used to swap a million projects' every
//! string for a copy).

use crate::model::Project;

/// `held` becomes `stored` (the log's copy), except that heartbeat fields only move
/// forward: the store's copy can be a tick older than what this replica heard itself.
pub(super) fn assign(held: &mut Project, stored: &Project) {
    let Project {
        id,
        slug,
        name,
        hub_url,
        mesh_namespace,
        status,
        status_reason,
        tags,
        metadata,
        version,
        last_heartbeat_at,
        clock_skew_seconds,
        heartbeat_interval,
        maintenance,
        flapping_since,
        origin,
        heartbeat_key,
        created_at,
        updated_at,
    } = stored;
    held.id = *id;
    set(&mut held.slug, slug);
    set(&mut held.name, name);
    set(&mut held.hub_url, hub_url);
    set(&mut held.mesh_namespace, mesh_namespace);
    held.status = *status;
    set(&mut held.status_reason, status_reason);
    set(&mut held.tags, tags);
    set(&mut held.metadata, metadata);
    if held.last_heartbeat_at > *last_heartbeat_at {
        if held.version.is_none() {
            set(&mut held.version, version);
        }
    } else {
        held.last_heartbeat_at = *last_heartbeat_at;
        set(&mut held.version, version);
    }
    if clock_skew_seconds.is_some() {
        held.clock_skew_seconds = *clock_skew_seconds;
    }
    held.heartbeat_interval = *heartbeat_interval;
    set(&mut held.maintenance, maintenance);
    held.flapping_since = *flapping_since;
    held.origin = *origin;
    set(&mut held.heartbeat_key, heartbeat_key);
    held.created_at = *created_at;
    held.updated_at = *updated_at;
}

/// Replaces `slot` with a copy of `value` unless they are equal already.
fn set<T: PartialEq + Clone>(slot: &mut T, value: &T) {
    if slot != value {
        slot.clone_from(value);
    }
}
