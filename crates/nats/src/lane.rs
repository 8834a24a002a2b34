//! The thread the link runs on: its clients' connection tasks, the subscriber and the
//! ingest task share one single-threaded runtime.
//!
//! A heartbeat passes three tasks: the client's connection task parses it off the
//! socket, the subscriber queues it, the ingest task records it. On the service's
//! worker pool each hand-over could cross to the other core, taking the message's
//! cache lines with it and waking a parked worker through the kernel; under a burst
//! that was a quarter of the service's time per heartbeat, on a machine whose other
//! core the publisher and the NATS server need. On one thread, each message is read
//! where it was written, and a task that waits is woken without a system call. One
//! core is several times what the path needs (docs/benchmarks.md), and REST keeps the
//! whole pool.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use crate::config::NatsError;

/// A single-threaded runtime on a thread of its own, running until [`Lane::stop`] (or
/// until it is dropped).
pub(crate) struct Lane {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Lane {
    /// Starts the thread `name` and its runtime.
    pub(crate) fn start(name: &str) -> Result<Self, NatsError> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NatsError::Connect(format!("starting the NATS thread: {e}")))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Runs the spawned tasks until told to stop (or until the lane is
                // dropped, which drops the sender); the runtime, and every task still
                // on it, is dropped here, on its own thread.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| NatsError::Connect(format!("starting the NATS thread: {e}")))?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `task` on the lane.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }

    /// Ends the runtime and its tasks, and waits for the thread (off the async
    /// worker: the thread drops what its tasks held).
    pub(crate) async fn stop(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        // The thread ends on its own; it is not waited for here (a drop may run on an
        // async worker).
        self.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_lanes_own_thread_until_it_stops() {
        let lane = Lane::start("test-lane").unwrap();
        let name = lane
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("test-lane"));
        // A task still waiting when the lane stops is dropped with its runtime.
        let (tx, rx) = oneshot::channel::<()>();
        let waiting = lane.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        });
        lane.stop().await;
        assert!(rx.await.is_err(), "the task (and its sender) was dropped");
        assert!(waiting.await.unwrap_err().is_cancelled());
    }
}
