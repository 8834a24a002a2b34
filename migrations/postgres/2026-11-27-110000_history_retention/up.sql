-- The history's retention (FEDERATION_HISTORY_RETENTION) deletes by age across every
-- project: an index on the time keeps that from scanning the whole table.
CREATE INDEX status_transitions_at_idx ON status_transitions (at);
