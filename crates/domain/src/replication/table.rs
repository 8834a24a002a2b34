//! The registry's projects, each held once: found by slug through a hash table, walked
//! in slug order through an ordered index.
//!
//! A heartbeat looks its project up by slug, hundreds of thousands of times a second
//! under a burst. In an ordered map keyed by slug that is a score of string comparisons,
//! each a pointer chase to the slug's text; here it is one hash and one comparison.
//! Lists walk the ordered index, which maps each slug to its entry's place.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::ops::Bound;

use hashbrown::HashTable;
use slab::Slab;

use super::rendered::Entry;
use crate::model::Slug;

/// The projects: entries in a slab (their places stay put while others come and go),
/// the places by slug hash, and the slugs in order.
#[derive(Debug, Default)]
pub(super) struct Table {
    entries: Slab<Entry>,
    by_slug: HashTable<usize>,
    order: BTreeMap<Slug, usize>,
    hasher: foldhash::fast::RandomState,
}

impl Table {
    /// A table of `rows`, which are sorted by slug and hold each slug once.
    pub(super) fn from_sorted(rows: Vec<(Slug, Entry)>) -> Self {
        let mut table = Self {
            entries: Slab::with_capacity(rows.len()),
            by_slug: HashTable::with_capacity(rows.len()),
            ..Self::default()
        };
        let order: Vec<(Slug, usize)> = rows
            .into_iter()
            .map(|(slug, entry)| {
                let place = table.place_new(&slug, entry);
                (slug, place)
            })
            .collect();
        // Sorted input: built in one pass, without a second sort.
        table.order = order.into_iter().collect();
        table
    }

    fn hash(&self, slug: &str) -> u64 {
        self.hasher.hash_one(slug)
    }

    /// The place of `slug`'s entry.
    fn place(&self, slug: &str) -> Option<usize> {
        let entries = &self.entries;
        self.by_slug
            .find(self.hash(slug), |&place| {
                entries
                    .get(place)
                    .is_some_and(|e| e.project.slug.as_str() == slug)
            })
            .copied()
    }

    /// How many projects it holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no project.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `slug`.
    pub(super) fn get(&self, slug: &str) -> Option<&Entry> {
        self.entries.get(self.place(slug)?)
    }

    /// The entry of `slug`, to change (its slug stays).
    pub(super) fn get_mut(&mut self, slug: &str) -> Option<&mut Entry> {
        let place = self.place(slug)?;
        self.entries.get_mut(place)
    }

    /// Adds `entry` under its project's slug, replacing the one held.
    pub(super) fn insert(&mut self, entry: Entry) {
        let slug = entry.project.slug.clone();
        if let Some(held) = self.get_mut(slug.as_str()) {
            *held = entry;
            return;
        }
        let place = self.place_new(&slug, entry);
        self.order.insert(slug, place);
    }

    /// Puts `entry` in a free place and finds that place by `slug` (not held yet); the
    /// ordered index is the caller's.
    fn place_new(&mut self, slug: &Slug, entry: Entry) -> usize {
        let place = self.entries.insert(entry);
        let (entries, hasher) = (&self.entries, &self.hasher);
        // Growing rehashes every place by its entry's slug.
        self.by_slug
            .insert_unique(hasher.hash_one(slug.as_str()), place, |&p| {
                entries
                    .get(p)
                    .map_or(0, |e| hasher.hash_one(e.project.slug.as_str()))
            });
        place
    }

    /// Removes `slug`'s entry.
    pub(super) fn remove(&mut self, slug: &str) -> Option<Entry> {
        let place = self.order.remove(slug)?;
        if let Ok(found) = self.by_slug.find_entry(self.hash(slug), |&p| p == place) {
            found.remove();
        }
        self.entries.try_remove(place)
    }

    /// Every entry with its slug, in slug order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Slug, &Entry)> {
        self.walk(self.order.iter())
    }

    /// Every entry, in slug order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Entry> {
        self.iter().map(|(_, e)| e)
    }

    /// Every entry, in no particular order (counting needs none).
    pub(super) fn unordered(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(_, e)| e)
    }

    /// The entries whose slugs follow `lower`, in slug order.
    pub(super) fn from(&self, lower: Bound<&Slug>) -> impl Iterator<Item = (&Slug, &Entry)> {
        self.walk(self.order.range::<Slug, _>((lower, Bound::Unbounded)))
    }

    fn walk<'a>(
        &'a self,
        order: impl Iterator<Item = (&'a Slug, &'a usize)> + 'a,
    ) -> impl Iterator<Item = (&'a Slug, &'a Entry)> + 'a {
        order.filter_map(|(slug, &place)| Some((slug, self.entries.get(place)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn entry(slug: &str) -> Entry {
        Entry::new(Box::new(super::super::tests::project(
            slug,
            Status::Online,
            &[],
        )))
    }

    fn slugs(t: &Table) -> Vec<&str> {
        t.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn found_by_slug_and_walked_in_order_as_entries_come_and_go() {
        let rows = ["b", "d", "f"]
            .into_iter()
            .map(|s| (Slug::parse(s).unwrap(), entry(s)))
            .collect();
        let mut t = Table::from_sorted(rows);
        assert_eq!(slugs(&t), ["b", "d", "f"]);
        t.insert(entry("a"));
        t.insert(entry("e"));
        assert_eq!(slugs(&t), ["a", "b", "d", "e", "f"]);
        assert!(t.remove("d").is_some());
        assert!(t.remove("d").is_none());
        // The freed place is taken again, and each slug still finds its own entry.
        t.insert(entry("c"));
        assert_eq!(slugs(&t), ["a", "b", "c", "e", "f"]);
        for s in ["a", "b", "c", "e", "f"] {
            assert_eq!(t.get(s).unwrap().project.slug.as_str(), s);
        }
        assert!(t.get("d").is_none() && t.get("B").is_none());
        assert_eq!(t.len(), 5);
        assert_eq!(t.unordered().count(), 5);
        let after_b: Vec<&str> = t
            .from(Bound::Excluded(&Slug::parse("b").unwrap()))
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(after_b, ["c", "e", "f"]);
        // A second insert of a slug replaces its entry, in place.
        let mut changed = entry("c");
        changed.project.id = 7;
        t.insert(changed);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get("c").unwrap().project.id, 7);
    }

    #[test]
    fn thousands_in_and_out_stay_consistent() {
        let mut t = Table::default();
        for i in 0..3000 {
            t.insert(entry(&format!("p-{i:05}")));
        }
        for i in (0..3000).step_by(3) {
            assert!(t.remove(&format!("p-{i:05}")).is_some());
        }
        for i in (0..3000).step_by(6) {
            t.insert(entry(&format!("p-{i:05}")));
        }
        let expected: Vec<String> = (0..3000)
            .filter(|i| i % 3 != 0 || i % 6 == 0)
            .map(|i| format!("p-{i:05}"))
            .collect();
        assert_eq!(slugs(&t), expected);
        assert_eq!(t.len(), expected.len());
        for s in &expected {
            assert_eq!(t.get(s).unwrap().project.slug.as_str(), s);
        }
    }
}
