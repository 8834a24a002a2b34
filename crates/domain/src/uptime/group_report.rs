//! A tag's or the fleet's report from the group rollups: about one stored row per day
//! (plus the members offline at midnight), whatever the number of projects; only the
//! days no group rollup covers (today, the window's cut edges, days not rolled up yet)
//! are computed from the members' raw history.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeDelta};

use super::figures::{Class, Figures};
use super::group::{GroupDay, GroupFold, Scope};
use super::report::RolledUp;
use super::rollup::day_span;
use super::service::Uptime;
use super::timeline::{days, micros, DayFigures, Span};
use super::window::Window;
use crate::error::RepositoryError;
use crate::model::Slug;

impl Uptime {
    /// The figures of the group `scope` over `window`, overall and per UTC day.
    ///
    /// A whole day that was rolled up counts the projects that were members when it
    /// was rolled up (registered, and tagged for a tag), with their figures then; any
    /// other day counts `members` (the members now) from the raw history. A project
    /// counts on the days it was a member; an outage joins across midnight when it was
    /// a member on both sides. `projects` is the number of members now.
    pub async fn scope_report(
        &self,
        scope: &Scope,
        members: &[Slug],
        window: Window,
    ) -> Result<RolledUp, RepositoryError> {
        let fleet = matches!(scope, Scope::Fleet);
        let all: Vec<(NaiveDate, Span)> = days(window.from, window.to).collect();
        let whole: Vec<NaiveDate> = all
            .iter()
            .filter(|(d, s)| *s == day_span(*d))
            .map(|(d, _)| *d)
            .collect();
        let (grouped, rolled): (HashSet<NaiveDate>, HashSet<NaiveDate>) =
            match (whole.first(), whole.last()) {
                (Some(first), Some(last)) => {
                    let end = *last + TimeDelta::days(1);
                    (
                        self.source
                            .grouped_days(*first, end)
                            .await?
                            .into_iter()
                            .collect(),
                        self.source
                            .rolled_days(*first, end)
                            .await?
                            .into_iter()
                            .collect(),
                    )
                }
                _ => Default::default(),
            };
        let mut stored: HashMap<NaiveDate, GroupDay> = HashMap::new();
        if let (Some(first), Some(last)) = (grouped.iter().min(), grouped.iter().max()) {
            for g in self
                .source
                .group_rollups(scope.key(), *first, *last + TimeDelta::days(1))
                .await?
            {
                stored.insert(g.day, g);
            }
        }
        let is_whole = |d: &NaiveDate, s: &Span| *s == day_span(*d);
        // Days rolled up before group rollups were kept (until the leader regroups
        // them): the members' project rollups.
        let mut legacy: HashMap<NaiveDate, HashMap<Slug, Figures>> = HashMap::new();
        for (day, _) in all
            .iter()
            .filter(|(d, s)| is_whole(d, s) && !grouped.contains(d) && rolled.contains(d))
        {
            let filter = (!fleet).then(|| members.to_vec());
            let rows = self
                .source
                .rollups(filter, *day, *day + TimeDelta::days(1))
                .await?;
            legacy.insert(
                *day,
                rows.into_iter().map(|r| (r.slug, r.figures)).collect(),
            );
        }
        let from_store =
            |d: &NaiveDate, s: &Span| is_whole(d, s) && (grouped.contains(d) || rolled.contains(d));
        let raw_spans: Vec<Span> = all
            .iter()
            .filter(|(d, s)| !from_store(d, s))
            .map(|(_, s)| *s)
            .collect();
        let raw = self.raw(members, fleet, &raw_spans).await?;

        let mut fold = GroupFold::new();
        let mut out = Vec::with_capacity(all.len());
        let mut raw_at = 0;
        for (day, span) in &all {
            let len = micros(span.end - span.start);
            let group = if is_whole(day, span) && grouped.contains(day) {
                stored
                    .remove(day)
                    .unwrap_or_else(|| GroupDay::of(scope, *day, []))
            } else if let Some(rows) = legacy.get(day) {
                let unknown = Figures::of(Class::Unknown, len);
                GroupDay::of(
                    scope,
                    *day,
                    members
                        .iter()
                        .map(|s| (s, rows.get(s).unwrap_or(&unknown)))
                        .collect::<Vec<_>>(),
                )
            } else {
                let at = raw_at;
                raw_at += 1;
                GroupDay::of(
                    scope,
                    *day,
                    members
                        .iter()
                        .zip(&raw)
                        .filter_map(|(s, f)| f.get(at).map(|f| (s, f))),
                )
            };
            fold.push(&group.figures, len, &group.edges);
            out.push(DayFigures {
                day: *day,
                figures: group.figures,
            });
        }
        Ok(RolledUp {
            projects: members.len(),
            figures: fold.figures(),
            days: out,
        })
    }
}
