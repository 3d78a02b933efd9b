//! Records as one line of text each: what the stdout and files sinks
//! write and what messages quote, every byte accounted for.

use super::RecordRef;

/// Renders a record the way Spark prints a pair: `(key,value)`, or just the
/// value when there is no key, then its headers as ` name=value` (an
/// event-time window's bounds, for one). Each part is [`escape`]d, so the
/// line says exactly which bytes the record holds.
pub fn display(record: &RecordRef<'_>) -> String {
    let mut text = Vec::with_capacity(record.value.len() + 16);
    write_display(&mut text, record).expect("writing to memory");
    String::from_utf8(text).expect("escaped text is UTF-8")
}

/// Writes [`display`]'s text of `record` to `out`, without building it
/// first: sinks write every record this way.
pub fn write_display(out: &mut impl std::io::Write, record: &RecordRef<'_>) -> std::io::Result<()> {
    let value = escape(record.value);
    match record.key {
        Some(key) => {
            out.write_all(b"(")?;
            out.write_all(escape(key).as_bytes())?;
            out.write_all(b",")?;
            out.write_all(value.as_bytes())?;
            out.write_all(b")")?;
        }
        None => out.write_all(value.as_bytes())?,
    }
    for (name, value) in record.headers.iter() {
        out.write_all(b" ")?;
        out.write_all(escape(name).as_bytes())?;
        out.write_all(b"=")?;
        out.write_all(escape(value).as_bytes())?;
    }
    Ok(())
}

/// `bytes` as one line of text that reads back to exactly them: UTF-8 as
/// it is, but `\` as `\\`, a newline as `\n` and a carriage return as
/// `\r`, and each byte that is not UTF-8 as `\xNN`.
///
/// ```
/// use wasmstream::record::escape;
/// assert_eq!(escape(b"plain text"), "plain text");
/// assert_eq!(escape(b"caf\xe9\r\n\\"), r"caf\xe9\r\n\\");
/// ```
pub fn escape(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write;
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.contains(['\\', '\n', '\r'])
    {
        return text.into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            write!(out, "\\x{byte:02x}").expect("writing to a String");
        }
    }
    out.into()
}
