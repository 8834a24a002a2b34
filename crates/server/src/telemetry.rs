//! Logging: `LOG_LEVEL` (a level or full `RUST_LOG` syntax) and `LOG_FORMAT`.

use anyhow::Context;
use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::LogFormat;

/// A level name as the original (Python's `logging`) or `tracing` spells it, in any
/// case, as the `tracing` level it means.
fn level_name(raw: &str) -> Option<&'static str> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "trace" | "notset" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "critical" | "fatal" => "error",
        "off" => "off",
        _ => return None,
    })
}

/// `LOG_LEVEL` as an `EnvFilter` directive string: a level of the original or of
/// `tracing` (`warning`, `CRITICAL`, `info`), or `RUST_LOG` syntax whose levels may be
/// spelt the same ways (`warning,actix_web=critical`). A bare word that is not a level
/// is refused: as a filter it would mean "only the module named so", which silences
/// everything else.
pub fn log_filter(level: &str) -> anyhow::Result<String> {
    let hint = "use a level (debug, info, warning, error, critical) or RUST_LOG syntax such as \
                `info,federation_store=debug`";
    let mut directives = Vec::new();
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if let Some(name) = level_name(directive) {
            directives.push(name.to_owned());
        } else if let Some((target, lvl)) = directive.rsplit_once('=') {
            let lvl = level_name(lvl).map_or_else(|| lvl.to_ascii_lowercase(), str::to_owned);
            directives.push(format!("{target}={lvl}"));
        } else if directive.contains("::") || directive.contains('[') {
            directives.push(directive.to_owned());
        } else {
            anyhow::bail!(
                "invalid LOG_LEVEL {level:?}: {directive:?} is not a level; {hint} \
                 (a module alone is written `{directive}=trace`)"
            );
        }
    }
    if directives.is_empty() {
        anyhow::bail!("invalid LOG_LEVEL {level:?}: empty; {hint}");
    }
    let filter = directives.join(",");
    EnvFilter::try_new(&filter).with_context(|| format!("invalid LOG_LEVEL {level:?}: {hint}"))?;
    Ok(filter)
}

/// Installs the global subscriber. Later calls (tests building several apps) are no-ops.
pub fn init(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(log_filter(level)?)
        .with_context(|| format!("invalid LOG_LEVEL {level:?}"))?;
    // Colours only for a person at a terminal, never into files and pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
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

/// The root span of each request (`tracing_actix_web::TracingLogger`): method, path
/// (never the query string), the request id — the caller's `X-Request-Id` when it is a
/// sane token, else a generated one; the API echoes the same id on the response — and
/// the status once answered.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let id = federation_api::request_id::ensure(request);
        tracing::info_span!(
            "http",
            method = %request.method(),
            path = %request.path(),
            request_id = %id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod log_level_tests {
    use super::log_filter;

    #[test]
    fn the_originals_level_names_are_levels_in_any_case() {
        for (raw, want) in [
            ("debug", "debug"),
            ("INFO", "info"),
            ("warning", "warn"),
            ("WARNING", "warn"),
            ("Error", "error"),
            ("critical", "error"),
            ("CRITICAL", "error"),
            ("trace", "trace"),
            ("warn", "warn"),
        ] {
            assert_eq!(log_filter(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn rust_log_syntax_still_works_with_either_spelling_of_levels() {
        assert_eq!(
            log_filter("info,federation_store=debug").unwrap(),
            "info,federation_store=debug"
        );
        assert_eq!(
            log_filter("warning, actix_web=CRITICAL").unwrap(),
            "warn,actix_web=error"
        );
        assert_eq!(
            log_filter("federation_server::app=trace").unwrap(),
            "federation_server::app=trace"
        );
    }

    #[test]
    fn neither_a_level_nor_a_filter_names_the_variable() {
        for bad in ["verbose", "", " , ", "info,loud", "x=notalevel"] {
            let err = log_filter(bad).unwrap_err().to_string();
            assert!(err.contains("LOG_LEVEL"), "{bad:?}: {err}");
        }
    }
}
