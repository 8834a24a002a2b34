//! The catalog file's `slos:`: service level objectives per project or tag.
//!
//! ```yaml
//! slos:
//!   - tag: production
//!     objective: 99.9      # percent
//!     window: 30d          # 7d, 30d (default) or 90d
//!   - project: commandcenter
//!     objective: 99.5
//! ```
//!
//! Read at start; a bad entry stops the start, named by its index and field.

use std::path::Path;

use anyhow::Context;
use federation_domain::uptime::{Objective, ObjectiveInput};
use serde::Deserialize;

use crate::catalog::MAX_CATALOG_BYTES;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    slos: Option<Vec<yaml_serde::Value>>,
}

/// Parses the objectives of the catalog text; `path` only labels errors.
pub fn parse(path: &str, text: &str) -> anyhow::Result<Vec<Objective>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let file: Option<File> =
        yaml_serde::from_str(text).with_context(|| format!("reading slos in {path}"))?;
    let entries = file.and_then(|f| f.slos).unwrap_or_default();
    let mut objectives: Vec<Objective> = Vec::with_capacity(entries.len());
    for (index, value) in entries.into_iter().enumerate() {
        let input: ObjectiveInput = yaml_serde::from_value(value)
            .map_err(|e| anyhow::anyhow!("{path}: slos[{index}]: {e}"))?;
        let objective = input
            .validate()
            .map_err(|e| anyhow::anyhow!("{path}: slos[{index}].{e}"))?;
        if let Some(first) = objectives
            .iter()
            .position(|o| o.subject == objective.subject)
        {
            anyhow::bail!("{path}: slos[{index}]: the same subject as slos[{first}]");
        }
        objectives.push(objective);
    }
    Ok(objectives)
}

/// The objectives of the catalog file at `path` (none when it does not exist).
pub fn read(path: &Path) -> anyhow::Result<Vec<Objective>> {
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
    parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_are_read_and_bad_ones_named() -> anyhow::Result<()> {
        let text = "projects: []\nslos:\n  - tag: Production\n    objective: 99.9\n  - project: hub\n    objective: 99.5\n    window: 7d\n";
        let o = parse("p.yaml", text)?;
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].subject.name(), "Production");
        assert_eq!((o[1].percent, o[1].window.as_str()), (99.5, "7d"));
        assert!(parse("p.yaml", "projects: []\n")?.is_empty());
        let err = |t: &str| {
            format!(
                "{:#}",
                parse("p.yaml", t)
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("accepted"))
            )
        };
        assert!(err("slos:\n  - tag: a\n    objective: 100\n").contains("slos[0].objective"));
        assert!(err("slos:\n  - tag: a\n    objective: 99\n    burn: 2\n").contains("slos[0]"));
        assert!(
            err("slos:\n  - tag: a\n    objective: 99\n  - tag: a\n    objective: 98\n")
                .contains("slos[1]")
        );
        Ok(())
    }
}
