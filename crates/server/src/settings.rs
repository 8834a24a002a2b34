//! Layered configuration: built-in defaults (`config/default.toml`, compiled in) <
//! `config/default.toml` on disk < `config/local.toml` < environment variables.
//!
//! Environment names are the original service's (`DATABASE_URL`, `NATS_URL`,
//! `LOG_LEVEL`, `SERVICE_PORT`) plus `SERVICE_HOST` and `FEDERATION_*`; [`ENV_KEYS`]
//! maps each to its key. Every bad value is reported with the variable and key it
//! came from.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use config::{Config, File, FileFormat};
use federation_nats::{NatsConfig, DEFAULT_QUEUE_CAPACITY};
use serde::Deserialize;

pub use crate::telemetry::LogFormat;

pub mod incidents;
pub mod notify;
mod original;
mod status_page;
mod uptime;
mod values;

pub use status_page::STATUS_PAGE_TITLE_MAX;
use values::{http_limits, invalid, non_empty, parse_bool, positive, subject};
pub use values::{parse_duration, redact_url};

const BUILTIN_DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Environment variable → configuration key.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("SERVICE_HOST", "service.host"),
    ("SERVICE_PORT", "service.port"),
    ("DATABASE_URL", "database.url"),
    ("FEDERATION_AUTO_MIGRATE", "database.auto_migrate"),
    ("FEDERATION_DB_MAX_CONNECTIONS", "database.max_connections"),
    ("FEDERATION_DB_CONNECT_TIMEOUT", "database.connect_timeout"),
    ("FEDERATION_DB_POOL_TIMEOUT", "database.pool_timeout"),
    (
        "FEDERATION_DB_STATEMENT_TIMEOUT",
        "database.statement_timeout",
    ),
    ("NATS_URL", "nats.url"),
    ("NATS_TOKEN", "nats.token"),
    ("NATS_CREDS", "nats.creds"),
    ("NATS_NKEY", "nats.nkey"),
    ("NATS_TLS_CA_FILE", "nats.tls_ca_file"),
    ("NATS_TLS_CERT_FILE", "nats.tls_cert_file"),
    ("NATS_TLS_KEY_FILE", "nats.tls_key_file"),
    ("FEDERATION_PRESENCE_SUBJECT", "nats.presence_subject"),
    ("FEDERATION_EVENTS_SUBJECT", "nats.events_subject"),
    ("FEDERATION_CANARY_SUBJECT", "nats.canary_subject"),
    ("FEDERATION_CANARY_INTERVAL", "nats.canary_interval"),
    ("FEDERATION_DEGRADED_AFTER", "status.degraded_after"),
    // The original's name; FEDERATION_OFFLINE_AFTER (below) wins when both are set.
    ("HEARTBEAT_STALE_THRESHOLD_SECONDS", "status.offline_after"),
    ("FEDERATION_OFFLINE_AFTER", "status.offline_after"),
    ("FEDERATION_SWEEP_INTERVAL", "status.sweep_interval"),
    ("FEDERATION_DEADLINE_MIN", "status.deadline_min"),
    ("FEDERATION_DEADLINE_MAX", "status.deadline_max"),
    ("FEDERATION_DEREGISTER_AFTER", "status.deregister_after"),
    ("FEDERATION_LEASE_TTL", "replicas.lease_ttl"),
    ("FEDERATION_LOG_RETENTION", "replicas.log_retention"),
    ("FEDERATION_LOG_MAX_ROWS", "replicas.log_max_rows"),
    ("FEDERATION_LOG_TRIM_INTERVAL", "replicas.log_trim_interval"),
    ("FEDERATION_STREAM_KEEP_ALIVE", "stream.keep_alive"),
    ("FEDERATION_STREAM_MAX", "stream.max_streams"),
    ("FEDERATION_STREAM_BUFFER", "stream.buffer"),
    ("FEDERATION_STREAM_BUFFER_BYTES", "stream.buffer_bytes"),
    ("FEDERATION_BLOCKING_MAX_WAIT", "stream.blocking_max_wait"),
    ("FEDERATION_HISTORY_RETENTION", "replicas.history_retention"),
    (
        "FEDERATION_HISTORY_MAX_PER_PROJECT",
        "replicas.history_max_per_project",
    ),
    ("FEDERATION_RECOVER_AFTER", "status.recover_after"),
    ("FEDERATION_API_KEYS", "auth.api_keys"),
    ("FEDERATION_READ_API_KEYS", "auth.read_api_keys"),
    ("FEDERATION_ALLOW_ANONYMOUS", "auth.allow_anonymous"),
    ("FEDERATION_ALLOWED_HOSTS", "auth.allowed_hosts"),
    ("FEDERATION_PROJECTS_FILE", "catalog.projects_file"),
    ("FEDERATION_CATALOG_PRUNE", "catalog.prune"),
    ("LOG_LEVEL", "log.level"),
    ("LOG_FORMAT", "log.format"),
    ("FEDERATION_HTTP_MAX_CONNECTIONS", "http.max_connections"),
    ("FEDERATION_SHUTDOWN_DRAIN", "http.shutdown_drain"),
    ("FEDERATION_HTTP_KEEP_ALIVE", "http.keep_alive"),
    ("FEDERATION_HTTP_HEAD_TIMEOUT", "http.head_timeout"),
    ("FEDERATION_HTTP_BODY_TIMEOUT", "http.body_timeout"),
    ("FEDERATION_HTTP_SEND_TIMEOUT", "http.send_timeout"),
    (
        "FEDERATION_HTTP_DISCONNECT_TIMEOUT",
        "http.disconnect_timeout",
    ),
    ("FEDERATION_STATUS_PAGE", "status_page.enabled"),
    ("FEDERATION_STATUS_PAGE_TITLE", "status_page.title"),
    ("FEDERATION_STATUS_PAGE_TAGS", "status_page.tags"),
    ("FEDERATION_STATUS_PAGE_PROJECTS", "status_page.projects"),
    ("FEDERATION_STATUS_PAGE_SHOW_URLS", "status_page.show_urls"),
    ("FEDERATION_UPTIME_DEGRADED", "uptime.degraded"),
];

