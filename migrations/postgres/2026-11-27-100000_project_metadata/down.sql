ALTER TABLE projects DROP COLUMN metadata;
