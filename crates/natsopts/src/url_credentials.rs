//! The credentials a NATS URL may carry, which async-nats ignores (and would log).

/// The user and password (or token: a user without a password) in a URL's user info,
/// percent-decoded; `None` when it has none or does not parse.
pub fn url_credentials(raw: &str) -> Option<(String, Option<String>)> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if url.username().is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((decode(url.username()), url.password().map(decode)))
}

/// The URL to hand to the client library: without its user info, the credentials going
/// to it through the options instead. A value that does not parse comes back unchanged.
pub fn connect_url(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_the_url_decoded() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222"), None);
        assert_eq!(
            url_credentials("nats://svc:p%40ss@127.0.0.1:4222"),
            Some(("svc".into(), Some("p@ss".into())))
        );
        assert_eq!(
            url_credentials("tls://s3cret@nats.example.com"),
            Some(("s3cret".into(), None))
        );
        assert_eq!(url_credentials("not a url"), None);
    }

    #[test]
    fn the_client_gets_the_url_without_them() {
        assert_eq!(connect_url("nats://u:p@h:4222"), "nats://h:4222");
        assert_eq!(connect_url("nats://tok@h:4222"), "nats://h:4222");
        assert_eq!(connect_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(connect_url("not a url"), "not a url");
    }
}
