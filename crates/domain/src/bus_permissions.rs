//! What the bus refused us: the permissions violations its server reported, by what the
//! refused subject was for. `/ready` names the current ones and a metric counts them;
//! the partition guard stops counting canaries the server refuses (see
//! [`crate::presence::Presence::canary_denied`]).

use chrono::{DateTime, TimeDelta, Utc};

/// A violation stays current this long after the server last reported it, unless the
/// adapter sees the permission work again first (a canary comes back, a subscription
/// holds).
pub const DENIAL_CURRENT: TimeDelta = TimeDelta::minutes(2);

/// What a refused subject was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeniedUse {
    /// Our canary (publish or subscribe).
    Canary,
    /// The presence subscription: we cannot hear heartbeats.
    Presence,
    /// Publishing status events.
    StatusEvents,
    /// Relaying heartbeats taken over HTTP to the other replicas.
    Relay,
    /// A subject that is none of ours.
    Other,
}

impl DeniedUse {
    /// Every use, in declaration order.
    pub const ALL: [DeniedUse; 5] = [
        DeniedUse::Canary,
        DeniedUse::Presence,
        DeniedUse::StatusEvents,
        DeniedUse::Relay,
        DeniedUse::Other,
    ];

    /// Its name: a metric label, and in `/ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeniedUse::Canary => "canary",
            DeniedUse::Presence => "presence",
            DeniedUse::StatusEvents => "status_events",
            DeniedUse::Relay => "relay",
            DeniedUse::Other => "other",
        }
    }

    fn index(self) -> usize {
        match self {
            DeniedUse::Canary => 0,
            DeniedUse::Presence => 1,
            DeniedUse::StatusEvents => 2,
            DeniedUse::Relay => 3,
            DeniedUse::Other => 4,
        }
    }
}

/// What was refused: a publish or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusOperation {
    /// Publishing to the subject.
    Publish,
    /// Subscribing to it.
    Subscribe,
}

impl BusOperation {
    /// `publish` or `subscribe`.
    pub fn as_str(self) -> &'static str {
        match self {
            BusOperation::Publish => "publish",
            BusOperation::Subscribe => "subscribe",
        }
    }
}

/// One kind of refusal, as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusDenial {
    /// What the subject was for.
    pub use_: DeniedUse,
    /// What was refused.
    pub operation: BusOperation,
    /// The subject the server named (the last one, for this use).
    pub subject: String,
    /// When the server last reported it.
    pub last_at: DateTime<Utc>,
}

impl std::fmt::Display for BusDenial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} to {:?} denied",
            self.use_.as_str(),
            self.operation.as_str(),
            self.subject
        )
    }
}

/// The refusals by use: the last of each, and how many there were since start.
#[derive(Debug, Clone, Default)]
pub struct BusDenials {
    last: [Option<BusDenial>; 5],
    totals: [u64; 5],
}

impl BusDenials {
    /// The server reported a refusal at `now`.
    pub fn record(
        &mut self,
        use_: DeniedUse,
        operation: BusOperation,
        subject: &str,
        now: DateTime<Utc>,
    ) {
        let i = use_.index();
        if let Some(total) = self.totals.get_mut(i) {
            *total = total.saturating_add(1);
        }
        if let Some(slot) = self.last.get_mut(i) {
            // At most a few hundred characters of the server's subject.
            let subject: String = subject.chars().take(256).collect();
            *slot = Some(BusDenial {
                use_,
                operation,
                subject,
                last_at: now,
            });
        }
    }

    /// The permission for `use_` was seen working again.
    pub fn clear(&mut self, use_: DeniedUse) {
        if let Some(slot) = self.last.get_mut(use_.index()) {
            *slot = None;
        }
    }

    /// Whether `use_` is refused now.
    pub fn is_current(&self, use_: DeniedUse, now: DateTime<Utc>) -> bool {
        self.last
            .get(use_.index())
            .and_then(Option::as_ref)
            .is_some_and(|d| now - d.last_at < DENIAL_CURRENT)
    }

    /// The refusals current at `now`, in [`DeniedUse::ALL`]'s order.
    pub fn current(&self, now: DateTime<Utc>) -> Vec<BusDenial> {
        self.last
            .iter()
            .flatten()
            .filter(|d| now - d.last_at < DENIAL_CURRENT)
            .cloned()
            .collect()
    }

    /// Refusals reported since start, by use.
    pub fn totals(&self) -> [(DeniedUse, u64); 5] {
        DeniedUse::ALL.map(|u| (u, self.totals.get(u.index()).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s)
    }

    #[test]
    fn a_denial_is_current_until_cleared_or_two_minutes_old() {
        let mut d = BusDenials::default();
        assert!(d.current(t(0)).is_empty());
        d.record(DeniedUse::Canary, BusOperation::Publish, "c.1", t(0));
        d.record(DeniedUse::Canary, BusOperation::Publish, "c.1", t(5));
        d.record(DeniedUse::StatusEvents, BusOperation::Publish, "s.a", t(6));
        assert!(d.is_current(DeniedUse::Canary, t(124)));
        assert!(!d.is_current(DeniedUse::Canary, t(125)), "two minutes on");
        let now = d.current(t(10));
        assert_eq!(now.len(), 2);
        assert_eq!(
            now.first().map(ToString::to_string).as_deref(),
            Some("canary: publish to \"c.1\" denied")
        );
        d.clear(DeniedUse::Canary);
        assert!(!d.is_current(DeniedUse::Canary, t(10)));
        assert_eq!(d.current(t(10)).len(), 1);
        let totals = d.totals();
        assert_eq!(totals.first(), Some(&(DeniedUse::Canary, 2)), "kept");
        assert_eq!(totals.get(2), Some(&(DeniedUse::StatusEvents, 1)));
    }
}
