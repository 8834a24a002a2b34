//! The catalog file's `channels:`: notification channels declared next to the projects.
//!
//! ```yaml
//! channels:
//!   - name: ops
//!     kind: webhook
//!     url: https://receiver.example/federation
//!     secret_env: OPS_WEBHOOK_SECRET     # the secret comes from the environment
//!     rules: {tags: [prod], on: [offline, recovered], hold_seconds: 120}
//!   - name: chat
//!     kind: slack
//!     url_env: SLACK_WEBHOOK_URL         # a Slack URL is a secret too
//! ```
//!
//! Each entry is validated by the domain's rules, as a `POST /api/fed/channels` body is;
//! `secret_env` / `url_env` name an environment variable holding the secret or URL, so
//! the file need hold none. The first bad entry is reported by its index, name and
//! field, and nothing is written.
//!
//! The rule for channels of the same name (made over REST, or by an earlier apply): the
//! file wins for the channels it names. Each is created, or replaced when a channel of
//! that name exists (its cursor and deliveries stay, so nothing is told twice); one
//! equal to the stored definition is left alone. Channels the file does not name are
//! never touched: taking an entry out of the file leaves its channel in place until it
//! is deleted over REST.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use federation_domain::notify::{
    ChannelInput, ChannelSpec, ChannelStore, ChannelWrite, EmailInput, Rules, CHANNELS_MAX,
};
use federation_domain::ValidationError;
use serde::Deserialize;

use super::MAX_CATALOG_BYTES;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    channels: Option<Vec<yaml_serde::Value>>,
}

/// One entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    /// An environment variable holding the URL (a Slack URL is a secret).
    url_env: Option<String>,
    secret: Option<String>,
    /// An environment variable holding the secret.
    secret_env: Option<String>,
    rules: Option<Rules>,
    enabled: Option<bool>,
    email: Option<EmailEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailEntry {
    from: Option<String>,
    to: Option<Vec<String>>,
    username: Option<String>,
    tls: Option<String>,
}

/// Why the file's channels were refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error("{path}: not valid YAML of the form `channels: [...]`: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: channels[{index}]{name}: {error}")]
    Entry {
        path: String,
        index: usize,
        name: String,
        error: ValidationError,
    },
    #[error("{path}: declares {declared} channels not stored yet, and {stored} are; at most {CHANNELS_MAX} may exist")]
    TooMany {
        path: String,
        declared: usize,
        stored: usize,
    },
}

/// The value of `field` given inline or through `<field>_env`, never both.
fn given_or_env(
    inline: Option<String>,
    env_name: Option<String>,
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ValidationError> {
    let env_field = format!("{field}_env");
    match (inline, env_name) {
        (Some(_), Some(_)) => Err(ValidationError::new(
            env_field,
            format!("give {field} or {field}_env, not both"),
        )),
        (inline, None) => Ok(inline),
        (None, Some(var)) => {
            let var = var.trim();
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ValidationError::new(
                    env_field,
                    "must name an environment variable (letters, digits and `_`)",
                ));
            }
            match env(var) {
                Some(v) if !v.is_empty() => Ok(Some(v)),
                _ => Err(ValidationError::new(
                    env_field,
                    format!("the environment variable {var} is not set or empty"),
                )),
            }
        }
    }
}

/// serde's error for an entry, naming the field it stopped at.
fn shape_error(e: serde_path_to_error::Error<yaml_serde::Error>) -> ValidationError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    let field = if path == "." {
        "entry".to_owned()
    } else {
        path
    };
    ValidationError::new(field, inner)
}

