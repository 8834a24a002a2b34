//! Every HTTP connection's socket, wrapped to bound what one client can make the server
//! hold, and to give the errors the HTTP layer itself answers the JSON shape.
//!
//! actix-web's HTTP/1 dispatcher keeps calling the application for pipelined requests
//! while the client reads none of the answers: the answers pile up in the connection's
//! write buffer without limit (400 connections pipelining `GET /health` took a release
//! build to 2.9 GB, and starved every other connection of CPU). The wrapper stops that
//! at the socket:
//! - **no reading ahead of unsent answers**: while an answer is not fully handed to the
//!   kernel, the socket reads nothing, so no new request is parsed; and each read takes
//!   at most [`READ_CHUNK`] bytes before the dispatcher gets to work on them, so the
//!   answers to one read are bounded too;
//! - **send timeout**: a client that accepts no byte of its answers for `send_timeout`
//!   is disconnected.
//!
//! Errors the dispatcher answers on its own, before any handler runs (a request line or
//! header it cannot parse, a header block too large, a request head not received within
//! the timeout), go out with an empty body and no `X-Request-Id`. They are the last
//! answer on their connection; the wrapper recognises such a final, empty, id-less error
//! answer and sends the API's JSON error in its place, with a fresh `X-Request-Id`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_web::http::StatusCode;
use federation_api::ApiError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The most one read takes from the socket before the dispatcher handles it.
pub const READ_CHUNK: usize = 1024;
/// The most read and dropped from a client after the answer that closes its connection.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// A connection's socket with the bounds above.
#[derive(Debug)]
pub struct Bounded {
    io: TcpStream,
    send_timeout: Duration,
    /// An answer is not fully handed to the kernel yet.
    write_blocked: bool,
    /// The last read returned data: the next one yields first.
    yield_read: bool,
    /// Runs while no byte of an answer is accepted.
    stalled: Option<Pin<Box<Sleep>>>,
    /// Bytes to send before anything else (a rewritten error answer).
    out: Vec<u8>,
    /// Our FIN is sent (closing).
    write_shut: bool,
    /// Bytes read and dropped since.
    lingered: usize,
}

impl Bounded {
    pub fn new(io: TcpStream, send_timeout: Duration) -> Self {
        Self {
            io,
            send_timeout,
            write_blocked: false,
            yield_read: false,
            stalled: None,
            out: Vec::new(),
            write_shut: false,
            lingered: 0,
        }
    }

