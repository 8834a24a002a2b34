use federation_domain::notify::{ChannelKind, ChannelName};
use federation_store::{DatabaseUrl, Store, StoreOptions};

use super::*;

const SECRET: &str = "whsec-0123456789abcdef";

fn env(var: &str) -> Option<String> {
    match var {
        "OPS_SECRET" => Some(SECRET.to_owned()),
        "SLACK_URL" => Some("https://hooks.example/services/T0/B0/XXXX".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

const FILE: &str = r#"
projects: []
channels:
  - name: Ops
    kind: webhook
    url: https://receiver.example/h
    secret_env: OPS_SECRET
    rules: {tags: [prod], on: [offline, recovered], hold_seconds: 120}
  - name: chat
    kind: slack
    url_env: SLACK_URL
    enabled: false
  - name: mail
    kind: email
    url: smtp://mail.example:587
    email: {from: federation@example.org, to: [ops@example.org]}
"#;

#[test]
fn reads_channels_with_secrets_from_the_environment() {
    let specs = parse("p.yaml", FILE, &env).unwrap();
    assert_eq!(specs.len(), 3);
    assert_eq!(specs[0].name.as_str(), "ops");
    assert_eq!(specs[0].secret.as_ref().unwrap().expose(), SECRET);
    assert_eq!(specs[0].rules.hold_seconds, 120);
    assert_eq!(specs[1].kind, ChannelKind::Slack);
    assert!(specs[1].url.as_str().ends_with("XXXX"));
    assert!(!specs[1].enabled);
    assert_eq!(specs[2].email.as_ref().unwrap().to, ["ops@example.org"]);
    assert!(parse("p.yaml", "", &env).unwrap().is_empty());
    assert!(parse("p.yaml", "projects: []\n", &env).unwrap().is_empty());
}

#[test]
fn bad_entries_are_named_by_index_name_and_field() {
    let cases = [
        ("- {name: a, kind: webhook, url: 'https://r.example', secret_env: NOPE}", "channels[0] (name \"a\"): secret_env: the environment variable NOPE is not set"),
        ("- {name: a, kind: webhook, url: 'https://r.example', secret_env: EMPTY}", "secret_env: the environment variable EMPTY is not set or empty"),
        ("- {name: a, kind: webhook, url: 'https://r.example', secret_env: 'bad name'}", "secret_env: must name an environment variable"),
        ("- {name: a, kind: webhook, url: 'https://r.example', secret: x, secret_env: OPS_SECRET}", "secret_env: give secret or secret_env, not both"),
        ("- {name: a, kind: webhook, url: 'https://r.example'}", "channels[0] (name \"a\"): secret: is required"),
        ("- {name: a, kind: slack, url: 'https://u:p@r.example'}", "url:"),
        ("- {name: a, kind: pager, url: 'https://r.example'}", "kind:"),
        ("- {name: a, kind: slack, url: 'https://r.example', colour: red}", "unknown field `colour`"),
        ("- {name: a, kind: slack, url: 'https://r.example', rules: {on: [sideways]}}", "rules.on"),
        ("- {name: a, kind: slack, url: 'https://r.example', email: {from: a@b.c, to: [d@e.f]}}", "email: is taken only by an email channel"),
        ("- {name: a, kind: slack, url: 'https://r.example'}\n  - {name: A, kind: slack, url: 'https://s.example'}", "channels[1] (name \"A\"): name: the same name as channels[0]"),
    ];
    for (entries, want) in cases {
        let text = format!("channels:\n  {entries}\n");
        let err = parse("p.yaml", &text, &env).unwrap_err().to_string();
        assert!(err.contains(want), "{text}\n{err}\nwanted {want}");
        assert!(err.starts_with("p.yaml: "), "{err}");
        assert!(!err.contains(SECRET), "{err}");
    }
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("f.db"));
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    store.run_migrations().await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn the_file_wins_for_the_names_it_declares_and_leaves_others_alone() {
    let (_dir, store) = store().await;
    // Made over REST before the file named them: "ops" (another URL) and "rest-only".
    let rest = |name: &str, url: &str| {
        ChannelSpec::parse(ChannelInput {
            name: Some(name.to_owned()),
            kind: Some("webhook".to_owned()),
            url: Some(url.to_owned()),
            secret: Some("rest-secret-0123456789".to_owned()),
            ..ChannelInput::default()
        })
        .unwrap()
    };
    store
        .create_channel(&rest("ops", "https://old.example/h"))
        .await
        .unwrap();
    store
        .create_channel(&rest("rest-only", "https://other.example/h"))
        .await
        .unwrap();

    let specs = parse("p.yaml", FILE, &env).unwrap();
    let dry = plan(&store, "p.yaml", &specs).await.unwrap();
    assert_eq!(dry.create, ["chat", "mail"]);
    assert_eq!(dry.replace, ["ops"]);
    // A plan writes nothing.
    assert_eq!(store.list_channels().await.unwrap().len(), 2);

    let applied = apply(&store, "p.yaml", &specs).await.unwrap();
    assert_eq!(applied, dry);
    let ops = store
        .get_channel(&ChannelName::parse("ops").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ops.spec, specs[0],
        "the file's definition replaced the REST one"
    );
    let others = store
        .get_channel(&ChannelName::parse("rest-only").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(others.spec.url.as_str(), "https://other.example/h");
    assert_eq!(store.list_channels().await.unwrap().len(), 4);

    // Applying again changes nothing; taking an entry out of the file deletes nothing.
    let again = apply(&store, "p.yaml", &specs).await.unwrap();
    assert_eq!(again.unchanged.len(), 3);
    assert!(again.create.is_empty() && again.replace.is_empty());
    apply(&store, "p.yaml", &specs[..1]).await.unwrap();
    assert_eq!(store.list_channels().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_file_over_the_channel_limit_changes_nothing() {
    let (_dir, store) = store().await;
    let mut text = String::from("channels:\n");
    for i in 0..=CHANNELS_MAX {
        text.push_str(&format!(
            "  - {{name: c{i}, kind: slack, url: 'https://hooks.example/{i}'}}\n"
        ));
    }
    let specs = parse("p.yaml", &text, &env).unwrap();
    let err = apply(&store, "p.yaml", &specs)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 100"), "{err}");
    assert!(store.list_channels().await.unwrap().is_empty());
}
