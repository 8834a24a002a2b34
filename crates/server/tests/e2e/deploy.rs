//! Checks of `deploy/` that can fail:
//! - every YAML and JSON file parses;
//! - every metric (and every `label="value"` it is filtered on) used by the Grafana
//!   dashboard and the Prometheus alert rules exists in a live `/metrics` after some
//!   traffic (the original's dashboards named metrics it never exposed);
//! - no dashboard or alert expression adds `federation_projects` up across replicas
//!   (`sum`): every replica holds the whole catalog, so a sum counts each project N times;
//! - every environment variable the deploy files set is one the service reads
//!   (`settings::ENV_KEYS`) and, together, a configuration it accepts; every path they
//!   give it exists where they say, every probe and scrape path is a route the API serves,
//!   and every command they run is one the `federation` binary has (`federation
//!   healthcheck` is run against a live server);
//! - several replicas: compose runs three (one definition, every one scraped), Kubernetes
//!   three with a PodDisruptionBudget and anti-affinity, the lease settings set.
//!
//! No Docker engine runs here: images are not built; these checks read the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{eventually, metric_value, Backend, TestConfig, READ_KEY, WRITE_KEY};
use federation_server::settings::{Settings, ENV_KEYS};
use serde_json::json;
use yaml_serde::Value as Yaml;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn deploy_files(ext: &[&str]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(&deploy_dir(), &mut all);
    all.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ext.contains(&e))
    });
    all.sort();
    all
}

/// Every document of a (multi-document) YAML file, aliases resolved and `<<` merge keys
/// applied (as docker compose does).
fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| {
            let mut doc = <Yaml as serde::Deserialize>::deserialize(d)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            doc.apply_merge()
                .unwrap_or_else(|e| panic!("{}: merge keys: {e}", path.display()));
            doc
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml(rel: &str) -> Yaml {
    let mut docs = yaml_docs(&deploy_dir().join(rel));
    assert_eq!(docs.len(), 1, "{rel}: one document expected");
    docs.remove(0)
}

fn str_of(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn env_names() -> BTreeSet<&'static str> {
    ENV_KEYS.iter().map(|(var, _)| *var).collect()
}

fn assert_env_known<'a>(origin: &str, names: impl IntoIterator<Item = &'a str>) {
    let known = env_names();
    for name in names {
        assert!(
            known.contains(name),
            "{origin} sets {name}, which the service does not read (settings::ENV_KEYS)"
        );
    }
}

fn route_paths() -> BTreeSet<&'static str> {
    federation_api::ROUTES.iter().map(|r| r.path).collect()
}

// ---- parsing -------------------------------------------------------------------------

#[test]
fn every_deploy_yaml_and_json_file_parses() {
    let yamls = deploy_files(&["yaml", "yml"]);
    assert!(yamls.len() >= 10, "{yamls:?}");
    for path in &yamls {
        assert!(!yaml_docs(path).is_empty(), "{} is empty", path.display());
    }
    let jsons = deploy_files(&["json"]);
    assert!(!jsons.is_empty());
    for path in jsons {
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    }
}

// ---- PromQL ----------------------------------------------------------------------------

/// A vector selector: metric name and its label matchers (label, op, value).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];

/// The vector selectors of a PromQL expression: a small scanner, enough for the
/// expressions in deploy/ (and strict: anything it cannot read fails the test).
fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            // Range or subquery duration.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let next = skip_ws(i);
            if GROUPING.contains(&ident.as_str()) {
                // Skip the label list.
                if chars.get(next) == Some(&'(') {
                    i = next;
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                    i += 1;
                }
                continue;
            }
            if AGGREGATIONS.contains(&ident.as_str())
                || KEYWORDS.contains(&ident.as_str())
                || chars.get(next) == Some(&'(')
            {
                continue;
            }
            let mut sel = Selector {
                metric: ident,
                matchers: Vec::new(),
            };
            if chars.get(next) == Some(&'{') {
                i = next + 1;
                loop {
                    i = skip_ws(i);
                    match chars.get(i) {
                        Some('}') => {
                            i += 1;
                            break;
                        }
                        Some(',') => {
                            i += 1;
                            continue;
                        }
                        None => panic!("unclosed selector in {expr}"),
                        _ => {}
                    }
                    let s = i;
                    while chars[i].is_ascii_alphanumeric() || chars[i] == '_' {
                        i += 1;
                    }
                    let label: String = chars[s..i].iter().collect();
                    i = skip_ws(i);
                    let s = i;
                    while matches!(chars[i], '=' | '!' | '~') {
                        i += 1;
                    }
                    let op: String = chars[s..i].iter().collect();
                    i = skip_ws(i);
                    assert_eq!(chars[i], '"', "matcher value must be quoted in {expr}");
                    i += 1;
                    let s = i;
                    while chars[i] != '"' {
                        i += 1;
                    }
                    let value: String = chars[s..i].iter().collect();
                    i += 1;
                    assert!(
                        ["=", "!=", "=~", "!~"].contains(&op.as_str()),
                        "bad matcher op {op:?} in {expr}"
                    );
                    sel.matchers.push((label, op, value));
                }
            }
            out.push(sel);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_promql_scanner_finds_metrics_and_matchers() {
    let s = selectors(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{x="1", y=~"p|q"}[$__rate_interval]))) / on (le) b_total > 0.5 and max(c) == 1"#,
    );
    let names: Vec<&str> = s.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, ["a_bucket", "b_total", "c"]);
    assert_eq!(
        s[0].matchers,
        [
            ("x".into(), "=".into(), "1".into()),
            ("y".into(), "=~".into(), "p|q".into())
        ]
    );
}

