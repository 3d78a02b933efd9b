//! The units a manifest writes durations and sizes in.

use std::time::Duration;

/// Parses a duration the way `humantime` reads one: `"10ms"`, `"1.5s"`,
/// `"2m"`, `"1h"`, or several parts (`"1m 30s"`).
///
/// ```
/// use std::time::Duration;
/// use wasmstream::manifest::units::duration;
/// assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(duration("soon").is_err());
/// ```
pub fn duration(text: &str) -> Result<Duration, String> {
    use humantime::DurationError as Why;
    humantime::parse_duration(text).map_err(|why| match why {
        Why::UnknownUnit { unit, .. } => {
            format!("{text:?} has an unknown unit `{unit}`; use ms, s, m or h, e.g. \"500ms\"")
        }
        Why::NumberOverflow => format!("{text:?} is too long"),
        Why::Empty => "a duration must not be empty; e.g. \"500ms\"".to_owned(),
        Why::NumberExpected(_) | Why::InvalidCharacter(_) => {
            format!("{text:?} is not a duration: write a number and a unit, e.g. \"500ms\"")
        }
    })
}

/// Writes a duration the way a manifest would: `"1m"`, `"90s"`,
/// `"1500ms"` (the largest unit that writes it exactly).
///
/// ```
/// use std::time::Duration;
/// use wasmstream::manifest::units::show_duration;
/// assert_eq!(show_duration(Duration::from_millis(90_000)), "90s");
/// assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn show_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0 => "0ms".to_owned(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

/// Parses `"64MiB"`, `"512KiB"`, `"1GiB"` or a plain number of bytes.
///
/// ```
/// use wasmstream::manifest::units::bytes;
/// assert_eq!(bytes("64MiB"), Ok(64 << 20));
/// assert!(bytes("64 apples").is_err());
/// ```
pub fn bytes(text: &str) -> Result<usize, String> {
    let (number, unit) = split(text)?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit `{unit}`; use KiB, MiB or GiB, e.g. \"64MiB\""
            ));
        }
    };
    number
        .checked_mul(scale)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn split(text: &str) -> Result<(u64, &str), String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err(format!("{text:?} does not start with a whole number"));
    }
    let number = text[..digits]
        .parse::<u64>()
        .map_err(|e| format!("{text:?}: {e}"))?;
    Ok((number, text[digits..].trim()))
}
