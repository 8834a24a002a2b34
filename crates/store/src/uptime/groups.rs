//! Group rollups on both backends: the fleet's and each tag's figures per closed day
//! (`uptime_group_daily`) and their members offline at midnight
//! (`uptime_group_edges`).

use chrono::NaiveDate;
use federation_domain::uptime::{Edge, Figures, GroupDay};
use federation_domain::Slug;

use crate::error::StoreError;

diesel::table! {
    /// A group's figures per closed UTC day.
    uptime_group_daily (scope, day) {
        day -> Date,
        scope -> Text,
        projects -> BigInt,
        online_us -> BigInt,
        degraded_us -> BigInt,
        offline_us -> BigInt,
        maintenance_us -> BigInt,
        unknown_us -> BigInt,
        outages -> BigInt,
        longest_outage_us -> BigInt,
    }
}

diesel::table! {
    /// A group's members offline at either midnight of a day.
    uptime_group_edges (scope, day, slug) {
        day -> Date,
        scope -> Text,
        slug -> Text,
        leading_offline_us -> BigInt,
        trailing_offline_us -> BigInt,
    }
}

/// A stored group day.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = uptime_group_daily)]
pub(crate) struct GroupRow {
    day: NaiveDate,
    scope: String,
    projects: i64,
    online_us: i64,
    degraded_us: i64,
    offline_us: i64,
    maintenance_us: i64,
    unknown_us: i64,
    outages: i64,
    longest_outage_us: i64,
}

/// A stored edge.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, diesel::Insertable)]
#[diesel(table_name = uptime_group_edges)]
pub(crate) struct EdgeRow {
    day: NaiveDate,
    scope: String,
    slug: String,
    leading_offline_us: i64,
    trailing_offline_us: i64,
}

/// The rows that store `groups`.
pub(crate) fn rows_of(groups: &[GroupDay]) -> (Vec<GroupRow>, Vec<EdgeRow>) {
    let mut days = Vec::with_capacity(groups.len());
    let mut edges = Vec::new();
    for g in groups {
        let f = &g.figures;
        days.push(GroupRow {
            day: g.day,
            scope: g.scope.clone(),
            projects: i64::try_from(g.projects).unwrap_or(i64::MAX),
            online_us: f.online,
            degraded_us: f.degraded,
            offline_us: f.offline,
            maintenance_us: f.maintenance,
            unknown_us: f.unknown,
            outages: i64::try_from(f.outages).unwrap_or(i64::MAX),
            longest_outage_us: f.longest_outage,
        });
        edges.extend(g.edges.iter().map(|e| EdgeRow {
            day: g.day,
            scope: g.scope.clone(),
            slug: e.slug.as_str().to_owned(),
            leading_offline_us: e.leading_offline,
            trailing_offline_us: e.trailing_offline,
        }));
    }
    (days, edges)
}

/// The group days stored in `days` and `edges` (one scope's), by day.
pub(crate) fn groups_of(
    days: Vec<GroupRow>,
    edges: Vec<EdgeRow>,
) -> Result<Vec<GroupDay>, StoreError> {
    let mut out: Vec<GroupDay> = days
        .into_iter()
        .map(|r| GroupDay {
            scope: r.scope,
            day: r.day,
            projects: u64::try_from(r.projects).unwrap_or_default(),
            figures: Figures {
                online: r.online_us,
                degraded: r.degraded_us,
                offline: r.offline_us,
                maintenance: r.maintenance_us,
                unknown: r.unknown_us,
                outages: u64::try_from(r.outages).unwrap_or_default(),
                longest_outage: r.longest_outage_us,
                leading_offline: 0,
                trailing_offline: 0,
            },
            edges: Vec::new(),
        })
        .collect();
    out.sort_by_key(|g| g.day);
    for e in edges {
        let slug = Slug::parse(&e.slug)
            .map_err(|err| StoreError::Corrupt(format!("slug {:?}: {err}", e.slug)))?;
        let Ok(i) = out.binary_search_by_key(&e.day, |g| g.day) else {
            return Err(StoreError::Corrupt(format!(
                "uptime edge of {} on {} without its group day",
                e.slug, e.day
            )));
        };
        if let Some(g) = out.get_mut(i) {
            g.edges.push(Edge {
                slug,
                leading_offline: e.leading_offline_us,
                trailing_offline: e.trailing_offline_us,
            });
        }
    }
    Ok(out)
}
