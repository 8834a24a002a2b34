//! Email against a real SMTP server: Debian's `python3-aiosmtpd` as a sink (installed
//! by `.ci/run` and `cargo xtask test`), printing every message it takes.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use federation_domain::notify::{
    ChannelInput, ChannelName, ChannelSpec, EmailInput, Event, Message, Sender, Subject,
};
use federation_domain::Status;
use federation_notify::{DenyList, SmtpSender};

/// A running aiosmtpd and what it printed.
struct Sink {
    child: Child,
    port: u16,
    out: Arc<Mutex<String>>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sink() -> Sink {
    let port = federation_testkit::free_port();
    // Debian's interpreter, where the package installs the module (a python3 of
    // pyenv or a venv earlier on PATH would not have it).
    let python = if std::path::Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (apt-get install python3-aiosmtpd)");
    let out = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut o = o.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink { child, port, out }
}

fn channel(port: u16, tls: &str) -> ChannelSpec {
    ChannelSpec::parse(ChannelInput {
        name: Some("mail".into()),
        kind: Some("email".into()),
        url: Some(format!("smtp://127.0.0.1:{port}")),
        email: Some(EmailInput {
            from: Some("federation@example.org".into()),
            to: Some(vec!["ops@example.org".into(), "oncall@example.org".into()]),
            username: None,
            tls: Some(tls.into()),
        }),
        ..ChannelInput::default()
    })
    .unwrap()
}

fn message() -> Message {
    Message {
        channel: ChannelName::parse("mail").unwrap(),
        revision: 77,
        event: Event::Offline,
        subject: Some(Subject {
            slug: "alpha".into(),
            name: "Alpha hub".into(),
            hub_url: "http://alpha.internal:8000".into(),
            status: Status::Offline,
            reason: Some("heartbeat_timeout".into()),
        }),
        at: Utc::now(),
        outage_seconds: None,
        incident: None,
    }
}

#[tokio::test]
async fn an_email_reaches_the_smtp_server() {
    let s = sink();
    let sender = SmtpSender::new(Duration::from_secs(5), DenyList::default());
    let a = sender.send(&channel(s.port, "none"), &message()).await;
    assert!(a.delivered(), "{a:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = s.out.lock().unwrap().clone();
        // The sink prints a message a line at a time: judged once it has printed the
        // whole of it, not at its subject line.
        if out.contains("END MESSAGE") {
            assert!(
                out.contains("Subject: Alpha hub (alpha) is offline"),
                "{out}"
            );
            assert!(
                out.contains("ops@example.org") && out.contains("oncall@example.org"),
                "{out}"
            );
            assert!(out.contains("key: 77-mail-alpha"), "{out}");
            assert!(
                out.contains("Message-ID: <77-mail-alpha@federation>"),
                "{out}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not printed by the sink: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn starttls_is_required_unless_the_channel_says_none() {
    // aiosmtpd without a certificate offers no STARTTLS: nothing may go in clear.
    let s = sink();
    let sender = SmtpSender::new(Duration::from_secs(5), DenyList::default());
    let a = sender.send(&channel(s.port, "starttls"), &message()).await;
    assert!(!a.delivered(), "{a:?}");
    assert!(a.error.as_deref().unwrap().starts_with("SMTP"), "{a:?}");
    assert!(!s.out.lock().unwrap().contains("Subject:"));
    // The deny list holds for relays too.
    let deny = SmtpSender::new(
        Duration::from_secs(5),
        DenyList::parse("127.0.0.0/8").unwrap(),
    );
    let a = deny.send(&channel(s.port, "none"), &message()).await;
    assert!(a.error.unwrap().contains("FEDERATION_NOTIFY_DENY"));
}