    /// Err once the send timeout has passed; registers the wake-up otherwise.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let send_timeout = self.send_timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(send_timeout)));
        if timer.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read none of its answers within the send timeout",
            ));
        }
        Ok(())
    }

    /// Writes what is queued in `out`; Ready(Ok) once it is all sent.
    fn poll_drain_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n.min(self.out.len()));
                    self.stalled = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.check_stall(cx)?;
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_blocked {
            // The task is woken when the socket can take more of the answer; the read
            // goes on once the answer is out (see poll_write).
            this.check_stall(cx)?;
            return Poll::Pending;
        }
        if this.yield_read {
            this.yield_read = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut chunk = [0u8; READ_CHUNK];
        let take = buf.remaining().min(READ_CHUNK);
        let mut limited = ReadBuf::new(chunk.get_mut(..take).unwrap_or_default());
        ready!(Pin::new(&mut this.io).poll_read(cx, &mut limited))?;
        let got = limited.filled();
        if !got.is_empty() {
            buf.put_slice(got);
            this.yield_read = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain_out(cx))?;
        if let Some(at) = final_bare_error(buf) {
            // Everything before it as it is, then the JSON answer instead of it.
            this.out
                .extend_from_slice(buf.get(..at).unwrap_or_default());
            this.out
                .extend_from_slice(&json_error(buf.get(at..).unwrap_or_default()));
            this.write_blocked = true;
            return match this.poll_drain_out(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => {
                    this.write_blocked = !this.out.is_empty();
                    Poll::Ready(Ok(buf.len()))
                }
            };
        }
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.stalled = None;
                }
                let was_blocked = this.write_blocked;
                this.write_blocked = n < buf.len();
                if was_blocked && !this.write_blocked {
                    // The answers are out: reading may go on.
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                this.write_blocked = true;
                this.check_stall(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain_out(cx))?;
        if this.write_blocked {
            this.write_blocked = false;
            cx.waker().wake_by_ref();
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    /// Sends what is left and a FIN, then reads and drops what the client still sends
    /// (at most [`LINGER_BYTES`]; actix-web's disconnect timeout bounds the wait): a
    /// socket closed with unread input is reset, and a reset can destroy the answer
    /// before the client has read it (a 431 to a client still sending its headers).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain_out(cx))?;
        if !this.write_shut {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.write_shut = true;
        }
        let mut scratch = [0u8; READ_CHUNK];
        while this.lingered < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => this.lingered += buf.filled().len(),
                Poll::Ready(Err(_)) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Where the final answer in `buf` starts, when it is an error answer of the HTTP layer
/// itself: a 4xx/5xx head with `content-length: 0` and no `x-request-id`, ending the
/// buffer. Answers of the application always carry `x-request-id`.
fn final_bare_error(buf: &[u8]) -> Option<usize> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head_end = buf.len() - 4;
    let start = find_last(buf.get(..head_end)?, b"HTTP/1.")?;
    let head = buf.get(start..head_end)?;
    let status = head.get(9..12)?;
    if !matches!(status.first(), Some(b'4' | b'5')) || !status.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let lower = head.to_ascii_lowercase();
    if find_last(&lower, b"\r\nx-request-id:").is_some()
        || find_last(&lower, b"\r\ncontent-length: 0").is_none()
    {
        return None;
    }
    Some(start)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The JSON answer for a bare error head (status line and headers, without the blank
/// line).
fn json_error(bare: &[u8]) -> Vec<u8> {
    let head = bare.strip_suffix(b"\r\n\r\n").unwrap_or(bare);
    let mut lines = head.split(|b| *b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let status_line = status_line.strip_suffix(b"\r").unwrap_or(status_line);
    let status = std::str::from_utf8(status_line.get(9..12).unwrap_or(b"400"))
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(400);
    let (code, message) = match status {
        408 => (
            "request_timeout",
            "the request was not received within the timeout",
        ),
        413 => ("payload_too_large", "the request is too large"),
        414 => ("uri_too_long", "the request target is too long"),
        431 => (
            "request_header_fields_too_large",
            "the request's header block is too large",
        ),
        400 => ("bad_request", "the request could not be parsed as HTTP"),
        _ => ("bad_request", "the request could not be served"),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body =
        serde_json::to_string(&ApiError::new(status, code, message).body()).unwrap_or_default();
    let mut out = Vec::with_capacity(head.len() + body.len() + 128);
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"\r\n");
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.to_ascii_lowercase().starts_with(b"content-length:") {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("x-request-id: {}\r\n", uuid::Uuid::new_v4()).as_bytes());
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-request-id: a\r\n\r\n{}";
    const BARE: &[u8] =
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";

    #[test]
    fn a_final_bare_error_is_found_after_other_answers() {
        assert_eq!(final_bare_error(BARE), Some(0));
        let mut both = OK.to_vec();
        both.extend_from_slice(BARE);
        assert_eq!(final_bare_error(&both), Some(OK.len()));
        assert_eq!(final_bare_error(OK), None);
        // An application error (it has an id) is left alone.
        let app = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-request-id: b\r\n\r\n";
        assert_eq!(final_bare_error(app), None);
        assert_eq!(
            final_bare_error(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
            None
        );
    }

    #[test]
    fn the_json_answer_keeps_status_and_headers_and_adds_a_body_and_an_id() {
        let out = String::from_utf8(json_error(BARE)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains("\r\ncontent-type: application/json"));
        assert!(head.contains("\r\nx-request-id: "));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert!(!head.contains("content-length: 0"));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "request_header_fields_too_large");
    }
}
