//! URLs naming several hosts (a primary and its standbys).

use super::*;

fn pg(raw: &str) -> PostgresUrl {
    match DatabaseUrl::parse(raw).unwrap() {
        DatabaseUrl::Postgres(pg) => pg,
        DatabaseUrl::Sqlite(_) => panic!("{raw}: not PostgreSQL"),
    }
}

#[test]
fn several_hosts_with_read_write_sessions_are_accepted() {
    let raw = "postgresql://fed:s3cret@db1:5432,db2:5433/fed?target_session_attrs=read-write&sslmode=require";
    let u = pg(raw);
    assert_eq!(u.hosts(), ["db1:5432", "db2:5433"]);
    assert_eq!(
        u.driver_url(),
        "postgres://fed:s3cret@db1:5432,db2:5433/fed?target_session_attrs=read-write"
    );
    assert_eq!(u.tls().mode, SslMode::Require);
    assert_eq!(
        u.driver_url_per_host(),
        [
            (
                "db1:5432".to_owned(),
                "postgres://fed:s3cret@db1:5432/fed?target_session_attrs=read-write".to_owned()
            ),
            (
                "db2:5433".to_owned(),
                "postgres://fed:s3cret@db2:5433/fed?target_session_attrs=read-write".to_owned()
            ),
        ]
    );
    let shown = DatabaseUrl::parse(raw).unwrap().redacted();
    assert_eq!(
        shown,
        "postgres://fed:***@db1:5432,db2:5433/fed?target_session_attrs=read-write&sslmode=require"
    );
    assert!(!format!("{u:?}").contains("s3cret"));
    // Without ports, IPv4 and IPv6 addresses, three hosts.
    let u = pg("postgres://fed@10.0.0.1,[::1]:6432,db3/fed?target_session_attrs=read-write");
    assert_eq!(u.hosts(), ["10.0.0.1", "[::1]:6432", "db3"]);
    // One host keeps its single form, with or without the parameter.
    assert_eq!(pg("postgres://fed@db/fed").hosts(), ["db"]);
    assert!(pg("postgres://fed@db:5432/fed")
        .driver_url_per_host()
        .is_empty());
    assert_eq!(
        pg("postgres://fed@db/fed?target_session_attrs=read-write").hosts(),
        ["db"]
    );
}

#[test]
fn several_hosts_without_read_write_sessions_are_refused() {
    for raw in [
        "postgres://fed@db1:5432,db2:5433/fed",
        "postgres://fed@db1,db2/fed?target_session_attrs=any",
        "postgres://fed@db1,db2/fed?target_session_attrs=read-only",
    ] {
        let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
        assert!(
            err.contains("target_session_attrs=read-write") && err.contains("db1"),
            "{raw}: {err}"
        );
    }
    let err =
        DatabaseUrl::parse("postgres://fed@db1,db2/fed?target_session_attrs=read-write&host=db3")
            .unwrap_err()
            .to_string();
    assert!(err.contains("?host="), "{err}");
}

#[test]
fn a_bad_host_in_the_list_is_named() {
    for (raw, named) in [
        (
            "postgres://fed@db1:5432,/fed?target_session_attrs=read-write",
            "\"\"",
        ),
        (
            "postgres://fed@db1:0,db2/fed?target_session_attrs=read-write",
            "db1:0",
        ),
        (
            "postgres://fed@db1:99999,db2/fed?target_session_attrs=read-write",
            "db1:99999",
        ),
        (
            "postgres://fed@db1,db%20two/fed?target_session_attrs=read-write",
            "db%20two",
        ),
        (
            "postgres://fed@db1,[::1/fed?target_session_attrs=read-write",
            "[::1",
        ),
        (
            "postgres://fed@db1,[zz]:1/fed?target_session_attrs=read-write",
            "[zz]:1",
        ),
        (
            "postgres://fed@db1,db2:x/fed?target_session_attrs=read-write",
            "db2:x",
        ),
    ] {
        let err = DatabaseUrl::parse(raw).unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{raw}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(named) && text.contains("HOST1:PORT1"),
            "{raw}: {text}"
        );
    }
}
