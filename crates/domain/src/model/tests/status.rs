//! Status.

use super::*;

#[test]
fn status_parses_in_any_case_and_displays_lowercase() {
    for (raw, want) in [
        ("online", Status::Online),
        ("ONLINE", Status::Online),
        (" Degraded ", Status::Degraded),
        ("oFFline", Status::Offline),
    ] {
        assert_eq!(Status::parse(raw).unwrap(), want, "{raw}");
        assert_eq!(raw.parse::<Status>().unwrap(), want, "{raw}");
    }
    for st in Status::ALL {
        assert_eq!(Status::parse(&st.to_string()).unwrap(), st);
    }
    for bad in ["", "up", "ok", "down", "onlinex"] {
        assert_eq!(field_of(Status::parse(bad)), "status", "{bad:?}");
    }
}

#[test]
fn status_serde_is_lowercase_and_deserializes_in_any_case() {
    assert_eq!(
        serde_json::to_string(&Status::Degraded).unwrap(),
        "\"degraded\""
    );
    for st in Status::ALL {
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), st);
    }
    assert_eq!(
        serde_json::from_str::<Status>("\"Online\"").unwrap(),
        Status::Online
    );
    assert!(serde_json::from_str::<Status>("\"sleepy\"").is_err());
    assert!(serde_json::from_str::<Status>("1").is_err());
}
