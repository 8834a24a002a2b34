DROP TRIGGER projects_status_counts_update ON projects;
DROP TRIGGER projects_status_counts_delete ON projects;
DROP TRIGGER projects_status_counts_insert ON projects;
DROP FUNCTION project_status_counts_on_write();
DROP FUNCTION project_status_counts_apply(JSONB);
DROP TABLE project_status_counts;
