//! Logging: `LOG_LEVEL` (a level or full `RUST_LOG` syntax) and `LOG_FORMAT`.

use anyhow::Context;
use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::LogFormat;

/// Installs the global subscriber. Later calls (tests building several apps) are no-ops.
pub fn init(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level.to_ascii_lowercase()).with_context(|| {
        format!("invalid LOG_LEVEL {level:?}: use a level (info, debug, …) or RUST_LOG syntax")
    })?;
    let builder = fmt().with_env_filter(filter).with_target(true);
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // Already installed (several apps in one test binary): keep the first.
    let _ = result;
    Ok(())
}
