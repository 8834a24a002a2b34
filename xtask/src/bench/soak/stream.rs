//! One change-stream client per replica (`GET /api/fed/events?tag=…`), recording every
//! `transition` it is sent, per project, in order. A dropped connection is resumed with
//! `Last-Event-ID`, as a real client would; `reset` events (the stream could not resume)
//! are counted, since they mean a client had to re-read.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use super::super::{wait_until, API_KEY};
use super::check::Step;

/// What a recorder saw, shared with its thread.
#[derive(Default)]
struct Seen {
    steps: Mutex<HashMap<String, Vec<Step>>>,
    transitions: AtomicU64,
    resets: AtomicU64,
    reconnects: AtomicU64,
    ready: AtomicBool,
}

pub(super) struct Recorder {
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Connects to the replica on `port`, for the projects tagged `tag`; returns once the
    /// stream said `ready` (caught up).
    pub(super) fn start(port: u16, tag: &str) -> anyhow::Result<Self> {
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let path = format!("/api/fed/events?tag={tag}");
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || follow(port, &path, &seen, &stop))
        };
        let recorder = Recorder {
            seen,
            stop,
            thread: Some(thread),
        };
        wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
            Ok(recorder.seen.ready.load(Ordering::Acquire).then_some(()))
        })?
        .with_context(|| format!("the change stream on port {port} never said ready"))?;
        Ok(recorder)
    }

    pub(super) fn transitions(&self) -> u64 {
        self.seen.transitions.load(Ordering::Acquire)
    }

    pub(super) fn resets(&self) -> u64 {
        self.seen.resets.load(Ordering::Acquire)
    }

    pub(super) fn reconnects(&self) -> u64 {
        self.seen.reconnects.load(Ordering::Acquire)
    }

    /// Stops the client: the changes it saw, per project, oldest first.
    pub(super) fn finish(mut self) -> HashMap<String, Vec<Step>> {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(
            &mut *self
                .seen
                .steps
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Reads the stream until told to stop, reconnecting from the last id after a drop.
fn follow(port: u16, path: &str, seen: &Seen, stop: &AtomicBool) {
    let mut last_id: Option<u64> = None;
    let mut first = true;
    while !stop.load(Ordering::Acquire) {
        if !first {
            seen.reconnects.fetch_add(1, Ordering::AcqRel);
            std::thread::sleep(Duration::from_millis(500));
        }
        first = false;
        if let Err(e) = read_stream(port, path, &mut last_id, seen, stop) {
            eprintln!("soak: the change stream on port {port} dropped ({e:#}); resuming");
        }
    }
}

/// One connection: sends the request (HTTP/1.0, so the body is the raw stream) and
/// records events until the connection ends or `stop`.
fn read_stream(
    port: u16,
    path: &str,
    last_id: &mut Option<u64>,
    seen: &Seen,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).context("connecting")?;
    tcp.set_read_timeout(Some(Duration::from_millis(250)))?;
    let resume = last_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    (&tcp).write_all(
        format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\
             Accept: text/event-stream\r\n{resume}\r\n"
        )
        .as_bytes(),
    )?;
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    let mut in_body = false;
    let (mut event, mut id, mut data) = (String::new(), None::<u64>, String::new());
    while !stop.load(Ordering::Acquire) {
        // A read that times out may leave half a line in `line`: it is kept until the
        // rest arrives.
        match reader.read_line(&mut line) {
            Ok(0) => bail!("the server closed the stream"),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
        let text = line.trim_end_matches(['\r', '\n']).to_owned();
        line.clear();
        if !in_body {
            if text.starts_with("HTTP/") && !text.contains(" 200") {
                bail!("the stream answered {text}");
            }
            in_body = text.is_empty();
            continue;
        }
        if let Some(rest) = text.strip_prefix("event: ") {
            rest.clone_into(&mut event);
        } else if let Some(rest) = text.strip_prefix("id: ") {
            id = rest.trim().parse().ok();
        } else if let Some(rest) = text.strip_prefix("data: ") {
            rest.clone_into(&mut data);
        } else if text.is_empty() && !event.is_empty() {
            record(&event, &data, seen);
            if id.is_some() {
                *last_id = id;
            }
            event.clear();
            data.clear();
            id = None;
        }
    }
    Ok(())
}

fn record(event: &str, data: &str, seen: &Seen) {
    match event {
        "ready" => seen.ready.store(true, Ordering::Release),
        "reset" => {
            seen.resets.fetch_add(1, Ordering::AcqRel);
        }
        "transition" => {
            let Ok(v) = serde_json::from_str::<Value>(data) else {
                return;
            };
            let field = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
            if let (Some(slug), Some(from), Some(to)) = (field("slug"), field("from"), field("to"))
            {
                seen.steps
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(slug)
                    .or_default()
                    .push((from, to));
                seen.transitions.fetch_add(1, Ordering::AcqRel);
            }
        }
        _ => {}
    }
}
