//! `cargo xtask <command>`: the operator's and developer's entry points.
//!
//! - `serve [ARGS]`   run the service (embedded SQLite default unless the environment says otherwise)
//! - `migrate [--database-url URL]`   apply database migrations
//! - `dev`            throwaway PostgreSQL + nats-server, migrated, serving until Ctrl-C
//! - `test [ARGS]`    install what the tests need (as root, with apt) and run every test
//! - `bench`          release build, throwaway PostgreSQL + nats-server, measure ([`bench`])
//! - `soak [--minutes N]`   release build, 3 replicas and 100,000 projects for N minutes ([`bench::soak`])
//! - `fuzz [--cases N] [--debug]`   the property tests (`fuzz_*`), N cases per target
//! - `image [--tag T] [--base IMAGE] [--binary PATH]`   the container image, with Podman ([`image`])
//! - `conformance [--max-examples N] [--seed S]`   schemathesis against `/openapi.json` ([`conformance`])
//!
//! The command line is [`cli`] (clap): `cargo xtask help` and `cargo xtask <command>
//! --help` say the rest.
//!
//! Paths under cargo's target directory come from [`target_dir`], so `CARGO_TARGET_DIR`
//! (and `build.target-dir`) hold here as they do for cargo.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser};

use cli::{Cli, Xtask};

