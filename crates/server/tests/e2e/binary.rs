//! The real binary as a child process: started with a clean environment in a temp dir,
//! its output collected, killed when dropped (so a failing test leaves no service
//! behind).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::eventually;

/// A running `federation` process.
pub struct Binary {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    source: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(source).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl Binary {
    /// `federation ARGS` in `dir` with only `env` (and `PATH`) set.
    pub fn spawn(dir: &Path, args: &[&str], env: &HashMap<String, String>) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_federation"))
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the federation binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), lines.clone()),
            collect(child.stderr.take().unwrap(), lines.clone()),
        ];
        Binary {
            child,
            lines,
            readers,
        }
    }

    /// Every line printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
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
    pub async fn stop(self) -> (std::process::ExitStatus, String) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM");
        self.finish(Duration::from_secs(30)).await
    }

    /// Waits for the process to end by itself and returns its exit status and output.
    pub async fn finish(mut self, within: Duration) -> (std::process::ExitStatus, String) {
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
        // The pipes close with the process: the readers end once they hold everything.
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        (status, self.output())
    }
}