#[derive(Debug, Clone, Deserialize)]
struct Raw {
    service: RawService,
    database: RawDatabase,
    nats: RawNats,
    status: RawStatus,
    replicas: RawReplicas,
    stream: RawStream,
    auth: RawAuth,
    catalog: RawCatalog,
    log: RawLog,
    http: RawHttp,
    #[serde(default)]
    status_page: status_page::RawStatusPage,
    #[serde(default)]
    uptime: uptime::RawUptime,
}

#[derive(Debug, Clone, Deserialize)]
struct RawHttp {
    max_connections: String,
    keep_alive: String,
    head_timeout: String,
    body_timeout: String,
    send_timeout: String,
    disconnect_timeout: String,
    shutdown_drain: String,
}

/// What one HTTP client may hold of the server (`[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at most (over all workers); more wait in the accept backlog.
    pub max_connections: usize,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive: Duration,
    /// A request head (line and headers) must arrive within this, or 408.
    pub head_timeout: Duration,
    /// A request body must arrive within this once its handler reads it, or 408.
    pub body_timeout: Duration,
    /// A client that accepts no byte of its answers for this long is disconnected.
    pub send_timeout: Duration,
    /// A connection being closed gets this long to shut down cleanly.
    pub disconnect_timeout: Duration,
    /// On SIGTERM, `/ready` answers 503 and the service keeps serving this long (so
    /// balancers stop sending it traffic) before it stops accepting connections.
    pub shutdown_drain: Duration,
}

