DROP INDEX status_transitions_at_idx;
