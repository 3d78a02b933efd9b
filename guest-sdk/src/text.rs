//! Fast text helpers for record values.
//!
//! Inside a Wasm sandbox every loop iteration also checks the CPU budget, so
//! byte-at-a-time loops cost about twice what they cost natively. These
//! helpers keep the per-byte work in branch-free loops that compile to
//! vector instructions, and fall back to full Unicode handling only for
//! text that needs it. They behave exactly like the obvious `std` code.

use std::borrow::Cow;

use crate::Error;

/// Whether every byte is ASCII. Branch-free, so it vectorises.
///
/// ```
/// assert!(wasmstream_guest::text::is_ascii(b"plain text"));
/// assert!(!wasmstream_guest::text::is_ascii("café".as_bytes()));
/// ```
pub fn is_ascii(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, &b| acc | b) < 0x80
}

/// The bytes as UTF-8 text, or an error saying they are not.
///
/// ```
/// assert_eq!(wasmstream_guest::text::as_str(b"ok").unwrap(), "ok");
/// assert!(wasmstream_guest::text::as_str(&[0xff]).is_err());
/// ```
pub fn as_str(bytes: &[u8]) -> Result<&str, Error> {
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|e| Error::new(format!("not UTF-8: {e}")))
}

/// The text lowercased (Unicode-aware), borrowed when it already is.
///
/// ```
/// use wasmstream_guest::text::lowercase;
/// assert_eq!(lowercase("Wasm STREAM"), "wasm stream");
/// assert_eq!(lowercase("ÜBER"), "über");
/// assert!(matches!(lowercase("quiet"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn lowercase(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !is_ascii(bytes) {
        return Cow::Owned(text.to_lowercase());
    }
    // An OR over byte lanes (not a count, which widens the lanes) so the loop
    // takes 16 bytes a step.
    let upper = bytes
        .iter()
        .fold(0u8, |any, &b| any | (b.wrapping_sub(b'A') < 26) as u8);
    if upper == 0 {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.to_ascii_lowercase())
}

/// The words of `text`, in order: runs of letters, digits (Unicode), `'`
/// and `_`; everything else separates them.
///
/// ```
/// let words: Vec<_> = wasmstream_guest::text::words("It's a wide-open, café_au_lait 42!").collect();
/// assert_eq!(words, ["It's", "a", "wide", "open", "café_au_lait", "42"]);
/// ```
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    Words { text, at: 0 }
}

struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl Words<'_> {
    /// Whether the character starting at byte `i` is a word character, and
    /// its length in bytes.
    fn word_char(&self, i: usize) -> (bool, usize) {
        let b = self.text.as_bytes()[i];
        if b < 0x80 {
            return (b.is_ascii_alphanumeric() || b == b'\'' || b == b'_', 1);
        }
        let c = self.text[i..].chars().next().expect("i is a char boundary");
        (c.is_alphanumeric(), c.len_utf8())
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let len = self.text.len();
        while self.at < len {
            let (word, width) = self.word_char(self.at);
            if word {
                break;
            }
            self.at += width;
        }
        if self.at >= len {
            return None;
        }
        let start = self.at;
        while self.at < len {
            let (word, width) = self.word_char(self.at);
            if !word {
                break;
            }
            self.at += width;
        }
        Some(&self.text[start..self.at])
    }
}

/// Parses a decimal integer, allowing surrounding ASCII whitespace and a
/// sign, rejecting overflow.
///
/// ```
/// use wasmstream_guest::text::parse_i64;
/// assert_eq!(parse_i64(b" -42\n").unwrap(), -42);
/// assert!(parse_i64(b"4x").unwrap_err().to_string().contains("not an integer"));
/// assert!(parse_i64(b"99999999999999999999").is_err());
/// ```
pub fn parse_i64(bytes: &[u8]) -> Result<i64, Error> {
    let invalid = || {
        Error::new(format!(
            "{:?} is not an integer",
            String::from_utf8_lossy(bytes)
        ))
    };
    let trimmed = bytes.trim_ascii();
    let (negative, digits) = match trimmed.first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(invalid());
    }
    let mut value: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(invalid());
        }
        value = value
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(digit as i64)
                } else {
                    v.checked_add(digit as i64)
                }
            })
            .ok_or_else(invalid)?;
    }
    Ok(value)
}

/// Appends `value` in decimal to `out`.
///
/// ```
/// let mut out = Vec::new();
/// wasmstream_guest::text::write_i64(-1207, &mut out);
/// assert_eq!(out, b"-1207");
/// ```
pub fn write_i64(value: i64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}
