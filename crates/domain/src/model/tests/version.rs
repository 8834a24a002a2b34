//! Version.

use super::*;

#[test]
fn version_is_trimmed_one_to_fifty_characters_without_controls() {
    assert_eq!(Version::parse(" 0.9.0 ").unwrap().as_str(), "0.9.0");
    assert!(Version::parse(&"v".repeat(50)).is_ok());
    let err = Version::parse(&"v".repeat(51)).unwrap_err();
    assert_eq!(err.field, "version");
    assert!(err.message.contains("got 51"), "{err}");
    assert!(
        Version::parse(&"é".repeat(50)).is_ok(),
        "characters, not bytes"
    );
    assert_eq!(field_of(Version::parse(&"é".repeat(51))), "version");
    assert_eq!(field_of(Version::parse("")), "version");
    assert_eq!(
        Version::parse("1.0\n").unwrap().as_str(),
        "1.0",
        "trailing newline is trimmed"
    );
    assert_eq!(field_of(Version::parse("1.0\n1")), "version");
    assert_eq!(field_of(Version::parse("1.\u{1b}[31m0")), "version");
}
