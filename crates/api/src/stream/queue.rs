//! One change-stream client's queue: the hub puts batches of encoded changes (shared
//! by every client), the client's session takes them. Bounded in batches and in bytes;
//! a full queue gets its client dropped, and a closed one lets go of what it held at
//! once, whether or not the client's connection is still being written.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use federation_domain::Change;
use tokio::sync::Notify;

use super::StreamOptions;

#[derive(Debug, Clone)]
pub(super) enum Batch {
    Changes(Arc<Encoded>),
    /// The registry was reloaded from a snapshot at this revision.
    Reset(u64),
}

impl Batch {
    fn bytes(&self) -> usize {
        match self {
            Batch::Changes(e) => e.bytes,
            Batch::Reset(_) => 0,
        }
    }
}

/// A batch of changes with each one's event, encoded once for every client.
#[derive(Debug)]
pub(super) struct Encoded {
    pub(super) changes: Vec<Change>,
    /// `frames[i]` is `changes[i]`'s SSE frame.
    pub(super) frames: Vec<Bytes>,
    /// The frames' length in all.
    pub(super) bytes: usize,
}

impl Encoded {
    pub(super) fn new(changes: &[Change], encode: fn(&Change) -> Bytes) -> Self {
        let frames: Vec<Bytes> = changes.iter().map(encode).collect();
        Self {
            bytes: frames.iter().map(Bytes::len).sum(),
            changes: changes.to_vec(),
            frames,
        }
    }
}

/// What waits for one client: batches the hub put and its session has not taken.
#[derive(Debug, Default)]
struct Queued {
    batches: VecDeque<Batch>,
    bytes: usize,
    /// Dropped by the hub, or the session ended: nothing more goes in.
    closed: bool,
}

/// One client's queue: the hub puts, the client's session takes.
#[derive(Debug, Default)]
pub(super) struct Queue {
    state: Mutex<Queued>,
    /// Woken when a batch arrives or the queue closes.
    ready: Notify,
}

/// Why a batch was not put.
pub(super) enum Refused {
    /// The client's queue is full: drop it.
    Full,
    /// The client is gone.
    Closed,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn put(&self, batch: &Batch, options: &StreamOptions) -> Result<(), Refused> {
        let mut q = self.state();
        if q.closed {
            return Err(Refused::Closed);
        }
        let full = q.batches.len() >= options.buffer.max(1)
            || (!q.batches.is_empty() && q.bytes + batch.bytes() > options.buffer_bytes);
        if full {
            return Err(Refused::Full);
        }
        q.bytes += batch.bytes();
        q.batches.push_back(batch.clone());
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Closes the queue and lets go of what waits in it.
    pub(super) fn close(&self) {
        let mut q = self.state();
        q.closed = true;
        q.batches = VecDeque::new();
        q.bytes = 0;
        drop(q);
        self.ready.notify_one();
    }

    /// The next batch; `None` once closed. Cancel-safe.
    pub(super) async fn take(&self) -> Option<Batch> {
        loop {
            {
                let mut q = self.state();
                if let Some(b) = q.batches.pop_front() {
                    q.bytes -= b.bytes();
                    return Some(b);
                }
                if q.closed {
                    return None;
                }
            }
            // A put between the check and here left a permit: no wake-up is lost.
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChangeHub;
    use super::*;
    use crate::metrics::Metrics;
    use chrono::TimeZone;
    use federation_domain::{ChangeKind, Slug};

    fn change(revision: u64) -> Change {
        Change {
            revision,
            slug: Slug::parse("a").unwrap(),
            at: chrono::Utc
                .with_ymd_and_hms(2025, 11, 18, 12, 0, 0)
                .unwrap(),
            kind: ChangeKind::Deleted { reason: None },
            project: None,
        }
    }

    fn frame_of(c: &Change) -> Bytes {
        Bytes::from(format!("{:0>100}", c.revision))
    }

    fn batch(from: u64, n: u64) -> Batch {
        let changes: Vec<Change> = (from..from + n).map(change).collect();
        Batch::Changes(Arc::new(Encoded::new(&changes, frame_of)))
    }

    fn options(buffer: usize, buffer_bytes: usize) -> StreamOptions {
        StreamOptions {
            buffer,
            buffer_bytes,
            ..StreamOptions::default()
        }
    }

    #[tokio::test]
    async fn takes_in_order_and_counts_bytes() {
        let q = Queue::default();
        let o = options(8, 1 << 20);
        assert!(q.put(&batch(1, 2), &o).is_ok());
        assert!(q.put(&Batch::Reset(9), &o).is_ok());
        assert_eq!(q.state().bytes, 200);
        let Some(Batch::Changes(first)) = q.take().await else {
            panic!("changes first")
        };
        assert_eq!(first.bytes, 200);
        assert_eq!(first.frames[1], frame_of(&change(2)));
        assert!(matches!(q.take().await, Some(Batch::Reset(9))));
        assert_eq!(q.state().bytes, 0);
        q.close();
        assert!(q.take().await.is_none());
        assert!(matches!(q.put(&batch(3, 1), &o), Err(Refused::Closed)));
    }

    #[tokio::test]
    async fn a_waiting_take_wakes_on_put_and_on_close() {
        let q = Arc::new(Queue::default());
        let waiting = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.take().await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(q.put(&batch(1, 1), &options(8, 1 << 20)).is_ok());
        assert!(waiting.await.unwrap());
        let waiting = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.take().await.is_some() }
        });
        tokio::task::yield_now().await;
        q.close();
        assert!(!waiting.await.unwrap());
    }

