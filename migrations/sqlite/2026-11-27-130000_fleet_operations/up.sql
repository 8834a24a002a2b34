-- Fleet operations (see migrations/postgres).
ALTER TABLE projects ADD COLUMN heartbeat_interval_seconds INTEGER
    CHECK (heartbeat_interval_seconds BETWEEN 1 AND 86400);
-- A maintenance window: all four set, or none (times in the fixed-width UTC text form).
ALTER TABLE projects ADD COLUMN maintenance_reason TEXT;
ALTER TABLE projects ADD COLUMN maintenance_since TEXT;
ALTER TABLE projects ADD COLUMN maintenance_until TEXT;
ALTER TABLE projects ADD COLUMN maintenance_by TEXT
    CHECK ((maintenance_by IS NULL) = (maintenance_until IS NULL));
