//! Reading JSON values without building a whole document tree.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::Error;

/// The text of one top-level field of a JSON object, or `None` when the
/// object has no such field. Strings are returned unquoted; numbers, `true`,
/// `false` and `null` as written. Other fields are skipped without being
/// built, which makes this much cheaper than parsing the whole value.
///
/// ```
/// use wasmstream_guest::json::field;
///
/// let line = br#"{"status": 500, "path": "/a", "nested": {"x": [1, 2]}}"#;
/// assert_eq!(field(line, "status").unwrap().as_deref(), Some("500"));
/// assert_eq!(field(line, "path").unwrap().as_deref(), Some("/a"));
/// assert_eq!(field(line, "user").unwrap(), None);
/// assert!(field(b"[1]", "status").is_err());
/// ```
pub fn field<'a>(json: &'a [u8], name: &str) -> Result<Option<Cow<'a, str>>, Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = de
        .deserialize_map(FieldVisitor { name })
        .map_err(|e| Error::new(format!("value is not a JSON object: {e}")))?;
    de.end()
        .map_err(|e| Error::new(format!("value is not a JSON object: {e}")))?;
    Ok(found)
}

struct FieldVisitor<'n> {
    name: &'n str,
}

impl<'de> Visitor<'de> for FieldVisitor<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if found.is_none() && key == self.name {
                found = Some(map.next_value::<Scalar<'de>>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A JSON scalar rendered as text; objects and arrays are rendered as `""`
/// after being skipped.
struct Scalar<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar(Cow::Borrowed("null")))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar(Cow::Borrowed("")))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar(Cow::Borrowed("")))
    }
}
