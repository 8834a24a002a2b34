-- Fleet operations.
-- The heartbeat interval a project registered (seconds); NULL: the service's default
-- thresholds. Its degraded/offline thresholds follow it (2 and 3 intervals, bounded).
ALTER TABLE projects ADD COLUMN heartbeat_interval_seconds INTEGER
    CHECK (heartbeat_interval_seconds BETWEEN 1 AND 86400);
-- A maintenance window, as JSON {"reason","since","until","by"} (text, as in SQLite);
-- NULL: none.
ALTER TABLE projects ADD COLUMN maintenance TEXT;
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
-- Where a project's last registration came from: a catalog file with `prune: true`
-- removes only the projects it registered.
ALTER TABLE projects ADD COLUMN origin TEXT NOT NULL DEFAULT 'api'
    CHECK (origin IN ('api', 'file'));
