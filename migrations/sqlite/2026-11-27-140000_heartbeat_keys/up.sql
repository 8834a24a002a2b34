-- A project's heartbeat key (see migrations/postgres): its SHA-256 digest; NULL: none.
ALTER TABLE projects ADD COLUMN heartbeat_key_sha256 BLOB
    CHECK (heartbeat_key_sha256 IS NULL OR length(heartbeat_key_sha256) = 32);
