//! `wrk` for the REST phases: installed with apt when missing, its Lua scripts, one run
//! and its numbers.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use super::report::thousands;
use super::API_KEY;

/// How long a row runs unless its load says otherwise.
pub(super) const SECONDS: u32 = 10;

/// How hard wrk pushes, and for how long: its threads and connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct Load {
    pub(super) threads: u32,
    pub(super) connections: u32,
    pub(super) seconds: u32,
}

/// Reads: 2 threads, 32 connections (how the Python original was measured).
pub(super) const READS: Load = Load {
    threads: 2,
    connections: 32,
    seconds: SECONDS,
};

/// Writes (POST, PATCH): as the reads, 32 connections.
pub(super) const WRITES: Load = READS;

/// One connection, one request at a time: a write's latency on its own.
pub(super) const ONE: Load = Load {
    threads: 1,
    connections: 1,
    seconds: SECONDS,
};

/// DELETE takes the slugs the 32-connection POST row made (with the same 2 threads,
/// each its own), in half the time, so it does not run out of them at a higher rate.
pub(super) const DELETES: Load = Load {
    seconds: SECONDS / 2,
    ..WRITES
};

impl Load {
    /// `wrk, 2 threads, 32 connections, 10 s` for a row's name.
    pub(super) fn describe(&self) -> String {
        format!(
            "wrk, {} thread{}, {} connection{}, {} s",
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.seconds
        )
    }
}

/// GETs a random one of the 10,000 `ing-*` projects (a)'s fleet registers.
const GET_LUA: &str = r#"math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/fed/projects/ing-" .. math.random(0, 9999))
end
"#;

/// GETs a random one of (m)'s million.
fn get_million_lua() -> String {
    format!(
        r#"math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/fed/projects/{}-" .. math.random(0, {}))
end
"#,
        super::million::PREFIX,
        super::million::PROJECTS - 1
    )
}

/// Lua that numbers wrk's threads 0, 1, … into `tid`, then `$request`. wrk numbers
/// them the same way in every run, which is how [`DELETE_LUA`] finds what
/// [`POST_LUA`] made.
macro_rules! numbered_threads {
    ($request:literal) => {
        concat!(
            r#"local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
"#,
            $request
        )
    };
}

/// POSTs a new project per request: `PREFIX-<thread>-<n>`, n = 1, 2, …
const POST_LUA: &str = numbered_threads!(
    r#"request = function()
  counter = counter + 1
  local slug = "PREFIX-" .. tostring(tid) .. "-" .. counter
  local body = '{"slug":"' .. slug .. '","name":"' .. slug .. '","hub_url":"http://' .. slug .. '.example.com"}'
  return wrk.format("POST", "/api/fed/projects", {["Content-Type"] = "application/json", ["X-API-Key"] = "API_KEY"}, body)
end
"#
);

/// PATCHes a random one of the 10,000 `ing-*` projects: a new name, and one of four
/// pairs of tags (so most patches change the tags too).
const PATCH_LUA: &str = r#"math.randomseed(os.time())
local counter = 0
request = function()
  counter = counter + 1
  local n = math.random(0, 9999)
  local body = '{"name":"ing ' .. n .. ' patched ' .. counter .. '","tags":["bench","p' .. (counter % 4) .. '"]}'
  return wrk.format("PATCH", "/api/fed/projects/ing-" .. n, {["Content-Type"] = "application/json", ["X-API-Key"] = "API_KEY"}, body)
end
"#;

/// DELETEs the projects [`POST_LUA`] made with the prefix `post`, in the order each of
/// its threads made them (wrk numbers threads the same way in both runs).
const DELETE_LUA: &str = numbered_threads!(
    r#"request = function()
  counter = counter + 1
  return wrk.format("DELETE", "/api/fed/projects/post-" .. tostring(tid) .. "-" .. counter, {["X-API-Key"] = "API_KEY"})
end
"#
);

/// The scripts into `out`, for [`run`]: `get.lua`, `post.lua` (slugs `post-*`),
/// `post-one.lua` (slugs `one-*`), `patch.lua`, `delete.lua`, `get-million.lua`.
pub(super) fn write_scripts(out: &Path) -> anyhow::Result<()> {
    let post = POST_LUA.replace("API_KEY", API_KEY);
    std::fs::write(out.join("get.lua"), GET_LUA)?;
    std::fs::write(out.join("get-million.lua"), get_million_lua())?;
    std::fs::write(out.join("post.lua"), post.replace("PREFIX", "post"))?;
    std::fs::write(out.join("post-one.lua"), post.replace("PREFIX", "one"))?;
    std::fs::write(out.join("patch.lua"), PATCH_LUA.replace("API_KEY", API_KEY))?;
    std::fs::write(
        out.join("delete.lua"),
        DELETE_LUA.replace("API_KEY", API_KEY),
    )?;
    Ok(())
}

