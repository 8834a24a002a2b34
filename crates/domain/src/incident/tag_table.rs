//! The tags the incident tracker's projects carry, each held once and counted: a
//! fleet of a million tagged projects costs a small number per tag, not two strings.

use std::collections::HashMap;

/// A tag as written, with its lower case (the key groups compare).
#[derive(Debug, Clone)]
struct Slot {
    lower: String,
    written: String,
    /// How many projects carry it.
    holders: usize,
}

/// Tags by number; a number is reused once no project carries its tag.
#[derive(Debug, Clone, Default)]
pub(super) struct TagTable {
    slots: Vec<Option<Slot>>,
    by_written: HashMap<String, usize>,
    free: Vec<usize>,
}

impl TagTable {
    /// The number of `written` (as written), now carried by one more project.
    pub(super) fn hold(&mut self, written: &str) -> usize {
        if let Some(&id) = self.by_written.get(written) {
            if let Some(slot) = self.slot_mut(id) {
                slot.holders += 1;
            }
            return id;
        }
        let slot = Slot {
            lower: written.to_lowercase(),
            written: written.to_owned(),
            holders: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(free) = self.slots.get_mut(id) {
                    *free = Some(slot);
                }
                id
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.by_written.insert(written.to_owned(), id);
        id
    }

    /// One project less carries tag `id`; the tag is dropped when none does.
    pub(super) fn release(&mut self, id: usize) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.holders -= 1;
        if slot.holders == 0 {
            if let Some(gone) = self.slots.get_mut(id).and_then(Option::take) {
                self.by_written.remove(&gone.written);
            }
            self.free.push(id);
        }
    }

    /// Tag `id`: (lower case, as written); empty for a number not held.
    pub(super) fn get(&self, id: usize) -> (&str, &str) {
        match self.slots.get(id) {
            Some(Some(s)) => (&s.lower, &s.written),
            _ => ("", ""),
        }
    }

    fn slot_mut(&mut self, id: usize) -> Option<&mut Slot> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_held_once_counted_and_its_number_reused_once_dropped() {
        let mut t = TagTable::default();
        let prod = t.hold("Prod");
        assert_eq!(t.hold("Prod"), prod);
        assert_eq!(t.get(prod), ("prod", "Prod"));
        let eu = t.hold("eu");
        assert_ne!(eu, prod);
        t.release(prod);
        assert_eq!(
            t.get(prod),
            ("prod", "Prod"),
            "one project still carries it"
        );
        t.release(prod);
        assert_eq!(t.get(prod), ("", ""));
        let us = t.hold("us");
        assert_eq!(us, prod, "the number is reused");
        assert_eq!(t.get(us), ("us", "us"));
        assert_eq!(t.hold("Prod"), 2, "a dropped tag comes back anew");
    }
}
