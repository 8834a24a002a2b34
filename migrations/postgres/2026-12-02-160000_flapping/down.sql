DELETE FROM change_log WHERE kind IN ('flapping', 'stable');
ALTER TABLE change_log DROP CONSTRAINT change_log_kind_check;
ALTER TABLE change_log ADD CONSTRAINT change_log_kind_check
    CHECK (kind IN ('registered', 'updated', 'deleted', 'transition'));
ALTER TABLE projects DROP COLUMN flapping_since;
