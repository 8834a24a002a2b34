//! Group commit of single registrations.
//!
//! Every write takes the change log's lock, so concurrent `POST`s queue behind each
//! other one transaction at a time, each paying its own round trips and commit. Here
//! they share them instead: a registration joins a queue, and one flusher writes
//! everything queued in one transaction (one upsert statement for all, one append to
//! the log, in arrival order), then answers each caller with its own row. While it
//! writes, the next group gathers. Alone, a registration is written at once, as
//! before: nothing waits for a group to fill.
//!
//! The flusher is a task of its own, so a caller that gives up (its client went away,
//! its deadline passed) never strands the others. A group that fails for its content
//! (not for the database being away or the write being fenced) is written again one
//! registration at a time, so each caller gets its own answer and one bad registration
//! fails nobody else.

use std::sync::Mutex;

use federation_domain::replication::Change;
use federation_domain::{Registration, RepositoryError, Upserted};
use tokio::sync::oneshot;

use crate::store::Store;

/// At most this many registrations share one transaction.
pub(crate) const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<Upserted, RepositoryError>>;

/// The registrations waiting for the flusher, and whether it runs.
#[derive(Default)]
pub(crate) struct Group {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Registration, Reply)>,
    flushing: bool,
}

impl Group {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Up to [`MAX_GROUP`] of the waiting registrations, oldest first; none (and the
    /// flusher marked stopped, in the same critical section) when the queue is empty.
    fn next(&self) -> Vec<(Registration, Reply)> {
        let mut q = self.queue();
        if q.waiting.is_empty() {
            q.flushing = false;
            return Vec::new();
        }
        let n = q.waiting.len().min(MAX_GROUP);
        q.waiting.drain(..n).collect()
    }
}

/// Marks the flusher stopped if it ends without emptying the queue (a panic in a
/// write): the waiting callers' replies drop, so they fail instead of hanging, and
/// the next registration starts a new flusher.
struct Stopped<'a> {
    group: &'a Group,
    /// Cleared when the flusher stops by emptying the queue.
    armed: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut q = self.group.queue();
            q.flushing = false;
            q.waiting.clear();
        }
    }
}

impl Store {
    /// Registers one project as part of the next group (see the module docs).
    pub(crate) async fn upsert_grouped(
        &self,
        registration: &Registration,
    ) -> Result<Upserted, RepositoryError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.group.queue();
            q.waiting.push((registration.clone(), reply));
            !std::mem::replace(&mut q.flushing, true)
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.flush().await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(RepositoryError::Internal(
                "the registration's group ended without an answer".into(),
            ))
        })
    }

    /// Writes groups until the queue is empty.
    async fn flush(self) {
        let mut guard = Stopped {
            group: &self.group,
            armed: true,
        };
        loop {
            let group = self.group.next();
            if group.is_empty() {
                guard.armed = false;
                return;
            }
            let (registrations, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            let written = self.write_group(&registrations).await;
            self.totals.invalidate();
            match written {
                Ok(upserted) => {
                    for (reply, one) in replies.into_iter().zip(upserted) {
                        let _ = reply.send(Ok(one));
                    }
                }
                Err(e) if registrations.len() == 1 || !for_content(&e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
                Err(_) => {
                    for (registration, reply) in registrations.iter().zip(replies) {
                        let one = self.write_group(std::slice::from_ref(registration)).await;
                        let _ = reply.send(one.map(|mut u| u.remove(0)));
                    }
                }
            }
        }
    }

    /// One transaction for `registrations`, answered in their order.
    async fn write_group(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError> {
        let mut upserted = self
            .bounded("upsert", self.upsert_many(registrations))
            .await?;
        if upserted.len() == registrations.len() {
            Change::share_written(&mut upserted);
            Ok(upserted)
        } else {
            Err(RepositoryError::Internal(format!(
                "{} registrations written, {} answered",
                registrations.len(),
                upserted.len()
            )))
        }
    }
}

/// Whether a group's failure may be one registration's doing (so each is tried alone),
/// rather than the database's (away, fenced: the same for every one).
fn for_content(e: &RepositoryError) -> bool {
    matches!(
        e,
        RepositoryError::Internal(_) | RepositoryError::Rejected(_)
    )
}
