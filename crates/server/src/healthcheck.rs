//! `federation healthcheck`: GET `/health` on the configured `SERVICE_HOST`/`SERVICE_PORT`
//! with a short timeout; for container `HEALTHCHECK`s in images that carry no curl.
//!
//! A plain HTTP/1.1 request over a TCP socket: the service speaks plain HTTP, and a
//! probe needs nothing more.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The whole probe's time budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where to probe: an unspecified bind address (`0.0.0.0`, `::`) is reached on loopback.
pub fn target(host: IpAddr, port: u16) -> SocketAddr {
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(host, port)
}

/// GETs `path` at `addr`; `Ok(status)` when the service answered with a 2xx.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<u16> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .context("timed out")
    };
    let mut stream = TcpStream::connect_timeout(&addr, left()?)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_write_timeout(Some(left()?))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: federation-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .context("sending the request")?;
    // The status line is all we need; read until it is complete.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        stream.set_read_timeout(Some(left()?))?;
        let n = stream.read(&mut chunk).context("reading the answer")?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&chunk));
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or_default();
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP answer: {line:?}"))?;
    if !(200..300).contains(&status) {
        bail!("{path} answered {status}");
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer);
            }
        });
        addr
    }

    #[test]
    fn a_2xx_is_healthy_anything_else_is_not() {
        let ok = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(probe(ok, "/health", DEFAULT_TIMEOUT).unwrap(), 200);
        let bad = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(probe(bad, "/health", DEFAULT_TIMEOUT).is_err());
        let junk = serve_once(b"SSH-2.0-OpenSSH\r\n");
        assert!(probe(junk, "/health", DEFAULT_TIMEOUT).is_err());
    }

    #[test]
    fn silence_times_out_and_a_closed_port_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        assert!(probe(addr, "/health", Duration::from_millis(300)).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
        assert!(probe(addr, "/health", Duration::from_millis(300)).is_err());
    }

    #[test]
    fn unspecified_binds_are_probed_on_loopback() {
        assert_eq!(
            target("0.0.0.0".parse().unwrap(), 8001),
            "127.0.0.1:8001".parse().unwrap()
        );
        assert_eq!(target("::".parse().unwrap(), 1), "[::1]:1".parse().unwrap());
        assert_eq!(
            target("10.0.0.5".parse().unwrap(), 2),
            "10.0.0.5:2".parse().unwrap()
        );
    }
}

/// `federation healthcheck`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The path to GET.
    #[arg(long, default_value = "/health")]
    pub path: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_millis() as u64)]
    pub timeout_ms: u64,
}

/// Probes the service this configuration (`SERVICE_HOST`, `SERVICE_PORT`, config files)
/// describes; an error (exit status 1) unless it answers 2xx in time.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = std::env::current_dir().context("reading the working directory")?;
    let settings = crate::Settings::load(&dir)?;
    let addr = target(settings.host, settings.port);
    let status = probe(addr, &args.path, Duration::from_millis(args.timeout_ms))
        .with_context(|| format!("healthcheck of http://{addr}{} failed", args.path))?;
    println!("http://{addr}{}: {status}", args.path);
    Ok(())
}
