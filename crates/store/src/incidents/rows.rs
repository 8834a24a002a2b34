//! Incident rows and their conversion into domain values.

use chrono::SubsecRound;
use diesel::prelude::*;
use federation_domain::incident::{Incident, IncidentTrigger, Member};

use super::schema::{incident_members, incidents};
use crate::error::StoreError;
use crate::schema::DbTime;

/// A revision or id as stored.
pub(crate) fn revision(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn small(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A time as stored (microseconds).
pub(crate) fn time(at: chrono::DateTime<chrono::Utc>) -> DbTime {
    DbTime(at.trunc_subsecs(6))
}

/// One `incidents` row.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = incidents)]
pub(crate) struct IncidentRow {
    pub id: i64,
    pub started_at: DbTime,
    pub opened_at: DbTime,
    pub ended_at: Option<DbTime>,
    pub resolved_revision: Option<i64>,
    pub trigger: String,
    pub tag: Option<String>,
    pub offline: i32,
    pub tag_size: Option<i32>,
}

/// One `incident_members` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_members)]
pub(crate) struct MemberRow {
    pub incident_id: i64,
    pub slug: String,
    pub offline_at: DbTime,
    pub revision: i64,
    pub back_at: Option<DbTime>,
}

impl IncidentRow {
    pub(crate) fn new(i: &Incident) -> Self {
        let (tag, offline, tag_size) = match &i.trigger {
            IncidentTrigger::Fleet { offline } => (None, *offline, None),
            IncidentTrigger::Tag { tag, offline, of } => (Some(tag.clone()), *offline, Some(*of)),
        };
        Self {
            id: revision(i.id),
            started_at: time(i.started_at),
            opened_at: time(i.opened_at),
            ended_at: i.ended_at.map(time),
            resolved_revision: i.resolved_revision.map(revision),
            trigger: i.trigger.kind().to_owned(),
            tag,
            offline: small(offline),
            tag_size: tag_size.map(small),
        }
    }

    pub(crate) fn into_incident(self, members: Vec<MemberRow>) -> Result<Incident, StoreError> {
        let offline = usize::try_from(self.offline).unwrap_or_default();
        let trigger = match (self.trigger.as_str(), self.tag) {
            ("fleet", _) => IncidentTrigger::Fleet { offline },
            ("tag", Some(tag)) => IncidentTrigger::Tag {
                tag,
                offline,
                of: self
                    .tag_size
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or_default(),
            },
            (other, _) => {
                return Err(StoreError::Corrupt(format!(
                    "incident {}: trigger {other:?}",
                    self.id
                )))
            }
        };
        let mut members: Vec<Member> = members.into_iter().map(MemberRow::into_member).collect();
        members.sort_by(|a, b| (a.revision, &a.slug).cmp(&(b.revision, &b.slug)));
        Ok(Incident {
            id: u64::try_from(self.id).unwrap_or_default(),
            started_at: self.started_at.0,
            opened_at: self.opened_at.0,
            ended_at: self.ended_at.map(|t| t.0),
            resolved_revision: self.resolved_revision.and_then(|r| u64::try_from(r).ok()),
            trigger,
            members,
        })
    }
}

impl MemberRow {
    pub(crate) fn new(id: u64, m: &Member) -> Self {
        Self {
            incident_id: revision(id),
            slug: m.slug.clone(),
            offline_at: time(m.offline_at),
            revision: revision(m.revision),
            back_at: m.back_at.map(time),
        }
    }

    fn into_member(self) -> Member {
        Member {
            slug: self.slug,
            offline_at: self.offline_at.0,
            revision: u64::try_from(self.revision).unwrap_or_default(),
            back_at: self.back_at.map(|t| t.0),
        }
    }
}
