//! Throwaway `nats-server` instances.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{free_port, kill, sh_path, spawn_watchdog, wait_for_port, which};
use crate::INSTALL_HINT;

/// Points tests at an external NATS server instead of a throwaway one.
pub const NATS_URL_ENV: &str = "FED_TEST_NATS_URL";

fn nats_binary() -> Result<PathBuf> {
    which("nats-server")
        .or_else(|| {
            [
                "/usr/sbin/nats-server",
                "/usr/bin/nats-server",
                "/usr/local/bin/nats-server",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
        })
        .ok_or_else(|| anyhow!("nats-server not found on PATH or in /usr/sbin; {INSTALL_HINT}"))
}

/// A `nats-server` on 127.0.0.1 and a free port, with its own config, pid file and log in
/// a temporary folder. Dropping it kills the server and removes the folder; a watchdog
/// does the same if the test binary exits first.
pub struct NatsServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    watchdog: Option<Child>,
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl NatsServer {
    /// Starts a plain server (no auth, core NATS) and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        Self::start_with_config("")
    }

    /// Starts a server that requires TLS and shows `cert` (a [`crate::TestPki`]
    /// certificate).
    pub fn start_with_tls(cert: &crate::ServerCert) -> Result<Self> {
        Self::start_with_config(&format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
            cert.cert_file, cert.key_file
        ))
    }

    /// Starts a server with extra configuration lines (nats-server config syntax, e.g.
    /// `authorization { token: "s3cret" }`). `listen` is set by the test kit.
    pub fn start_with_config(extra_conf: &str) -> Result<Self> {
        let bin = nats_binary()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fed-nats-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut server = NatsServer {
            port: 0,
            dir,
            bin,
            child: None,
            watchdog: None,
        };
        server.watchdog = Some(spawn_watchdog(&format!(
            "kill -9 $(cat {pid} 2>/dev/null) 2>/dev/null; rm -rf {dir}",
            pid = sh_path(&server.pid_file()),
            dir = sh_path(&server.dir)
        ))?);
        let mut last_err = None;
        for _ in 0..5 {
            server.port = free_port();
            std::fs::write(
                server.conf_file(),
                format!("listen: 127.0.0.1:{}\n{extra_conf}\n", server.port),
            )
            .context("writing nats-server config")?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("nats-server did not start")))
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash or a network cut would look to clients).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing nats-server")?;
            child.wait().context("reaping nats-server")?;
        }
        Ok(())
    }

    /// Stops the server if running and starts it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        let mut last_err = None;
        // The port was just released; give the kernel a moment if it is still busy.
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last_err = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last_err.unwrap_or_else(|| anyhow!("nats-server did not restart")))
    }

    /// Rewrites the extra configuration (same port) and makes the running server reload
    /// it (SIGHUP), as an operator changing permissions on a live server would. Waits a
    /// moment for the reload to take effect.
    pub fn reload_with_config(&mut self, extra_conf: &str) -> Result<()> {
        std::fs::write(
            self.conf_file(),
            format!("listen: 127.0.0.1:{}\n{extra_conf}\n", self.port),
        )
        .context("writing nats-server config")?;
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("nats-server is not running"))?;
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(child.id().to_string())
            .status()
            .context("signalling nats-server")?;
        if !status.success() {
            bail!("kill -HUP nats-server failed: {status}");
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    fn conf_file(&self) -> PathBuf {
        self.dir.join("nats.conf")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("nats.pid")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .context("opening the nats-server log")?;
        let mut child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.conf_file())
            .arg("-P")
            .arg(self.pid_file())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("nats-server log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().context("waiting for nats-server")? {
                let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                bail!(
                    "nats-server exited ({status}) on port {}:\n{}",
                    self.port,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if wait_for_port(self.port, Duration::from_millis(100)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                kill(&mut child);
                bail!(
                    "nats-server did not accept connections on port {} within 10s",
                    self.port
                );
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(mut w) = self.watchdog.take() {
            kill(&mut w);
        }
    }
}

static SHARED: OnceLock<Result<NatsServer, String>> = OnceLock::new();

/// The URL of a `nats-server` shared by every test in this binary (started on first
/// use), or `FED_TEST_NATS_URL` when set.
pub fn shared_nats_url() -> Result<String> {
    if let Ok(url) = std::env::var(NATS_URL_ENV) {
        if !url.trim().is_empty() {
            return Ok(url.trim().to_owned());
        }
    }
    SHARED
        .get_or_init(|| NatsServer::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map(NatsServer::url)
        .map_err(|e| anyhow!("starting the test nats-server failed: {e}"))
}
