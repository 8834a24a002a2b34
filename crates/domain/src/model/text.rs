//! The rules of free text: trimmed, bounded, no control or invisible format characters.

use crate::error::ValidationError;

/// Whether `c` is an invisible character that changes how the text around it is shown:
/// bidirectional embeddings, overrides, isolates and marks (U+202A–U+202E,
/// U+2066–U+2069, U+200E/U+200F, U+061C), zero-width characters (U+200B–U+200D,
/// U+2060–U+2064, U+FEFF), line and paragraph separators (U+2028/U+2029), the soft
/// hyphen and other format controls. Names, tags and reasons refuse them (display
/// spoofing); pretty logs show them escaped.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// The rule of free text fields (a name, a version): trimmed, 1..=`max` characters, no
/// control or invisible format characters ([`is_format_char`]); errors name `field`.
pub(super) fn trimmed_text(raw: &str, field: &str, max: usize) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let chars = s.chars().count();
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
