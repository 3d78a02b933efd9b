//! Reading one field of a JSON value without building a document tree.

use std::borrow::Cow;

use crate::Error;

/// Deepest nesting accepted; deeper values are rejected rather than risking
/// the operator's stack.
const MAX_DEPTH: usize = 128;

/// The text of one field of a JSON object, or `None` when the object has
/// no such field. `path` names a top-level field (`"status"`), or a field
/// inside nested objects with dots (`"bid.auction"`; a key that itself
/// holds the dot matches too, and the later one in the value wins). Strings are returned unescaped; numbers,
/// `true`, `false` and `null` as written; objects and arrays as `""`. A
/// field named twice counts as its last value, as in JavaScript and Python.
///
/// The whole value is checked to be valid JSON (RFC 8259) whose top level is
/// an object, but nothing is built: other fields are skipped in place, 16
/// bytes a step inside strings. That makes this several times cheaper than
/// parsing the value, which matters for filters. To read several fields,
/// [`fields`] reads them all in one pass.
///
/// ```
/// use wasmstream_guest::json::field;
///
/// let line = br#"{"status": 500, "path": "/a\"b", "nested": {"x": [1, 2], "y": true}}"#;
/// assert_eq!(field(line, "status").unwrap().as_deref(), Some("500"));
/// assert_eq!(field(line, "path").unwrap().as_deref(), Some("/a\"b"));
/// assert_eq!(field(line, "nested.y").unwrap().as_deref(), Some("true"));
/// assert_eq!(field(line, "user").unwrap(), None);
/// assert!(field(b"[1]", "status").is_err());
/// assert!(field(br#"{"status": 500"#, "status").is_err());
/// ```
pub fn field<'a>(json: &'a [u8], path: &str) -> Result<Option<Cow<'a, str>>, Error> {
    let [found] = fields(json, [path])?;
    Ok(found)
}

/// Several fields of a JSON object, read in one pass: each as [`field`]
/// would return it, in the order of `paths`.
///
/// ```
/// use wasmstream_guest::json::fields;
///
/// let bid = br#"{"bid": {"auction": 1007, "price": 42}, "ts": 1700000000000}"#;
/// let [auction, price, ts, missing] = fields(bid, ["bid.auction", "bid.price", "ts", "bid.bidder"]).unwrap();
/// assert_eq!(auction.as_deref(), Some("1007"));
/// assert_eq!(price.as_deref(), Some("42"));
/// assert_eq!(ts.as_deref(), Some("1700000000000"));
/// assert_eq!(missing, None);
/// ```
pub fn fields<'a, const N: usize>(
    json: &'a [u8],
    paths: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], Error> {
    let text = crate::text::as_str(json)
        .map_err(|e| Error::new(format!("value is not a JSON object: {e}")))?;
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let mut found = [const { None }; N];
    let wanted: Vec<(usize, &str)> = paths.into_iter().enumerate().collect();
    p.top_level(&wanted, &mut found)
        .map_err(|e| Error::new(format!("value is not a JSON object: {e}")))?;
    Ok(found)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

type Parse<T> = Result<T, String>;

/// Whether a byte ends a string's plain run: `"`, `\\` or a control
/// character.
fn special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// For 16 bytes: bit `i` set when byte `i` is [`special`].
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn special_bytes(chunk: &[u8; 16]) -> u16 {
    use core::arch::wasm32::*;
    // SAFETY: 16 readable bytes; v128.load needs no alignment.
    let v = unsafe { v128_load(chunk.as_ptr().cast::<v128>()) };
    let quote = u8x16_eq(v, u8x16_splat(b'"'));
    let backslash = u8x16_eq(v, u8x16_splat(b'\\'));
    let control = u8x16_lt(v, u8x16_splat(0x20));
    u8x16_bitmask(v128_or(v128_or(quote, backslash), control))
}

/// For 16 bytes: bit `i` set when byte `i` is [`special`] (the same with
/// SSE2, for native builds such as the benchmarks' native side).
#[cfg(target_arch = "x86_64")]
fn special_bytes(chunk: &[u8; 16]) -> u16 {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; 16 readable bytes, loaded unaligned.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v < 0x20`: `min(v, 0x1f) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u16
    }
}

