//! A throwaway Prometheus server (Debian's `prometheus`) scraping what a test gives it,
//! every second, on a free port, with its data in a temp dir.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{free_port, kill, wait_for_port, which};

/// A running Prometheus; stopped (and its data removed) when dropped.
pub struct PrometheusServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl std::fmt::Debug for PrometheusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn binary() -> Result<PathBuf> {
    which("prometheus")
        .or_else(|| {
            let p = PathBuf::from("/usr/bin/prometheus");
            p.is_file().then_some(p)
        })
        .context("prometheus is not installed (Debian package `prometheus`; `cargo xtask test` installs it)")
}

impl PrometheusServer {
    /// Starts Prometheus with `scrape_configs` (YAML, the list's items indented by two
    /// spaces) under a global 1 s scrape interval.
    pub fn start(scrape_configs: &str) -> Result<Self> {
        let bin = binary()?;
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("fed-prometheus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).context("prometheus temp dir")?;
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape_configs}"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).context("prometheus.yml")?;
        let log = std::fs::File::create(dir.join("prometheus.log")).context("prometheus log")?;
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting prometheus")?;
        let mut server = PrometheusServer { child, port, dir };
        if let Err(e) = wait_for_port(port, Duration::from_secs(30)) {
            kill(&mut server.child);
            return Err(e.context(server.log()));
        }
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
