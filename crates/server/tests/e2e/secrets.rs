//! Secrets are never printed: the real binary is started with a secret in every place
//! it accepts one (the database URL's user info, `?password=` and `?sslpassword=`, the
//! NATS URL's user info, `NATS_TOKEN`, `NATS_NKEY`, a `NATS_CREDS` file, the API keys,
//! one of them from a `.env` file), driven through traffic and failures (bad requests,
//! wrong keys, NATS and PostgreSQL going away, unreachable servers at start), and every
//! byte it wrote (pretty and JSON logs, `/ready`, `/metrics`, error bodies, `--help` and
//! error output) is searched for each secret.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use federation_testkit::{free_port, NatsServer, PostgresCluster};
use serde_json::Value;

use crate::binary::{self, Binary};
use crate::helpers::eventually;

const PG_USERINFO: &str = "pg-userinfo-S3cr3tA";
const PG_QUERY: &str = "pg-query-S3cr3tB";
const PG_SSLPASSWORD: &str = "pg-sslpass-S3cr3tC";
const NATS_PASSWORD: &str = "nats-pass-S3cr3tD";
const NATS_TOKEN: &str = "nats-token-S3cr3tE";
/// The NKey seed of the NATS documentation's examples (a valid seed, never a real one).
const NATS_NKEY: &str = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";
const CREDS_JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5In0.creds-S3cr3tF.c2ln";
const WRITE_KEY: &str = "write-key-S3cr3tG";
const READ_KEY: &str = "read-key-S3cr3tH";
const PRESENTED_KEY: &str = "presented-key-S3cr3tI";
const SERVER_PASSWORD: &str = "server-url-S3cr3tJ";

const SECRETS: [&str; 11] = [
    PG_USERINFO,
    PG_QUERY,
    PG_SSLPASSWORD,
    NATS_PASSWORD,
    NATS_TOKEN,
    NATS_NKEY,
    CREDS_JWT,
    WRITE_KEY,
    READ_KEY,
    PRESENTED_KEY,
    SERVER_PASSWORD,
];

/// Everything one run showed, labelled by where it came from.
#[derive(Default)]
struct Shown(Vec<(String, String)>);

