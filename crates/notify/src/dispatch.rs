//! The leader's dispatcher: reads the change log from each channel's cursor, applies
//! the channel's rules ([`Watch`]), hands due messages to the channel's own sender
//! task ([`crate::worker`]) and moves the cursor (fenced by the lease term) only past
//! what is dealt with: told, given up on, or never to be told. A follower sends
//! nothing; a new leader resumes from the cursors, so nothing is lost, and a message
//! in flight at a failover may be sent twice with the same idempotency key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use federation_domain::notify::{
    Channel, ChannelName, ChannelSpec, ChannelStore, DeliveryLog, Message, Sender, Watch,
};
use federation_domain::{
    ChangeKind, ChangesSince, Federation, RepositoryError, Role, Status, Term,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::incidents::Desk;
use crate::metrics::DeliveryMetrics;
use crate::worker::{InFlight, Retry, Worker};

/// The dispatcher's limits.
#[derive(Debug, Clone, Copy)]
pub struct DispatchOptions {
    /// How often it looks at the log and the clock.
    pub interval: Duration,
    /// How often it re-reads the channels.
    pub refresh: Duration,
    /// Changes read per look.
    pub batch: u32,
    /// Messages waiting per channel before it stops reading further changes for it
    /// (that channel's cursor then waits; the others go on).
    pub backlog: usize,
    /// Retries.
    pub retry: Retry,
    /// When offline projects make an incident.
    pub incidents: federation_domain::incident::IncidentSettings,
    /// How often the leader's sweep detects silent projects: an incident's opening
    /// message waits one sweep more (and one look), so it lists the members the next
    /// sweep finds too.
    pub sweep_interval: Duration,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(250),
            refresh: Duration::from_secs(1),
            batch: 1000,
            backlog: 1000,
            retry: Retry::default(),
            incidents: federation_domain::incident::INCIDENT_DEFAULTS,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// What the dispatcher uses.
#[derive(Clone)]
pub struct Dispatcher {
    pub federation: Arc<Federation>,
    pub channels: Arc<dyn ChannelStore>,
    pub log: Arc<dyn DeliveryLog>,
    pub incidents: Arc<dyn federation_domain::incident::IncidentLog>,
    pub sender: Arc<dyn Sender>,
    pub metrics: Arc<dyn DeliveryMetrics>,
    pub options: DispatchOptions,
}

/// One channel while this replica leads.
struct Lane {
    spec: Arc<RwLock<ChannelSpec>>,
    watch: Watch,
    /// Until the replay from the cursor reaches the head seen at open: outages that
    /// ended in the replay began before the cursor, and are seeded from the history
    /// when met (so their recovery is told, with its length).
    replay_until: u64,
    dealt_before: chrono::DateTime<chrono::Utc>,
    seen: std::collections::HashSet<String>,
    /// Messages after the cursor that a previous leader told and recorded before it
    /// could move the cursor past them (a stop or kill between the two writes): each is
    /// skipped once instead of being sent again.
    told: HashSet<Told>,
    read_through: u64,
    /// The next incident event (by the desk's sequence) this channel's watch takes.
    incident_seen: u64,
    stored: u64,
    tx: mpsc::Sender<Message>,
    backlog: VecDeque<Message>,
    in_flight: InFlight,
    worker: JoinHandle<()>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

/// A told message: its revision, event and project.
type Told = (u64, String, Option<String>);

/// The lanes of one term.
struct Led {
    term: Term,
    lanes: HashMap<ChannelName, Lane>,
    refreshed: Option<tokio::time::Instant>,
    desk: Option<Desk>,
    started: chrono::DateTime<chrono::Utc>,
}

impl Dispatcher {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut led: Option<Led> = None;
        // Silence that began before this process ran spans time nobody here heard.
        let started = self.federation.now();
        let mut ticker = tokio::time::interval(self.options.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let term = match self.federation.role() {
                Role::Leader(term) if self.federation.leads() => term,
                _ => {
                    if led.take().is_some() {
                        tracing::info!("notifications: no longer the leader, stopped sending");
                    }
                    continue;
                }
            };
            if led.as_ref().is_none_or(|l| l.term != term) {
                led = Some(Led {
                    term,
                    lanes: HashMap::new(),
                    refreshed: None,
                    desk: None,
                    started,
                });
            }
            let Some(state) = led.as_mut() else { continue };
            match self.step(state).await {
                Ok(()) => {}
                Err(RepositoryError::Fenced(_)) => {
                    tracing::info!("notifications: fenced, another replica leads");
                    led = None;
                }
                Err(e) => tracing::warn!(error = %e, "notifications: step failed, retrying"),
            }
        }
    }

    /// One look at the channels, the log and the clock.
    async fn step(&self, led: &mut Led) -> Result<(), RepositoryError> {
        if led.desk.is_none() {
            led.desk = Some(self.open_desk(led.term, led.started).await?);
        }
        if led
            .refreshed
            .is_none_or(|t| t.elapsed() >= self.options.refresh)
        {
            self.refresh(led).await?;
            led.refreshed = Some(tokio::time::Instant::now());
        }
        // Each lane reads from its own place (lanes that keep pace share one read), so
        // a channel that fell behind never holds the others back.
        let head = self.track(led).await?;
        let mut reads: HashMap<u64, Vec<federation_domain::Change>> = HashMap::new();
        let behind: Vec<u64> = led
            .lanes
            .values()
            .filter(|l| l.read_through < head && l.backlog.len() < self.options.backlog)
            .map(|l| l.read_through)
            .collect();
        for from in behind {
            if reads.contains_key(&from) {
                continue;
            }
            match self
                .federation
                .changes_since(from, self.options.batch)
                .await?
            {
                ChangesSince::Changes(c) => {
                    reads.insert(from, c);
                }
                ChangesSince::Trimmed => {
                    for (name, lane) in &mut led.lanes {
                        if lane.read_through == from {
                            tracing::warn!(channel = %name, from, to = head, "notifications: the log was trimmed past this channel's cursor; skipping ahead");
                            lane.read_through = head;
                        }
                    }
                }
            }
        }
        let now = self.federation.now();
        for changes in reads.values_mut() {
            // Nothing past what the incident desk has seen (and recorded).
            changes.retain(|c| c.revision <= head);
        }
        for lane in led.lanes.values_mut() {
            let changes = reads.get(&lane.read_through).map_or(&[][..], Vec::as_slice);
            for change in changes.iter().filter(|c| c.revision <= lane.replay_until) {
                let slug = change.slug.as_str();
                if let (ChangeKind::Transition(t), Some(p)) = (&change.kind, &change.project) {
                    if !lane.seen.insert(slug.to_owned()) {
                        continue;
                    }
                    if t.from != Status::Online
                        && t.to == Status::Online
                        && !lane.watch.tracks(slug)
                    {
                        // The reason before this step is not in the change: an offline
                        // the history never saw begin is taken as the registration's.
                        let Some(since) = self.bad_since_until(p, t.from, None, t.at).await else {
                            continue;
                        };
                        let mut before = p.clone();
                        before.status = t.from;
                        lane.watch
                            .seed(&before, since, lane.dealt_before, change.revision, t.at);
                    }
                }
            }
        }
        let Some(desk) = led.desk.as_mut() else {
            return Ok(());
        };
        for lane in led.lanes.values_mut() {
            let enabled = lane.spec.read().unwrap_or_else(|p| p.into_inner()).enabled;
            let changes = reads.get(&lane.read_through).map_or(&[][..], Vec::as_slice);
            for change in changes {
                if lane.backlog.len() >= self.options.backlog {
                    break;
                }
                let due = lane.watch.apply(change, now);
                lane.queue(due, enabled);
                let due = desk.feed(
                    &mut lane.watch,
                    &mut lane.incident_seen,
                    change.revision,
                    now,
                );
                lane.queue(due, enabled);
                lane.read_through = change.revision;
            }
            let due = desk.feed(
                &mut lane.watch,
                &mut lane.incident_seen,
                lane.read_through,
                now,
            );
            lane.queue(due, enabled);
            let due = lane.watch.tick(now);
            lane.queue(due, enabled);
            lane.drain();
        }
        for (name, lane) in &mut led.lanes {
            let mut cursor = lane.read_through;
            if let Some(floor) = lane.watch.pending_floor() {
                cursor = cursor.min(floor.saturating_sub(1));
            }
            if let Some(low) = lane.in_flight.lowest() {
                cursor = cursor.min(low.saturating_sub(1));
            }
            if cursor > lane.stored {
                self.log.advance_cursor(name, cursor, led.term).await?;
                lane.stored = cursor;
            }
        }
        if let Some(floor) = led.lanes.values().map(|l| l.read_through).min() {
            desk.prune(floor);
        }
        Ok(())
    }

    /// The incident desk of a new term.
    async fn open_desk(
        &self,
        term: Term,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Desk, RepositoryError> {
        let mut after = self.federation.revision();
        for c in self.channels.list_channels().await? {
            if let Some(cursor) = self.log.cursor(&c.spec.name).await? {
                after = after.min(cursor);
            }
        }
        Desk::open(
            &self.federation,
            &self.incidents,
            self.options.incidents,
            term,
            after,
            started,
        )
        .await
    }

    /// Runs the incident desk over the log up to the head (or a batch of it); the
    /// revision channels may read up to.
    async fn track(&self, led: &mut Led) -> Result<u64, RepositoryError> {
        let Some(desk) = led.desk.as_mut() else {
            return Ok(0);
        };
        let head = self.federation.revision();
        if desk.read_through < head {
            match self
                .federation
                .changes_since(desk.read_through, self.options.batch)
                .await?
            {
                ChangesSince::Changes(c) => {
                    desk.track(&self.federation, &self.incidents, led.term, &c)
                        .await?;
                }
                ChangesSince::Trimmed => {
                    tracing::warn!(
                        from = desk.read_through,
                        to = head,
                        "incidents: the log was trimmed past the desk; skipping ahead"
                    );
                    desk.read_through = head;
                }
            }
        }
        Ok(desk.read_through)
    }

    /// Starts lanes for new channels, updates changed ones, ends removed ones.
    async fn refresh(&self, led: &mut Led) -> Result<(), RepositoryError> {
        let channels = self.channels.list_channels().await?;
        led.lanes
            .retain(|name, _| channels.iter().any(|c| &c.spec.name == name));
        for channel in channels {
            if let Some(lane) = led.lanes.get_mut(&channel.spec.name) {
                lane.watch.set_rules(channel.spec.rules.clone());
                *lane.spec.write().unwrap_or_else(|p| p.into_inner()) = channel.spec;
                continue;
            }
            let Some(desk) = led.desk.as_ref() else {
                return Ok(());
            };
            let lane = self.open(&channel, led.term, desk).await?;
            led.lanes.insert(channel.spec.name.clone(), lane);
        }
        Ok(())
    }

    /// A lane for a channel: from its cursor (a new channel starts at the head), with
    /// the outages already under way seeded from the registry and the history.
    async fn open(
        &self,
        channel: &Channel,
        term: Term,
        desk: &Desk,
    ) -> Result<Lane, RepositoryError> {
        let name = channel.spec.name.clone();
        // Outages that began before this time were dealt with: before the cursor (a
        // new leader), or before the channel existed (a new channel).
        let (cursor, dealt_before, told) = match self.log.cursor(&name).await? {
            Some(c) => {
                let limit = u32::try_from(self.options.backlog).unwrap_or(u32::MAX);
                let told = self
                    .log
                    .deliveries_after(&name, c, limit.saturating_mul(4))
                    .await?
                    .into_iter()
                    .map(|d| (d.revision, d.event, d.slug))
                    .collect();
                (c, chrono::DateTime::<chrono::Utc>::MAX_UTC, told)
            }
            None => {
                let head = self.federation.revision();
                self.log.advance_cursor(&name, head, term).await?;
                (head, channel.created_at, HashSet::new())
            }
        };
        let gather =
            chrono::TimeDelta::from_std(self.options.sweep_interval + self.options.interval)
                .unwrap_or(chrono::TimeDelta::MAX);
        let mut watch = Watch::new(name.clone(), channel.spec.rules.clone())
            .with_incident_grace(if self.options.incidents.enabled() {
                self.options.incidents.window
            } else {
                chrono::TimeDelta::zero()
            })
            .with_incident_gather(gather);
        let now = self.federation.now();
        // Flapping as the registry holds it (held until the log's `stable` change), and
        // the outages under way, copied out (their start is read from the store): one
        // pass over the registry, which copies no other project.
        let mut under_way = Vec::new();
        self.federation.for_each_project(|project| {
            watch.seed_flapping(project, now);
            if watch.takes_seed(project) {
                under_way.push(project.clone());
            }
        });
        for project in under_way {
            let reason = project.status_reason.as_deref();
            let until = chrono::DateTime::<chrono::Utc>::MAX_UTC;
            if let Some(since) = self
                .bad_since_until(&project, project.status, reason, until)
                .await
            {
                watch.seed(&project, since, dealt_before, cursor, now);
            }
        }
        // Incidents up to the cursor were dealt with: the watch learns them, silently.
        let mut incident_seen = 0;
        let _ = desk.feed(&mut watch, &mut incident_seen, cursor, now);
        watch.settle_incidents();
        let spec = Arc::new(RwLock::new(channel.spec.clone()));
        let (tx, rx) = mpsc::channel(64);
        let in_flight = InFlight::default();
        let federation = self.federation.clone();
        let worker = Worker {
            spec: spec.clone(),
            sender: self.sender.clone(),
            log: self.log.clone(),
            metrics: self.metrics.clone(),
            retry: self.options.retry,
            in_flight: in_flight.clone(),
            leads: Arc::new(move || federation.leads()),
        };
        tracing::info!(channel = %name, cursor, outages = watch.outages(), "notifications: channel opened");
        Ok(Lane {
            spec,
            watch,
            replay_until: self.federation.revision(),
            dealt_before,
            seen: std::collections::HashSet::new(),
            told,
            read_through: cursor,
            incident_seen,
            stored: cursor,
            tx,
            backlog: VecDeque::new(),
            in_flight,
            worker: tokio::spawn(worker.run(rx)),
        })
    }

    /// When the bad streak of `project` (`status` with `reason` just before `until`)
    /// began, from its history; `None` for the offline of its registration
    /// ([`federation_domain::notify::outage_began`]). The last heartbeat (or the
    /// registration) when the history cannot be read or was trimmed.
    async fn bad_since_until(
        &self,
        project: &federation_domain::Project,
        status: Status,
        reason: Option<&str>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let fallback = project.last_heartbeat_at.unwrap_or(project.created_at);
        let Ok(history) = self.federation.history(project.slug.as_str(), 50).await else {
            return Some(fallback);
        };
        federation_domain::notify::outage_began(&history, until, status, reason, fallback)
    }
}

impl Lane {
    fn queue(&mut self, due: Vec<Message>, enabled: bool) {
        if !enabled {
            return;
        }
        for m in due {
            if !self.told.is_empty() {
                let key = (
                    m.revision,
                    m.event.as_str().to_owned(),
                    m.subject.as_ref().map(|s| s.slug.clone()),
                );
                if self.told.remove(&key) {
                    tracing::info!(channel = %m.channel, revision = m.revision, event = m.event.as_str(), "notifications: told before the restart, not sent again");
                    continue;
                }
            }
            self.in_flight.add(m.revision);
            self.backlog.push_back(m);
        }
    }

    fn drain(&mut self) {
        while let Some(m) = self.backlog.pop_front() {
            match self.tx.try_send(m) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) => {
                    self.backlog.push_front(m);
                    return;
                }
            }
        }
    }
}
