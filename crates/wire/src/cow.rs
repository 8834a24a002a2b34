//! Strings that borrow from the input when they can. serde's own `Cow<str>` always
//! copies when it sits inside an `Option` or a `Vec`; these keep the borrow.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// A string borrowed from the input, or copied when JSON escapes had to be undone.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(Text).map(CowStr)
    }
}

/// An optional string, borrowed where it can be.
pub(crate) fn opt_cow<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Option::<CowStr<'a>>::deserialize(d).map(|o| o.map(|c| c.0))
}

/// An optional list of strings, each borrowed where it can be.
pub(crate) fn opt_vec_cow<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Cow<'a, str>>>, D::Error> {
    Option::<Vec<CowStr<'a>>>::deserialize(d)
        .map(|o| o.map(|v| v.into_iter().map(|c| c.0).collect()))
}