impl Shown {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.0.push((place.into(), text.into()));
    }

    /// Panics naming the place and the secret found, with the line around it.
    /// `SECRETS_DUMP=<dir>` writes every place's text there, to see what was searched.
    fn assert_clean(&self) {
        if let Ok(dir) = std::env::var("SECRETS_DUMP") {
            for (i, (place, text)) in self.0.iter().enumerate() {
                let _ = std::fs::write(format!("{dir}/{i:02}.txt"), format!("{place}\n{text}"));
            }
        }
        for (place, text) in &self.0 {
            for secret in SECRETS {
                if let Some(line) = text.lines().find(|l| l.contains(secret)) {
                    panic!("{secret} shown in {place}: {line}");
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        self.0.iter().map(|(_, t)| t.len()).sum()
    }
}

/// A `.env` file, a credentials file, and the environment naming every secret.
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("FEDERATION_READ_API_KEYS={READ_KEY}\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("user.creds"),
            format!(
                "-----BEGIN NATS USER JWT-----\n{CREDS_JWT}\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{NATS_NKEY}\n------END USER NKEY SEED------\n"
            ),
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary with the common environment: API keys (the read key from `.env`),
    /// logs as asked.
    fn command(&self, args: &[&str], format: &str) -> Command {
        let mut cmd = binary::command();
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_FORMAT", format)
            .env("LOG_LEVEL", "debug")
            .env("FEDERATION_API_KEYS", WRITE_KEY)
            .env("FEDERATION_PROJECTS_FILE", self.path().join("none.yaml"));
        cmd
    }
}

/// A running service (killed when dropped) whose output is shown.
struct Service(Binary);

impl Service {
    fn spawn(cmd: Command) -> Self {
        Self(Binary::start(cmd))
    }

    fn output(&self) -> String {
        self.0.output()
    }

    /// Stops it and adds what it wrote.
    fn finish(self, shown: &mut Shown, place: &str) -> String {
        let text = self.0.kill();
        shown.add(place, text.clone());
        text
    }

    /// Waits (with a deadline) for it to exit by itself; adds what it wrote.
    async fn exits(self, shown: &mut Shown, place: &str) -> String {
        let (status, text) = self.0.finish(Duration::from_secs(60)).await;
        assert!(!status.success(), "{place} should fail: {text}");
        shown.add(place, text.clone());
        text
    }
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn call(
        &self,
        shown: &mut Shown,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.header("X-API-Key", key);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let mut headers = String::new();
        for (k, v) in resp.headers() {
            headers.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or_default()));
        }
        let text = resp.text().await.unwrap();
        shown.add(
            format!("{method} {path} ({status})"),
            format!("{headers}{text}"),
        );
        (status, text)
    }

    async fn ready(&self, shown: &mut Shown) -> Value {
        let (_, text) = self
            .call(shown, reqwest::Method::GET, "/ready", None, None)
            .await;
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// The service on PostgreSQL and an authenticated NATS, with JSON logs: traffic, bad
/// requests, wrong keys, then NATS and PostgreSQL going away.
async fn a_running_service_through_traffic_and_failures(secrets: &Secrets, shown: &mut Shown) {
    let pg = tokio::task::spawn_blocking(PostgresCluster::start)
        .await
        .unwrap()
        .expect("a PostgreSQL cluster of our own");
    let db = pg.create_database("secrets").unwrap();
    let db_url = format!(
        "{}?password={PG_QUERY}",
        db.replacen("postgres@", &format!("postgres:{PG_USERINFO}@"), 1)
    );
    let mut nats = NatsServer::start_with_config(&format!(
        "authorization {{ user: svc, password: \"{NATS_PASSWORD}\" }}"
    ))
    .unwrap();
    let nats_url = nats
        .url()
        .replacen("nats://", &format!("nats://svc:{NATS_PASSWORD}@"), 1);
    let port = free_port();
    let mut cmd = secrets.command(&["serve"], "json");
    cmd.env("DATABASE_URL", &db_url)
        .env("FEDERATION_AUTO_MIGRATE", "true")
        .env("NATS_URL", &nats_url)
        .env("SERVICE_PORT", port.to_string())
        .env("FEDERATION_CANARY_INTERVAL", "200ms")
        .env("FEDERATION_SWEEP_INTERVAL", "200ms");
    let service = Service::spawn(cmd);
    let http = Http {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    eventually(Duration::from_secs(30), || {
        let ready = http.client.get(format!("{}/ready", http.base)).send();
        async move {
            let body: Value = ready
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if body["checks"]["nats"] == "ok" && body["checks"]["database"] == "ok" {
                Ok(())
            } else {
                Err(body.to_string())
            }
        }
    })
    .await;

    use reqwest::Method;
    let project = r#"{"slug":"alpha","name":"Alpha","hub_url":"http://alpha:8000","metadata":{"team":"ops"}}"#;
    /// Method, path, key, body, the status expected.
    type Call<'a> = (Method, &'a str, Option<&'a str>, Option<&'a str>, u16);
    let calls: [Call<'_>; 11] = [
        (
            Method::POST,
            "/api/fed/projects",
            Some(WRITE_KEY),
            Some(project),
            201,
        ),
        (Method::GET, "/api/fed/projects", Some(READ_KEY), None, 200),
        (Method::GET, "/api/fed/projects", None, None, 401),
        (
            Method::GET,
            "/api/fed/projects",
            Some(PRESENTED_KEY),
            None,
            403,
        ),
        (
            Method::POST,
            "/api/fed/projects",
            Some(READ_KEY),
            Some(project),
            403,
        ),
        (
            Method::POST,
            "/api/fed/projects",
            Some(WRITE_KEY),
            Some("{oops"),
            400,
        ),
        (
            Method::POST,
            "/api/fed/projects",
            Some(WRITE_KEY),
            Some(r#"{"slug":"-"}"#),
            422,
        ),
        (
            Method::POST,
            "/api/fed/projects/alpha/heartbeat",
            Some(WRITE_KEY),
            Some(r#"{"project_slug":"alpha"}"#),
            202,
        ),
        (
            Method::POST,
            "/api/fed/projects/ghost/heartbeat",
            Some(WRITE_KEY),
            Some(r#"{"project_slug":"ghost"}"#),
            404,
        ),
        (Method::GET, "/metrics", None, None, 200),
        (Method::GET, "/openapi.json", None, None, 200),
    ];
    for (method, path, key, body, expect) in calls {
        let (status, text) = http.call(shown, method, path, key, body).await;
        assert_eq!(status, expect, "{path}: {text}");
    }
    http.ready(shown).await;

    // NATS goes away: the link's reconnect attempts are logged.
    nats.stop().unwrap();
    eventually(Duration::from_secs(20), || {
        let ready = http.client.get(format!("{}/ready", http.base)).send();
        async move {
            let body: Value = ready
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if body["checks"]["nats"] == "down" {
                Ok(())
            } else {
                Err(body.to_string())
            }
        }
    })
    .await;
    http.ready(shown).await;

    // PostgreSQL goes away: writes and readiness answer 503.
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop().unwrap();
        pg
    })
    .await
    .unwrap();
    let (status, text) = http
        .call(
            shown,
            Method::POST,
            "/api/fed/projects",
            Some(WRITE_KEY),
            Some(r#"{"slug":"beta","name":"B","hub_url":"http://b"}"#),
        )
        .await;
    assert_eq!(status, 503, "{text}");
    eventually(Duration::from_secs(30), || {
        let ready = http.client.get(format!("{}/ready", http.base)).send();
        async move {
            let resp = ready.await.map_err(|e| e.to_string())?;
            if resp.status() == 503 {
                Ok(())
            } else {
                Err(resp.status().to_string())
            }
        }
    })
    .await;
    http.ready(shown).await;
    http.call(shown, Method::GET, "/metrics", None, None).await;
    // Let the service log its failures to reach NATS and the database for a while:
    // wait until its log mentions both (or give up looking after the deadline).
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let text = service.output();
            if text.contains("nats") && text.contains("database") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let log = service.finish(shown, "the JSON log of the running service");
    drop(pg);
    // The log did show the URLs, masked: the check above is not passing for lack of text.
    assert!(
        log.contains("svc:***@127.0.0.1"),
        "no masked NATS URL in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_ever_printed() {
    let secrets = Secrets::new();
    let mut shown = Shown::default();

    a_running_service_through_traffic_and_failures(&secrets, &mut shown).await;

    // Unreachable servers at start, pretty logs: the errors name the URLs, masked.
    let closed = free_port();
    let bad_db = format!(
        "postgresql://postgres:{PG_USERINFO}@127.0.0.1:{closed}/fed?password={PG_QUERY}&sslpassword={PG_SSLPASSWORD}"
    );
    let unreachable_db =
        format!("postgres://postgres:{PG_USERINFO}@127.0.0.1:{closed}/fed?password={PG_QUERY}");
    let nats_url = format!("nats://svc:{NATS_PASSWORD}@127.0.0.1:{closed}");
    for (name, args, db) in [
        ("serve, a URL the driver refuses", &["serve"][..], &bad_db),
        (
            "serve, an unreachable database",
            &["serve"][..],
            &unreachable_db,
        ),
        (
            "migrate, a URL the driver refuses",
            &["migrate"][..],
            &bad_db,
        ),
        (
            "migrate, an unreachable database",
            &["migrate"][..],
            &unreachable_db,
        ),
    ] {
        let mut cmd = secrets.command(args, "pretty");
        cmd.env("DATABASE_URL", db)
            .env("FEDERATION_AUTO_MIGRATE", "true")
            .env("NATS_URL", &nats_url)
            .env("NATS_TOKEN", NATS_TOKEN)
            .env("SERVICE_PORT", free_port().to_string());
        let text = Service::spawn(cmd).exits(&mut shown, name).await;
        assert!(
            text.contains("127.0.0.1"),
            "{name}: the error names no server: {text}"
        );
    }
    let mut cmd = secrets.command(&["migrate", "--database-url", &bad_db], "json");
    cmd.env("DATABASE_URL", &unreachable_db);
    Service::spawn(cmd)
        .exits(&mut shown, "migrate --database-url")
        .await;
    let cmd = secrets.command(
        &[
            "import",
            "--from",
            &unreachable_db,
            "--database-url",
            &bad_db,
        ],
        "pretty",
    );
    Service::spawn(cmd).exits(&mut shown, "import --from").await;

    // NATS unreachable with a token, an nkey and a credentials file (embedded SQLite).
    for (name, var, value) in [
        ("NATS_TOKEN", "NATS_TOKEN", NATS_TOKEN.to_owned()),
        ("NATS_NKEY", "NATS_NKEY", NATS_NKEY.to_owned()),
        (
            "NATS_CREDS",
            "NATS_CREDS",
            secrets.path().join("user.creds").display().to_string(),
        ),
    ] {
        let port = free_port();
        let mut cmd = secrets.command(&["serve"], "pretty");
        cmd.env("NATS_URL", &nats_url)
            .env(var, value)
            .env("SERVICE_PORT", port.to_string());
        let service = Service::spawn(cmd);
        let http = Http {
            client: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(r) = http.client.get(format!("{}/ready", http.base)).send().await {
                    if let Ok(body) = r.json::<Value>().await {
                        if body["checks"]["nats"] == "down" {
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if started.is_ok() {
            http.ready(&mut shown).await;
            let (status, _) = http
                .call(
                    &mut shown,
                    reqwest::Method::GET,
                    "/api/fed/projects",
                    Some(PRESENTED_KEY),
                    None,
                )
                .await;
            assert_eq!(status, 403);
            service.finish(&mut shown, &format!("the pretty log with {name}"));
        } else {
            // It refused to start: its error output is searched all the same.
            service.finish(&mut shown, &format!("the refusal with {name}"));
        }
    }

    // --help of every command, with every secret in the environment.
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["import", "--help"],
        &["healthcheck", "--help"],
        &["heartbeat", "--help"],
        &["projects", "--help"],
        &["projects", "list", "--help"],
        &["simulate", "--help"],
    ] {
        let out = secrets
            .command(args, "pretty")
            .env("DATABASE_URL", &unreachable_db)
            .env("NATS_URL", &nats_url)
            .env("NATS_TOKEN", NATS_TOKEN)
            .env("NATS_NKEY", NATS_NKEY)
            .env("FEDERATION_API_KEY", WRITE_KEY)
            .env(
                "FEDERATION_SERVER",
                format!("http://admin:{SERVER_PASSWORD}@127.0.0.1:{closed}"),
            )
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Usage"), "{args:?}: {text}");
        shown.add(format!("federation {}", args.join(" ")), text);
    }
    // An operator command against an unreachable server whose URL carries a password.
    let out = secrets
        .command(&["projects", "list"], "pretty")
        .env("FEDERATION_API_KEY", WRITE_KEY)
        .env(
            "FEDERATION_SERVER",
            format!("http://admin:{SERVER_PASSWORD}@127.0.0.1:{closed}"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    shown.add(
        "federation projects list (unreachable)",
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );

    println!(
        "searched {} places, {} bytes, for {} secrets",
        shown.0.len(),
        shown.bytes(),
        SECRETS.len()
    );
    shown.assert_clean();
}
