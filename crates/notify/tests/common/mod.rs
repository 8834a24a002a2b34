//! HTTP receivers the tests start: one that records, one that answers 500, one that
//! never answers, one that is slow, one that redirects. Plain HTTP/1.1 on a tokio
//! listener on a free port, so what reaches the wire is what is checked.

#![allow(dead_code, reason = "each test binary uses part of the kit")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// 200.
    Ok,
    /// This status.
    Status(u16),
    /// 302 to its own path again (a redirect loop).
    Redirect,
    /// Reads the request and never answers.
    Hang,
    /// Answers 200 after this long.
    Slow(Duration),
    /// The first `n` requests get 500, then 200.
    FailFirst(usize),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let (g, m) = (got.clone(), mode.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (g, m) = (g.clone(), m.clone());
                tokio::spawn(async move { serve(sock, g, m).await });
            }
        });
        Receiver { url, got, mode }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Waits until `n` requests arrived, at most `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve(mut sock: TcpStream, got: Arc<Mutex<Vec<Received>>>, mode: Arc<Mutex<Mode>>) {
    loop {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
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
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let seen = {
            let mut g = got.lock().unwrap();
            g.push(Received {
                path,
                headers,
                body,
            });
            g.len()
        };
        let current = *mode.lock().unwrap();
        let reply = match current {
            Mode::Ok => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned(),
            Mode::Status(s) => format!("HTTP/1.1 {s} X\r\ncontent-length: 0\r\n\r\n"),
            Mode::Redirect => {
                "HTTP/1.1 302 Found\r\nlocation: /hook\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Mode::Hang => {
                // Keep the socket open, never answer.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Mode::FailFirst(n) if seen <= n => {
                "HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Mode::FailFirst(_) => "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned(),
        };
        if sock.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
