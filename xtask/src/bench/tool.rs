//! The `federation` binary as the bench's load tool: `simulate` (the NATS publisher and
//! the registrations), `projects register`, and `bench-listen` (a bare async-nats
//! subscriber that counts, or reads status events) as a [`Listener`].

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::API_KEY;

pub(super) struct Tool<'a> {
    bin: &'a Path,
    nats_url: String,
}

impl<'a> Tool<'a> {
    pub(super) fn new(bin: &'a Path, nats_url: String) -> Self {
        Tool { bin, nats_url }
    }

    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin);
        cmd.args(args)
            .env("NATS_URL", &self.nats_url)
            .env("FEDERATION_API_KEY", API_KEY)
            .env("LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }

    /// `federation simulate ARGS --json --quiet`, run to the end: its summary.
    pub(super) fn simulate(&self, args: &[&str]) -> anyhow::Result<Value> {
        self.json(&simulate_args(args))
    }

    /// `federation simulate ARGS --json --quiet`, started, its stdout piped.
    pub(super) fn spawn_simulate(&self, args: &[&str]) -> anyhow::Result<Child> {
        self.command(&simulate_args(args))
            .stdout(Stdio::piped())
            .spawn()
            .context("starting federation simulate")
    }

    /// Runs a command that prints one JSON object last on stdout.
    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self
            .command(args)
            .stdout(Stdio::piped())
            .output()
            .with_context(|| format!("running federation {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("federation {} failed: {}", args.join(" "), out.status);
        }
        last_json(&String::from_utf8_lossy(&out.stdout))
    }

    /// `federation projects register` of one project on the service at `server`.
    pub(super) fn register(&self, server: &str, slug: &str, hub_url: &str) -> anyhow::Result<()> {
        let registered = Command::new(self.bin)
            .args([
                "projects",
                "register",
                "--server",
                server,
                "--slug",
                slug,
                "--hub-url",
                hub_url,
            ])
            .env("FEDERATION_API_KEY", API_KEY)
            .stdout(Stdio::null())
            .status()?
            .success();
        if !registered {
            bail!("registering {slug} failed");
        }
        Ok(())
    }

    /// Starts `bench-listen` and waits for its `ready`.
    pub(super) fn listen(&self, args: &[&str]) -> anyhow::Result<Listener> {
        let mut all = vec!["bench-listen"];
        all.extend_from_slice(args);
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting bench-listen")?;
        let mut stdout = BufReader::new(child.stdout.take().context("listener stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("bench-listen did not start: {line:?}");
        }
        Ok(Listener { child, stdout })
    }
}

fn simulate_args<'s>(args: &[&'s str]) -> Vec<&'s str> {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.extend(["--json", "--quiet"]);
    all
}

/// A running `bench-listen`.
pub(super) struct Listener {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Listener {
    /// Waits for it to end (by its own `--expect`, `--idle` or `--max-wait`): its summary.
    pub(super) fn finish(mut self) -> anyhow::Result<Value> {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest)?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("bench-listen failed: {status}");
        }
        last_json(&rest)
    }
}

fn last_json(out: &str) -> anyhow::Result<Value> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("no JSON in the output: {out:.200}"))?;
    Ok(serde_json::from_str(line)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_json_line_of_a_tools_output() {
        let out = "progress 10%\n{\"a\": 1}\nprogress 100%\n{\"a\": 2}\ndone\n";
        assert_eq!(last_json(out).unwrap(), serde_json::json!({"a": 2}));
        assert!(last_json("nothing here").is_err());
    }

    #[test]
    fn simulate_always_asks_for_a_quiet_json_summary() {
        assert_eq!(
            simulate_args(&["--projects", "3"]),
            ["simulate", "--projects", "3", "--json", "--quiet"]
        );
    }
}
