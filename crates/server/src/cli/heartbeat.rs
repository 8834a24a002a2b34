//! `federation heartbeat`: a project's heartbeats from the command line.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use federation_heartbeat::{
    connect_nats, send_once, Health, HeartbeatConfig, HttpTarget, Publisher, Sink,
};

use super::{duration_arg, NatsArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Online,
    Degraded,
}

#[derive(Debug, Clone, Args)]
pub struct HeartbeatArgs {
    /// The project's slug (lowercase a-z, 0-9, -).
    #[arg(long)]
    pub slug: String,
    /// The project's hub URL (http or https).
    #[arg(long)]
    pub hub_url: String,
    /// Publish on NATS (`hub.presence.<slug>`).
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Post to this service instead (`POST /api/fed/projects/<slug>/heartbeat`); wins
    /// over NATS_URL.
    #[arg(long)]
    pub server: Option<String>,
    /// API key for --server (X-API-Key).
    #[arg(long, env = "FEDERATION_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The project's heartbeat key for --server (sent as X-API-Key; wins over
    /// --api-key): see `POST /api/fed/projects/{slug}/heartbeat-key`.
    #[arg(long, env = "FEDERATION_HEARTBEAT_KEY", hide_env_values = true)]
    pub heartbeat_key: Option<String>,
    /// Mean time between beats (±10 % jitter).
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub interval: Duration,
    /// Say the interval in each heartbeat (`interval`, whole seconds): the service then
    /// takes this project as degraded after 2 and offline after 3 silent intervals.
    #[arg(long)]
    pub declare_interval: bool,
    /// Send one heartbeat, wait until it has left, and exit.
    #[arg(long)]
    pub once: bool,
    /// What the heartbeats report.
    #[arg(long, value_enum, default_value = "online")]
    pub status: StatusArg,
    /// A reason for `--status degraded` (repeatable).
    #[arg(long = "reason")]
    pub reasons: Vec<String>,
    /// The version the project reports.
    #[arg(long = "project-version", default_value = env!("CARGO_PKG_VERSION"))]
    pub project_version: String,
    /// The service's presence subject prefix.
    #[arg(
        long,
        env = "FEDERATION_PRESENCE_SUBJECT",
        default_value = federation_heartbeat::DEFAULT_SUBJECT_PREFIX
    )]
    pub subject_prefix: String,
}

impl HeartbeatArgs {
    /// The heartbeat configuration and health these arguments describe.
    pub fn config(&self) -> anyhow::Result<(HeartbeatConfig, Health)> {
        let config = HeartbeatConfig::new(&self.slug, &self.hub_url)?
            .try_version(&self.project_version)?
            .interval(self.interval)
            .declare_interval(self.declare_interval)
            .subject_prefix(self.subject_prefix.clone());
        let health = match self.status {
            StatusArg::Online if !self.reasons.is_empty() => {
                bail!("--reason goes with --status degraded")
            }
            StatusArg::Online => Health::Online,
            StatusArg::Degraded => Health::degraded(self.reasons.clone()),
        };
        Ok((config, health))
    }

    /// Where the beats go: `--server` (HTTP), else `--nats-url` / NATS_URL.
    pub async fn sink(&self) -> anyhow::Result<(Sink, String)> {
        if let Some(server) = &self.server {
            let key = self
                .heartbeat_key
                .clone()
                .filter(|k| !k.is_empty())
                .or_else(|| self.api_key.clone());
            let target = HttpTarget::new(server.clone()).api_key(key);
            return Ok((Sink::http(target)?, server.clone()));
        }
        let Some(url) = &self.nats.url else {
            bail!("say where to send heartbeats: --nats-url URL (or NATS_URL), or --server URL");
        };
        let client = connect_nats(url, &self.nats.auth()).await?;
        Ok((Sink::nats(client), url.clone()))
    }
}

/// Runs `federation heartbeat`.
pub async fn run(args: HeartbeatArgs) -> anyhow::Result<()> {
    let (config, health) = args.config()?;
    let (sink, target) = args.sink().await?;
    let via = if args.server.is_some() {
        format!("POST {target}/api/fed/projects/{}/heartbeat", config.slug())
    } else {
        format!("{} on {target}", config.subject())
    };
    if args.once {
        send_once(&config, &sink, &health)
            .await
            .with_context(|| format!("sending the heartbeat ({via})"))?;
        println!("heartbeat sent: {via}");
        return Ok(());
    }
    eprintln!(
        "beating every {:?} (±10 %): {via}; Ctrl-C stops",
        config.interval_value()
    );
    let publisher = Publisher::start_with(config, sink, health);
    super::shutdown_signal().await;
    let stats = publisher.stop().await;
    eprintln!(
        "stopped: {} sent, {} failed, {} skipped while NATS was down",
        stats.sent, stats.failed, stats.skipped
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: HeartbeatArgs,
    }

    fn interval_sent(extra: &[&str]) -> Option<f64> {
        let base = ["federation", "--slug", "alpha", "--hub-url", "http://x"];
        let cli = Cli::try_parse_from(base.iter().chain(extra)).unwrap();
        let (config, health) = cli.args.config().unwrap();
        config.payload(&health, chrono::Utc::now()).interval
    }

    #[test]
    fn the_interval_is_declared_only_when_asked() {
        assert_eq!(interval_sent(&["--interval", "7s"]), None);
        assert_eq!(
            interval_sent(&["--interval", "7s", "--declare-interval"]),
            Some(7.0)
        );
    }
}
