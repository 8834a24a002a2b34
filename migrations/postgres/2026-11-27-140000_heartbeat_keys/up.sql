-- A project's heartbeat key: only its SHA-256 digest (32 bytes) is kept; NULL: none,
-- HTTP heartbeats follow the API keys as before.
ALTER TABLE projects ADD COLUMN heartbeat_key_sha256 BYTEA
    CHECK (octet_length(heartbeat_key_sha256) = 32);
