ALTER TABLE projects DROP COLUMN heartbeat_key_sha256;
