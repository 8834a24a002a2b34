//! Logging: `LOG_LEVEL` (a level or full `RUST_LOG` syntax) and `LOG_FORMAT`.

use anyhow::Context;
use tracing_subscriber::{fmt, EnvFilter};

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

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
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
        // Field values (and messages) come from outside: escaped, so that a subject or
        // a name cannot move the cursor, recolour or retitle an operator's terminal.
        LogFormat::Pretty => builder.fmt_fields(EscapedFields).try_init(),
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

/// Writes `s` with every control and invisible format character escaped (`\u{1b}`).
pub fn escape_for_terminal(s: &str, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    for c in s.chars() {
        if c.is_control() || federation_domain::model::is_format_char(c) {
            write!(out, "\\u{{{:x}}}", u32::from(c))?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// The pretty format's fields (`message field=value …`, as `tracing-subscriber`'s
/// default), each value escaped with [`escape_for_terminal`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> fmt::FormatFields<'w> for EscapedFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'w> {
    writer: fmt::format::Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &tracing::field::Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(' ')?;
            }
            self.first = false;
            if name != "message" {
                write!(self.writer, "{name}=")?;
            }
            escape_for_terminal(value, &mut self.writer)
        })();
    }
}

impl tracing::field::Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.write(field, value);
        } else {
            self.write(field, &format!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
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
mod escaping_tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pretty_logs_escape_control_and_format_characters_in_every_value() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = fmt()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .finish();
        let subject = "hub.presence.\u{1b}]0;pwned\u{7}\u{1b}[2J";
        let name = "evil\u{202e}gnp.exe";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http", path = %"/a\u{1b}[31m");
            let _enter = span.enter();
            tracing::warn!(subject = %subject, name, count = 3, "bad heartbeat on {subject}");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(!text.contains('\u{7}'), "{text:?}");
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(text.contains("\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("\\u{202e}"), "{text}");
        assert!(text.contains("count=3"), "{text}");
        assert!(text.contains("path=/a\\u{1b}[31m"), "{text}");
        assert!(
            text.contains("bad heartbeat on hub.presence.\\u{1b}"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
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
