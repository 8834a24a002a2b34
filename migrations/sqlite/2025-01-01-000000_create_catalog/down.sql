DROP TABLE status_transitions;
DROP TABLE project_tags;
DROP TABLE projects;
