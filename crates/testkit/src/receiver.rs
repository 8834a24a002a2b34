//! HTTP receivers for notification tests: one that records, one that answers a status
//! (500), one that never answers, one that is slow, one that redirects to itself.
//! Plain HTTP/1.1 on a std listener on a free port, a thread per connection, so what
//! reaches the wire is what is checked and no async runtime is needed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200.
    Ok,
    /// This status.
    Status(u16),
    /// 302 to its own path again (a redirect loop).
    Redirect,
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// Answers 200 after this long.
    Slow(Duration),
    /// The first `n` requests get 500, then 200.
    FailFirst(usize),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request target (`/hook`).
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value, `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

type Shared<T> = Arc<Mutex<T>>;

/// A running receiver; it stops accepting when dropped (its threads end with the
/// test process).
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    got: Shared<Vec<Received>>,
    mode: Shared<Mode>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Receiver {
    /// Starts one answering as `mode`.
    pub fn start(mode: Mode) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let got: Shared<Vec<Received>> = Arc::default();
        let mode = Arc::new(Mutex::new(mode));
        let (g, m) = (got.clone(), mode.clone());
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let (g, m) = (g.clone(), m.clone());
                std::thread::spawn(move || serve(sock, &g, &m));
            }
        });
        Ok(Receiver { url, got, mode })
    }

    /// The requests received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.got).clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        lock(&self.got).len()
    }

    /// Answers the next requests as `mode`.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.mode) = mode;
    }
}

fn serve(mut sock: TcpStream, got: &Shared<Vec<Received>>, mode: &Shared<Mode>) {
    let mut chunk = [0u8; 8192];
    loop {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        };
        let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).to_string();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("")
            .to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf.get(head_end..).unwrap_or_default().to_vec();
        while body.len() < len {
            match sock.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        let seen = {
            let mut g = lock(got);
            g.push(Received {
                path,
                headers,
                body,
            });
            g.len()
        };
        let current = *lock(mode);
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned();
        let reply = match current {
            Mode::Ok => ok,
            Mode::Status(s) => format!("HTTP/1.1 {s} X\r\ncontent-length: 0\r\n\r\n"),
            Mode::Redirect => {
                "HTTP/1.1 302 Found\r\nlocation: /hook\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Mode::Hang => {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            Mode::Slow(d) => {
                std::thread::sleep(d);
                ok
            }
            Mode::FailFirst(n) if seen <= n => {
                "HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Mode::FailFirst(_) => ok,
        };
        if sock.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
