//! The service under test, as a child process: started on a free port with its log in a
//! file, waited for, asked over plain HTTP, stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use super::http::http_get;
use super::metrics::{self, HeartbeatCounts};
use super::{wait_until, API_KEY};

pub(super) struct Service {
    child: Child,
    port: u16,
    name: String,
    log: PathBuf,
}

impl Service {
    /// Starts `bin serve` against `database_url` and `nats_url`, with `env` on top, logging
    /// to `out/service-{name}.log`; returns once it answers `/health`.
    pub(super) fn start(
        bin: &Path,
        out: &Path,
        name: &str,
        database_url: &str,
        nats_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut service = Self::spawn(bin, out, name, database_url, nats_url, env)?;
        service.wait_healthy()?;
        Ok(service)
    }

    fn spawn(
        bin: &Path,
        out: &Path,
        name: &str,
        database_url: &str,
        nats_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = federation_testkit::free_port();
        let log = out.join(format!("service-{name}.log"));
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("DATABASE_URL", database_url)
            .env("NATS_URL", nats_url)
            .env("FEDERATION_AUTO_MIGRATE", "true")
            .env("SERVICE_HOST", "127.0.0.1")
            .env("SERVICE_PORT", port.to_string())
            .env("FEDERATION_API_KEYS", API_KEY)
            .env("FEDERATION_PROJECTS_FILE", out.join("no-projects.yaml"))
            .env("LOG_LEVEL", "warn")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting the service ({})", bin.display()))?;
        Ok(Service {
            child,
            port,
            name: name.to_owned(),
            log,
        })
    }

    /// Until `/health` answers 200; fails at once if the process exits.
    fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let (name, port, log) = (&self.name, self.port, &self.log);
        let child = &mut self.child;
        wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the service ({name}) exited with {status}; see {}",
                    log.display()
                );
            }
            Ok(matches!(http_get(port, "/health"), Ok((200, _))).then_some(()))
        })?
        .with_context(|| format!("the service ({name}) did not answer /health within 60 s"))
    }

    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// `GET path` on the service: status and body.
    pub(super) fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.port, path)
    }

    /// Until NATS is up and the partition guard's hold after connecting is over.
    pub(super) fn wait_bus_healthy(&self) -> anyhow::Result<()> {
        wait_until(Duration::from_secs(120), Duration::from_millis(100), || {
            let Ok((_, body)) = self.get("/ready") else {
                return Ok(None);
            };
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let check = |name: &str| {
                v.pointer(&format!("/checks/{name}"))
                    .and_then(Value::as_str)
            };
            Ok(
                (check("nats") == Some("ok") && check("partition_guard") == Some("inactive"))
                    .then_some(()),
            )
        })?
        .context("the service's NATS link never became healthy")
    }

    /// Until the presence subscription is proven: NATS up and a canary came back (the
    /// partition guard may still hold expiry; heartbeats are recorded all the same).
    pub(super) fn wait_subscribed(&self) -> anyhow::Result<()> {
        wait_until(Duration::from_secs(120), Duration::from_millis(100), || {
            let returned = match self.get("/metrics") {
                Ok((200, body)) => {
                    metrics::value(&body, "federation_nats_canaries_returned_total").unwrap_or(0.0)
                }
                _ => 0.0,
            };
            Ok((returned > 0.0).then_some(()))
        })?
        .context("no canary came back through the service's subscription within 120 s")
    }

    /// The service's own count of heartbeats by outcome, from `/metrics`.
    pub(super) fn heartbeat_counts(&self) -> anyhow::Result<HeartbeatCounts> {
        HeartbeatCounts::read(self.port)
    }

    pub(super) fn project(&self, slug: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(&format!("/api/fed/projects/{slug}"))?;
        if status != 200 {
            bail!("GET {slug}: {status} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// SIGTERM (the service flushes and exits), and SIGKILL if it has not within 15 s.
    pub(super) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let child = &mut self.child;
        let stopped = wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
            Ok(matches!(child.try_wait(), Ok(Some(_))).then_some(()))
        });
        if let Ok(Some(())) = stopped {
            return;
        }
        eprintln!(
            "bench: the service ({}) did not stop; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// SIGKILL (no chance to flush or hand anything over), and reaped.
    pub(super) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
