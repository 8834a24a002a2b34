//! The real binary as a child process: started with a clean environment in a temp dir,
//! its output collected, killed when dropped (so a failing test leaves no service
//! behind). The one place the end-to-end tests name the binary: [`command`] for a run
//! to completion, [`Binary`] for a process that lives while the test talks to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::eventually;

/// The `federation` binary as a command with nothing set: the caller adds arguments
/// and environment and runs it to completion (`output`, `status`).
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_federation"))
}

/// Which pipe a line came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

type Lines = Arc<Mutex<Vec<(Stream, String)>>>;

/// A running process (the `federation` binary, or a helper such as chromedriver),
/// killed when dropped.
pub struct Binary {
    child: Child,
    lines: Lines,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (SIGSTOP) process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    source: impl Read + Send + 'static,
    stream: Stream,
    into: Lines,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            into.lock().unwrap().push((stream, line));
        }
    })
}

impl Binary {
    /// `federation ARGS` in `dir` with only `env` (and `PATH`) set.
    pub fn spawn(dir: &Path, args: &[&str], env: &HashMap<String, String>) -> Binary {
        let mut cmd = command();
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Tests stop at once unless they drain on purpose (it sets its own).
            .env("FEDERATION_SHUTDOWN_DRAIN", "0s")
            .envs(env);
        Binary::start(cmd)
    }

    /// Starts `cmd` as it is set up, its stdout and stderr collected.
    pub fn start(mut cmd: Command) -> Binary {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} starts: {e}", cmd.get_program()));
        let lines: Lines = Arc::default();
        let readers = vec![
            collect(child.stdout.take().unwrap(), Stream::Out, lines.clone()),
            collect(child.stderr.take().unwrap(), Stream::Err, lines.clone()),
        ];
        Binary {
            child,
            lines,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`"TERM"`, `"HUP"`, `"STOP"`, `"CONT"`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} {}", self.pid());
    }

    /// kill -9, and waits for the end; returns what it printed.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
        self.output()
    }

    /// Every line printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        all.join("\n")
    }

    /// Every line printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|(s, _)| *s == Stream::Out)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// The JSON log lines (`LOG_FORMAT=json`, on stdout) whose `message` is `message`.
    pub fn logs(&self, message: &str) -> Vec<Value> {
        self.stdout_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// Waits for the `nth` (from 1) JSON log line whose `message` is `message`.
    pub async fn wait_for_log(&self, message: &str, nth: usize, within: Duration) -> Value {
        eventually(within, || async {
            self.logs(message)
                .into_iter()
                .nth(nth.saturating_sub(1))
                .ok_or_else(|| format!("no log line {nth} {message:?} in:\n{}", self.output()))
        })
        .await
    }

    /// The address it listens on, from its JSON log's `federation service listening`.
    pub async fn address(&self) -> String {
        let line = self
            .wait_for_log("federation service listening", 1, Duration::from_secs(60))
            .await;
        line["address"].as_str().expect("an address").to_owned()
    }

    /// Waits for a line containing `needle`.
    pub async fn wait_for(&self, needle: &str, within: Duration) {
        eventually(within, || async {
            let out = self.output();
            if out.contains(needle) {
                Ok(())
            } else {
                Err(format!("no line with {needle:?} in:\n{out}"))
            }
        })
        .await;
    }

    /// Sends SIGTERM (the clean stop) and waits for the process to end.
    pub async fn stop(self) -> (ExitStatus, String) {
        self.signal("TERM");
        self.finish(Duration::from_secs(30)).await
    }

    /// Waits for the process to end by itself and returns its exit status and output.
    pub async fn finish(mut self, within: Duration) -> (ExitStatus, String) {
        let status = eventually(within, || {
            let done = self.child.try_wait();
            async move {
                match done {
                    Ok(Some(status)) => Ok(status),
                    Ok(None) => Err("still running".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        self.join_readers();
        (status, self.output())
    }

    /// The pipes close with the process: the readers end once they hold everything.
    fn join_readers(&mut self) {
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
    }
}
