//! The replica's life as the API sees it: serving, or stopping (told to stop by SIGTERM
//! and draining: `/ready` answers 503 `stopping` at once, so balancers stop sending new
//! traffic, while everything in flight is still served).

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the handlers and whoever stops the service.
#[derive(Debug, Default)]
pub struct Lifecycle {
    stopping: AtomicBool,
}

impl Lifecycle {
    /// From now on `/ready` says `stopping` (503).
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether the replica is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}