/// Parses and validates the `channels:` of the catalog text; `path` only labels errors,
/// `env` looks up the `*_env` variables.
pub fn parse(
    path: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ChannelSpec>, ChannelsError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let file: Option<File> = yaml_serde::from_str(text).map_err(|e| ChannelsError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let entries = file.and_then(|f| f.channels).unwrap_or_default();
    let mut specs: Vec<ChannelSpec> = Vec::with_capacity(entries.len());
    let mut seen = HashMap::new();
    for (index, value) in entries.into_iter().enumerate() {
        let raw_name = value
            .get("name")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let fail = |error: ValidationError| ChannelsError::Entry {
            path: path.to_owned(),
            index,
            name: raw_name
                .as_deref()
                .map(|n| format!(" (name {n:?})"))
                .unwrap_or_default(),
            error,
        };
        let entry: Entry =
            serde_path_to_error::deserialize(value).map_err(|e| fail(shape_error(e)))?;
        let url = given_or_env(entry.url, entry.url_env, "url", env).map_err(fail)?;
        let secret = given_or_env(entry.secret, entry.secret_env, "secret", env).map_err(fail)?;
        let spec = ChannelSpec::parse(ChannelInput {
            name: entry.name,
            kind: entry.kind,
            url,
            secret,
            rules: entry.rules,
            enabled: entry.enabled,
            email: entry.email.map(|e| EmailInput {
                from: e.from,
                to: e.to,
                username: e.username,
                tls: e.tls,
            }),
        })
        .map_err(fail)?;
        if let Some(first) = seen.insert(spec.name.clone(), index) {
            return Err(fail(ValidationError::new(
                "name",
                format!("the same name as channels[{first}]"),
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// The channels of the catalog file at `path`, with `*_env` read from this process's
/// environment (none when the file does not exist).
pub fn read(path: &Path) -> anyhow::Result<Vec<ChannelSpec>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if !meta.is_file() || meta.len() > MAX_CATALOG_BYTES {
        // The catalog's own read reports it.
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&path.display().to_string(), &text, &|var| {
        std::env::var(var).ok()
    })?)
}

/// What applying the file's channels changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Names not stored yet.
    pub create: Vec<String>,
    /// Names stored with another definition (made over REST or by an earlier apply).
    pub replace: Vec<String>,
    /// Names stored with this very definition.
    pub unchanged: Vec<String>,
}

/// Compares the declared channels with the stored ones; refuses (changing nothing) a
/// file that would take the service over [`CHANNELS_MAX`].
pub async fn plan(
    store: &dyn ChannelStore,
    path: &str,
    specs: &[ChannelSpec],
) -> anyhow::Result<Plan> {
    let stored = store
        .list_channels()
        .await
        .context("reading the stored channels")?;
    let mut plan = Plan::default();
    for spec in specs {
        let name = spec.name.as_str().to_owned();
        match stored.iter().find(|c| c.spec.name == spec.name) {
            None => plan.create.push(name),
            Some(c) if c.spec == *spec => plan.unchanged.push(name),
            Some(_) => plan.replace.push(name),
        }
    }
    if stored.len() + plan.create.len() > CHANNELS_MAX {
        return Err(ChannelsError::TooMany {
            path: path.to_owned(),
            declared: plan.create.len(),
            stored: stored.len(),
        }
        .into());
    }
    Ok(plan)
}

/// Applies the declared channels by the file's rule (see the module's description) and
/// returns what it changed. Each channel is one write: a store failure midway is
/// reported, and the next apply completes the rest.
pub async fn apply(
    store: &dyn ChannelStore,
    path: &str,
    specs: &[ChannelSpec],
) -> anyhow::Result<Plan> {
    let plan = plan(store, path, specs).await?;
    for spec in specs {
        let name = spec.name.as_str();
        if plan.unchanged.iter().any(|n| n == name) {
            continue;
        }
        let created = if plan.create.iter().any(|n| n == name) {
            match store.create_channel(spec).await? {
                ChannelWrite::Created(_) => true,
                // Another replica applying the same file made it first.
                ChannelWrite::Exists => false,
                ChannelWrite::Full => anyhow::bail!(
                    "{path}: channel {name:?}: at most {CHANNELS_MAX} channels may exist"
                ),
            }
        } else {
            false
        };
        if !created {
            store
                .replace_channel(spec)
                .await?
                .with_context(|| format!("{path}: channel {name:?} was deleted meanwhile"))?;
        }
    }
    Ok(plan)
}

/// Applies the file's channels and logs what changed.
pub async fn apply_logged(
    store: &dyn ChannelStore,
    path: &Path,
    specs: &[ChannelSpec],
) -> anyhow::Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    let shown = path.display().to_string();
    let plan = apply(store, &shown, specs)
        .await
        .with_context(|| format!("applying the channels of {shown}"))?;
    tracing::info!(
        file = %shown,
        created = plan.create.len(),
        replaced = plan.replace.len(),
        unchanged = plan.unchanged.len(),
        "catalog channels applied"
    );
    Ok(())
}

/// `federation catalog apply`'s lines for the channels: what changes, and, unless a dry
/// run, the result.
pub async fn apply_described(
    store: &dyn ChannelStore,
    path: &Path,
    specs: &[ChannelSpec],
    dry_run: bool,
) -> anyhow::Result<String> {
    if specs.is_empty() {
        return Ok(String::new());
    }
    let shown = path.display().to_string();
    let plan = if dry_run {
        plan(store, &shown, specs).await?
    } else {
        apply(store, &shown, specs).await?
    };
    let mut out = String::new();
    for name in &plan.create {
        out.push_str(&format!("+ channel {name}\n"));
    }
    for name in &plan.replace {
        out.push_str(&format!(
            "~ channel {name} (the file's definition replaces the stored one)\n"
        ));
    }
    out.push_str(&format!(
        "channels: {} to create, {} to replace, {} unchanged\n",
        plan.create.len(),
        plan.replace.len(),
        plan.unchanged.len()
    ));
    Ok(out)
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