    #[test]
    fn full_by_batches_or_by_bytes_and_one_large_batch_fits_an_empty_queue() {
        let by_batches = Queue::default();
        let o = options(2, 1 << 20);
        assert!(by_batches.put(&batch(1, 1), &o).is_ok());
        assert!(by_batches.put(&batch(2, 1), &o).is_ok());
        assert!(matches!(
            by_batches.put(&batch(3, 1), &o),
            Err(Refused::Full)
        ));

        let by_bytes = Queue::default();
        let o = options(1000, 250);
        // 300 bytes: over the bound, but the queue is empty.
        assert!(by_bytes.put(&batch(1, 3), &o).is_ok());
        assert!(matches!(by_bytes.put(&batch(4, 1), &o), Err(Refused::Full)));
        // Under the bound, batches add up until the next would pass it.
        let adding = Queue::default();
        assert!(adding.put(&batch(1, 1), &o).is_ok());
        assert!(adding.put(&batch(2, 1), &o).is_ok());
        assert!(matches!(adding.put(&batch(3, 1), &o), Err(Refused::Full)));
        assert_eq!(adding.state().bytes, 200);
    }

    #[test]
    fn closing_lets_go_of_the_batches_at_once() {
        let q = Queue::default();
        let b = batch(1, 10);
        let Batch::Changes(encoded) = &b else {
            unreachable!()
        };
        let held = Arc::downgrade(encoded);
        assert!(q.put(&b, &options(8, 1 << 20)).is_ok());
        drop(b);
        assert_eq!(held.strong_count(), 1, "the queue holds it");
        q.close();
        assert_eq!(held.strong_count(), 0, "freed without the client taking it");
    }

    /// Stalled clients (streams opened and never read) share one encoding of each
    /// batch, are dropped once their bytes pass the bound, and hold nothing after.
    #[test]
    fn stalled_clients_share_each_batch_and_are_dropped_by_bytes() {
        const CLIENTS: usize = 50;
        let metrics = Arc::new(Metrics::new("test"));
        let hub = ChangeHub::new(options(1024, 4096), 0, Arc::clone(&metrics));
        let streams: Vec<_> = (0..CLIENTS).map(|_| hub.open().unwrap()).collect();
        assert_eq!(hub.open_streams(), CLIENTS);
        let listener = hub.listener();
        listener(&(1..=10).map(change).collect::<Vec<_>>(), 10);
        let first: Vec<Arc<Encoded>> = streams
            .iter()
            .map(|(q, _)| match q.state().batches.front() {
                Some(Batch::Changes(e)) => Arc::clone(e),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            first.iter().all(|e| Arc::ptr_eq(e, &first[0])),
            "one encoding for every client"
        );
        let held = Arc::downgrade(&first[0]);
        drop(first);
        // Each batch of 10 deletions is ~1 KB of events: the fifth passes 4 KB.
        let mut revision = 10;
        while hub.open_streams() > 0 {
            assert!(revision < 1000, "stalled clients were never dropped");
            listener(
                &(revision + 1..=revision + 10)
                    .map(change)
                    .collect::<Vec<_>>(),
                revision + 10,
            );
            revision += 10;
        }
        for (q, _) in &streams {
            let q = q.state();
            assert!(q.closed && q.batches.is_empty() && q.bytes == 0);
        }
        assert_eq!(held.strong_count(), 0, "nothing kept for dropped clients");
        assert!(hub.clients.lock().unwrap().is_empty());
    }
}