/// For 16 bytes: bit `i` set when byte `i` is [`special`].
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
fn special_bytes(chunk: &[u8; 16]) -> u16 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |mask, (i, &b)| mask | (u16::from(special(b)) << i))
}

impl<'a> Parser<'a> {
    fn error<T>(&self, expected: &str) -> Parse<T> {
        match self.bytes.get(self.at) {
            Some(&b) if b.is_ascii_graphic() => Err(format!(
                "expected {expected} at byte {}, found `{}`",
                self.at, b as char
            )),
            Some(&b) => Err(format!(
                "expected {expected} at byte {}, found byte 0x{b:02x}",
                self.at
            )),
            None => Err(format!(
                "expected {expected} at byte {}, found the end",
                self.at
            )),
        }
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8, expected: &str) -> Parse<()> {
        self.whitespace();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            self.error(expected)
        }
    }

    /// The whole value: an object, and nothing after it.
    fn top_level(
        &mut self,
        wanted: &[(usize, &str)],
        found: &mut [Option<Cow<'a, str>>],
    ) -> Parse<()> {
        self.whitespace();
        if self.bytes.get(self.at) != Some(&b'{') {
            return self.error("`{`");
        }
        self.object(wanted, found)?;
        self.whitespace();
        if self.at != self.bytes.len() {
            return self.error("the end of the value");
        }
        Ok(())
    }

    /// An object (at its `{`), storing in `found[i]` the value at each
    /// wanted `(i, path)`, path relative to this object.
    fn object(
        &mut self,
        wanted: &[(usize, &str)],
        found: &mut [Option<Cow<'a, str>>],
    ) -> Parse<()> {
        self.at += 1;
        self.whitespace();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            let key = self.string()?;
            self.eat(b':', "`:`")?;
            self.whitespace();
            let mut exact = wanted.iter().filter(|(_, path)| *path == key).peekable();
            let inner: Vec<(usize, &str)> = wanted
                .iter()
                .filter_map(|&(i, path)| {
                    let rest = path.strip_prefix(key.as_ref())?.strip_prefix('.')?;
                    Some((i, rest))
                })
                .collect();
            // A later object of that name replaces the earlier one,
            // whatever it holds.
            inner.iter().for_each(|&(i, _)| found[i] = None);
            if !inner.is_empty() && self.bytes.get(self.at) == Some(&b'{') {
                exact.for_each(|&(i, _)| found[i] = Some(Cow::Borrowed("")));
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!(
                        "nesting deeper than {MAX_DEPTH} at byte {}",
                        self.at
                    ));
                }
                self.object(&inner, found)?;
                self.depth -= 1;
            } else if exact.peek().is_some() {
                let value = self.scalar()?;
                exact.for_each(|&(i, _)| found[i] = Some(value.clone()));
            } else {
                self.value()?;
            }
            self.whitespace();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return self.error("`,` or `}`"),
            }
        }
    }

    /// A value rendered as text (see [`field`]).
    fn scalar(&mut self) -> Parse<Cow<'a, str>> {
        let start = self.at;
        match self.bytes.get(self.at) {
            Some(b'"') => self.string(),
            Some(b'{' | b'[') => self.value().map(|()| Cow::Borrowed("")),
            _ => {
                self.value()?;
                Ok(Cow::Borrowed(&self.text[start..self.at]))
            }
        }
    }

    /// Skips one value, checking it.
    fn value(&mut self) -> Parse<()> {
        match self.bytes.get(self.at) {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.container(b'}', true),
            Some(b'[') => self.container(b']', false),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.error("a JSON value"),
        }
    }

    fn container(&mut self, close: u8, object: bool) -> Parse<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} at byte {}",
                self.at
            ));
        }
        self.at += 1;
        self.whitespace();
        if self.bytes.get(self.at) == Some(&close) {
            self.at += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            if object {
                self.string()?;
                self.eat(b':', "`:`")?;
                self.whitespace();
            }
            self.value()?;
            self.whitespace();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(&b) if b == close => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return self.error(if object { "`,` or `}`" } else { "`,` or `]`" }),
            }
        }
    }

    fn literal(&mut self, word: &str) -> Parse<()> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            self.error(&format!("`{word}`"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Parse<()> {
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.error("a digit"),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return self.error("a digit after `.`");
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return self.error("a digit in the exponent");
            }
        }
        Ok(())
    }

    /// A string, unescaped; borrowed when it has no escapes.
    fn string(&mut self) -> Parse<Cow<'a, str>> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return self.error("a string");
        }
        self.at += 1;
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            self.skip_plain();
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    let tail = &self.text[run..self.at];
                    self.at += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                Some(b'\\') => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    let c = self.escape()?;
                    owned.as_mut().expect("just set").push(c);
                    run = self.at;
                }
                Some(_) => return self.error("no control characters in a string"),
                None => return self.error("`\"` closing the string"),
            }
        }
    }

    /// Moves past bytes that need no attention inside a string: anything
    /// but `"`, `\` and control characters. Checks 16 bytes a step with a
    /// branch-free test that compiles to vector instructions.
    fn skip_plain(&mut self) {
        while let Some(chunk) = self
            .bytes
            .get(self.at..)
            .and_then(<[u8]>::first_chunk::<16>)
        {
            let stops = special_bytes(chunk);
            if stops != 0 {
                self.at += stops.trailing_zeros() as usize;
                return;
            }
            self.at += 16;
        }
        while self.bytes.get(self.at).is_some_and(|&b| !special(b)) {
            self.at += 1;
        }
    }

    fn escape(&mut self) -> Parse<char> {
        let Some(&b) = self.bytes.get(self.at) else {
            return self.error("an escape");
        };
        self.at += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&high) {
                    if !self.bytes[self.at..].starts_with(b"\\u") {
                        return self.error("a low surrogate after a high one");
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(format!("invalid low surrogate before byte {}", self.at));
                    }
                    0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                } else {
                    high
                };
                char::from_u32(code)
                    .ok_or_else(|| format!("lone surrogate before byte {}", self.at))?
            }
            _ => {
                self.at -= 1;
                return self.error("a valid escape");
            }
        })
    }

    fn hex4(&mut self) -> Parse<u32> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            return self.error("four hex digits");
        };
        let mut value = 0;
        for &d in digits {
            let Some(v) = (d as char).to_digit(16) else {
                return self.error("four hex digits");
            };
            value = value * 16 + v;
        }
        self.at += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::{field, fields};

    #[test]
    fn nested_paths_and_several_fields_in_one_pass_agree_with_serde_json() {
        let json = r#"{"Bid": {"auction": 1007, "price": {"cents": 4200}, "tags": [1]},
            "ts": 17, "a": {"b": "nested"}, "Bid2": 3}"#;
        let paths = [
            "Bid.auction",
            "Bid.price.cents",
            "ts",
            "Bid",
            "Bid.tags",
            "Bid.none",
            "a.b",
            "Bid2",
            "none.deeper",
        ];
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let reference = |path: &str| -> Option<String> {
            if let Some(v) = value.get(path) {
                return Some(render(v));
            }
            let mut at = &value;
            for part in path.split('.') {
                at = at.get(part)?;
            }
            Some(render(at))
        };
        let together = fields(json.as_bytes(), paths).unwrap();
        for (path, got) in paths.iter().zip(together) {
            assert_eq!(got.as_deref().map(str::to_owned), reference(path), "{path}");
            assert_eq!(field(json.as_bytes(), path).unwrap(), got, "{path} alone");
        }
        // A path through something that is not an object finds nothing,
        // and the value is still checked whole.
        assert_eq!(field(br#"{"a": [1], "b": 2}"#, "a.x").unwrap(), None);
        // A key holding a dot is found by its name too.
        assert_eq!(
            field(br#"{"a.b": 1}"#, "a.b").unwrap().as_deref(),
            Some("1")
        );
        assert!(fields(br#"{"a": {"b": 1}, "c": tru}"#, ["a.b"]).is_err());
        // A field named twice is its last value, on the way down too.
        for (json, b) in [
            (r#"{"a": {"b": 1}, "a": 2}"#, None),
            (r#"{"a": {"b": 1}, "a": {"x": 2}}"#, None),
            (r#"{"a": 2, "a": {"b": 1}}"#, Some("1")),
            (r#"{"a": {"b": 1}, "a.b": 5}"#, Some("5")),
            (r#"{"a.b": 5, "a": {"b": 1}}"#, Some("1")),
        ] {
            assert_eq!(
                field(json.as_bytes(), "a.b").unwrap().as_deref(),
                b,
                "{json}"
            );
        }
    }

    fn render(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => String::new(),
            other => other.to_string(),
        }
    }

    /// What serde_json says the field is, rendered the way `field` does.
    fn reference(json: &str, name: &str) -> Result<Option<String>, ()> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(drop)?;
        let object = value.as_object().ok_or(())?;
        Ok(object.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => String::new(),
            other => other.to_string(),
        }))
    }

    /// Numbers are returned as written, and serde renders them its own way;
    /// compare numeric text by value.
    fn by_value(text: String) -> String {
        match text.parse::<f64>() {
            Ok(n) if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                format!("number {n}")
            }
            _ => text,
        }
    }

    #[test]
    fn agrees_with_serde_json_on_valid_and_invalid_values() {
        let cases = [
            r#"{"status":"500"}"#,
            r#"{"status":500,"x":1}"#,
            r#" { "a" : [1, {"b": [true, false, null]}], "status" : -0.5e+3 } "#,
            r#"{"status":"tab\there \"quoted\" \\ \/ \u00e9 \ud83d\ude00","long":"0123456789abcdefghijklmnopqrstuvwxyz"}"#,
            r#"{"st\u0061tus":"escaped key"}"#,
            r#"{}"#,
            r#"{"status":{"nested":1}}"#,
            r#"{"status":[1,2]}"#,
            r#"{"status":true}"#,
            r#"{"status":null}"#,
            r#"{"status":"first","status":"second"}"#,
            "not json",
            r#"[1,2]"#,
            r#"{"status":500"#,
            r#"{"status":500,}"#,
            r#"{"status":01}"#,
            r#"{"status":1.}"#,
            r#"{"status":"unterminated}"#,
            "{\"status\":\"control\u{1}char\"}",
            r#"{"status":"\x"}"#,
            r#"{"status":"\ud800"}"#,
            r#"{"status":tru}"#,
            r#"{"a":[1,2,]}"#,
            r#"{"a":1} trailing"#,
            r#"{"a" 1}"#,
            r#"{1:2}"#,
        ];
        for json in cases {
            let ours = field(json.as_bytes(), "status")
                .map(|f| f.map(|c| by_value(c.into_owned())))
                .map_err(drop);
            let expected = reference(json, "status").map(|f| f.map(by_value));
            assert_eq!(ours, expected, "on {json}");
        }
    }

    #[test]
    fn errors_say_where() {
        let error = field(b"not json", "status").unwrap_err().to_string();
        assert_eq!(
            error,
            "value is not a JSON object: expected `{` at byte 0, found `n`"
        );
        let error = field(br#"{"a":1"#, "a").unwrap_err().to_string();
        assert_eq!(
            error,
            "value is not a JSON object: expected `,` or `}` at byte 6, found the end"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            field(deep.as_bytes(), "status")
                .unwrap_err()
                .to_string()
                .contains("nesting deeper than")
        );
    }
}
