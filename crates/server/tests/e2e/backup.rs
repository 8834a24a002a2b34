//! `federation export` and `federation import --from-file`, the real binary: SQLite to
//! PostgreSQL and back, the file owner-only, a second export refused without
//! `--force`, an import into a database holding data refused, a bad line named.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use federation_domain::{ProjectRepository, RegistrationInput};
use federation_store::{DatabaseUrl, Store, StoreOptions};
use federation_testkit::postgres_database;

fn run(dir: &Path, args: &[&str]) -> Output {
    crate::binary::command()
        .args(args)
        .current_dir(dir)
        .env("LOG_LEVEL", "warning")
        .env_remove("DATABASE_URL")
        .output()
        .expect("running federation")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The record lines (the header aside).
fn records(file: &Path) -> Vec<String> {
    let all = std::fs::read_to_string(file).unwrap();
    all.lines().skip(1).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_move_a_database_between_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/a.db", dir.path().display());
    let postgres = {
        let db = tokio::task::spawn_blocking(postgres_database)
            .await
            .unwrap()
            .expect("test PostgreSQL");
        let url = db.url.clone();
        std::mem::forget(db);
        url
    };
    let help = run(dir.path(), &["export", "--help"]);
    assert!(help.status.success(), "{}", text(&help));
    assert!(text(&help).contains("readable by its owner only"));

    let store = Store::connect(
        &DatabaseUrl::parse(&sqlite).unwrap(),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    store.run_migrations().await.unwrap();
    for i in 0..30 {
        let reg = RegistrationInput {
            slug: Some(format!("hub-{i}")),
            name: Some(format!("Hub {i}")),
            hub_url: Some(format!("https://hub-{i}.example.com")),
            tags: Some(vec!["prod".into()]),
            ..RegistrationInput::default()
        }
        .validate()
        .unwrap();
        store.upsert(&reg).await.unwrap();
    }
    drop(store);

    let first = dir.path().join("first.jsonl");
    let first_s = first.to_str().unwrap();
    let out = run(dir.path(), &["export", first_s, "--database-url", &sqlite]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("exported 1 log, 30 project"),
        "{}",
        text(&out)
    );
    let mode = std::fs::metadata(&first).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    assert!(!dir.path().join("first.jsonl.partial").exists());

    let again = run(dir.path(), &["export", first_s, "--database-url", &sqlite]);
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));

    // SQLite to PostgreSQL (migrated by the import).
    let out = run(
        dir.path(),
        &[
            "import",
            "--from-file",
            first_s,
            "--database-url",
            &postgres,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("imported 1 log, 30 project"),
        "{}",
        text(&out)
    );

    // A second import finds data: refused, nothing changed.
    let out = run(
        dir.path(),
        &[
            "import",
            "--from-file",
            first_s,
            "--database-url",
            &postgres,
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("is not empty"), "{}", text(&out));

    // And back: the records are the same.
    let second = dir.path().join("second.jsonl");
    let out = run(
        dir.path(),
        &[
            "export",
            second.to_str().unwrap(),
            "--database-url",
            &postgres,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(records(&first), records(&second));

    // A bad line is named, into a fresh database.
    let bad = dir.path().join("bad.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&first)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[5] = lines[5].replace(r#""name":"#, r#""nome":"#);
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let fresh = format!("sqlite://{}/b.db", dir.path().display());
    let out = run(
        dir.path(),
        &[
            "import",
            "--from-file",
            bad.to_str().unwrap(),
            "--database-url",
            &fresh,
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("line 6: "), "{}", text(&out));

    // --skip-invalid belongs to --from.
    let out = run(
        dir.path(),
        &["import", "--from-file", first_s, "--skip-invalid"],
    );
    assert!(!out.status.success());
}
