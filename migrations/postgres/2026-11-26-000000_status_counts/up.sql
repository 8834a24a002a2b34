-- Projects per status, kept exact by triggers in the same transaction as every write to
-- projects. A list filtered by status reads its total here instead of counting the
-- matching rows each time (rows the heartbeat flush rewrites every second, so such a
-- count must visit the heap for every one of them).

CREATE TABLE project_status_counts (
    status   TEXT   PRIMARY KEY CHECK (status IN ('online', 'degraded', 'offline')),
    projects BIGINT NOT NULL CHECK (projects >= 0)
);

INSERT INTO project_status_counts (status, projects)
SELECT s.status, (SELECT count(*) FROM projects p WHERE p.status = s.status)
FROM (VALUES ('online'), ('degraded'), ('offline')) AS s (status);

-- Statement-level triggers: a batch of 100,000 rows costs one aggregate, not 100,000 row
-- updates. Heartbeat-only updates keep their status, so their deltas are zero and they
-- touch nothing. The counts rows are locked in status order before they are changed, so
-- concurrent writers cannot deadlock on them.
CREATE FUNCTION project_status_counts_apply(deltas JSONB) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM project_status_counts
     WHERE deltas ? status
     ORDER BY status FOR UPDATE;
    UPDATE project_status_counts c
       SET projects = c.projects + (deltas ->> c.status)::BIGINT
     WHERE deltas ? c.status;
END;
$$;

CREATE FUNCTION project_status_counts_on_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    deltas JSONB;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_object_agg(status, n) INTO deltas
          FROM (SELECT status, count(*) AS n FROM new_rows GROUP BY status) d;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_object_agg(status, -n) INTO deltas
          FROM (SELECT status, count(*) AS n FROM old_rows GROUP BY status) d;
    ELSE
        SELECT jsonb_object_agg(status, delta) INTO deltas
          FROM (
            SELECT status, sum(delta) AS delta FROM (
                SELECT status, 1 AS delta FROM new_rows
                UNION ALL
                SELECT status, -1 AS delta FROM old_rows
            ) x GROUP BY status HAVING sum(delta) <> 0
          ) d;
    END IF;
    IF deltas IS NOT NULL THEN
        PERFORM project_status_counts_apply(deltas);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER projects_status_counts_insert AFTER INSERT ON projects
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION project_status_counts_on_write();
CREATE TRIGGER projects_status_counts_delete AFTER DELETE ON projects
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION project_status_counts_on_write();
CREATE TRIGGER projects_status_counts_update AFTER UPDATE ON projects
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION project_status_counts_on_write();