/// The argument of every `sum` aggregation in a PromQL expression (the text between its
/// parentheses), with or without `by (…)` / `without (…)` before it.
fn sum_arguments(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | ':');
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // The index after the parenthesised group opening at `open`.
    let group_end = |open: usize| {
        let mut depth = 0;
        let mut j = open;
        while j < chars.len() {
            match chars[j] {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                '"' => {
                    j += 1;
                    while chars[j] != '"' {
                        j += if chars[j] == '\\' { 2 } else { 1 };
                    }
                }
                _ => {}
            }
            j += 1;
        }
        panic!("unbalanced parentheses in {expr}");
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let ident: String = chars[start..i].iter().collect();
        if !ident.eq_ignore_ascii_case("sum") {
            continue;
        }
        let mut j = skip_ws(i);
        let clause: String = chars[j..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if clause == "by" || clause == "without" {
            j = skip_ws(j + clause.len());
            assert_eq!(
                chars.get(j),
                Some(&'('),
                "{clause} without labels in {expr}"
            );
            j = skip_ws(group_end(j));
        }
        if chars.get(j) == Some(&'(') {
            let end = group_end(j);
            out.push(chars[j + 1..end - 1].iter().collect());
        }
    }
    out
}

#[test]
fn sum_arguments_are_found_with_and_without_grouping() {
    assert_eq!(
        sum_arguments(
            r#"sum by (status) (federation_projects{status="a(b"}) / sum(rate(x[5m])) by (le)"#
        ),
        [r#"federation_projects{status="a(b"}"#, "rate(x[5m])"]
    );
    assert_eq!(
        sum_arguments("max(sum without (instance) (max_over_time(y[1m])))"),
        ["max_over_time(y[1m])"]
    );
    assert!(sum_arguments("sum_over_time(federation_projects[5m]) + max(summary)").is_empty());
}

/// Names the expression that adds `federation_projects` up across replicas.
fn sums_the_catalog(expr: &str) -> bool {
    sum_arguments(expr).iter().any(|arg| {
        selectors(arg)
            .iter()
            .any(|s| s.metric == "federation_projects")
    })
}

#[test]
fn the_catalog_is_never_summed_across_replicas() {
    assert!(sums_the_catalog(
        r#"sum(federation_projects{status="online"})"#
    ));
    assert!(sums_the_catalog("sum by (status) (federation_projects)"));
    assert!(sums_the_catalog(
        "1 + sum(max_over_time(federation_projects[5m])) by (status)"
    ));
    assert!(!sums_the_catalog("max by (status) (federation_projects)"));
    assert!(!sums_the_catalog(
        "sum(federation_projects_offline_longest_seconds)"
    ));

    let exprs = deploy_exprs();
    assert!(
        exprs.iter().any(|(_, e)| selectors(e)
            .iter()
            .any(|s| s.metric == "federation_projects")),
        "nothing shows the catalog by status"
    );
    for (origin, expr) in exprs {
        assert!(
            !sums_the_catalog(&expr),
            "{origin}: {expr}\nevery replica exposes the whole catalog in federation_projects: \
             a sum counts each project once per replica; use max by (status)"
        );
    }
}

/// `promtool` (Debian's `prometheus` package) when it is installed.
fn promtool() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    })
}

/// Prometheus' own checker: the rule file and every dashboard query parse, and the rule
/// unit tests of `prometheus/alerts.test.yml` pass (three replicas: a failover raises no
/// alert, a stuck replica is named, a healthy fleet whose revisions differ at every
/// scrape while changes flow raises none).
#[test]
fn promtool_accepts_the_rules_the_dashboard_queries_and_the_rule_tests() {
    // Missing is a failure, not a pass: CI and the dev machines install it.
    let promtool = promtool().expect(
        "promtool is not on PATH (apt-get install prometheus): the rule unit tests cannot run",
    );
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(&promtool)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let prom = deploy_dir().join("prometheus");
    run(&[
        "check".as_ref(),
        "rules".as_ref(),
        prom.join("alerts.yml").as_os_str(),
    ]);
    run(&[
        "test".as_ref(),
        "rules".as_ref(),
        prom.join("alerts.test.yml").as_os_str(),
    ]);
    // The SLO burn-rate example (slo.yml) and its unit tests.
    run(&[
        "check".as_ref(),
        "rules".as_ref(),
        prom.join("slo.yml").as_os_str(),
    ]);
    run(&[
        "test".as_ref(),
        "rules".as_ref(),
        prom.join("slo.test.yml").as_os_str(),
    ]);

    // The dashboard's queries, as recording rules ($__rate_interval as Grafana would fill it).
    let rules: Vec<serde_json::Value> = deploy_exprs()
        .into_iter()
        .filter(|(origin, _)| origin.starts_with("dashboard"))
        .enumerate()
        .map(|(i, (_, expr))| {
            json!({"record": format!("dashboard:query_{i}"), "expr": expr.replace("$__rate_interval", "1m")})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(
        &file,
        yaml_serde::to_string(&json!({"groups": [{"name": "dashboard", "rules": rules}]})).unwrap(),
    )
    .unwrap();
    run(&["check".as_ref(), "rules".as_ref(), file.as_os_str()]);
}

/// Samples of an exposition: name → label sets.
fn samples(text: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() && chars[i] != '{' && chars[i] != ' ' {
            i += 1;
        }
        let name: String = chars[..i].iter().collect();
        let mut labels = BTreeMap::new();
        if chars.get(i) == Some(&'{') {
            i += 1;
            while chars[i] != '}' {
                let s = i;
                while chars[i] != '=' {
                    i += 1;
                }
                let label: String = chars[s..i].iter().collect();
                i += 2; // ="
                let s = i;
                while chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                labels.insert(label, chars[s..i].iter().collect());
                i += 1;
                if chars[i] == ',' {
                    i += 1;
                }
            }
        }
        out.entry(name).or_default().push(labels);
    }
    out
}

/// Every PromQL expression of the dashboard (any `expr` key, at any depth).
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "expr" {
                    out.push(v.as_str().expect("expr is a string").to_owned());
                } else {
                    dashboard_exprs(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

fn alert_exprs() -> Vec<(String, String)> {
    let rules = yaml("prometheus/alerts.yml");
    let mut out = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = str_of(&rule["alert"]);
            out.push((name, str_of(&rule["expr"])));
        }
    }
    out
}

/// Every PromQL expression of deploy/, with where it comes from.
fn deploy_exprs() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = alert_exprs()
        .into_iter()
        .map(|(name, e)| (format!("alert {name}"), e))
        .collect();
    for path in deploy_files(&["json"]) {
        let dash: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut exprs = Vec::new();
        dashboard_exprs(&dash, &mut exprs);
        assert!(!exprs.is_empty(), "{} has no queries", path.display());
        out.extend(
            exprs
                .into_iter()
                .map(|e| (format!("dashboard {}", path.display()), e)),
        );
    }
    out
}

