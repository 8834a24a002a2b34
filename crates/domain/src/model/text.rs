//! The rules of free text: trimmed, bounded, no control or invisible format characters.

use crate::error::ValidationError;

/// Whether `c` is an invisible character that changes how the text around it is shown:
/// bidirectional embeddings, overrides, isolates and marks, zero-width characters, line
/// and paragraph separators, the soft hyphen and other format controls (the wire
/// crate's list, the one source). Names, tags and reasons refuse them (display spoofing);
/// pretty logs show them escaped.
pub use federation_wire::rules::is_format_char;

/// [`is_format_char`]'s characters as the inside of a regular-expression class.
macro_rules! format_chars {
    () => {
        r"\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    };
}

/// The free-text rule (names, tags, reasons) as a JSON Schema pattern: something
/// printable, no control characters and none of [`is_format_char`]'s invisible ones.
pub const TEXT_PATTERN: &str = concat!(
    "^",
    federation_wire::blank!(),
    // The first character after the blanks: not blank (every character `str::trim`
    // removes, from the one list), not a control, not invisible.
    r"*[^\x00-\x20\x7f-\xa0",
    federation_wire::blank_chars!(),
    format_chars!(),
    // The rest: no control or invisible character (blanks inside are text; blanks at
    // the end are trimmed).
    r"][^\x00-\x1f\x7f-\x9f",
    format_chars!(),
    "]*",
    federation_wire::blank!(),
    "*$"
);

/// Text with none of [`is_format_char`]'s invisible characters (a heartbeat's reasons,
/// whose control characters are dropped rather than refused), as a JSON Schema pattern.
pub const NO_FORMAT_CHARS_PATTERN: &str = concat!("^[^", format_chars!(), "]*$");

/// The rule of free text fields (a name, a version): at most `max` characters as given
/// (the bound the API's description states, blanks around included), trimmed, not
/// empty, no control or invisible format characters ([`is_format_char`]); errors name
/// `field`.
pub(super) fn trimmed_text(raw: &str, field: &str, max: usize) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let chars = raw.chars().count();
    if chars > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters (got {chars})"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    refuse_format_chars(s, field)?;
    Ok(s.to_owned())
}

/// Refuses text with an invisible format character ([`is_format_char`]), naming `field`
/// and the character: the one rule of names, versions and hub URLs.
pub(super) fn refuse_format_chars(s: &str, field: &str) -> Result<(), ValidationError> {
    match s.chars().find(|c| is_format_char(*c)) {
        Some(c) => Err(ValidationError::new(
            field,
            format!(
                "must not contain invisible formatting characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// A field a request must carry, or an error naming it.
pub(super) fn required<'a>(
    value: &'a Option<String>,
    field: &str,
) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(field, "is required"))
}
