-- A project's metadata: free JSON values under named keys (what the catalog does not
-- model, such as the original's allow_fanout). Bounded and validated by the domain
-- (at most 64 keys, 8 KiB); the check below is a safety net.
ALTER TABLE projects
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT projects_metadata_object_check CHECK (jsonb_typeof(metadata) = 'object');
