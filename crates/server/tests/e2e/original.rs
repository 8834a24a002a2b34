//! Moving from the Python original: its database (the fixture `pg_dump`) converted by
//! `federation migrate` on the test kit's PostgreSQL, and its catalog file loaded as is.

use std::path::PathBuf;

use federation_testkit::{postgres_database, psql_file, psql_query};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestConfig, READ_KEY};

/// A row of the original's table that breaks one of our rules (`hub_url`).
const BROKEN_ROW: &str =
    "INSERT INTO projects (id, slug, name, hub_url, mesh_namespace, status, tags) \
     VALUES (5, 'broken', 'Broken', 'not a url', NULL, 'online', '[]')";

/// A project registered now gets the id after the original's last (4).
async fn a_new_project_continues_after_id_4(app: &TestApp) {
    let created = app
        .register(&serde_json::json!({"slug": "newcomer", "name": "N", "hub_url": "http://n"}))
        .await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["id"], 5);
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/original/{name}"))
}

/// A fresh database holding the original's fixture dump.
fn original_database() -> String {
    let db = postgres_database().expect("test PostgreSQL");
    let url = db.url.clone();
    std::mem::forget(db);
    psql_file(&url, &fixture("original-database.sql")).expect("loading the fixture");
    url
}

fn migrate(url: &str, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    crate::binary::command()
        .arg("migrate")
        .args(["--database-url", url])
        .args(extra)
        .current_dir(dir.path())
        .env("LOG_LEVEL", "warning")
        .env_remove("DATABASE_URL")
        .output()
        .expect("running federation migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_converts_the_originals_database_in_place_once() {
    let url = original_database();
    let out = migrate(&url, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    println!("$ federation migrate --database-url …\n{stdout}");
    assert!(stdout.contains("alembic 002_heartbeat_idx"), "{stdout}");
    for line in [
        "kept project id 1 \"commandcenter\" status online (3 tag(s))",
        "kept project id 2 \"veria\" status offline (2 tag(s))",
        "kept project id 3 \"tools-1\" status degraded (0 tag(s))",
        "kept project id 4 \"legacy_hub\" status offline (0 tag(s))",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert!(stdout.contains("migration(s) applied"), "{stdout}");

    // Every field kept, the original's tables and type gone, the log seeded.
    let rows = psql_query(
        &url,
        "SELECT id, slug, name, hub_url, mesh_namespace, status, \
                coalesce(to_char(last_heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '-'), \
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
                to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), \
                (SELECT coalesce(string_agg(tag, ',' ORDER BY position), '') FROM project_tags t WHERE t.project_id = p.id) \
         FROM projects p ORDER BY id",
    )
    .unwrap();
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "1|commandcenter|CommandCenter|http://localhost:8000|hub.commandcenter|online|2025-11-18 12:00:00.000000|2025-11-01 09:00:00|2025-11-18 12:00:00.000000|python,fastapi,rag",
            "2|veria|VERIA|http://veria.internal:8080|veria.mesh|offline|-|2025-11-02 10:30:00|2025-11-02 10:30:00.000000|Machine Learning,rust",
            "3|tools-1|Tools One|https://tools.example.com|hub.tools-1|degraded|2025-11-17 08:15:30.123456|2025-11-03 11:00:00|2025-11-17 08:15:30.123456|",
            "4|legacy_hub|Legacy Hub|http://10.0.0.7:8000|hub.legacy_hub|offline|2025-10-01 00:00:00.000000|2025-09-01 00:00:00|2025-10-01 00:00:00.000000|",
        ]
    );
    let leftovers = psql_query(
        &url,
        "SELECT to_regclass('alembic_version') IS NULL, \
                to_regtype('project_status') IS NULL, \
                to_regclass('original_projects') IS NULL, \
                (SELECT count(*) FROM change_log WHERE kind = 'registered')",
    )
    .unwrap();
    assert_eq!(leftovers, "t|t|t|4");

    // A second run converts nothing and applies nothing.
    let again = migrate(&url, &[]);
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}{}", text(&again.stderr));
    assert!(!stdout.contains("converted"), "{stdout}");
    assert!(stdout.contains("nothing applied"), "{stdout}");

    // The service serves them with their ids; a new project continues after id 4.
    let mut config = TestConfig::new(|_| Backend::Postgres(url.clone()));
    config.set("FEDERATION_AUTO_MIGRATE", "false");
    let app = config.start().await;
    let list: Vec<Value> =
        serde_json::from_value(app.read_json("/api/fed/projects").await).unwrap();
    println!(
        "$ GET /api/fed/projects\n{}",
        serde_json::to_string_pretty(&list).unwrap()
    );
    let ids: Vec<(i64, &str)> = list
        .iter()
        .map(|p| (p["id"].as_i64().unwrap(), p["slug"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [
            (1, "commandcenter"),
            (4, "legacy_hub"),
            (3, "tools-1"),
            (2, "veria")
        ]
    );
    let veria = list.iter().find(|p| p["slug"] == "veria").unwrap();
    assert_eq!(
        veria["tags"],
        serde_json::json!(["Machine Learning", "rust"])
    );
    assert_eq!(veria["mesh_namespace"], "veria.mesh");
    a_new_project_continues_after_id_4(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_copies_the_originals_database_into_a_new_one_leaving_it_as_it_was() {
    let source = original_database();
    psql_query(&source, BROKEN_ROW).unwrap();
    let target = {
        let db = postgres_database().expect("test PostgreSQL");
        let url = db.url.clone();
        std::mem::forget(db);
        url
    };
    let import = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        crate::binary::command()
            .args(["import", "--from", &source, "--database-url", &target])
            .args(extra)
            .current_dir(dir.path())
            .env("LOG_LEVEL", "warning")
            .env_remove("DATABASE_URL")
            .output()
            .expect("running federation import")
    };
    // The bad row refuses the import, naming it; nothing is written.
    let out = import(&[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    for needle in [
        "id 5",
        "\"broken\"",
        "hub_url",
        "Nothing was imported",
        "--skip-invalid",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    assert_eq!(
        psql_query(&target, "SELECT count(*) FROM projects").unwrap(),
        "0"
    );

    let out = import(&["--skip-invalid"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    println!("$ federation import --from … --skip-invalid\n{stdout}");
    for line in [
        "imported 4 project(s) of the original service (alembic 002_heartbeat_idx)",
        "imported project id 1 \"commandcenter\" status online (3 tag(s))",
        "imported project id 4 \"legacy_hub\" status offline (0 tag(s))",
        "skipped project id 5 \"broken\": hub_url",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    let rows = psql_query(
        &target,
        "SELECT id, slug, status, mesh_namespace, \
                (SELECT coalesce(string_agg(tag, ',' ORDER BY position), '') FROM project_tags t WHERE t.project_id = p.id), \
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM projects p ORDER BY id",
    )
    .unwrap();
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "1|commandcenter|online|hub.commandcenter|python,fastapi,rag|2025-11-01 09:00:00",
            "2|veria|offline|veria.mesh|Machine Learning,rust|2025-11-02 10:30:00",
            "3|tools-1|degraded|hub.tools-1||2025-11-03 11:00:00",
            "4|legacy_hub|offline|hub.legacy_hub||2025-09-01 00:00:00",
        ]
    );
    assert_eq!(
        psql_query(
            &target,
            "SELECT count(*) FROM change_log WHERE kind = 'registered'"
        )
        .unwrap(),
        "4"
    );
    // The original is left as it was: its schema and its five rows.
    assert_eq!(
        psql_query(
            &source,
            "SELECT to_regclass('alembic_version') IS NOT NULL, (SELECT count(*) FROM projects), \
                    to_regclass('change_log') IS NULL"
        )
        .unwrap(),
        "t|5|t"
    );
    // A second import finds the target holding projects and refuses.
    let again = import(&["--skip-invalid"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already holds 4 project(s)"),
        "{}",
        text(&again.stderr)
    );
    // The service serves them, and a new project continues after id 4.
    let mut config = TestConfig::new(|_| Backend::Postgres(target.clone()));
    config.set("FEDERATION_AUTO_MIGRATE", "false");
    let app = config.start().await;
    assert_eq!(app.project("veria").await["id"], 2);
    a_new_project_continues_after_id_4(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_breaks_a_rule_refuses_the_conversion_and_changes_nothing() {
    let url = original_database();
    psql_query(&url, BROKEN_ROW).unwrap();
    let out = migrate(&url, &[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    for needle in [
        "id 5",
        "\"broken\"",
        "hub_url",
        "Nothing was changed",
        "--set-aside-invalid",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    // Untouched: the original's schema, all five rows, none of ours.
    let state = psql_query(
        &url,
        "SELECT to_regclass('alembic_version') IS NOT NULL, \
                to_regtype('project_status') IS NOT NULL, \
                (SELECT count(*) FROM projects), \
                to_regclass('change_log') IS NULL, \
                to_regclass('project_tags') IS NULL, \
                to_regclass('__diesel_schema_migrations') IS NULL",
    )
    .unwrap();
    assert_eq!(state, "t|t|5|t|t|t");

    // The way on that the message names: the four convert, the bad row is kept aside.
    let out = migrate(&url, &["--set-aside-invalid"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("set aside project id 5 \"broken\": hub_url"),
        "{stdout}"
    );
    let kept = psql_query(
        &url,
        "SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM projects), \
                (SELECT id || ':' || hub_url || ':' || set_aside_because FROM original_projects_set_aside)",
    )
    .unwrap();
    assert!(kept.starts_with("1,2,3,4|5:not a url:hub_url"), "{kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_catalog_file_loads_unchanged_and_keeps_allow_fanout_in_metadata() {
    let backend = Backend::postgres();
    let url = backend.url();
    let config = TestConfig::new(|_| backend);
    let yaml = std::fs::read_to_string(fixture("original-projects.yaml")).unwrap();
    assert!(yaml.contains("allow_fanout: []"), "{yaml}");
    config.write_projects(&yaml);
    let app = config.start().await;
    let p = app.project("commandcenter").await;
    assert_eq!(p["tags"], serde_json::json!(["python", "fastapi", "rag"]));
    assert_eq!(p["mesh_namespace"], "hub.commandcenter");
    // Nothing of the entry is lost: the key we do not model is in the metadata, in the
    // database as jsonb, and filterable.
    assert_eq!(p["metadata"], serde_json::json!({"allow_fanout": []}));
    let stored = psql_query(
        &url,
        "SELECT metadata::text, jsonb_typeof(metadata -> 'allow_fanout') FROM projects \
         WHERE slug = 'commandcenter'",
    )
    .unwrap();
    assert_eq!(stored, r#"{"allow_fanout": []}|array"#);
    let list = |app: &crate::helpers::TestApp, query: &'static str| {
        let req = app.get(&format!("/api/fed/projects?{query}"));
        async move {
            let r = req.header("X-API-Key", READ_KEY).send().await.unwrap();
            assert_eq!(r.status(), 200, "{query}");
            let body: Vec<Value> = r.json().await.unwrap();
            body.iter()
                .map(|p| p["slug"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(&app, "meta.allow_fanout=%5B%5D").await,
        ["commandcenter"]
    );
    assert!(list(&app, "meta.allow_fanout=true").await.is_empty());

    // A PATCH merges into the metadata; it is a change of the log and survives a restart
    // (the snapshot the registry loads).
    let patched = app
        .client
        .patch(app.url("/api/fed/projects/commandcenter"))
        .header("X-API-Key", crate::helpers::WRITE_KEY)
        .json(&serde_json::json!({"metadata": {"team": "platform", "allow_fanout": null}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let body: Value = patched.json().await.unwrap();
    assert_eq!(body["metadata"], serde_json::json!({"team": "platform"}));
    let logged = psql_query(
        &url,
        "SELECT count(*) FROM change_log WHERE kind = 'updated' AND slug = 'commandcenter'",
    )
    .unwrap();
    assert_eq!(logged, "1");
    app.stop().await;
    // The file is applied again at start (registration replaces the metadata, as it
    // replaces tags): start without it to see what the store kept.
    std::fs::remove_file(config.dir.path().join("projects.yaml")).unwrap();
    let again = config.start().await;
    assert_eq!(
        again.project("commandcenter").await["metadata"],
        serde_json::json!({"team": "platform"})
    );
    assert_eq!(list(&again, "meta.team=platform").await, ["commandcenter"]);
    again.stop().await;

    // A wrong type for a key we do model still stops the start, naming entry and field.
    config.write_projects(&yaml.replace("    tags:\n", "    tags: python\n    x:\n"));
    let err = config.try_start().await.err().expect("refused").to_string();
    assert!(
        err.contains("projects[0] (slug \"commandcenter\"): tags"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dotenv_file_is_read_the_environment_wins_and_log_level_takes_pythons_names() {
    let db = postgres_database().expect("test PostgreSQL");
    let url = db.url.clone();
    std::mem::forget(db);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={url}\nLOG_LEVEL=CRITICAL\n"),
    )
    .unwrap();
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = crate::binary::command();
        cmd.arg("migrate")
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("LOG_LEVEL")
            .env_remove("FEDERATION_ENV_FILE");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // DATABASE_URL from .env: the PostgreSQL database is migrated, not embedded SQLite.
    let out = run(&[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&url), "{stdout}");
    // The environment wins over the file: a bad LOG_LEVEL there stops the start.
    let out = run(&[("LOG_LEVEL", "verbose")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("LOG_LEVEL"),
        "{}",
        text(&out.stderr)
    );
    // warning (the original's value) logs warnings: the start line (info) is not shown,
    // while info shows which env file was read.
    let out = run(&[("LOG_LEVEL", "info"), ("LOG_FORMAT", "json")]);
    let logs = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(logs.contains("read settings from env file"), "{logs}");
    assert!(logs.contains(".env"), "{logs}");
    let out = run(&[("LOG_LEVEL", "warning")]);
    let logs = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{logs}");
    assert!(!logs.contains("read settings from env file"), "{logs}");
    // FEDERATION_ENV_FILE names another file, which must exist.
    let out = run(&[("FEDERATION_ENV_FILE", "missing.env")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("FEDERATION_ENV_FILE"),
        "{}",
        text(&out.stderr)
    );
}
