-- Projects per status, kept exact by triggers in the same transaction as every write to
-- projects (see migrations/postgres: a list filtered by status reads its total here).

CREATE TABLE project_status_counts (
    status   TEXT    PRIMARY KEY CHECK (status IN ('online', 'degraded', 'offline')),
    projects INTEGER NOT NULL CHECK (projects >= 0)
) WITHOUT ROWID;

INSERT INTO project_status_counts (status, projects)
SELECT s.status, (SELECT count(*) FROM projects p WHERE p.status = s.status)
FROM (SELECT 'online' AS status UNION ALL SELECT 'degraded' UNION ALL SELECT 'offline') s;

CREATE TRIGGER projects_status_counts_insert AFTER INSERT ON projects
BEGIN
    UPDATE project_status_counts SET projects = projects + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER projects_status_counts_delete AFTER DELETE ON projects
BEGIN
    UPDATE project_status_counts SET projects = projects - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER projects_status_counts_update AFTER UPDATE OF status ON projects
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE project_status_counts SET projects = projects - 1 WHERE status = OLD.status;
    UPDATE project_status_counts SET projects = projects + 1 WHERE status = NEW.status;
END;
