//! Throwaway PostgreSQL clusters.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{free_port, is_root, kill, run, sh_path, sh_quote, spawn_watchdog, which};
use crate::INSTALL_HINT;

/// Points tests at an external PostgreSQL server instead of a throwaway cluster.
pub const DATABASE_URL_ENV: &str = "FED_TEST_DATABASE_URL";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`: the highest version under
/// `/usr/lib/postgresql/*/bin`, else wherever `initdb` is on `PATH`.
fn server_bin_dir() -> Result<PathBuf> {
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
                continue;
            }
            let version: Vec<u32> = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .map(|p| p.parse().unwrap_or(0))
                .collect();
            if best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }
    if let Some(initdb) = which("initdb") {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent() {
            if dir.join("pg_ctl").is_file() {
                return Ok(dir.to_path_buf());
            }
        }
    }
    bail!("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH; {INSTALL_HINT}")
}

/// `psql`: next to the server binaries, else on `PATH`.
pub(crate) fn psql() -> Result<PathBuf> {
    if let Ok(dir) = server_bin_dir() {
        if dir.join("psql").is_file() {
            return Ok(dir.join("psql"));
        }
    }
    which("psql").ok_or_else(|| anyhow!("psql not found; {INSTALL_HINT}"))
}

/// Runs one SQL command with psql against `url`.
pub(crate) fn psql_command(url: &str, sql: &str) -> Result<()> {
    let mut cmd = Command::new(psql()?);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10");
    run(&mut cmd, "psql").map(|_| ())
}

/// Runs a SQL file with psql against `url` (stopping at the first error), as
/// `psql -f`: for loading dumps such as the original service's.
pub fn psql_file(url: &str, path: &Path) -> Result<()> {
    let mut cmd = Command::new(psql()?);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(path)
        .env("PGCONNECT_TIMEOUT", "10");
    run(&mut cmd, "psql -f").map(|_| ())
}

/// Runs one query with psql against `url`; returns its rows unaligned, without
/// headers, one per line, columns separated by `|`.
pub fn psql_query(url: &str, sql: &str) -> Result<String> {
    let mut cmd = Command::new(psql()?);
    cmd.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ])
    .env("PGCONNECT_TIMEOUT", "10");
    run(&mut cmd, "psql").map(|out| out.trim_end().to_owned())
}

/// A database name we are willing to put into SQL unquoted.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        bail!(
            "database name {name:?}: use 1-63 characters a-z, 0-9 and _, not starting with a digit"
        );
    }
    Ok(())
}

/// A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 on a free port,
/// with `trust` authentication for the `postgres` user and durability turned off
/// (`fsync`, `full_page_writes`, `synchronous_commit`).
///
/// Dropping it stops the server (immediate shutdown) and removes the folder. A watchdog
/// process does the same if the test binary exits without dropping it.
pub struct PostgresCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    watchdog: Mutex<Option<Child>>,
    pki: Option<crate::TestPki>,
}

impl std::fmt::Debug for PostgresCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish()
    }
}

impl PostgresCluster {
    /// initdb into a new temporary folder and start the server.
    pub fn start() -> Result<Self> {
        Self::start_inner(false)
    }

    /// As [`PostgresCluster::start`], serving TLS only (`ssl = on`, and `hostssl` lines
    /// alone in `pg_hba.conf`, so a client that does not encrypt is refused) with the
    /// `localhost`-only certificate of a fresh [`crate::TestPki`] (see
    /// [`PostgresCluster::pki`]), signed by its CA.
    pub fn start_with_tls() -> Result<Self> {
        Self::start_inner(true)
    }

    /// The certificates of a cluster started with [`PostgresCluster::start_with_tls`].
    pub fn pki(&self) -> Option<&crate::TestPki> {
        self.pki.as_ref()
    }

    fn start_inner(tls: bool) -> Result<Self> {
        let mut cluster = Self::prepare()?;
        cluster.initdb()?;
        if tls {
            cluster.pki = Some(crate::TestPki::new_in(cluster.root.join("pki"))?);
            cluster.enable_tls()?;
        }
        cluster.start_on_free_port()?;
        Ok(cluster)
    }

    /// A cluster owning a new, empty folder (the `postgres` user's when we are root)
    /// and its watchdog, with no data yet: Drop and the watchdog clean up whatever is
    /// made in it from here on.
    pub(crate) fn prepare() -> Result<Self> {
        let bin = server_bin_dir()?;
        let as_postgres = is_root();
        if as_postgres && which("runuser").is_none() && !Path::new("/usr/sbin/runuser").is_file() {
            bail!("running as root, and PostgreSQL refuses root: `runuser` (util-linux) is needed to run it as the `postgres` user");
        }
        let root = std::env::temp_dir().join(unique("fed-pg"));
        std::fs::create_dir_all(root.join("sock"))
            .with_context(|| format!("creating {}", root.display()))?;
        let cluster = PostgresCluster {
            root,
            bin,
            port: 0,
            as_postgres,
            watchdog: Mutex::new(None),
            pki: None,
        };
        if as_postgres {
            run(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(&cluster.root),
                "chown the cluster folder to postgres",
            )
            .context(
                "running as root: is there a `postgres` user (Debian package `postgresql`)?",
            )?;
        }
        let watchdog = spawn_watchdog(&cluster.cleanup_script())?;
        *cluster.lock_watchdog() = Some(watchdog);
        Ok(cluster)
    }

    /// Starts the server on a free port (another one when the first is taken meanwhile).
    pub(crate) fn start_on_free_port(&mut self) -> Result<()> {
        let mut last_err = None;
        for _ in 0..5 {
            self.port = free_port();
            match self.pg_ctl_start() {
                Ok(()) => return Ok(()),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("PostgreSQL did not start")))
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL. `name`: a-z, 0-9 and `_`.
    pub fn create_database(&self, name: &str) -> Result<String> {
        check_name(name)?;
        psql_command(&self.url("postgres"), &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating database {name}"))?;
        Ok(self.url(name))
    }

    /// Stops the server (fast shutdown: open connections are closed), keeping its data.
    pub fn stop(&self) -> Result<()> {
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
            "pg_ctl stop",
        )
        .map(|_| ())
    }

    /// Stops the server at once (immediate shutdown: no checkpoint, every connection cut,
    /// as a crash or a lost host looks to clients and standbys), keeping its data.
    pub fn stop_immediately(&self) -> Result<()> {
        run(
            self.server_cmd("pg_ctl").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "stop",
            ]),
            "pg_ctl stop -m immediate",
        )
        .map(|_| ())
    }

    /// Promotes a standby to a primary (`pg_ctl promote`), waiting until it takes
    /// writes.
    pub fn promote(&self) -> Result<()> {
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-t", "60", "promote"]),
            "pg_ctl promote",
        )
        .map(|_| ())
    }

    /// Starts the server again after [`PostgresCluster::stop`], on the same port and data.
    pub fn start_again(&self) -> Result<()> {
        self.pg_ctl_start()
    }

    /// Freezes the server: SIGSTOP to the postmaster, then to every process it started
    /// (backends, checkpointer, …), as a hung host looks to clients: connections stay
    /// open and nothing answers. Returns how many processes were stopped.
    pub fn freeze(&self) -> Result<usize> {
        let postmaster = self.postmaster_pid()?;
        signal("STOP", &[postmaster])?;
        let children = children_of(postmaster)?;
        if !children.is_empty() {
            signal("STOP", &children)?;
        }
        Ok(children.len() + 1)
    }

    /// Ends a [`PostgresCluster::freeze`]: SIGCONT to the server's processes.
    pub fn thaw(&self) -> Result<usize> {
        let postmaster = self.postmaster_pid()?;
        let mut pids = children_of(postmaster)?;
        pids.push(postmaster);
        signal("CONT", &pids)?;
        Ok(pids.len())
    }

    fn postmaster_pid(&self) -> Result<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .context("reading postmaster.pid (is the server running?)")?;
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| anyhow!("postmaster.pid holds no pid"))
    }

    /// The data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The folder everything of this cluster lives in.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Appends settings to `postgresql.conf` (later lines win over earlier ones).
    pub(crate) fn append_conf(&self, text: &str) -> Result<()> {
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .context("writing postgresql.conf")
    }

    fn lock_watchdog(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.watchdog.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A command for a server binary, as `postgres` when we are root.
    pub(crate) fn server_cmd(&self, prog: &str) -> Command {
        let exe = self.bin.join(prog);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // The postgres user may not be allowed into the test's working directory.
        cmd.current_dir(&self.root);
        cmd
    }

    fn server_cmd_line(&self, prog: &str) -> String {
        let exe = sh_path(&self.bin.join(prog));
        if self.as_postgres {
            format!("runuser -u postgres -- {exe}")
        } else {
            exe
        }
    }

    fn cleanup_script(&self) -> String {
        format!(
            "cd / && {} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
            self.server_cmd_line("pg_ctl"),
            sh_path(&self.data()),
            sh_path(&self.root)
        )
    }

    fn initdb(&self) -> Result<()> {
        run(
            self.server_cmd("initdb").arg("-D").arg(self.data()).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let conf = format!(
            "\n# federation-testkit\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {}\n\
             fsync = off\n\
             full_page_writes = off\n\
             synchronous_commit = off\n\
             max_connections = 300\n\
             shared_buffers = 32MB\n\
             log_min_messages = warning\n",
            sh_quote(&self.root.join("sock").to_string_lossy())
        );
        self.append_conf(&conf)
    }

    /// Installs the `localhost` certificate as the server's, turns `ssl` on and lets
    /// TCP clients in over TLS only.
    fn enable_tls(&self) -> Result<()> {
        let pki = self
            .pki
            .as_ref()
            .ok_or_else(|| anyhow!("no certificates made"))?;
        let data = self.data();
        let (crt, key) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&crt, &pki.localhost.cert_pem).context("writing server.crt")?;
        std::fs::write(&key, &pki.localhost.key_pem).context("writing server.key")?;
        run(
            Command::new("chmod").arg("0600").arg(&key),
            "chmod server.key",
        )?;
        if self.as_postgres {
            run(
                Command::new("chown").arg("postgres:").arg(&crt).arg(&key),
                "chown the server certificate to postgres",
            )?;
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .context("writing pg_hba.conf")?;
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| {
                f.write_all(
                    b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
                )
            })
            .context("writing postgresql.conf")
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let log = self.root.join("server.log");
        let result = run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {}", self.port))
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        );
        if let Err(e) = result {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(e.context(format!("server log:\n{tail}")));
        }
        crate::process::wait_for_port(self.port, Duration::from_secs(30))
    }
}

/// The processes whose parent is `parent` (from `/proc`).
fn children_of(parent: u32) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the command may hold blanks and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 1..))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// `kill -SIG pids…`.
fn signal(sig: &str, pids: &[u32]) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{sig} {pids:?} failed");
    }
    Ok(())
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        // A test that failed while the server was frozen: let it stop.
        let _ = self.thaw();
        let _ = run(
            self.server_cmd("pg_ctl").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
                "stop",
            ]),
            "pg_ctl stop",
        );
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(mut w) = self.lock_watchdog().take() {
            kill(&mut w);
        }
    }
}

static SHARED_TLS: OnceLock<Result<PostgresCluster, String>> = OnceLock::new();

/// A cluster serving TLS only (see [`PostgresCluster::start_with_tls`]), shared by every
/// test in this binary and started on first use. Its certificates:
/// [`PostgresCluster::pki`].
pub fn shared_tls_cluster() -> Result<&'static PostgresCluster> {
    SHARED_TLS
        .get_or_init(|| PostgresCluster::start_with_tls().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("starting the test PostgreSQL with TLS failed: {e}"))
}

/// A fresh, empty database for one test. On an external server
/// (`FED_TEST_DATABASE_URL`) it is dropped with this value; on the shared throwaway
/// cluster it simply goes with the cluster.
#[derive(Debug)]
pub struct TestDatabase {
    /// `postgres://…` URL of the database.
    pub url: String,
    name: String,
    /// URL of a database to run `DROP DATABASE` from, for external servers.
    admin_url: Option<String>,
}

impl TestDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin_url {
            let _ = psql_command(
                admin,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

static SHARED: OnceLock<Result<PostgresCluster, String>> = OnceLock::new();

/// The cluster shared by every test in this binary, started on first use.
fn shared_cluster() -> Result<&'static PostgresCluster> {
    SHARED
        .get_or_init(|| PostgresCluster::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("starting the test PostgreSQL failed: {e}"))
}

/// A fresh, empty database on the binary's shared throwaway cluster, or on the server
/// `FED_TEST_DATABASE_URL` names. Each call gets its own database, so tests run in
/// parallel without seeing each other.
pub fn postgres_database() -> Result<TestDatabase> {
    let name = unique("fedtest");
    match std::env::var(DATABASE_URL_ENV) {
        Ok(admin) if !admin.trim().is_empty() => {
            let admin = admin.trim().to_owned();
            psql_command(&admin, &format!("CREATE DATABASE {name}"))
                .with_context(|| format!("creating a test database on {DATABASE_URL_ENV}"))?;
            let url = replace_database(&admin, &name)?;
            Ok(TestDatabase {
                url,
                name,
                admin_url: Some(admin),
            })
        }
        _ => {
            let cluster = shared_cluster()?;
            let url = cluster.create_database(&name)?;
            Ok(TestDatabase {
                url,
                name,
                admin_url: None,
            })
        }
    }
}

/// `url` with its path (the database) replaced by `/name`, query kept.
fn replace_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base
        .find("://")
        .ok_or_else(|| anyhow!("{DATABASE_URL_ENV} must be a postgres:// URL"))?
        + 3;
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_in_url_is_replaced() {
        assert_eq!(
            replace_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t1").unwrap(),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h", "t1").unwrap(),
            "postgres://u@h/t1"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("fedtest_1_2").is_ok());
        assert!(check_name("x; DROP").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("1abc").is_err());
    }
}
