//! JSON lines: a record's key and event time read from fields of its
//! line, a JSON object, for a directory source that names them
//! (`key_field`, `timestamp_field`), as Flink and Arroyo sources declare
//! their event-time column, so that no map stage is needed just for that.

use serde_json::Value;

use crate::plan::LineFields;

/// The key and event time that `fields` name in `line`, or why the line
/// has none.
pub fn key_and_time(
    fields: &LineFields,
    line: &[u8],
) -> Result<(Option<Vec<u8>>, Option<i64>), String> {
    let object: Value = serde_json::from_slice(line)
        .map_err(|e| format!("the line is not a JSON object ({e}): {}", quoted(line)))?;
    if !object.is_object() {
        return Err(format!("the line is not a JSON object: {}", quoted(line)));
    }
    let key = match &fields.key {
        Some(path) => Some(match find(&object, path)? {
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }),
        None => None,
    };
    let time = match &fields.timestamp {
        Some(path) => {
            let value = find(&object, path)?;
            Some(value.as_i64().ok_or_else(|| {
                format!(
                    "field `{path}` is {value}, not an integer of milliseconds since the Unix epoch"
                )
            })?)
        }
        None => None,
    };
    Ok((key, time))
}

/// The field at `path` (names separated by dots) of `object`.
fn find<'a>(object: &'a Value, path: &str) -> Result<&'a Value, String> {
    path.split('.')
        .try_fold(object, |value, name| value.get(name))
        .ok_or_else(|| format!("the line has no field `{path}`"))
}

/// The line as an error quotes it: its first 200 bytes.
fn quoted(line: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
    let more = if line.len() > 200 { "..." } else { "" };
    format!("{shown:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(key: Option<&str>, timestamp: Option<&str>) -> LineFields {
        LineFields {
            key: key.map(str::to_owned),
            timestamp: timestamp.map(str::to_owned),
        }
    }

    #[test]
    fn keys_and_times_come_from_fields_nested_or_not() {
        let both = fields(Some("user.id"), Some("ts"));
        let line = br#"{"user":{"id":"u1"},"ts":1700000000000}"#;
        assert_eq!(
            key_and_time(&both, line),
            Ok((Some(b"u1".to_vec()), Some(1_700_000_000_000)))
        );
        let numeric = fields(Some("n"), None);
        assert_eq!(
            key_and_time(&numeric, br#"{"n":42}"#),
            Ok((Some(b"42".to_vec()), None))
        );
    }

    #[test]
    fn a_line_without_the_field_or_not_an_object_is_refused_by_name() {
        let both = fields(Some("user"), Some("ts"));
        let missing = key_and_time(&both, br#"{"ts":1}"#).unwrap_err();
        assert!(missing.contains("no field `user`"), "{missing}");
        let text = key_and_time(&both, b"hello").unwrap_err();
        assert!(
            text.contains("not a JSON object") && text.contains("hello"),
            "{text}"
        );
        let late = key_and_time(&both, br#"{"user":"u","ts":"soon"}"#).unwrap_err();
        assert!(late.contains("`ts` is \"soon\", not an integer"), "{late}");
    }
}
