DROP TABLE incident_members;
DROP TABLE incidents;
