-- The heartbeat interval a project registered (seconds); NULL: the service's default
-- thresholds. Its degraded/offline thresholds follow it (2 and 3 intervals, bounded).
ALTER TABLE projects ADD COLUMN heartbeat_interval_seconds INTEGER
    CHECK (heartbeat_interval_seconds BETWEEN 1 AND 86400);
