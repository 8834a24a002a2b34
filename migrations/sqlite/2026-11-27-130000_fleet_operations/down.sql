ALTER TABLE projects DROP COLUMN maintenance_by;
ALTER TABLE projects DROP COLUMN maintenance_until;
ALTER TABLE projects DROP COLUMN maintenance_since;
ALTER TABLE projects DROP COLUMN maintenance_reason;
ALTER TABLE projects DROP COLUMN heartbeat_interval_seconds;
