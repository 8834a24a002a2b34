//! Permissions violations the server reports: nats-server answers a publish or a
//! subscription the account may not make with `-ERR 'Permissions Violation for Publish
//! to "<subject>"'` (or `… for Subscription to "<subject>"`), which async-nats hands to
//! the event callback as a server error; the connection stays up. Each one is sorted by
//! what the subject is for, told to the domain (`/ready`, the metrics, the guard: a
//! refused canary stops counting), and logged at most once a minute per use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use federation_domain::{BusOperation, DeniedUse, Federation};

use crate::shared::Shared;
use crate::wire::LOG_EVERY;

/// A refusal as the server words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) operation: BusOperation,
    pub(crate) subject: String,
}

/// Reads a server error; `None` when it is not a permissions violation.
pub(crate) fn parse(message: &str) -> Option<Violation> {
    let rest = message
        .trim()
        .trim_start_matches("nats: ")
        .trim_matches('\'')
        .strip_prefix("Permissions Violation for ")?;
    let (operation, rest) = if let Some(rest) = rest.strip_prefix("Publish to ") {
        (BusOperation::Publish, rest)
    } else if let Some(rest) = rest.strip_prefix("Subscription to ") {
        (BusOperation::Subscribe, rest)
    } else if let Some(rest) = rest.strip_prefix("Publish with Reply of ") {
        (BusOperation::Publish, rest)
    } else {
        (BusOperation::Publish, rest)
    };
    let subject = rest
        .strip_prefix('"')
        .and_then(|r| r.split('"').next())
        .unwrap_or(rest)
        .to_owned();
    Some(Violation { operation, subject })
}

/// The subjects this replica uses, to tell what a refused one was for.
#[derive(Debug, Clone)]
pub(crate) struct OurSubjects {
    /// `<canary prefix>.<instance>`.
    pub(crate) canary: String,
    /// `<presence>`, without the dot.
    pub(crate) presence: String,
    /// `<events>`, without the dot.
    pub(crate) events: String,
}

impl OurSubjects {
    fn classify(&self, v: &Violation) -> DeniedUse {
        let under = |prefix: &str| {
            v.subject
                .strip_prefix(prefix)
                .is_some_and(|r| r.starts_with('.'))
        };
        if v.subject == self.canary {
            DeniedUse::Canary
        } else if under(&self.presence) {
            match v.operation {
                BusOperation::Subscribe => DeniedUse::Presence,
                BusOperation::Publish => DeniedUse::Relay,
            }
        } else if under(&self.events) {
            DeniedUse::StatusEvents
        } else {
            DeniedUse::Other
        }
    }
}

/// What one session's refusals mean for the session itself.
#[derive(Debug, Default)]
pub(crate) struct SessionDenials {
    /// The presence subscription was refused: the session cannot hear heartbeats.
    pub(crate) presence: AtomicBool,
    /// The canary's subscription was refused: only a new session subscribes again.
    pub(crate) canary_subscription: AtomicBool,
}

/// Takes the server's errors for every session of a link.
pub(crate) struct PermissionWatch {
    subjects: OurSubjects,
    federation: Arc<Federation>,
    /// Where a refused canary publish turns confirmation off ([`crate::echo`]).
    shared: Arc<Shared>,
    /// When each use was last logged.
    logged: Mutex<[Option<Instant>; 5]>,
}

impl PermissionWatch {
    pub(crate) fn new(
        subjects: OurSubjects,
        federation: Arc<Federation>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            subjects,
            federation,
            shared,
            logged: Mutex::new([None; 5]),
        }
    }

    /// A server error of a session; `false` when it is no permissions violation.
    pub(crate) fn on_server_error(&self, message: &str, session: &SessionDenials) -> bool {
        let Some(violation) = parse(message) else {
            return false;
        };
        let use_ = self.subjects.classify(&violation);
        match (use_, violation.operation) {
            (DeniedUse::Presence, _) => session.presence.store(true, Ordering::SeqCst),
            (DeniedUse::Canary, BusOperation::Subscribe) => {
                session.canary_subscription.store(true, Ordering::SeqCst);
            }
            (DeniedUse::Canary, BusOperation::Publish) => self.shared.echo.set_refused(true),
            _ => {}
        }
        self.federation
            .bus_denied(use_, violation.operation, &violation.subject);
        if self.may_log(use_, Instant::now()) {
            let subject: String = violation.subject.chars().take(128).collect();
            tracing::warn!(
                what = use_.as_str(),
                operation = violation.operation.as_str(),
                subject = %subject.escape_debug(),
                effect = effect(use_),
                "the NATS server refuses a {} of ours (permissions violation; logged once a minute)",
                violation.operation.as_str()
            );
        }
        true
    }

    fn may_log(&self, use_: DeniedUse, now: Instant) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let i = DeniedUse::ALL.iter().position(|u| *u == use_).unwrap_or(0);
        match logged.get_mut(i) {
            Some(last) if last.is_none_or(|t| now.duration_since(t) >= LOG_EVERY) => {
                *last = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// What a refusal costs, for the log line.
fn effect(use_: DeniedUse) -> &'static str {
    match use_ {
        DeniedUse::Canary => {
            "canaries cannot prove the link: the partition guard follows the link state alone"
        }
        DeniedUse::Presence => {
            "no heartbeat is heard over NATS: the link reads down and the partition guard holds"
        }
        DeniedUse::StatusEvents => "status events are not published",
        DeniedUse::Relay => "heartbeats taken over HTTP do not reach the other replicas",
        DeniedUse::Other => "a subject that is none of the service's",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_servers_wording() {
        assert_eq!(
            parse("Permissions Violation for Publish to \"hub.federation.canary.ab\""),
            Some(Violation {
                operation: BusOperation::Publish,
                subject: "hub.federation.canary.ab".into()
            })
        );
        assert_eq!(
            parse("nats: 'Permissions Violation for Subscription to \"hub.presence.*\" using queue \"q\"'"),
            Some(Violation {
                operation: BusOperation::Subscribe,
                subject: "hub.presence.*".into()
            })
        );
        assert_eq!(parse("Stale Connection"), None);
        assert_eq!(parse("authorization violation"), None);
    }

    #[test]
    fn sorts_a_subject_by_its_use() {
        let ours = OurSubjects {
            canary: "hub.federation.canary.ab".into(),
            presence: "hub.presence".into(),
            events: "hub.federation.status".into(),
        };
        let v = |operation, subject: &str| Violation {
            operation,
            subject: subject.into(),
        };
        use BusOperation::{Publish, Subscribe};
        for (violation, want) in [
            (v(Publish, "hub.federation.canary.ab"), DeniedUse::Canary),
            (v(Subscribe, "hub.federation.canary.ab"), DeniedUse::Canary),
            (v(Subscribe, "hub.presence.*"), DeniedUse::Presence),
            (v(Publish, "hub.presence.veria"), DeniedUse::Relay),
            (
                v(Publish, "hub.federation.status.veria"),
                DeniedUse::StatusEvents,
            ),
            (v(Publish, "hub.presencex.veria"), DeniedUse::Other),
            (v(Publish, "hub.federation.canary.other"), DeniedUse::Other),
        ] {
            assert_eq!(ours.classify(&violation), want, "{violation:?}");
        }
    }
}
