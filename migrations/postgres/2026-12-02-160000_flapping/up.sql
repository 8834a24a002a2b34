-- Flapping (docs/notifications.md § Flapping): a project field, set and cleared by the
-- leader together with a `flapping` or `stable` row of the change log.
ALTER TABLE projects ADD COLUMN flapping_since TIMESTAMPTZ;

ALTER TABLE change_log DROP CONSTRAINT change_log_kind_check;
ALTER TABLE change_log ADD CONSTRAINT change_log_kind_check
    CHECK (kind IN ('registered', 'updated', 'deleted', 'transition', 'flapping', 'stable'));
