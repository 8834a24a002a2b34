ALTER TABLE projects DROP COLUMN heartbeat_interval_seconds;
