//! REST load during the soak: one client thread per replica on a keep-alive connection,
//! paced, mixing reads of the fleet (pages, one project, the summary, a tag) with
//! writes (re-registering one of a few hundred projects of its own). Every answer is
//! counted by class; server errors and failed requests are kept with their time, for the
//! check against the outage windows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::http::KeepAlive;

/// Answers by class, over the whole run (the sampler takes differences).
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) ok: AtomicU64,
    pub(super) client_errors: AtomicU64,
    pub(super) server_errors: AtomicU64,
    pub(super) failed: AtomicU64,
}

/// A copy of [`Counts`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Tally {
    pub(super) ok: u64,
    pub(super) client_errors: u64,
    pub(super) server_errors: u64,
    pub(super) failed: u64,
}

impl std::ops::Sub for Tally {
    type Output = Tally;
    fn sub(self, before: Tally) -> Tally {
        Tally {
            ok: self.ok.saturating_sub(before.ok),
            client_errors: self.client_errors.saturating_sub(before.client_errors),
            server_errors: self.server_errors.saturating_sub(before.server_errors),
            failed: self.failed.saturating_sub(before.failed),
        }
    }
}

/// A server error or a failed request: when (offset from the soak's start), where, what.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) at: Duration,
    pub(super) replica: usize,
    pub(super) what: String,
}

pub(super) struct Load {
    counts: Arc<Counts>,
    failures: Arc<Mutex<Vec<Failure>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts one client per port, each sending `per_second` requests a second; times
    /// are offsets from `start`.
    pub(super) fn start(ports: &[u16], per_second: u32, start: Instant) -> Self {
        let counts = Arc::new(Counts::default());
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let client = Client {
                    replica: i + 1,
                    http: KeepAlive::new(port),
                    counts: counts.clone(),
                    failures: failures.clone(),
                    start,
                    rng: 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1),
                };
                let stop = stop.clone();
                std::thread::spawn(move || client.run(per_second, &stop))
            })
            .collect();
        Load {
            counts,
            failures,
            stop,
            threads,
        }
    }

    pub(super) fn tally(&self) -> Tally {
        let c = &self.counts;
        Tally {
            ok: c.ok.load(Ordering::Acquire),
            client_errors: c.client_errors.load(Ordering::Acquire),
            server_errors: c.server_errors.load(Ordering::Acquire),
            failed: c.failed.load(Ordering::Acquire),
        }
    }

    /// Stops the clients: every server error and failed request of the run.
    pub(super) fn finish(self) -> Vec<Failure> {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How many projects of its own each client re-registers, in turn.
const OWN_PROJECTS: u64 = 200;

struct Client {
    replica: usize,
    http: KeepAlive,
    counts: Arc<Counts>,
    failures: Arc<Mutex<Vec<Failure>>>,
    start: Instant,
    rng: u64,
}

impl Client {
    fn run(mut self, per_second: u32, stop: &AtomicBool) {
        let every = Duration::from_secs(1) / per_second.max(1);
        let mut next = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Acquire) {
            let (method, path, body) = self.request(n);
            let answer = match &body {
                Some(json) => self.http.post_json(&path, json),
                None => self.http.get(&path),
            };
            let at = self.start.elapsed();
            match answer {
                Ok((status, _)) if status < 400 => {
                    self.counts.ok.fetch_add(1, Ordering::AcqRel);
                }
                Ok((status, body)) if status < 500 => {
                    self.counts.client_errors.fetch_add(1, Ordering::AcqRel);
                    eprintln!(
                        "soak: {method} {path} on replica {}: {status} {body:.200}",
                        self.replica
                    );
                }
                Ok((status, body)) => {
                    self.counts.server_errors.fetch_add(1, Ordering::AcqRel);
                    self.failed(at, format!("{method} {path}: {status} {body:.200}"));
                }
                Err(e) => {
                    self.counts.failed.fetch_add(1, Ordering::AcqRel);
                    self.failed(at, format!("{method} {path}: {e:#}"));
                }
            }
            n += 1;
            next += every;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > Duration::from_secs(1) {
                // Fell behind (a slow answer): pace from now, do not burst to catch up.
                next = now;
            }
        }
    }

    fn failed(&self, at: Duration, what: String) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Failure {
                at,
                replica: self.replica,
                what,
            });
    }

    /// The `n`th request: four reads to one write.
    fn request(&mut self, n: u64) -> (&'static str, String, Option<String>) {
        let r = self.random();
        match n % 5 {
            0 => (
                "GET",
                format!("/api/fed/projects?limit=100&offset={}", r % super::FLEET),
                None,
            ),
            1 => (
                "GET",
                format!(
                    "/api/fed/projects/{}-{}",
                    super::FLEET_PREFIX,
                    r % super::FLEET
                ),
                None,
            ),
            2 => ("GET", "/api/fed/summary".to_owned(), None),
            3 => (
                "GET",
                format!("/api/fed/projects?tag={}&limit=100", super::CHURN_TAG),
                None,
            ),
            _ => {
                let slug = format!("rest-{}-{}", self.replica, r % OWN_PROJECTS);
                let body = format!(
                    r#"{{"slug":"{slug}","name":"{slug} {n}","hub_url":"http://{slug}.example.com","tags":["rest"]}}"#
                );
                ("POST", "/api/fed/projects".to_owned(), Some(body))
            }
        }
    }

    /// xorshift64: cheap, and good enough to spread requests.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_subtract_per_class() {
        let before = Tally {
            ok: 10,
            client_errors: 1,
            server_errors: 2,
            failed: 3,
        };
        let after = Tally {
            ok: 25,
            client_errors: 1,
            server_errors: 4,
            failed: 3,
        };
        assert_eq!(
            after - before,
            Tally {
                ok: 15,
                client_errors: 0,
                server_errors: 2,
                failed: 0
            }
        );
    }
}
