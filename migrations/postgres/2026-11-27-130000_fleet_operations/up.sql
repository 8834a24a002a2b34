-- Fleet operations.
-- The heartbeat interval a project registered (seconds); NULL: the service's default
-- thresholds. Its degraded/offline thresholds follow it (2 and 3 intervals, bounded).
ALTER TABLE projects ADD COLUMN heartbeat_interval_seconds INTEGER
    CHECK (heartbeat_interval_seconds BETWEEN 1 AND 86400);
-- A maintenance window: all four set, or none.
ALTER TABLE projects ADD COLUMN maintenance_reason TEXT;
ALTER TABLE projects ADD COLUMN maintenance_since TIMESTAMPTZ;
ALTER TABLE projects ADD COLUMN maintenance_until TIMESTAMPTZ;
ALTER TABLE projects ADD COLUMN maintenance_by TEXT;
ALTER TABLE projects ADD CONSTRAINT projects_maintenance_whole CHECK (
    (maintenance_reason IS NULL) = (maintenance_until IS NULL)
    AND (maintenance_since IS NULL) = (maintenance_until IS NULL)
    AND (maintenance_by IS NULL) = (maintenance_until IS NULL)
);
-- History outlives its project (removed on request or expired): every row carries its
-- slug, and a removal leaves the rows with no project (reachable by slug).
ALTER TABLE status_transitions ADD COLUMN slug TEXT;
UPDATE status_transitions t SET slug = p.slug FROM projects p WHERE p.id = t.project_id;
ALTER TABLE status_transitions ALTER COLUMN slug SET NOT NULL;
ALTER TABLE status_transitions ALTER COLUMN project_id DROP NOT NULL;
ALTER TABLE status_transitions DROP CONSTRAINT status_transitions_project_id_fkey;
ALTER TABLE status_transitions ADD CONSTRAINT status_transitions_project_id_fkey
    FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE SET NULL;
CREATE INDEX status_transitions_slug_at_idx ON status_transitions (slug, at DESC, id DESC);