#[derive(Debug, Clone, Deserialize)]
struct RawService {
    host: String,
    port: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawDatabase {
    url: String,
    auto_migrate: String,
    max_connections: String,
    connect_timeout: String,
    pool_timeout: String,
    statement_timeout: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawNats {
    url: String,
    token: String,
    creds: String,
    nkey: String,
    tls_ca_file: String,
    tls_cert_file: String,
    tls_key_file: String,
    presence_subject: String,
    events_subject: String,
    canary_subject: String,
    canary_interval: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawStatus {
    degraded_after: String,
    offline_after: String,
    sweep_interval: String,
    deadline_min: String,
    deadline_max: String,
    deregister_after: String,
    recover_after: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawReplicas {
    lease_ttl: String,
    log_retention: String,
    log_max_rows: String,
    log_trim_interval: String,
    history_retention: String,
    history_max_per_project: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawStream {
    keep_alive: String,
    max_streams: String,
    buffer: String,
    buffer_bytes: String,
    blocking_max_wait: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawAuth {
    api_keys: String,
    read_api_keys: String,
    allow_anonymous: String,
    #[serde(default)]
    allowed_hosts: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawCatalog {
    projects_file: String,
    prune: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawLog {
    level: String,
    format: String,
}

/// The effective configuration.
#[derive(Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    /// `None`: the embedded SQLite default.
    pub database_url: Option<String>,
    pub auto_migrate: bool,
    pub max_connections: usize,
    /// How long opening a database connection may take.
    pub db_connect_timeout: Duration,
    /// How long an operation waits for a pooled database connection.
    pub db_pool_timeout: Duration,
    /// How long an operation's statements may take (PostgreSQL `statement_timeout`,
    /// and the store's own deadline).
    pub db_statement_timeout: Duration,
    /// `None`: no NATS; heartbeats over HTTP only.
    pub nats: Option<NatsConfig>,
    /// `status.degraded_after` and `status.offline_after`, checked when loaded.
    policy: federation_domain::StatusPolicy,
    pub sweep_interval: Duration,
    /// How long the sweeper lease lasts unless renewed (every tick).
    pub lease_ttl: Duration,
    /// How long changes stay in the log.
    pub log_retention: Duration,
    /// At most this many changes stay in the log.
    pub log_max_rows: u64,
    /// How often the leader trims the log.
    pub log_trim_interval: Duration,
    /// The change stream and blocking queries.
    pub stream: federation_api::StreamOptions,
    /// Transitions older than this leave the history.
    pub history_retention: Duration,
    /// At most this many transitions stay in each project's history.
    pub history_max_per_project: u32,
    pub api_keys: Option<String>,
    pub read_api_keys: Option<String>,
    pub allow_anonymous: bool,
    /// Host names a keyless loopback service answers besides loopback ones.
    pub allowed_hosts: Option<String>,
    pub projects_file: PathBuf,
    /// Applying the catalog file removes the projects it registered and no longer lists
    /// (also when the file says `prune: true`).
    pub catalog_prune: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    pub http: HttpLimits,
    /// The public status page and badges (`[status_page]`).
    pub status_page: federation_api::StatusPage,
    /// How degraded time counts in uptime percentages (`[uptime] degraded`).
    pub uptime_degraded: federation_domain::uptime::DegradedCounts,
    /// What the settings had to take differently from what was asked (an original
    /// service's setting bounded or followed), to log once logging is up.
    pub warnings: Vec<String>,
    /// Notification delivery (`FEDERATION_NOTIFY_*`, see [`notify`]).
    pub notify: notify::NotifySettings,
}

/// The variable that names another env file than `./.env`.
pub const ENV_FILE_VAR: &str = "FEDERATION_ENV_FILE";

/// An env file read: its path and the variables the environment does not set.
pub type EnvFile = (PathBuf, Vec<(String, String)>);

/// The `.env` file of `dir` (or the one `FEDERATION_ENV_FILE` names), as the original
/// read it: its variables, of which those the environment already sets are left out
/// (the environment wins). `None` when there is no `./.env`; a file named by
/// `FEDERATION_ENV_FILE` must exist.
pub fn env_file(
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<EnvFile>> {
    let (path, required) = match env(ENV_FILE_VAR).as_deref().and_then(non_empty) {
        Some(named) => (dir.join(named), true),
        None => (dir.join(".env"), false),
    };
    let entries = match dotenvy::from_path_iter(&path) {
        Ok(entries) => entries,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(None)
        }
        Err(e) => {
            return Err(e).with_context(|| {
                if required {
                    format!("reading {} (named by {ENV_FILE_VAR})", path.display())
                } else {
                    format!("reading {}", path.display())
                }
            })
        }
    };
    let mut vars = Vec::new();
    for entry in entries {
        let (key, value) = entry.with_context(|| format!("reading {}", path.display()))?;
        if env(&key).is_none() {
            vars.push((key, value));
        }
    }
    Ok(Some((path, vars)))
}

/// The embedded default database, relative to the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "data/federation.db";

impl Settings {
    /// Reads the layers from `dir` (usually the working directory) and the process
    /// environment.
    /// Environment names match without regard to case, as pydantic-settings matched
    /// them for the original.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Self::load_from(dir, original::environment())
    }

    /// As [`Settings::load`], with the environment given as a lookup (for tests).
    pub fn load_from(dir: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut builder = Config::builder()
            .add_source(File::from_str(BUILTIN_DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("config/default.toml")).required(false))
            .add_source(File::from(dir.join("config/local.toml")).required(false));
        let mut warnings = Vec::new();
        if let Some(sweep) = original::check_interval(&env, &mut warnings)? {
            builder = builder
                .set_override("status.sweep_interval", sweep)
                .with_context(|| {
                    format!(
                        "setting status.sweep_interval from {}",
                        original::CHECK_INTERVAL_VAR
                    )
                })?;
        }
        for (var, key) in ENV_KEYS {
            if let Some(value) = env(var) {
                builder = builder
                    .set_override(*key, value)
                    .with_context(|| format!("setting {key} from {var}"))?;
            }
        }
        let raw: Raw = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .context("reading the configuration")?;
        let mut settings = Self::from_raw(raw, &mut warnings)?;
        settings.warnings = warnings;
        settings.notify = notify::NotifySettings::from_env(&env)?;
        Ok(settings)
    }

    fn from_raw(raw: Raw, warnings: &mut Vec<String>) -> anyhow::Result<Self> {
        let host = raw.service.host.trim().parse::<IpAddr>().map_err(|_| {
            invalid(
                "service.host",
                "must be an IP address such as 127.0.0.1 or 0.0.0.0",
            )
        })?;
        let port = raw
            .service
            .port
            .trim()
            .parse::<u16>()
            .map_err(|_| invalid("service.port", "must be a port number 0-65535"))?;
        let database_url = non_empty(&raw.database.url);
        let auto_migrate = parse_bool(&raw.database.auto_migrate, "database.auto_migrate")?;
        let max_connections = raw
            .database
            .max_connections
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("database.max_connections", "must be a number 1-1000"))?;
        let db_timeout = |raw: &str, key: &str| positive(parse_duration(raw, key)?, key);
        let db_connect_timeout =
            db_timeout(&raw.database.connect_timeout, "database.connect_timeout")?;
        let db_pool_timeout = db_timeout(&raw.database.pool_timeout, "database.pool_timeout")?;
        let db_statement_timeout = db_timeout(
            &raw.database.statement_timeout,
            "database.statement_timeout",
        )?;

        let nats = match non_empty(&raw.nats.url) {
            None => None,
            Some(url) => {
                if !["nats://", "tls://", "ws://", "wss://"]
                    .iter()
                    .any(|p| url.starts_with(p))
                    && url.contains("://")
                {
                    return Err(invalid("nats.url", "must be a nats:// or tls:// URL"));
                }
                Some(NatsConfig {
                    url,
                    token: non_empty(&raw.nats.token),
                    creds: non_empty(&raw.nats.creds).map(PathBuf::from),
                    nkey: non_empty(&raw.nats.nkey),
                    tls_ca_file: non_empty(&raw.nats.tls_ca_file).map(PathBuf::from),
                    tls_client: match (
                        non_empty(&raw.nats.tls_cert_file),
                        non_empty(&raw.nats.tls_key_file),
                    ) {
                        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
                        (None, None) => None,
                        (Some(_), None) => {
                            return Err(invalid(
                                "nats.tls_key_file",
                                "is needed with NATS_TLS_CERT_FILE",
                            ))
                        }
                        (None, Some(_)) => {
                            return Err(invalid(
                                "nats.tls_cert_file",
                                "is needed with NATS_TLS_KEY_FILE",
                            ))
                        }
                    },
                    presence_subject: subject(&raw.nats.presence_subject, "nats.presence_subject")?,
                    events_subject: subject(&raw.nats.events_subject, "nats.events_subject")?,
                    canary_subject: values::canary_subject(
                        &raw.nats.canary_subject,
                        &raw.nats.presence_subject,
                    )?,
                    canary_interval: positive(
                        parse_duration(&raw.nats.canary_interval, "nats.canary_interval")?,
                        "nats.canary_interval",
                    )?,
                    queue_capacity: DEFAULT_QUEUE_CAPACITY,
                })
            }
        };

        let degraded_after = parse_duration(&raw.status.degraded_after, "status.degraded_after")?;
        let offline_after = parse_duration(&raw.status.offline_after, "status.offline_after")?;
        let degraded_after = original::degraded_following(degraded_after, offline_after, warnings);
        let deadline_min = parse_duration(&raw.status.deadline_min, "status.deadline_min")?;
        let deadline_max = parse_duration(&raw.status.deadline_max, "status.deadline_max")?;
        let deregister_after =
            parse_duration(&raw.status.deregister_after, "status.deregister_after")?;
        let recover_after = raw
            .status
            .recover_after
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| invalid("status.recover_after", "must be a number 1-100"))?;
        let policy = federation_domain::StatusPolicy::new(degraded_after, offline_after)
            .and_then(|p| p.with_deadline_bounds(deadline_min, deadline_max))
            .and_then(|p| p.with_deregister_after(deregister_after))
            .map_err(|e| invalid(&format!("status.{}", e.field), &e.message))?
            .with_recover_after(recover_after);
        let sweep_interval = positive(
            parse_duration(&raw.status.sweep_interval, "status.sweep_interval")?,
            "status.sweep_interval",
        )?;

        let lease_ttl = positive(
            parse_duration(&raw.replicas.lease_ttl, "replicas.lease_ttl")?,
            "replicas.lease_ttl",
        )?;
        if lease_ttl <= sweep_interval {
            return Err(invalid(
                "replicas.lease_ttl",
                "must be longer than the sweep interval (the lease is renewed every tick)",
            ));
        }
        let log_retention = positive(
            parse_duration(&raw.replicas.log_retention, "replicas.log_retention")?,
            "replicas.log_retention",
        )?;
        let log_max_rows: u64 = raw
            .replicas
            .log_max_rows
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1000)
            .ok_or_else(|| {
                invalid(
                    "replicas.log_max_rows",
                    "must be a whole number of at least 1000",
                )
            })?;

        let log_trim_interval = positive(
            parse_duration(
                &raw.replicas.log_trim_interval,
                "replicas.log_trim_interval",
            )?,
            "replicas.log_trim_interval",
        )?;
        let whole = |raw: &str, key: &str| -> anyhow::Result<usize> {
            raw.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(key, "must be a whole number of at least 1"))
        };
        let stream = federation_api::StreamOptions {
            keep_alive: positive(
                parse_duration(&raw.stream.keep_alive, "stream.keep_alive")?,
                "stream.keep_alive",
            )?,
            max_streams: whole(&raw.stream.max_streams, "stream.max_streams")?,
            buffer: whole(&raw.stream.buffer, "stream.buffer")?,
            buffer_bytes: whole(&raw.stream.buffer_bytes, "stream.buffer_bytes")?,
            max_wait: parse_duration(&raw.stream.blocking_max_wait, "stream.blocking_max_wait")?,
        };
        let history_retention = positive(
            parse_duration(
                &raw.replicas.history_retention,
                "replicas.history_retention",
            )?,
            "replicas.history_retention",
        )?;
        let history_max_per_project: u32 = raw
            .replicas
            .history_max_per_project
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 10)
            .ok_or_else(|| {
                invalid(
                    "replicas.history_max_per_project",
                    "must be a whole number of at least 10",
                )
            })?;

        let log_format = match raw.log.format.trim().to_ascii_lowercase().as_str() {
            "pretty" | "text" | "" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log.format", "must be pretty or json")),
        };
        let log_level = non_empty(&raw.log.level).unwrap_or_else(|| "info".to_owned());
        crate::telemetry::log_filter(&log_level)?;
        let http = http_limits(&raw.http)?;

        Ok(Self {
            host,
            port,
            database_url,
            auto_migrate,
            max_connections,
            db_connect_timeout,
            db_pool_timeout,
            db_statement_timeout,
            nats,
            policy,
            sweep_interval,
            lease_ttl,
            log_retention,
            log_max_rows,
            log_trim_interval,
            stream,
            history_retention,
            history_max_per_project,
            api_keys: non_empty(&raw.auth.api_keys),
            read_api_keys: non_empty(&raw.auth.read_api_keys),
            allow_anonymous: parse_bool(&raw.auth.allow_anonymous, "auth.allow_anonymous")?,
            allowed_hosts: non_empty(&raw.auth.allowed_hosts),
            projects_file: PathBuf::from(raw.catalog.projects_file.trim()),
            catalog_prune: parse_bool(&raw.catalog.prune, "catalog.prune")?,
            log_level,
            log_format,
            http,
            status_page: status_page::status_page(&raw.status_page)?,
            uptime_degraded: raw.uptime.degraded()?,
            warnings: Vec::new(),
            notify: notify::NotifySettings::default(),
        })
    }

    /// The status thresholds as the domain's policy.
    pub fn policy(&self) -> federation_domain::StatusPolicy {
        self.policy
    }
}

impl fmt::Debug for Settings {
    /// The effective configuration with every secret masked: safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |k: &Option<String>| federation_domain::redact::presence(k.as_deref());
        f.debug_struct("Settings")
            .field("bind", &format_args!("{}:{}", self.host, self.port))
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(redact_url)
                    .unwrap_or_else(|| {
                        format!("sqlite://{DEFAULT_SQLITE_PATH} (embedded default)")
                    }),
            )
            .field("auto_migrate", &self.auto_migrate)
            .field("max_connections", &self.max_connections)
            .field("db_connect_timeout", &self.db_connect_timeout)
            .field("db_pool_timeout", &self.db_pool_timeout)
            .field("db_statement_timeout", &self.db_statement_timeout)
            .field("nats", &self.nats)
            .field("policy", &self.policy)
            .field("sweep_interval", &self.sweep_interval)
            .field("lease_ttl", &self.lease_ttl)
            .field("log_retention", &self.log_retention)
            .field("log_max_rows", &self.log_max_rows)
            .field("history_retention", &self.history_retention)
            .field("history_max_per_project", &self.history_max_per_project)
            .field("api_keys", &keys(&self.api_keys))
            .field("read_api_keys", &keys(&self.read_api_keys))
            .field("allow_anonymous", &self.allow_anonymous)
            .field("projects_file", &self.projects_file)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("http", &self.http)
            .field("status_page", &self.status_page)
            .field("uptime_degraded", &self.uptime_degraded)
            .finish()
    }
}

#[cfg(test)]
mod tests;
