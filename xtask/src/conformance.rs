//! `cargo xtask conformance`: schemathesis against the service's own `/openapi.json`.
//!
//! Makes (or reuses) a Python venv under cargo's target directory with schemathesis,
//! builds the service, starts it on a throwaway embedded SQLite with an API key, and runs
//! `schemathesis run` (every check, as `xtask/schemathesis.toml` says) against it with a fixed seed. The run's exit status is
//! this command's: any disagreement between the description and the service fails it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The schemathesis release the description is held against.
pub(crate) const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// The key the service under test requires (write access).
const KEY: &str = "conformance-key";

/// `cargo xtask conformance`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct ConformanceArgs {
    /// Examples per operation.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max_examples: u32,
    /// The generator's seed (a run is repeatable with the same seed).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// Kills the service when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv(target: &Path) -> anyhow::Result<PathBuf> {
    let dir = target.join("conformance/venv");
    let st = dir.join("bin/schemathesis");
    let marker = dir.join(SCHEMATHESIS);
    if st.is_file() && marker.is_file() {
        return Ok(st);
    }
    eprintln!(
        "xtask: making a venv with {SCHEMATHESIS} in {}",
        dir.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .context("running python3 -m venv (apt-get install python3-venv)")?
        .success();
    if !ok {
        bail!("python3 -m venv {} failed", dir.display());
    }
    let ok = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", SCHEMATHESIS])
        .status()
        .context("running pip")?
        .success();
    if !ok {
        bail!("pip install {SCHEMATHESIS} failed");
    }
    std::fs::write(&marker, "").context("marking the venv")?;
    Ok(st)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_until_ready(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the service did not listen on 127.0.0.1:{port} within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the check; fails when schemathesis finds anything.
pub(crate) fn run(target: &Path, args: &ConformanceArgs) -> anyhow::Result<()> {
    let st = venv(target)?;
    let ok = crate::cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "federation-server",
            "--bin",
            "federation",
        ])
        .status()
        .context("building the service")?
        .success();
    if !ok {
        bail!("building the service failed");
    }
    let dir = target.join("conformance/run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("the run's directory")?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("service.log")).context("the service's log")?;
    let service = Service(
        Command::new(target.join("debug/federation"))
            .arg("serve")
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SERVICE_PORT", port.to_string())
            .env("FEDERATION_API_KEYS", KEY)
            .env("FEDERATION_PROJECTS_FILE", dir.join("none.yaml"))
            // Blocking queries answer within schemathesis' request timeout.
            .env("FEDERATION_BLOCKING_MAX_WAIT", "2s")
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the service")?,
    );
    wait_until_ready(port, Duration::from_secs(30))?;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml");
    let status = Command::new(st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("http://127.0.0.1:{port}/openapi.json")])
        // Every check, as schemathesis.toml says (a check named here would overrule the
        // file's one exception).
        .arg("--no-color")
        .args(["-H", &format!("X-API-Key: {KEY}")])
        .args(["--max-examples", &args.max_examples.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .current_dir(&dir)
        .status()
        .context("running schemathesis")?;
    drop(service);
    if !status.success() {
        bail!(
            "schemathesis found disagreements between /openapi.json and the service ({status}); \
             the service's log is {}",
            dir.join("service.log").display()
        );
    }
    Ok(())
}
