-- The same metadata column as migrations/postgres, as compact JSON text of an object.
ALTER TABLE projects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
