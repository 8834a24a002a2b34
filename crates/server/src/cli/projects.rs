//! `federation projects list|get|register|delete` against a running service.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::client::{
    FederationClient, ListQuery, NewProject, ProjectView, WindowEnd, DEFAULT_SERVER,
};

#[derive(Debug, Clone, Args)]
pub struct ProjectsArgs {
    /// The service's base URL.
    #[arg(long, global = true, env = "FEDERATION_SERVER", default_value = DEFAULT_SERVER, hide_env_values = true)]
    pub server: String,
    /// API key (X-API-Key), when the service has keys configured.
    #[arg(
        long,
        global = true,
        env = "FEDERATION_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Print the service's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ProjectsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ProjectsCommand {
    /// List projects, ordered by slug.
    List {
        /// online, degraded or offline.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        /// 1-1000 (the service's default is 100).
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u64>,
    },
    /// Show one project.
    Get { slug: String },
    /// Register a project, or update it when the slug exists.
    Register {
        #[arg(long)]
        slug: String,
        /// Display name; defaults to the slug.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        hub_url: String,
        /// Must be `hub.<slug>`; the default.
        #[arg(long)]
        mesh_namespace: Option<String>,
        /// A tag (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Delete a project.
    Delete { slug: String },
    /// Start a maintenance window (no degraded/offline transition until it ends), or end
    /// one with --end.
    Maintenance {
        slug: String,
        /// Why (required to start one).
        #[arg(long, required_unless_present = "end")]
        reason: Option<String>,
        /// How long: 90s, 30m, 2h, 1d.
        #[arg(long = "for", conflicts_with_all = ["until", "end"], required_unless_present_any = ["until", "end"])]
        duration: Option<String>,
        /// When it ends (RFC 3339).
        #[arg(long, conflicts_with = "end")]
        until: Option<String>,
        /// End the window now.
        #[arg(long, conflicts_with = "reason")]
        end: bool,
    },
}

/// Runs `federation projects …` and prints the result.
pub async fn run(args: ProjectsArgs) -> anyhow::Result<()> {
    let client = FederationClient::new(&args.server, args.api_key.clone())?;
    print!("{}", execute(&client, &args.command, args.json).await?);
    Ok(())
}

/// Runs one command and returns what it prints (a table, or pretty JSON).
pub async fn execute(
    client: &FederationClient,
    command: &ProjectsCommand,
    json: bool,
) -> anyhow::Result<String> {
    let now = Utc::now();
    Ok(match command {
        ProjectsCommand::List {
            status,
            tag,
            limit,
            offset,
        } => {
            let page = client
                .list(&ListQuery {
                    status: status.clone(),
                    tag: tag.clone(),
                    limit: *limit,
                    offset: *offset,
                })
                .await?;
            if json {
                pretty(&page.raw)
            } else {
                let mut out = table(&page.projects, now);
                let shown = page.projects.len();
                match page.total {
                    Some(total) if total as usize != shown => {
                        let from = offset.unwrap_or(0) + u64::from(shown > 0);
                        let to = offset.unwrap_or(0) + shown as u64;
                        out.push_str(&format!("{from}-{to} of {total} projects\n"));
                    }
                    _ => out.push_str(&format!("{shown} project(s)\n")),
                }
                out
            }
        }
        ProjectsCommand::Get { slug } => {
            let (project, raw) = client.get(slug).await?;
            if json {
                pretty(&raw)
            } else {
                details(&project, now)
            }
        }
        ProjectsCommand::Register {
            slug,
            name,
            hub_url,
            mesh_namespace,
            tags,
        } => {
            let registered = client
                .register(&NewProject {
                    slug: slug.clone(),
                    name: name.clone().unwrap_or_else(|| slug.clone()),
                    hub_url: hub_url.clone(),
                    mesh_namespace: mesh_namespace.clone(),
                    tags: tags.clone(),
                    heartbeat_interval: None,
                })
                .await?;
            if json {
                pretty(&registered.raw)
            } else {
                let verb = if registered.created {
                    "created"
                } else {
                    "updated"
                };
                format!(
                    "{verb} {}\n{}",
                    registered.project.slug,
                    table(std::slice::from_ref(&registered.project), now)
                )
            }
        }
        ProjectsCommand::Maintenance {
            slug,
            reason,
            duration,
            until,
            end,
        } => {
            let (project, raw) = match (reason, duration, until) {
                (Some(reason), Some(d), None) if !end => {
                    client
                        .start_maintenance(slug, reason, &WindowEnd::For(d.clone()))
                        .await?
                }
                (Some(reason), None, Some(t)) if !end => {
                    client
                        .start_maintenance(slug, reason, &WindowEnd::Until(t.clone()))
                        .await?
                }
                _ => client.end_maintenance(slug).await?,
            };
            if json {
                pretty(&raw)
            } else {
                details(&project, now)
            }
        }
        ProjectsCommand::Delete { slug } => {
            client.delete(slug).await?;
            if json {
                pretty(&serde_json::json!({ "deleted": slug }))
            } else {
                format!("deleted {slug}\n")
            }
        }
    })
}

fn pretty(value: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    s.push('\n');
    s
}

/// `12s ago`, `3m ago`, `2h ago`, `4d ago`, or `never`.
pub fn ago(at: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(raw) = at else {
        return "never".into();
    };
    let Ok(t) = DateTime::parse_from_rfc3339(raw) else {
        return raw.to_owned();
    };
    let secs = now.signed_duration_since(t).num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs}s ago"),
        120..=7199 => format!("{}m ago", secs / 60),
        7200..=172_799 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// The projects as an aligned table with a header.
pub fn table(projects: &[ProjectView], now: DateTime<Utc>) -> String {
    const HEADER: [&str; 7] = [
        "SLUG",
        "NAME",
        "STATUS",
        "LAST HEARTBEAT",
        "VERSION",
        "TAGS",
        "HUB URL",
    ];
    let rows: Vec<[String; 7]> = projects
        .iter()
        .map(|p| {
            [
                p.slug.clone(),
                clip(&p.name, 32),
                p.status.clone(),
                ago(p.last_heartbeat_at.as_deref(), now),
                p.version.clone().unwrap_or_else(|| "-".into()),
                if p.tags.is_empty() {
                    "-".into()
                } else {
                    clip(&p.tags.join(","), 32)
                },
                p.hub_url.clone(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&HEADER.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

/// One project as `key: value` lines.
pub fn details(p: &ProjectView, now: DateTime<Utc>) -> String {
    let last = match &p.last_heartbeat_at {
        Some(t) => format!("{t} ({})", ago(Some(t), now)),
        None => "never".into(),
    };
    let fields = [
        ("slug", p.slug.clone()),
        ("name", p.name.clone()),
        ("status", p.status.clone()),
        (
            "reason",
            p.status_reason.clone().unwrap_or_else(|| "-".into()),
        ),
        ("last heartbeat", last),
        (
            "maintenance",
            match &p.maintenance {
                Some(m) => format!("{} (until {}, by {})", m.reason, m.until, m.by),
                None => "-".into(),
            },
        ),
        ("version", p.version.clone().unwrap_or_else(|| "-".into())),
        ("hub url", p.hub_url.clone()),
        ("namespace", p.mesh_namespace.clone()),
        (
            "tags",
            if p.tags.is_empty() {
                "-".into()
            } else {
                p.tags.join(", ")
            },
        ),
    ];
    fields
        .iter()
        .map(|(k, v)| format!("{k:<15} {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(slug: &str, status: &str, last: Option<&str>) -> ProjectView {
        ProjectView {
            slug: slug.into(),
            name: format!("Project {slug}"),
            hub_url: format!("http://{slug}.example.com"),
            mesh_namespace: format!("hub.{slug}"),
            status: status.into(),
            status_reason: None,
            tags: vec!["python".into()],
            version: None,
            last_heartbeat_at: last.map(String::from),
            maintenance: None,
        }
    }

    #[test]
    fn the_table_is_aligned() {
        let now = DateTime::parse_from_rfc3339("2025-11-18T12:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let out = table(
            &[
                view("a", "online", Some("2025-11-18T12:00:00Z")),
                view("longer-slug", "offline", None),
            ],
            now,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("SLUG         NAME"), "{out}");
        assert!(lines[1].contains("online   30s ago"), "{out}");
        assert!(lines[2].contains("offline  never"), "{out}");
        let col = |l: &str| l.find("http").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]));
    }

    #[test]
    fn ages_read_well() {
        let now = Utc::now();
        let t = |secs: i64| (now - chrono::TimeDelta::seconds(secs)).to_rfc3339();
        assert_eq!(ago(Some(&t(5)), now), "5s ago");
        assert_eq!(ago(Some(&t(600)), now), "10m ago");
        assert_eq!(ago(Some(&t(3 * 3600)), now), "3h ago");
        assert_eq!(ago(Some(&t(5 * 86400)), now), "5d ago");
        assert_eq!(ago(None, now), "never");
    }
}
