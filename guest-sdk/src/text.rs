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
    // Not `str::to_ascii_lowercase`: the precompiled std has no SIMD, while
    // this loop, compiled with the operator, vectorises.
    let lower: Vec<u8> = bytes
        .iter()
        .map(|&b| b | (((b.wrapping_sub(b'A') < 26) as u8) << 5))
        .collect();
    // SAFETY: ASCII in, ASCII out.
    Cow::Owned(unsafe { String::from_utf8_unchecked(lower) })
}

/// The words of `text`, in order: runs of letters, digits (Unicode), `'`
/// and `_`; everything else separates them.
///
/// ```
/// let words: Vec<_> = wasmstream_guest::text::words("It's a wide-open, café_au_lait 42!").collect();
/// assert_eq!(words, ["It's", "a", "wide", "open", "café_au_lait", "42"]);
/// ```
///
/// ASCII text is classified 16 bytes a step (with Wasm SIMD in a guest),
/// and the words found from where word and non-word bytes meet, a few bit
/// operations a word.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    Words {
        text,
        next_block: 0,
        block: 0,
        edges: 0,
        inside: false,
        start: 0,
    }
}

struct Words<'a> {
    text: &'a str,
    /// Where the text not yet classified starts.
    next_block: usize,
    /// The block classified last: where it starts, and bit `i` of `edges`
    /// set where byte `block + i` starts or ends a word (not yet handed
    /// out).
    block: usize,
    edges: u32,
    /// Whether the last edge handed out started a word, and where.
    inside: bool,
    start: usize,
}

/// Whether an ASCII byte belongs to a word.
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'\'' || b == b'_'
}

/// For the 16 bytes at the start of `chunk`: bit `i` set when byte `i` is an
/// ASCII word byte, and whether all 16 are ASCII.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn classify(chunk: &[u8; 16]) -> (u16, bool) {
    use core::arch::wasm32::*;
    // SAFETY: 16 readable bytes; v128.load needs no alignment.
    let v = unsafe { v128_load(chunk.as_ptr().cast::<v128>()) };
    let ascii = u8x16_bitmask(v) == 0;
    let folded = v128_or(v, u8x16_splat(0x20));
    let alpha = u8x16_lt(u8x16_sub(folded, u8x16_splat(b'a')), u8x16_splat(26));
    let digit = u8x16_lt(u8x16_sub(v, u8x16_splat(b'0')), u8x16_splat(10));
    let marks = v128_or(
        u8x16_eq(v, u8x16_splat(b'\'')),
        u8x16_eq(v, u8x16_splat(b'_')),
    );
    (u8x16_bitmask(v128_or(v128_or(alpha, digit), marks)), ascii)
}

/// For the 16 bytes at the start of `chunk`: bit `i` set when byte `i` is an
/// ASCII word byte, and whether all 16 are ASCII (the same with SSE2, for
/// native builds such as the benchmarks' native side).
#[cfg(target_arch = "x86_64")]
fn classify(chunk: &[u8; 16]) -> (u16, bool) {
    use core::arch::x86_64::*;
    // Unsigned `x < n`: `min(x, n - 1) == x`.
    // SAFETY: SSE2 is part of x86_64; 16 readable bytes, loaded unaligned.
    unsafe {
        let below =
            |x: __m128i, n: u8| _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8((n - 1) as i8)), x);
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let ascii = _mm_movemask_epi8(v) == 0;
        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let alpha = below(_mm_sub_epi8(folded, _mm_set1_epi8(b'a' as i8)), 26);
        let digit = below(_mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8)), 10);
        let marks = _mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\'' as i8)),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8)),
        );
        let words = _mm_or_si128(_mm_or_si128(alpha, digit), marks);
        (_mm_movemask_epi8(words) as u16, ascii)
    }
}

/// For the 16 bytes at the start of `chunk`: bit `i` set when byte `i` is an
/// ASCII word byte, and whether all 16 are ASCII.
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
fn classify(chunk: &[u8; 16]) -> (u16, bool) {
    let mask = chunk
        .iter()
        .enumerate()
        .fold(0u16, |mask, (i, &b)| mask | ((word_byte(b) as u16) << i));
    (mask, chunk.iter().fold(0u8, |acc, &b| acc | b) < 0x80)
}

