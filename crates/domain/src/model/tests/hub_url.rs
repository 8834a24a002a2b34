//! HubUrl.

use super::*;

#[test]
fn hub_url_accepts_absolute_http_and_https_as_written() {
    for ok in [
        "http://localhost:8000",
        "https://hub.example.com/base/path?x=1",
        "http://127.0.0.1",
        "http://[::1]:8000/",
        "HTTPS://Example.com",
    ] {
        assert_eq!(HubUrl::parse(ok).unwrap().as_str(), ok);
    }
    // Trimmed, but otherwise kept exactly (no trailing slash added).
    assert_eq!(
        HubUrl::parse("  http://localhost:8000  ").unwrap().as_str(),
        "http://localhost:8000"
    );
}

#[test]
fn hub_url_rejects_other_schemes_relative_urls_and_missing_hosts() {
    for bad in [
        "",
        "   ",
        "localhost:8000",
        "/api/fed",
        "example.com",
        "ftp://example.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "nats://localhost:4222",
        "http://",
        "https://",
        "http://:80",
        "http:host",
        "http:/host",
        "HTTP:host:8000",
        "http://host/a b",
        "http://host/a\tb",
        "\u{1}http://host",
        "ht\ttp://host",
        "http://user:secret@host",
        "https://token@host/",
    ] {
        assert_eq!(field_of(HubUrl::parse(bad)), "hub_url", "{bad:?}");
    }
}

#[test]
fn hub_url_refuses_invisible_formatting_characters_as_names_do() {
    for bad in [
        "http://host/\u{202E}gpj.exe",
        "http://host/a\u{200B}b",
        "http://host/\u{2066}x\u{2069}",
        "http://host/?q=\u{FEFF}",
        "http://host/#\u{061C}",
        "\u{200E}http://host",
    ] {
        let err = HubUrl::parse(bad).unwrap_err();
        assert_eq!(err.field, "hub_url", "{bad:?}");
        assert!(err.message.contains("invisible"), "{bad:?}: {err}");
        // The very rule a name follows.
        let name = bad.trim_start_matches("http://host/");
        assert!(ProjectName::parse(&format!("n{name}")).is_err(), "{bad:?}");
    }
}

#[test]
fn hub_url_refuses_a_backslash_anywhere() {
    // Browsers read `\` as `/`: this opens evil.com while it reads as good.com.
    for bad in [
        "http://evil.com\\@good.com",
        "https://good.com\\..\\x",
        "http://good.com/a?b=\\",
        "http://good.com/#\\",
        "http:\\\\evil.com",
    ] {
        let err = HubUrl::parse(bad).unwrap_err();
        assert_eq!(err.field, "hub_url", "{bad:?}");
        assert!(err.message.contains("backslash"), "{bad:?}: {err}");
    }
}

#[test]
fn hub_url_is_at_most_five_hundred_characters() {
    let prefix = "https://example.com/";
    let ok = format!("{prefix}{}", "p".repeat(500 - prefix.len()));
    assert_eq!(ok.len(), 500);
    assert!(HubUrl::parse(&ok).is_ok());
    let long = format!("{ok}p");
    let err = HubUrl::parse(&long).unwrap_err();
    assert_eq!(err.field, "hub_url");
    assert!(err.message.contains("got 501"), "{err}");
    // Characters, not bytes: 501 characters of which 481 take two bytes each.
    let wide = format!("{prefix}{}", "é".repeat(481));
    let err = HubUrl::parse(&wide).unwrap_err();
    assert!(err.message.contains("got 501"), "{err}");
    // Past the host only URL characters: others are percent-encoded.
    assert!(HubUrl::parse(&format!("{prefix}%C3%A9")).is_ok());
    assert!(HubUrl::parse(&format!("{prefix}é")).is_err());
}

#[test]
fn hub_url_hosts_are_written_as_readers_read_them() {
    for ok in [
        "http://localhost:8000",
        "http://my_service:80/",
        "http://hub-1.internal.:8000/x?y=1#z",
        "http://xn--bcher-kva.de",
        "http://10.0.0.1:8000",
        "http://[::1]:8000",
        "http://[fe80::1]/",
        "http://a:/",
        "http://a/#b?c/d",
    ] {
        assert!(HubUrl::parse(ok).is_ok(), "{ok}");
    }
    for refused in [
        "http://A*",
        "http://bücher.de",
        "http://-a.com",
        "http://a-.com",
        "http://a..com",
        "http://a.1b",
        "http://10.1",
        "http://010.0.0.1",
        "http://0x7f.0.0.1",
        "http://a/<script>",
        "http://a/\"q\"",
        "http://a/{x}",
        "http://a##",
        "http://a/#b#c",
    ] {
        assert!(HubUrl::parse(refused).is_err(), "{refused}");
    }
}
