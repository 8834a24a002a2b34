//! Who a rollup counts: the projects registered now, read a page at a time, so that
//! rolling up a fleet of a million never holds a copy of the whole catalog.

use super::group::Member;
use crate::model::Slug;

/// How many members a rollup reads at a time: each page is one hold of the registry's
/// read lock, which a writer waits out and the reads behind that writer with it (a
/// backfill reads the whole roster for each of its days).
pub const ROSTER_PAGE: usize = 2_000;

/// The projects registered now, as a rollup reads them (the registry, in a service).
pub trait Roster: Sync {
    /// Up to `limit` members whose slugs follow `after` (from the first when `None`),
    /// in slug order.
    fn members_after(&self, after: Option<&Slug>, limit: usize) -> Vec<Member>;
}

/// A fixed list (in any order) is a roster: the tests' (each page sorts the list).
#[cfg(test)]
impl Roster for [Member] {
    fn members_after(&self, after: Option<&Slug>, limit: usize) -> Vec<Member> {
        let mut page: Vec<Member> = self
            .iter()
            .filter(|m| after.is_none_or(|a| m.slug > *a))
            .cloned()
            .collect();
        page.sort_by(|a, b| a.slug.cmp(&b.slug));
        page.truncate(limit);
        page
    }
}

/// Calls `each` with every member of `roster`, in slug order, reading a page of
/// [`ROSTER_PAGE`] at a time. A member registered or removed meanwhile is counted at
/// most once.
pub fn each_member(roster: &(impl Roster + ?Sized), mut each: impl FnMut(&Member)) {
    let mut after: Option<Slug> = None;
    loop {
        let page = roster.members_after(after.as_ref(), ROSTER_PAGE);
        page.iter().for_each(&mut each);
        match page.last() {
            Some(last) if page.len() == ROSTER_PAGE => after = Some(last.slug.clone()),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tags;

    fn roster(n: usize) -> Vec<Member> {
        // Out of order, so that the pages must come sorted.
        (0..n)
            .rev()
            .map(|i| Member {
                slug: Slug::parse(&format!("p-{i:06}")).unwrap(),
                tags: Tags::default(),
            })
            .collect()
    }

    #[test]
    fn every_member_is_visited_once_in_slug_order_across_pages() {
        for n in [0, 1, ROSTER_PAGE, 2 * ROSTER_PAGE, 2 * ROSTER_PAGE + 1] {
            let members = roster(n);
            let mut seen: Vec<Slug> = Vec::new();
            each_member(members.as_slice(), |m| seen.push(m.slug.clone()));
            let mut expected: Vec<Slug> = members.into_iter().map(|m| m.slug).collect();
            expected.sort();
            assert_eq!(seen, expected, "{n} members");
        }
    }
}