impl Words<'_> {
    /// Classifies the next block: 16 ASCII bytes at once (the text's last
    /// bytes padded with spaces), else one character.
    fn classify_next(&mut self) {
        let at = self.next_block;
        let text = self.text.as_bytes();
        let bytes = &text[at..];
        let (mask, ascii) = match (bytes.first_chunk::<16>(), text.last_chunk::<16>()) {
            (Some(chunk), _) => classify(chunk),
            // The last 16 bytes of the text, shifted so that the bytes
            // before `at` drop out and the end reads as spaces.
            (None, Some(last)) => {
                let (mask, ascii) = classify(last);
                (mask >> (16 - bytes.len()), ascii)
            }
            (None, None) => {
                let mut padded = [b' '; 16];
                // A loop, not a copy: a guest's `memcpy` of a few bytes
                // is a call into the runtime.
                for (to, from) in padded.iter_mut().zip(bytes) {
                    *to = *from;
                }
                classify(&padded)
            }
        };
        self.block = at;
        if ascii {
            // An edge where a byte's word-ness differs from the byte
            // before it (before the block: the state so far).
            let mask = u32::from(mask);
            self.edges = (mask ^ ((mask << 1) | u32::from(self.inside))) & 0xffff;
            self.next_block = at + 16;
        } else {
            let c = self.text[at..].chars().next().expect("at a char boundary");
            let word = match c.is_ascii() {
                true => word_byte(c as u8),
                false => c.is_alphanumeric(),
            };
            self.edges = u32::from(word != self.inside);
            self.next_block = at + c.len_utf8();
        }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.edges != 0 {
                let at = self.block + self.edges.trailing_zeros() as usize;
                self.edges &= self.edges - 1;
                self.inside = !self.inside;
                if self.inside {
                    self.start = at;
                    continue;
                }
                // SAFETY: edges fall on ASCII bytes, at the start of a
                // character, or at the end of the text: char boundaries.
                return Some(unsafe { self.text.get_unchecked(self.start..at) });
            }
            if self.next_block >= self.text.len() {
                // A word running to the end of the text ends there (the
                // padding of a short last block ended it already).
                if self.inside {
                    self.inside = false;
                    return Some(&self.text[self.start..]);
                }
                return None;
            }
            self.classify_next();
        }
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

#[cfg(test)]
mod tests {
    /// The JavaScript and C SDKs find words with a table of the
    /// characters beyond ASCII that `char::is_alphanumeric` accepts
    /// (neither language has Unicode classes to hand): the tables must be
    /// Rust's, or their operators would split words differently.
    #[test]
    fn the_sdk_tables_match_rust() {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
            if c.is_alphanumeric() {
                match ranges.last_mut() {
                    Some(r) if r.1 + 1 == c as u32 => r.1 = c as u32,
                    _ => ranges.push((c as u32, c as u32)),
                }
            }
        }
        let expected: Vec<u32> = ranges.iter().flat_map(|&(a, b)| [a, b]).collect();
        for (file, open, close) in [
            ("js/unicode.js", '[', ']'),
            ("c/wasmstream_unicode.h", '{', '}'),
        ] {
            let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let list = &text[text.find(open).unwrap() + 1..text.rfind(close).unwrap()];
            let numbers: Vec<u32> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().unwrap())
                .collect();
            assert!(
                numbers == expected,
                "{path} is out of date with this Rust's Unicode tables; the flattened ranges are:\n{}",
                expected
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
    }

    use super::words;

    /// The plain definition, one character at a time.
    fn reference(text: &str) -> Vec<&str> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '_'))
            .filter(|w| !w.is_empty())
            .collect()
    }

    #[test]
    fn words_match_the_plain_definition_across_chunk_edges() {
        let samples = [
            "",
            "   ",
            "one",
            "exactly-sixteen!",
            "a fairly long line of plain ASCII words that spans several sixteen byte chunks, with punctuation.",
            "wordsthatrunacrossthechunkboundarywithoutanyspaces and_then some",
            "mixed ünïcode wörds straddle chunk edges: naïve café déjà-vu 東京 tokyo",
            "ends with a word_",
            "'quoted' and it's 42_000 x",
            "a tail that ends in ü",
            "trailing separators here...   ",
        ];
        for text in samples {
            for start in 0..text.len().min(20) {
                if text.is_char_boundary(start) {
                    let text = &text[start..];
                    assert_eq!(
                        words(text).collect::<Vec<_>>(),
                        reference(text),
                        "on {text:?}"
                    );
                }
            }
        }
    }
}