mod bench;
mod cli;
mod conformance;
mod image;

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let Some(command) = Cli::parse().command else {
        Cli::command().print_help()?;
        return Ok(());
    };
    let root = workspace_root()?;
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match command {
        Xtask::Serve { args } => exit_with(federation(&["serve"], &args)?),
        Xtask::Migrate { args } => exit_with(federation(&["migrate"], &args)?),
        Xtask::Dev { args } => dev(&args),
        Xtask::Test { args } => test(&args),
        Xtask::Bench { only } => bench::run(&target_dir()?, &only),
        Xtask::Soak { minutes } => bench::soak::run(&target_dir()?, minutes),
        Xtask::Fuzz { cases, debug } => fuzz(cases, !debug),
        Xtask::Image(args) => image::run(&target_dir()?, args),
        Xtask::Conformance(args) => conformance::run(&target_dir()?, &args),
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

/// Cargo's target directory for this workspace, as cargo itself resolves it
/// (`CARGO_TARGET_DIR`, `build.target-dir`, else `target/` at the workspace root).
fn target_dir() -> anyhow::Result<PathBuf> {
    target_dir_of(&mut cargo())
}

/// `cargo metadata`'s `target_directory`, asked of `cargo` (a [`cargo()`] command).
fn target_dir_of(cargo: &mut Command) -> anyhow::Result<PathBuf> {
    let out = cargo
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading cargo metadata's output")?;
    metadata
        .get("target_directory")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .context("no target_directory in cargo metadata's output")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo run` gave us xtask's package variables; build scripts that watch them
    // (ring's does) would rebuild for every cargo started from here.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR"
            )
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

fn exit_with(status: ExitStatus) -> anyhow::Result<()> {
    if status.success() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1))
    }
}

/// `cargo run` of the `federation` binary with `args` then `rest`.
fn federation_command(args: &[&str], rest: &[String]) -> Command {
    let mut command = cargo();
    command
        .args([
            "run",
            "--quiet",
            "--package",
            "federation-server",
            "--bin",
            "federation",
            "--",
        ])
        .args(args)
        .args(rest);
    command
}

/// Runs the `federation` binary through cargo with `args` then `rest`.
fn federation(args: &[&str], rest: &[String]) -> anyhow::Result<ExitStatus> {
    federation_command(args, rest)
        .status()
        .context("running cargo")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn has_postgres() -> bool {
    let versioned = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.flatten().any(|d| {
                d.path().join("bin/initdb").is_file() && d.path().join("bin/postgres").is_file()
            })
        })
        .unwrap_or(false);
    versioned || on_path("initdb")
}

/// Whether `python3 -m venv` can make a venv with pip (Debian splits it out).
fn has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import ensurepip, venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn has_nats() -> bool {
    on_path("nats-server") || Path::new("/usr/sbin/nats-server").is_file()
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(binary).is_file()))
        .unwrap_or(false)
}

/// Installs PostgreSQL, nats-server, promtool (which checks the alert rules),
/// Chromium with chromedriver (the dashboard's browser test) and aiosmtpd (the email
/// tests' SMTP sink) from Debian's packages when missing.
fn ensure_test_services() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !has_postgres() {
        missing.push("postgresql");
    }
    if !has_nats() {
        missing.push("nats-server");
    }
    if !on_path("promtool") {
        missing.push("prometheus");
    }
    // The dashboard's browser test: headless Chromium over WebDriver.
    if !Path::new("/usr/bin/chromium").is_file() {
        missing.push("chromium");
    }
    if !Path::new("/usr/bin/chromedriver").is_file() {
        missing.push("chromium-driver");
    }
    // The conformance check's venv (schemathesis from PyPI).
    if !has_venv() {
        missing.push("python3-venv");
    }
    // The email notification tests' SMTP sink (crates/notify/tests/email.rs).
    if !Path::new("/usr/lib/python3/dist-packages/aiosmtpd").is_dir() {
        missing.push("python3-aiosmtpd");
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        bail!(
            "the tests need the Debian packages {} (apt-get install -y {}); install them, or \
             point the tests at running servers with FED_TEST_DATABASE_URL and FED_TEST_NATS_URL",
            missing.join(" and "),
            missing.join(" ")
        );
    }
    apt_install(&missing)
}

/// `apt-get install` of `packages` (after `apt-get update`), as root.
fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if !is_root() || !on_path("apt-get") {
        bail!(
            "missing Debian packages: apt-get install -y {} (as root)",
            packages.join(" ")
        );
    }
    eprintln!("xtask: installing {} with apt-get", packages.join(", "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed with {status}", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(packages);
    apt(&install)
}

/// Podman and the local base image for the container tests (`FED_TEST_BASE_IMAGE`).
/// Where Podman cannot be had, the tests skip, saying so; in CI (`CI=true`) that fails.
fn container_base() -> anyhow::Result<Option<String>> {
    match image::ensure_podman().and_then(|()| image::ensure_base(&target_dir()?)) {
        Ok(base) => Ok(Some(base)),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            Err(e.context("the container tests need podman in CI"))
        }
        Err(e) => {
            eprintln!(
                "xtask: no podman or base image for the container tests ({e:#}); they skip \
                 where podman cannot run and fail where it runs without a base image"
            );
            Ok(None)
        }
    }
}

/// Examples per operation of the conformance check that `cargo xtask test` runs.
const CI_CONFORMANCE_EXAMPLES: u32 = 10;

fn test(rest: &[String]) -> anyhow::Result<()> {
    ensure_test_services()?;
    let mut command = cargo();
    if let Some(base) = container_base()? {
        command.env("FED_TEST_BASE_IMAGE", base);
    }
    let mut child = command
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .args(rest)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    // Pass the output through, adding up every binary's `test result:` line.
    let mut totals = TestTotals::default();
    let stdout = child.stdout.take().context("cargo test output")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        totals.add(&line);
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!(
        "summary: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    if !rest.is_empty() {
        return exit_with(status);
    }
    // The whole suite also holds the description against the service, with few
    // examples: a drift fails the run.
    let conformance = conformance::run(
        &target_dir()?,
        &conformance::ConformanceArgs {
            max_examples: CI_CONFORMANCE_EXAMPLES,
            seed: 1,
        },
    );
    match &conformance {
        Ok(()) => println!("conformance: schemathesis found nothing"),
        Err(e) => println!("conformance: FAILED: {e:#}"),
    }
    if conformance.is_err() && status.success() {
        std::process::exit(1);
    }
    exit_with(status)
}

/// `cargo xtask fuzz [--cases N] [--debug]`: every `fuzz_*` property test with
/// `PROPTEST_CASES=N`, then how many targets ran how many cases.
fn fuzz(cases: u64, release: bool) -> anyhow::Result<()> {
    let mut command = cargo();
    command.args(["test", "--locked"]);
    if release {
        command.arg("--release");
    }
    command
        .args([
            "-p",
            "federation-domain",
            "-p",
            "federation-api",
            "-p",
            "federation-server",
        ])
        .args(["--lib", "fuzz_", "--", "--nocapture"])
        .env("PROPTEST_CASES", cases.to_string())
        .stdout(Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = command.spawn().context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test output")?;
    let mut targets = Vec::new();
    let mut totals = TestTotals::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        totals.add(&line);
        if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... ok"))
        {
            targets.push(name.to_owned());
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!(
        "fuzz: {} targets passed {cases} cases each ({} cases in all) in {:.0?}; {} failed",
        targets.len(),
        cases.saturating_mul(targets.len() as u64),
        started.elapsed(),
        totals.failed
    );
    for t in &targets {
        println!("  {t}");
    }
    exit_with(status)
}

/// Sums of cargo test's `test result: ok. 3 passed; 0 failed; 1 ignored; …` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn dev(rest: &[String]) -> anyhow::Result<()> {
    ensure_test_services()?;
    // Ctrl-C reaches the whole process group: the service shuts down gracefully on it,
    // and we stay alive to stop the servers we started once it has.
    ctrlc::set_handler(|| eprintln!("xtask: stopping…"))
        .context("installing the Ctrl-C handler")?;
    let postgres = federation_testkit::PostgresCluster::start().context("starting PostgreSQL")?;
    let database_url = postgres
        .create_database("federation")
        .context("creating the database")?;
    let nats = federation_testkit::NatsServer::start().context("starting nats-server")?;
    eprintln!("xtask: DATABASE_URL={database_url}");
    eprintln!("xtask: NATS_URL={}", nats.url());
    let status = federation_command(&["serve", "--migrate"], rest)
        .env("DATABASE_URL", &database_url)
        .env("NATS_URL", nats.url())
        .status()
        .context("running the service")?;
    drop(nats);
    drop(postgres);
    eprintln!("xtask: PostgreSQL and nats-server stopped");
    if status.success() || status.code().is_none() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_directory_is_the_one_cargo_uses() {
        let elsewhere = std::env::temp_dir().join("xtask-target-dir-test");
        let mut cargo = cargo();
        cargo.env("CARGO_TARGET_DIR", &elsewhere);
        assert_eq!(target_dir_of(&mut cargo).unwrap(), elsewhere);
        assert!(!elsewhere.exists(), "asking does not create it");
    }

    #[test]
    fn a_relative_target_directory_is_taken_from_where_cargo_runs() {
        let mut cargo = cargo();
        cargo.env("CARGO_TARGET_DIR", "relative-target");
        assert_eq!(
            target_dir_of(&mut cargo).unwrap(),
            std::env::current_dir().unwrap().join("relative-target")
        );
    }

    #[test]
    fn adds_up_test_result_lines() {
        let mut t = TestTotals::default();
        t.add("test result: ok. 28 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 3.21s");
        t.add("test result: FAILED. 58 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.13s");
        t.add("running 3 tests");
        t.add("test foo ... ok");
        assert_eq!(
            t,
            TestTotals {
                passed: 86,
                failed: 2,
                ignored: 1
            }
        );
    }
}
