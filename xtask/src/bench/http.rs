//! A minimal HTTP/1.1 client on one keep-alive connection, for loops that ask a service
//! many times in a row (a fresh connection per request would measure connection set-up,
//! and leave thousands of sockets in TIME_WAIT).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use super::API_KEY;

/// One keep-alive connection to `127.0.0.1:port`, opened on first use and again after
/// the server closed it.
pub(super) struct KeepAlive {
    port: u16,
    stream: Option<BufReader<TcpStream>>,
}

impl KeepAlive {
    pub(super) fn new(port: u16) -> Self {
        KeepAlive { port, stream: None }
    }

    /// `GET path`: status and body.
    pub(super) fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        self.request("GET", path, None)
    }

    /// `DELETE path`: status and body.
    pub(super) fn delete(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        self.request("DELETE", path, None)
    }

    /// `POST path` with a JSON body: status and body.
    pub(super) fn post_json(&mut self, path: &str, json: &str) -> anyhow::Result<(u16, String)> {
        self.request("POST", path, Some(json))
    }

    /// Sends the request; on a connection that was already open, a failure is retried
    /// once on a new one (the server may have closed it while idle).
    fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let reused = self.stream.is_some();
        match self.exchange(method, path, json) {
            Ok(answer) => Ok(answer),
            Err(_) if reused => {
                self.stream = None;
                self.exchange(method, path, json)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> anyhow::Result<(u16, String)> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let tcp = TcpStream::connect(("127.0.0.1", self.port))
                    .with_context(|| format!("connecting to 127.0.0.1:{}", self.port))?;
                tcp.set_nodelay(true)?;
                tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
                self.stream.insert(BufReader::new(tcp))
            }
        };
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n");
        if let Some(json) = json {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                json.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        stream.get_mut().write_all(request.as_bytes())?;
        let (status, body, close) = read_response(stream)?;
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }
}

/// One response: status, body, and whether the server closes the connection after it.
fn read_response(stream: &mut impl BufRead) -> anyhow::Result<(u16, String, bool)> {
    let mut line = String::new();
    if stream.read_line(&mut line)? == 0 {
        bail!("the connection was closed");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in {line:.80}"))?;
    let mut length = 0usize;
    let mut close = false;
    loop {
        line.clear();
        if stream.read_line(&mut line)? == 0 {
            bail!("the connection was closed in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().context("Content-Length")?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked responses are not supported ({value})");
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}

/// `GET path` over HTTP/1.0 (no chunking): status and body.
pub(super) fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in {raw:.80}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_response_and_leaves_the_next() {
        let raw = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let mut stream = BufReader::new(raw.as_bytes());
        assert_eq!(
            read_response(&mut stream).unwrap(),
            (200, "{}".to_owned(), false)
        );
        assert_eq!(
            read_response(&mut stream).unwrap(),
            (404, String::new(), true)
        );
        assert!(read_response(&mut stream).is_err());
    }

    #[test]
    fn refuses_chunked_bodies() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(read_response(&mut BufReader::new(raw.as_bytes())).is_err());
    }
}
