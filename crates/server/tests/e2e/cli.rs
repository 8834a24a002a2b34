//! The operator commands against the real service on port 0: `federation heartbeat`
//! (run as a process, over NATS and HTTP), `federation projects …` and `federation
//! simulate` (through the functions the commands call).

use std::time::Duration;

use crate::helpers::{project, Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};
use federation_server::cli::client::FederationClient;
use federation_server::cli::projects::{execute, ProjectsCommand};
use federation_server::cli::simulate::{self, Rate, SimulateArgs};
use federation_server::cli::NatsArgs;
use serde_json::Value;

fn nats_config(nats_url: &str) -> TestConfig {
    TestConfig::with_nats(|_| Backend::postgres(), nats_url, "4s", "5s")
}

/// Runs the `federation` binary with a clean environment for its settings.
fn federation(args: &[&str]) -> std::process::Output {
    crate::binary::command()
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("FEDERATION_API_KEY")
        .env_remove("FEDERATION_SERVER")
        .output()
        .expect("running federation")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_once_over_nats_makes_the_project_online() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url).start().await;
    assert_eq!(app.register(&project("cli-once")).await.status(), 201);
    assert_eq!(app.status_of("cli-once").await, "offline");
    app.wait_bus_healthy().await;

    let args = [
        "heartbeat",
        "--once",
        "--slug",
        "cli-once",
        "--hub-url",
        "http://cli-once.example.com",
        "--nats-url",
        &nats_url,
        "--project-version",
        "2.1.0",
    ];
    let args = args.map(String::from);
    let out = tokio::task::spawn_blocking(move || federation(&args.each_ref().map(String::as_str)))
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("hub.presence.cli-once"), "{out:?}");

    app.wait_for_status("cli-once", "online", Duration::from_secs(10))
        .await;
    let p = app.project("cli-once").await;
    assert_eq!(p["version"], "2.1.0");
    assert!(p["last_heartbeat_at"].is_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_once_over_http_reports_degraded_with_its_reasons() {
    let app = TestConfig::new(|_| Backend::postgres()).start().await;
    app.register(&project("cli-http")).await;
    let address = app.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        crate::binary::command()
            .args([
                "heartbeat",
                "--once",
                "--slug",
                "cli-http",
                "--hub-url",
                "http://cli-http.example.com",
                "--server",
                &address,
                "--status",
                "degraded",
                "--reason",
                "disk almost full",
            ])
            .env("FEDERATION_API_KEY", WRITE_KEY)
            .env_remove("NATS_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    app.wait_for_status("cli-http", "degraded", Duration::from_secs(10))
        .await;
    let p = app.project("cli-http").await;
    assert_eq!(p["status"], "degraded");
    assert!(
        p["status_reason"]
            .as_str()
            .unwrap()
            .contains("disk almost full"),
        "{p}"
    );

    // No API key: the service refuses, the command fails and says why.
    let address = app.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        federation(&[
            "heartbeat",
            "--once",
            "--slug",
            "cli-http",
            "--hub-url",
            "http://cli-http.example.com",
            "--server",
            &address,
        ])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{out:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_refuses_an_invalid_slug_and_a_missing_destination() {
    let out = tokio::task::spawn_blocking(|| {
        federation(&[
            "heartbeat",
            "--once",
            "--slug",
            "Bad Slug!",
            "--hub-url",
            "http://x.example.com",
            "--nats-url",
            "nats://127.0.0.1:1",
        ])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("slug"),
        "{out:?}"
    );
    let out = tokio::task::spawn_blocking(|| {
        federation(&[
            "heartbeat",
            "--once",
            "--slug",
            "ok",
            "--hub-url",
            "http://x.example.com",
        ])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--nats-url"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_commands_register_list_get_and_delete() {
    let app = TestConfig::new(|_| Backend::postgres()).start().await;
    let writer = FederationClient::new(&app.address, Some(WRITE_KEY.into())).unwrap();
    let reader = FederationClient::new(&app.address, Some(READ_KEY.into())).unwrap();

    let register = ProjectsCommand::Register {
        slug: "cli-proj".into(),
        name: Some("CLI Project".into()),
        hub_url: "http://cli-proj.example.com".into(),
        mesh_namespace: None,
        tags: vec!["rust".into(), "cli".into()],
    };
    let out = execute(&writer, &register, false).await.unwrap();
    assert!(out.starts_with("created cli-proj\n"), "{out}");
    assert!(out.contains("SLUG"), "{out}");
    let out = execute(&writer, &register, false).await.unwrap();
    assert!(out.starts_with("updated cli-proj\n"), "{out}");
    execute(
        &writer,
        &ProjectsCommand::Register {
            slug: "cli-other".into(),
            name: None,
            hub_url: "http://cli-other.example.com".into(),
            mesh_namespace: None,
            tags: vec![],
        },
        false,
    )
    .await
    .unwrap();

    let list = ProjectsCommand::List {
        status: None,
        tag: None,
        limit: None,
        offset: None,
    };
    let table = execute(&reader, &list, false).await.unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SLUG"), "{table}");
    assert!(lines[1].starts_with("cli-other "), "{table}");
    assert!(lines[2].starts_with("cli-proj "), "{table}");
    assert!(
        lines[2].contains("CLI Project")
            && lines[2].contains("offline")
            && lines[2].contains("never")
    );
    assert_eq!(lines.last().unwrap(), &"2 project(s)");

    let page = ProjectsCommand::List {
        status: Some("offline".into()),
        tag: None,
        limit: Some(1),
        offset: None,
    };
    let table = execute(&reader, &page, false).await.unwrap();
    assert!(table.ends_with("1-1 of 2 projects\n"), "{table}");

    let json: Value = serde_json::from_str(&execute(&reader, &list, true).await.unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let get = ProjectsCommand::Get {
        slug: "cli-proj".into(),
    };
    let json: Value = serde_json::from_str(&execute(&reader, &get, true).await.unwrap()).unwrap();
    assert_eq!(json["tags"], serde_json::json!(["rust", "cli"]));
    let details = execute(&reader, &get, false).await.unwrap();
    assert!(details.contains("name            CLI Project"), "{details}");

    // Maintenance: started for a length, shown, ended.
    let start = ProjectsCommand::Maintenance {
        slug: "cli-proj".into(),
        reason: Some("disk swap".into()),
        duration: Some("2h".into()),
        until: None,
        end: false,
    };
    let details = execute(&writer, &start, false).await.unwrap();
    assert!(
        details.contains("maintenance     disk swap (until "),
        "{details}"
    );
    assert!(details.contains(", by key:"), "{details}");
    let end = ProjectsCommand::Maintenance {
        slug: "cli-proj".into(),
        reason: None,
        duration: None,
        until: None,
        end: true,
    };
    let json: Value = serde_json::from_str(&execute(&writer, &end, true).await.unwrap()).unwrap();
    assert_eq!(json["maintenance"], Value::Null, "{json}");
    let err = execute(&reader, &start, false).await.unwrap_err();
    assert!(format!("{err:#}").contains("403"), "{err:#}");

    // A read-only key cannot delete; errors carry the API's code and message.
    let delete = ProjectsCommand::Delete {
        slug: "cli-proj".into(),
    };
    let err = execute(&reader, &delete, false).await.unwrap_err();
    assert!(format!("{err:#}").contains("403"), "{err:#}");
    assert_eq!(
        execute(&writer, &delete, false).await.unwrap(),
        "deleted cli-proj\n"
    );
    let err = execute(&reader, &get, false).await.unwrap_err();
    assert!(format!("{err:#}").contains("404"), "{err:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_list_runs_as_a_process_with_the_key_from_the_environment() {
    let app = TestConfig::new(|_| Backend::postgres()).start().await;
    app.register(&project("cli-env")).await;
    let address = app.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        crate::binary::command()
            .args(["projects", "list", "--json", "--server", &address])
            .env("FEDERATION_API_KEY", READ_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["slug"], "cli-env");
    app.stop().await;
}

fn simulate_args(app: &TestApp, nats_url: Option<String>) -> SimulateArgs {
    SimulateArgs {
        projects: 5,
        interval: None,
        rate: Some(Rate::PerSecond(50.0)),
        duration: Duration::from_secs(1),
        server: app.address.clone(),
        nats: nats_url.map(NatsArgs::with_url).unwrap_or_default(),
        api_key: Some(WRITE_KEY.into()),
        prefix: "simtest".into(),
        concurrency: 4,
        bulk: 1,
        no_register: false,
        register_only: false,
        declare_interval: Some(30),
        total: None,
        mark: None,
        json: false,
        quiet: true,
        subject_prefix: "hub.presence".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_registers_the_fleet_and_beats_over_nats_and_http() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let app = nats_config(&nats_url).start().await;
    app.wait_bus_healthy().await;

    let report = simulate::run(simulate_args(&app, Some(nats_url)))
        .await
        .unwrap();
    let reg = report.registration.unwrap();
    assert_eq!((reg.ok, reg.created, reg.errors), (5, Some(5), 0));
    let hb = report.heartbeats.unwrap();
    assert_eq!(hb.errors, 0);
    // 50/s for 1 s: about 50, paced (never far more).
    assert!((10..=60).contains(&hb.ok), "{hb:?}");
    for i in 0..5 {
        app.wait_for_status(&format!("simtest-{i}"), "online", Duration::from_secs(10))
            .await;
    }
    assert_eq!(app.project("simtest-0").await["heartbeat_interval"], 30);

    // Again over HTTP, the projects already registered, stopping at --total.
    let mut args = simulate_args(&app, None);
    args.no_register = true;
    args.total = Some(7);
    args.rate = Some(Rate::Max);
    let report = simulate::run(args).await.unwrap();
    assert!(report.registration.is_none());
    let hb = report.heartbeats.unwrap();
    assert_eq!((hb.ok, hb.errors), (7, 0));

    // Through projects:bulk, 3 a request (the last one 1): new, then the same again.
    let mut args = simulate_args(&app, None);
    args.prefix = "simbulk".into();
    args.projects = 7;
    args.bulk = 3;
    args.register_only = true;
    let reg = simulate::run(args.clone())
        .await
        .unwrap()
        .registration
        .unwrap();
    assert_eq!((reg.ok, reg.created, reg.errors), (7, Some(7), 0));
    let reg = simulate::run(args).await.unwrap().registration.unwrap();
    assert_eq!((reg.ok, reg.created, reg.errors), (7, Some(0), 0));
    assert_eq!(app.project("simbulk-6").await["heartbeat_interval"], 30);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_reaches_a_nats_that_needs_a_token() {
    let server =
        federation_testkit::NatsServer::start_with_config(r#"authorization { token: "s3cret" }"#)
            .unwrap();
    let mut config = nats_config(&server.url());
    config.set("NATS_TOKEN", "s3cret");
    let app = config.start().await;
    app.wait_bus_healthy().await;

    let mut args = simulate_args(&app, Some(server.url()));
    args.nats.token = Some("s3cret".into());
    args.prefix = "simtoken".into();
    let report = simulate::run(args).await.unwrap();
    assert_eq!(report.transport, "nats");
    let hb = report.heartbeats.unwrap();
    assert!(hb.ok > 0 && hb.errors == 0, "{hb:?}");
    for i in 0..5 {
        app.wait_for_status(&format!("simtoken-{i}"), "online", Duration::from_secs(10))
            .await;
    }
    app.stop().await;
}