#[test]
fn alerts_watch_offline_projects_heartbeats_the_nats_link_and_the_partition_guard() {
    let alerts = alert_exprs();
    let uses = |metric: &str| alerts.iter().any(|(_, e)| e.contains(metric));
    for metric in [
        "federation_projects_offline_longest_seconds",
        "federation_heartbeats_received_total",
        "federation_nats_connected",
        "federation_partition_guard_active",
        "federation_nats_permission_denied",
    ] {
        assert!(uses(metric), "no alert on {metric}");
    }
    let offline = alerts
        .iter()
        .find(|(_, e)| e.contains("federation_projects_offline_longest_seconds"))
        .unwrap();
    assert!(
        offline.1.contains("> 600"),
        "offline > 10 min: {}",
        offline.1
    );
}

#[test]
fn alerts_watch_the_leader_and_the_replicas_following_the_log() {
    let rules = yaml("prometheus/alerts.yml");
    let rules: Vec<&Yaml> = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .collect();
    // The rule whose expression holds every fragment, and its `for`.
    let find = |what: &str, fragments: &[&str]| -> (String, String) {
        let rule = rules
            .iter()
            .find(|r| {
                let e = str_of(&r["expr"])
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                fragments.iter().all(|f| e.contains(f))
            })
            .unwrap_or_else(|| panic!("no alert for {what}: {fragments:?}"));
        (str_of(&rule["expr"]), str_of(&rule["for"]))
    };
    let (_, for_) = find("no leader", &["sum(federation_replica_leader)", "== 0"]);
    assert_eq!(for_, "30s", "no leader");
    let (_, for_) = find("several leaders", &["sum(federation_replica_leader) > 1"]);
    assert_eq!(for_, "30s", "several leaders");
    let (_, for_) = find(
        "a replica behind",
        &["federation_follower_lag_seconds > 10"],
    );
    assert_eq!(for_, "1m", "a replica behind");
    // Replicas disagreeing: not max - min of the revisions, which is above 0 at most
    // evaluations while changes flow (the replicas are scraped at different moments);
    // against what the most advanced replica had applied a while ago instead.
    let (expr, for_) = find(
        "replicas disagreeing",
        &["federation_registry_revision", "offset"],
    );
    assert!(!expr.contains("min("), "{expr}");
    assert_eq!(for_, "2m", "replicas disagreeing");

    // Series every replica has of its own are read per replica or with max/min, never
    // summed (a sum of N views multiplies them by N).
    for (name, expr) in alert_exprs() {
        for arg in sum_arguments(&expr) {
            for sel in selectors(&arg) {
                assert!(
                    [
                        "federation_replica_leader",
                        "federation_status_transitions_total",
                        "federation_events_unpublished_total",
                        "federation_mass_expiries_total",
                        "federation_store_flush_errors_total",
                    ]
                    .contains(&sel.metric.as_str()),
                    "alert {name} sums {} across replicas: {expr}",
                    sel.metric
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_use_is_exposed() {
    let mut config = TestConfig::new(Backend::sqlite);
    config.set("FEDERATION_SWEEP_INTERVAL", "100ms");
    let app = config.start().await;

    // A little traffic: a registration, heartbeats (accepted and rejected), reads.
    assert_eq!(
        app.register(&crate::helpers::project("alpha"))
            .await
            .status(),
        201
    );
    let hb =
        |slug: &str| json!({"project_slug": slug, "timestamp": chrono::Utc::now().to_rfc3339()});
    for (slug, body, want) in [
        ("alpha", hb("alpha"), 202),
        ("ghost", hb("ghost"), 404),
        ("alpha", hb("beta"), 409),
    ] {
        let resp = app
            .post(&format!("/api/fed/projects/{slug}/heartbeat"))
            .header("X-API-Key", WRITE_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }
    app.project("alpha").await;
    app.get("/ready").send().await.unwrap();

    // Until the tick stored the transition and the registry applied it from the log (the
    // counter moves when the leader writes, the gauge when the log is applied).
    let text = eventually(Duration::from_secs(10), || async {
        let text = app.metrics().await;
        if text.contains(r#"federation_status_transitions_total{from="offline",to="online"} 1"#)
            && text.contains(r#"federation_projects{status="online"} 1"#)
            && !text.contains("federation_store_flush_duration_seconds_count 0")
        {
            Ok(text)
        } else {
            Err(format!("no flush:\n{text}"))
        }
    })
    .await;
    // A sender's claim never makes a label; a registered slug appears only in the
    // original service's per-project series (bounded by the registry).
    assert!(
        !text.contains("ghost"),
        "an unregistered slug leaked:\n{text}"
    );
    for line in text.lines().filter(|l| l.contains("alpha")) {
        assert!(
            [
                "federation_heartbeat_messages_total{",
                "federation_nats_messages_total{",
                "federation_project_catalog_last_updated_timestamp{",
            ]
            .iter()
            .any(|series| line.starts_with(series)),
            "a slug outside the original's per-project series: {line}"
        );
    }
    assert!(
        text.contains(r#"federation_heartbeats_received_total{outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"federation_heartbeats_received_total{outcome="unknown_project"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"federation_projects{status="online"} 1"#),
        "{text}"
    );
    let exposed = samples(&text);

    // Everything the service documents is there.
    for name in federation_api::metrics::METRIC_NAMES {
        assert!(
            ["", "_bucket", "_count",]
                .iter()
                .any(|suffix| exposed.contains_key(&format!("{name}{suffix}"))),
            "{name} not exposed"
        );
    }

    let mut used = 0;
    for (origin, expr) in deploy_exprs() {
        let sels = selectors(&expr);
        assert!(!sels.is_empty(), "{origin}: no metric in {expr}");
        for sel in sels {
            used += 1;
            let series = exposed.get(&sel.metric).unwrap_or_else(|| {
                panic!(
                    "{origin} uses {}, which /metrics does not expose.\nexpr: {expr}\nexposed: {:?}",
                    sel.metric,
                    exposed.keys().collect::<Vec<_>>()
                )
            });
            for (label, op, value) in &sel.matchers {
                let values: Vec<&str> = match op.as_str() {
                    "=" => vec![value.as_str()],
                    "=~" => {
                        assert!(
                            value
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_|-".contains(c)),
                            "{origin}: only a|b|c regexes are checked: {value}"
                        );
                        value.split('|').collect()
                    }
                    _ => continue,
                };
                for v in values {
                    assert!(
                        series
                            .iter()
                            .any(|s| s.get(label).map(String::as_str) == Some(v)),
                        "{origin}: {}{{{label}=\"{v}\"}} has no series in /metrics.\nexpr: {expr}",
                        sel.metric
                    );
                }
            }
        }
    }
    assert!(used >= 20, "only {used} selectors checked");

    // The image's HEALTHCHECK command, against this live server.
    let out = crate::binary::command()
        .arg("healthcheck")
        .current_dir(config.dir.path())
        .env("SERVICE_HOST", "127.0.0.1")
        .env("SERVICE_PORT", app.address.rsplit(':').next().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "federation healthcheck failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

/// The value of one series (`name{labels}` exactly as exposed) in an exposition.
/// What the dashboard and the alert rules assume of N replicas, on three live ones (one
/// PostgreSQL, one nats-server): the catalog gauge is the same on each (so `max`, not
/// `sum`); every replica receives every heartbeat (per replica, not `sum`); only the
/// leader counts transitions (so `sum` counts each once); exactly one leader; at rest
/// the revisions agree and every replica follows the log (no alert fires).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_expose_what_the_dashboard_and_alerts_assume() {
    let nats_url = federation_testkit::shared_nats_url().unwrap();
    let backend = Backend::postgres();
    let mut configs = Vec::new();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        // Long thresholds: nothing goes degraded or offline while the test looks. A
        // presence subject of its own: no other test's heartbeats in the counters.
        let mut config = TestConfig::with_nats(|_| backend.clone(), &nats_url, "30s", "40s");
        config
            .set("FEDERATION_PRESENCE_SUBJECT", "deployfleet.presence")
            .set("FEDERATION_EVENTS_SUBJECT", "deployfleet.status")
            .set("FEDERATION_LEASE_TTL", "1s");
        replicas.push(config.start().await);
        configs.push(config);
    }
    for slug in ["fleet-alpha", "fleet-beta"] {
        assert_eq!(
            replicas[0]
                .register(&crate::helpers::project(slug))
                .await
                .status(),
            201
        );
    }
    // Every replica's subscription receives (its own canary came back).
    for r in &replicas {
        eventually(Duration::from_secs(20), || async {
            let text = r.metrics().await;
            match metric_value(&text, "federation_nats_canaries_returned_total") {
                Some(n) if n >= 1.0 => Ok(()),
                other => Err(format!("{}: canaries returned {other:?}", r.address)),
            }
        })
        .await;
    }
    // Every replica has applied both registrations (a heartbeat a replica receives before
    // that is `unknown_project` there).
    for r in &replicas {
        for slug in ["fleet-alpha", "fleet-beta"] {
            eventually(Duration::from_secs(10), || async {
                let resp = r
                    .get(&format!("/api/fed/projects/{slug}"))
                    .header("X-API-Key", READ_KEY)
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    200 => Ok(()),
                    other => Err(format!("{}: GET {slug} answers {other}", r.address)),
                }
            })
            .await;
        }
    }
    // One heartbeat, over HTTP, to another replica (it relays it on NATS).
    eventually(Duration::from_secs(5), || async {
        let resp = replicas[1]
            .post("/api/fed/projects/fleet-alpha/heartbeat")
            .header("X-API-Key", WRITE_KEY)
            .json(&json!({"project_slug": "fleet-alpha", "timestamp": chrono::Utc::now().to_rfc3339()}))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            202 => Ok(()),
            other => Err(format!("heartbeat answered {other}")),
        }
    })
    .await;

    eventually(Duration::from_secs(20), || async {
        let mut texts = Vec::new();
        let mut roles = Vec::new();
        for r in &replicas {
            let text = r.metrics().await;
            texts.push(text);
            let ready = r.ready().await;
            if ready["checks"]["follower"] != "ok" {
                return Err(format!("{} not following: {ready}", r.address));
            }
            roles.push(
                ready["replica"]["role"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        let each = |series: &str| -> Result<Vec<f64>, String> {
            texts
                .iter()
                .map(|t| metric_value(t, series).ok_or_else(|| format!("no {series}:\n{t}")))
                .collect()
        };
        let leaders = each("federation_replica_leader")?;
        if leaders.iter().sum::<f64>() != 1.0 {
            return Err(format!("leaders {leaders:?}"));
        }
        let leader = leaders.iter().position(|l| *l == 1.0).unwrap();
        if roles.iter().filter(|r| *r == "leader").count() != 1 || roles[leader] != "leader" {
            return Err(format!("/ready roles {roles:?}, metric {leaders:?}"));
        }
        // The recorded catalog, the same on every replica: `max by (status)`.
        for (status, want) in [("online", 1.0), ("offline", 1.0)] {
            let n = each(&format!("federation_projects{{status=\"{status}\"}}"))?;
            if n.iter().any(|n| *n != want) {
                return Err(format!("{status} per replica: {n:?}, want {want} on each"));
            }
        }
        // Every replica received the heartbeat: a sum would count it three times.
        let ok = each(r#"federation_heartbeats_received_total{outcome="ok"}"#)?;
        if ok.iter().any(|n| *n < 1.0) {
            let all: Vec<Vec<&str>> = texts
                .iter()
                .map(|t| {
                    t.lines()
                        .filter(|l| l.starts_with("federation_heartbeats_received_total"))
                        .collect()
                })
                .collect();
            return Err(format!("heartbeats ok per replica: {ok:?}\n{all:#?}"));
        }
        // Only the leader counts the transition: `sum` counts it once.
        let online = each(r#"federation_status_transitions_total{from="offline",to="online"}"#)?;
        if online.iter().sum::<f64>() != 1.0 || online[leader] != 1.0 {
            return Err(format!(
                "offline -> online per replica: {online:?} (leader {leader})"
            ));
        }
        // At rest: one revision everywhere, every replica following (lag in [0, 10]).
        let revisions = each("federation_registry_revision")?;
        if revisions.iter().any(|r| *r != revisions[0] || *r < 3.0) {
            return Err(format!("revisions {revisions:?}"));
        }
        let lags = each("federation_follower_lag_seconds")?;
        if lags.iter().any(|l| !(0.0..=10.0).contains(l)) {
            return Err(format!("follower lag {lags:?}"));
        }
        Ok(())
    })
    .await;
    for r in replicas {
        r.stop().await;
    }
    drop(configs);
}

// ---- environment, paths, routes, commands ----------------------------------------------

/// `federation <command> --help` succeeds: the command exists.
fn assert_command_exists(origin: &str, command: &str) {
    let ok = crate::binary::command()
        .args([command, "--help"])
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        ok,
        "{origin} runs `federation {command}`, which does not exist"
    );
}

fn first_arg(v: &Yaml) -> String {
    match v {
        Yaml::Sequence(items) => str_of(&items[0]),
        other => str_of(other).split_whitespace().next().unwrap().to_owned(),
    }
}

#[test]
fn compose_sets_only_settings_the_service_reads_and_mounts_what_it_names() {
    let compose = yaml("compose.yaml");
    let services = &compose["services"];
    for name in ["postgres", "nats", "migrate", "prometheus", "grafana"] {
        assert!(
            services.get(name).is_some(),
            "compose has no {name} service"
        );
    }
    // The federation replicas: every service that runs `federation serve`.
    let replicas: Vec<String> = services
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, svc)| svc.get("command").is_some_and(|c| first_arg(c) == "serve"))
        .map(|(name, _)| str_of(name))
        .collect();
    assert_eq!(
        replicas,
        ["federation-1", "federation-2", "federation-3"],
        "compose runs three federation replicas"
    );
    for name in std::iter::once("migrate").chain(replicas.iter().map(String::as_str)) {
        let svc = &services[name];
        let env = svc["environment"].as_mapping().expect("environment map");
        let keys: Vec<String> = env.keys().map(str_of).collect();
        assert_env_known(&format!("compose {name}"), keys.iter().map(String::as_str));
        // Together, a configuration the service accepts.
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load_from(dir.path(), |var| env.get(var).map(str_of))
            .unwrap_or_else(|e| panic!("compose {name}: {e:#}"));
        assert!(
            settings.database_url.is_some() && settings.nats.is_some(),
            "compose {name}: several replicas need PostgreSQL and NATS"
        );
        assert_command_exists(&format!("compose {name}"), &first_arg(&svc["command"]));
        if name != "migrate" {
            assert_eq!(
                svc["environment"], services["migrate"]["environment"],
                "{name}: every replica and the migration step share one environment"
            );
            assert!(
                keys.iter().any(|k| k == "FEDERATION_LEASE_TTL"),
                "{name}: the lease is set where the replicas are"
            );
            assert_eq!(
                services[name]["depends_on"]["migrate"]["condition"],
                "service_completed_successfully",
                "{name} must start after the migration step succeeded"
            );
            let projects = str_of(&env[&Yaml::from("FEDERATION_PROJECTS_FILE")]);
            let mounts: Vec<String> = svc["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(str_of)
                .collect();
            let mount = mounts
                .iter()
                .find(|m| m.split(':').nth(1) == Some(projects.as_str()))
                .unwrap_or_else(|| panic!("compose mounts nothing at {projects}: {mounts:?}"));
            let source = deploy_dir().join(mount.split(':').next().unwrap());
            federation_server::catalog::read(&source)
                .unwrap_or_else(|e| panic!("{}: {e:#}", source.display()));
            let test = &svc["healthcheck"]["test"];
            assert_eq!(
                first_arg(&Yaml::Sequence(test.as_sequence().unwrap()[1..].to_vec())),
                "federation"
            );
            assert_command_exists("compose healthcheck", &str_of(&test[2]));
        }
    }
    assert_eq!(str_of(&services["migrate"]["command"][0]), "migrate");
    // One definition (a YAML anchor): the replicas differ only in name and host port.
    let without_name_and_ports = |name: &str| {
        let mut svc = services[name].as_mapping().unwrap().clone();
        svc.remove("hostname");
        svc.remove("ports");
        svc
    };
    let mut host_ports = BTreeSet::new();
    let mut hostnames = BTreeSet::new();
    for name in &replicas {
        assert_eq!(
            without_name_and_ports(name),
            without_name_and_ports(&replicas[0]),
            "{name} differs from {}",
            replicas[0]
        );
        let port = str_of(&services[name]["environment"]["SERVICE_PORT"]);
        for mapping in services[name]["ports"].as_sequence().unwrap() {
            let mapping = str_of(mapping);
            let (host, container) = mapping.rsplit_once(':').unwrap();
            assert_eq!(container, port, "{name} publishes a port it does not bind");
            assert!(
                host_ports.insert(host.to_owned()),
                "{name}: host port {host} twice"
            );
        }
        if let Some(h) = services[name].get("hostname") {
            assert!(hostnames.insert(str_of(h)), "{name}: hostname twice");
        }
    }

    // Prometheus and Grafana mount the files their configs name.
    let mounts_of = |svc: &str| -> Vec<(PathBuf, String)> {
        services[svc]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| {
                let v = str_of(v);
                let mut parts = v.split(':');
                (
                    deploy_dir().join(parts.next().unwrap()),
                    parts.next().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let prom_mounts = mounts_of("prometheus");
    let prom = yaml("prometheus/prometheus.yml");
    for rule_file in prom["rule_files"].as_sequence().unwrap() {
        let target = str_of(rule_file);
        let (source, _) = prom_mounts
            .iter()
            .find(|(_, t)| *t == target)
            .unwrap_or_else(|| panic!("prometheus loads {target}, which compose does not mount"));
        assert!(source.is_file(), "{}", source.display());
    }
    let mut scraped = BTreeSet::new();
    for job in prom["scrape_configs"].as_sequence().unwrap() {
        let path = str_of(&job["metrics_path"]);
        assert!(
            route_paths().contains(path.as_str()),
            "scrape path {path} is not a route"
        );
        for target in job["static_configs"][0]["targets"].as_sequence().unwrap() {
            let target = str_of(target);
            let (host, port) = target.split_once(':').unwrap();
            assert!(
                services.get(host).is_some(),
                "scrape target {target}: no such service"
            );
            let env = &services[host]["environment"];
            assert_eq!(str_of(&env[&Yaml::from("SERVICE_PORT")]), port, "{target}");
            scraped.insert(host.to_owned());
        }
    }
    // Every replica on its own: the dashboard and the alerts aggregate across them.
    assert_eq!(
        scraped,
        replicas.iter().cloned().collect::<BTreeSet<_>>(),
        "prometheus must scrape every replica"
    );
    let graf_mounts = mounts_of("grafana");
    let providers = yaml("grafana/provisioning/dashboards/federation.yaml");
    let dash_path = str_of(&providers["providers"][0]["options"]["path"]);
    let (dash_source, _) = graf_mounts
        .iter()
        .find(|(_, t)| *t == dash_path)
        .unwrap_or_else(|| panic!("grafana reads dashboards from {dash_path}, not mounted"));
    assert!(dash_source.join("federation.json").is_file());
    let (prov_source, _) = graf_mounts
        .iter()
        .find(|(_, t)| t == "/etc/grafana/provisioning")
        .expect("provisioning mounted");
    assert!(prov_source.join("dashboards/federation.yaml").is_file());
    // The dashboard's data source is the provisioned one.
    let ds = yaml("grafana/provisioning/datasources/prometheus.yaml");
    let uid = str_of(&ds["datasources"][0]["uid"]);
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dash_source.join("federation.json")).unwrap(),
    )
    .unwrap();
    for panel in dash["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"],
            uid.as_str(),
            "{}",
            panel["title"]
        );
    }
}

/// The Kubernetes objects of deploy/k8s by kind and name.
fn k8s() -> BTreeMap<(String, String), Yaml> {
    let mut out = BTreeMap::new();
    let mut paths = Vec::new();
    files(&deploy_dir().join("k8s"), &mut paths);
    for path in paths {
        for doc in yaml_docs(&path) {
            if doc.get("kind").is_none() || doc["kind"] == "Kustomization" {
                continue;
            }
            let key = (str_of(&doc["kind"]), str_of(&doc["metadata"]["name"]));
            assert!(out.insert(key.clone(), doc).is_none(), "{key:?} twice");
        }
    }
    out
}

#[test]
fn kubernetes_objects_use_settings_paths_routes_and_commands_that_exist() {
    let objects = k8s();
    let get = |kind: &str, name: &str| {
        objects
            .get(&(kind.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
    };
    // Every file is listed in the kustomization.
    let kustomization = yaml("k8s/kustomization.yaml");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let mut paths = Vec::new();
    files(&deploy_dir().join("k8s"), &mut paths);
    for p in paths {
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name != "kustomization.yaml" {
            assert!(
                listed.contains(&name),
                "{name} is not in kustomization.yaml"
            );
        }
    }

    let env_cm = get("ConfigMap", "federation-env");
    let env_data = env_cm["data"].as_mapping().unwrap();
    let cm_keys: Vec<String> = env_data.keys().map(str_of).collect();
    assert_env_known(
        "ConfigMap federation-env",
        cm_keys.iter().map(String::as_str),
    );
    let secret = get("Secret", "federation-secrets");
    let secret_keys: Vec<String> = secret["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(str_of)
        .collect();
    assert_env_known(
        "Secret federation-secrets",
        secret_keys.iter().map(String::as_str),
    );
    for key in ["FEDERATION_API_KEYS", "DATABASE_URL"] {
        assert!(
            secret_keys.iter().any(|k| k == key),
            "the Secret holds no {key}"
        );
        assert!(
            !cm_keys.iter().any(|k| k == key),
            "{key} belongs in the Secret"
        );
    }
    let env_of = |key: &str| str_of(&env_data[&Yaml::from(key)]);

    let projects_cm = get("ConfigMap", "federation-projects");
    let deployment = get("Deployment", "federation");
    let job = get("Job", "federation-migrate");
    for (origin, pod, command) in [
        (
            "Deployment federation",
            &deployment["spec"]["template"]["spec"],
            "serve",
        ),
        (
            "Job federation-migrate",
            &job["spec"]["template"]["spec"],
            "migrate",
        ),
    ] {
        let container = &pod["containers"][0];
        assert_eq!(first_arg(&container["args"]), command, "{origin}");
        assert_command_exists(origin, command);
        let mut from = BTreeSet::new();
        for source in container["envFrom"].as_sequence().unwrap() {
            if let Some(cm) = source.get("configMapRef") {
                from.insert(("ConfigMap", str_of(&cm["name"])));
            }
            if let Some(s) = source.get("secretRef") {
                from.insert(("Secret", str_of(&s["name"])));
            }
        }
        assert!(
            from.contains(&("ConfigMap", "federation-env".to_owned())),
            "{origin}"
        );
        assert!(
            from.contains(&("Secret", "federation-secrets".to_owned())),
            "{origin}"
        );
        if let Some(env) = container.get("env").and_then(Yaml::as_sequence) {
            let names: Vec<String> = env.iter().map(|e| str_of(&e["name"])).collect();
            assert_env_known(origin, names.iter().map(String::as_str));
        }
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"],
            Yaml::from(true),
            "{origin}"
        );
    }

    // The Deployment: probes on real routes and the port the service binds.
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let port = &container["ports"][0];
    assert_eq!(str_of(&port["containerPort"]), env_of("SERVICE_PORT"));
    assert_eq!(
        env_of("SERVICE_HOST"),
        "0.0.0.0",
        "a pod must bind every interface"
    );
    for (probe, path) in [("livenessProbe", "/health"), ("readinessProbe", "/ready")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(str_of(&get["path"]), path, "{probe}");
        assert!(route_paths().contains(path));
        assert_eq!(str_of(&get["port"]), str_of(&port["name"]), "{probe} port");
    }
    let scrape = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert!(route_paths().contains(str_of(&scrape["prometheus.io/path"]).as_str()));
    assert_eq!(
        str_of(&scrape["prometheus.io/port"]),
        env_of("SERVICE_PORT")
    );

    // FEDERATION_PROJECTS_FILE is a key of the mounted ConfigMap, and it is a valid catalog.
    let projects_file = env_of("FEDERATION_PROJECTS_FILE");
    let mount = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| projects_file.starts_with(&format!("{}/", str_of(&m["mountPath"]))))
        .unwrap_or_else(|| panic!("nothing is mounted where {projects_file} is"));
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    assert_eq!(str_of(&volume["configMap"]["name"]), "federation-projects");
    let key = projects_file.rsplit('/').next().unwrap();
    let content = str_of(&projects_cm["data"][&Yaml::from(key)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(key);
    std::fs::write(&file, content).unwrap();
    let catalog = federation_server::catalog::read(&file)
        .unwrap_or_else(|e| panic!("ConfigMap federation-projects {key}: {e:#}"));
    assert!(catalog.is_some_and(|c| !c.registrations.is_empty()));

    // The Service targets the named port of the pods it selects.
    let service = get("Service", "federation");
    assert_eq!(
        str_of(&service["spec"]["ports"][0]["targetPort"]),
        str_of(&port["name"])
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );

    // The ConfigMap and the Secret together: a configuration the service accepts, for
    // several replicas (PostgreSQL, NATS, the lease and the log's retention set).
    let secret_data = secret["stringData"].as_mapping().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::load_from(dir.path(), |var| {
        secret_data
            .get(var)
            .or_else(|| env_data.get(var))
            .map(str_of)
    })
    .unwrap_or_else(|e| panic!("ConfigMap federation-env + Secret federation-secrets: {e:#}"));
    assert!(settings.database_url.is_some() && settings.nats.is_some());
    for key in [
        "FEDERATION_LEASE_TTL",
        "FEDERATION_LOG_RETENTION",
        "FEDERATION_LOG_MAX_ROWS",
    ] {
        assert!(
            cm_keys.iter().any(|k| k == key),
            "ConfigMap federation-env sets no {key}"
        );
    }
    assert!(
        Duration::from_secs(
            deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap()
        ) > settings.lease_ttl,
        "a stopping leader needs time for its last flush and to hand the lease back"
    );
}

#[test]
fn kubernetes_runs_three_replicas_that_survive_a_node_drain() {
    let objects = k8s();
    let deployment = &objects[&("Deployment".to_owned(), "federation".to_owned())];
    let spec = &deployment["spec"];
    let pod_labels = &spec["template"]["metadata"]["labels"];
    let replicas = spec["replicas"].as_u64().unwrap();
    assert!(replicas >= 3, "replicas: {replicas}");
    // A rolling update adds a pod before it takes one away.
    assert_eq!(
        str_of(&spec["strategy"]["rollingUpdate"]["maxUnavailable"]),
        "0"
    );

    let pdb = objects
        .get(&("PodDisruptionBudget".to_owned(), "federation".to_owned()))
        .expect("a PodDisruptionBudget named federation");
    assert_eq!(str_of(&pdb["apiVersion"]), "policy/v1");
    let min_available = pdb["spec"]["minAvailable"].as_u64().unwrap();
    assert_eq!(min_available, 2);
    assert!(min_available < replicas, "a drain could never evict a pod");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"], *pod_labels,
        "the budget covers the Deployment's pods"
    );

    // Spread over nodes, preferably (a small cluster must still schedule all three).
    let anti = &spec["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert!(
        anti.get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_none(),
        "anti-affinity must be preferred, not required"
    );
    let terms = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_sequence()
        .expect("preferred anti-affinity");
    assert!(terms.iter().any(|t| {
        let term = &t["podAffinityTerm"];
        term["topologyKey"] == "kubernetes.io/hostname"
            && term["labelSelector"]["matchLabels"] == *pod_labels
    }));
}

#[test]
fn the_dockerfile_sets_known_settings_copies_what_exists_and_checks_health_with_the_binary() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    // Join continuation lines.
    let text = text.replace("\\\n", " ");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(
        lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2,
        "multi-stage build"
    );
    let user = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("USER");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");

    let mut env = BTreeMap::new();
    for line in lines.iter().filter(|l| l.starts_with("ENV ")) {
        for pair in line["ENV ".len()..].split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV k=v");
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    assert_env_known("Dockerfile", env.keys().map(String::as_str));
    assert_eq!(env.get("SERVICE_HOST").map(String::as_str), Some("0.0.0.0"));

    // COPY sources from the build context exist; the projects file lands where ENV says.
    let mut copied_to = Vec::new();
    for line in lines
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        let (dest, sources) = parts.split_last().unwrap();
        for s in sources.iter().filter(|s| **s != ".") {
            assert!(
                repo_dir().join(s).exists(),
                "Dockerfile copies {s}, which does not exist"
            );
            copied_to.push(format!(
                "{}{}",
                dest,
                Path::new(s).file_name().unwrap().to_str().unwrap()
            ));
        }
    }
    let projects = env
        .get("FEDERATION_PROJECTS_FILE")
        .expect("FEDERATION_PROJECTS_FILE");
    assert!(
        copied_to.contains(projects),
        "{projects} is not copied: {copied_to:?}"
    );

    let health = lines
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("HEALTHCHECK");
    assert!(
        health.contains(r#"CMD ["federation", "healthcheck"]"#),
        "{health}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("curl")),
        "the runtime image has no curl"
    );
    assert_command_exists("Dockerfile HEALTHCHECK", "healthcheck");
    let cmd = lines.iter().rev().find(|l| l.starts_with("CMD ")).unwrap();
    assert_eq!(*cmd, r#"CMD ["serve"]"#);
    let port = env.get("SERVICE_PORT").unwrap();
    assert!(lines.contains(&format!("EXPOSE {port}").as_str()));
}

/// `deploy/nats/nats-server.conf`: a project publishes heartbeats for itself only. The
/// service, logged in as `federation`, hears the project's own heartbeats (and its own
/// canaries), and a heartbeat the project forges for another never reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_config_lets_a_project_beat_for_itself_only() {
    let conf = std::fs::read_to_string(deploy_dir().join("nats/nats-server.conf")).unwrap();
    let passwords = "FEDERATION_NATS_PASSWORD: \"fed-pw\"\n\
                     COMMANDCENTER_NATS_PASSWORD: \"cc-pw\"\n\
                     VERIA_NATS_PASSWORD: \"veria-pw\"\n";
    let nats =
        federation_testkit::NatsServer::start_with_config(&format!("{passwords}{conf}")).unwrap();
    let service_url = format!("nats://federation:fed-pw@127.0.0.1:{}", nats.port());
    let config = TestConfig::with_nats(|_| Backend::postgres(), &service_url, "2s", "3s");
    let app = config.start().await;
    for slug in ["commandcenter", "veria"] {
        let body =
            json!({"slug": slug, "name": slug, "hub_url": format!("http://{slug}.example.com")});
        assert_eq!(app.register(&body).await.status(), 201);
    }
    app.wait_bus_healthy().await;

    let cc = crate::helpers::nats_client(
        &nats.url(),
        async_nats::ConnectOptions::with_user_and_password("commandcenter".into(), "cc-pw".into()),
    )
    .await;
    let beat = |slug: &str| json!({"project_slug": slug}).to_string();
    // Its own heartbeats arrive; the ones it forges for veria are refused by the server.
    eventually(Duration::from_secs(15), || async {
        for slug in ["commandcenter", "veria"] {
            // A refused publish is reported asynchronously by the server, not here.
            let _ = cc
                .publish(format!("hub.presence.{slug}"), beat(slug).into())
                .await;
        }
        let _ = cc.flush().await;
        match app.status_of("commandcenter").await.as_str() {
            "online" => Ok(()),
            other => Err(format!("commandcenter is {other}")),
        }
    })
    .await;
    // More forging, then one of its own with a version of its own: messages from one
    // connection arrive in order, so once that one is seen (and a tick has run after it)
    // any forged one that got through would have been judged too. veria stays offline.
    for _ in 0..10 {
        let _ = cc
            .publish("hub.presence.veria".to_owned(), beat("veria").into())
            .await;
    }
    let marker = json!({"project_slug": "commandcenter", "version": "7.7.7"}).to_string();
    cc.publish("hub.presence.commandcenter".to_owned(), marker.into())
        .await
        .unwrap();
    cc.flush().await.unwrap();
    eventually(Duration::from_secs(15), || async {
        match app.project("commandcenter").await["version"].as_str() {
            Some("7.7.7") => Ok(()),
            other => Err(format!("commandcenter's version is {other:?}")),
        }
    })
    .await;
    crate::ticks::wait_ticks(&app, 1, Duration::from_secs(15)).await;
    assert_eq!(app.status_of("veria").await, "offline");
    let history = app.history("veria").await;
    assert!(history.is_empty(), "veria never beat: {history:?}");
    // veria's own user can beat for it.
    let veria = crate::helpers::nats_client(
        &nats.url(),
        async_nats::ConnectOptions::with_user_and_password("veria".into(), "veria-pw".into()),
    )
    .await;
    eventually(Duration::from_secs(15), || async {
        let _ = veria
            .publish("hub.presence.veria".to_owned(), beat("veria").into())
            .await;
        let _ = veria.flush().await;
        match app.status_of("veria").await.as_str() {
            "online" => Ok(()),
            other => Err(format!("veria is {other}")),
        }
    })
    .await;
    app.stop().await;
}
