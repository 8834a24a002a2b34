DELETE FROM status_transitions WHERE project_id IS NULL;
DROP INDEX status_transitions_slug_at_idx;
ALTER TABLE status_transitions DROP CONSTRAINT status_transitions_project_id_fkey;
ALTER TABLE status_transitions ADD CONSTRAINT status_transitions_project_id_fkey
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE status_transitions ALTER COLUMN project_id SET NOT NULL;
ALTER TABLE status_transitions DROP COLUMN slug;
ALTER TABLE projects DROP COLUMN origin;
ALTER TABLE projects DROP COLUMN maintenance;
ALTER TABLE projects DROP COLUMN heartbeat_interval_seconds;