/// Installs wrk with apt-get when it is missing and we may.
pub(super) fn ensure() -> anyhow::Result<()> {
    if crate::on_path("wrk") {
        return Ok(());
    }
    if !crate::is_root() || !crate::on_path("apt-get") {
        bail!("wrk is not installed (apt-get install wrk)");
    }
    eprintln!("bench: installing wrk with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    let installed = apt(&["install", "-y", "-qq", "--no-install-recommends", "wrk"])?;
    if !installed.success() {
        apt(&["update", "-qq"])?;
        let again = apt(&["install", "-y", "-qq", "--no-install-recommends", "wrk"])?;
        if !again.success() {
            bail!("apt-get install wrk failed");
        }
    }
    Ok(())
}

/// wrk's numbers.
#[derive(Debug, Default, Clone)]
pub(super) struct Wrk {
    pub(super) rps: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) non_2xx: u64,
    pub(super) errors: String,
}

impl Wrk {
    /// `7,012/s, 0.64 ms, 2.10 ms` and what went wrong, if anything.
    pub(super) fn summary(&self) -> String {
        let mut s = format!(
            "{}/s, {:.2} ms, {:.2} ms",
            thousands(self.rps),
            self.p50_ms,
            self.p99_ms
        );
        if self.non_2xx > 0 {
            let _ = write!(s, " ({} non-2xx)", self.non_2xx);
        }
        if !self.errors.is_empty() {
            let _ = write!(s, " ({})", self.errors);
        }
        s
    }
}

/// `load` for its seconds at `url`, with `script` from `out_dir`; wrk's output is kept in
/// `out_dir/wrk-{name}.txt`.
pub(super) fn run(
    out_dir: &Path,
    name: &str,
    load: Load,
    url: &str,
    script: Option<&str>,
) -> anyhow::Result<Wrk> {
    run_with(out_dir, name, load, url, script, &[])
}

/// [`run`] with more request headers (`Name: value`).
pub(super) fn run_with(
    out_dir: &Path,
    name: &str,
    load: Load,
    url: &str,
    script: Option<&str>,
    headers: &[&str],
) -> anyhow::Result<Wrk> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        &format!("-t{}", load.threads),
        &format!("-c{}", load.connections),
        &format!("-d{}s", load.seconds),
        "--latency",
        "-H",
        &format!("X-API-Key: {API_KEY}"),
    ]);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(out_dir.join(script));
    }
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(out_dir.join(format!("wrk-{name}.txt")), &text)?;
    if !out.status.success() {
        bail!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse(&text))
}

fn parse(out: &str) -> Wrk {
    let mut w = Wrk::default();
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            w.p50_ms = duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("99%") {
            w.p99_ms = duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(0);
        } else if t.starts_with("Socket errors:") {
            w.errors = t.to_owned();
        }
    }
    w
}

/// wrk's `635.00us`, `1.01ms`, `1.5s`, `2m` in milliseconds.
fn duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (n, factor) = if let Some(n) = s.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    n.parse::<f64>().ok().map(|v| v * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk() {
        let out = "Running 10s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  635.00us\n     75%    1.01ms\n     99%    2.10ms\n  70123 requests in 10.00s\nRequests/sec:   7012.34\n";
        let w = parse(out);
        assert_eq!(w.rps, 7012.34);
        assert!((w.p50_ms - 0.635).abs() < 1e-9);
        assert_eq!(w.p99_ms, 2.1);
        assert_eq!(duration_ms("1.5s"), Some(1500.0));
        assert_eq!(w.summary(), "7,012/s, 0.64 ms, 2.10 ms");
    }

    #[test]
    fn names_its_load() {
        assert_eq!(READS.describe(), "wrk, 2 threads, 32 connections, 10 s");
        assert_eq!(WRITES.describe(), "wrk, 2 threads, 32 connections, 10 s");
        assert_eq!(ONE.describe(), "wrk, 1 thread, 1 connection, 10 s");
        assert_eq!(DELETES.describe(), "wrk, 2 threads, 32 connections, 5 s");
    }

    #[test]
    fn the_summary_says_what_went_wrong() {
        let w = Wrk {
            non_2xx: 3,
            errors: "Socket errors: connect 0, read 1, write 0, timeout 0".into(),
            ..Wrk::default()
        };
        assert_eq!(
            w.summary(),
            "0/s, 0.00 ms, 0.00 ms (3 non-2xx) (Socket errors: connect 0, read 1, write 0, timeout 0)"
        );
    }
}
