//! Logging: `LOG_LEVEL` (a level or full `RUST_LOG` syntax) and `LOG_FORMAT`.

use anyhow::Context;
use tracing_subscriber::{fmt, EnvFilter};

use crate::settings::LogFormat;

/// Installs the global subscriber. Later calls (tests building several apps) are no-ops.
pub fn init(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level.to_ascii_lowercase()).with_context(|| {
        format!("invalid LOG_LEVEL {level:?}: use a level (info, debug, …) or RUST_LOG syntax")
    })?;
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
