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
