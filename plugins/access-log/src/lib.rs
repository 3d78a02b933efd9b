//! Map: parses a web server's access-log line (the common log format) and
//! keys it by one of its fields, with the request's time as the record's
//! event time and `1` as its value, ready to be counted:
//!
//! ```text
//! 10.0.0.7 - - [21/Nov/2026:10:00:05 +0000] "GET /cart HTTP/1.1" 200 512
//!   -> key "10.0.0.7" (key = "ip"), value "1", time 2026-11-21T10:00:05Z
//! ```
//!
//! Params: `key = "ip"` (default), `"path"`, `"method"` or `"status"`.
//! A line that does not parse fails the batch naming it, so with
//! `on_error = "dead-letter"` it goes to the dead letters instead.

use wasmstream_guest::text::as_str;
use wasmstream_guest::{Error, Map, Params, Record, export_map};

#[derive(Clone, Copy)]
enum Field {
    Ip,
    Path,
    Method,
    Status,
}

struct AccessLog {
    key: Field,
}

/// The parts of one line.
struct Line<'a> {
    ip: &'a str,
    time: i64,
    method: &'a str,
    path: &'a str,
    status: &'a str,
}

fn parse(line: &str) -> Option<Line<'_>> {
    let (ip, rest) = line.split_once(' ')?;
    let (_, rest) = rest.split_once('[')?;
    let (time, rest) = rest.split_once(']')?;
    let (_, rest) = rest.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut request = request.split(' ');
    let (method, path) = (request.next()?, request.next()?);
    let status = rest.split_whitespace().next()?;
    let valid = !ip.is_empty()
        && !method.is_empty()
        && path.starts_with('/')
        && status.len() == 3
        && status.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(Line {
        ip,
        time: log_time(time)?,
        method,
        path,
        status,
    })
}

/// `21/Nov/2026:10:00:05 +0000` as milliseconds since the Unix epoch.
fn log_time(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, zone) = text.split_once(' ')?;
    // Fixed widths, as servers write it: `10/Oct/2000:13:55:36 -0700`.
    let digits = |text: &str, width: usize| -> Option<i64> {
        (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())?
    };
    let mut parts = date.split(['/', ':']);
    let day = digits(parts.next()?, 2)?;
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? as i64 + 1;
    let year = digits(parts.next()?, 4)?;
    let hour = digits(parts.next()?, 2)?;
    let minute = digits(parts.next()?, 2)?;
    let second = digits(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    // A leap second (`:60`) is allowed, as in RFC 3339.
    if !(1..=month_days[month as usize - 1]).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = digits(zone.get(1..)?, 4)?;
    if offset / 100 > 23 || offset % 100 > 59 {
        return None;
    }
    let offset_minutes = sign * (offset / 100 * 60 + offset % 100);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000)
}

impl Map for AccessLog {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["key"])?;
        let key = match params.get("key").unwrap_or("ip") {
            "ip" => Field::Ip,
            "path" => Field::Path,
            "method" => Field::Method,
            "status" => Field::Status,
            other => {
                return Err(format!(
                    "param `key` = {other:?}: use \"ip\", \"path\", \"method\" or \"status\""
                ));
            }
        };
        Ok(AccessLog { key })
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        let text = as_str(&record.value)?;
        let line = parse(text).ok_or_else(|| Error::new("not an access-log line"))?;
        let key = match self.key {
            Field::Ip => line.ip,
            Field::Path => line.path,
            Field::Method => line.method,
            Field::Status => line.status,
        }
        .to_owned();
        let time = line.time;
        let mut out = record.with_key(key).with_value("1");
        out.timestamp = time;
        Ok(out)
    }
}

export_map!(AccessLog);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_log_format() {
        let line =
            parse(r#"10.0.0.7 - - [21/Nov/2026:10:00:05 +0000] "GET /cart HTTP/1.1" 200 512"#)
                .unwrap();
        assert_eq!(
            (line.ip, line.method, line.path, line.status),
            ("10.0.0.7", "GET", "/cart", "200")
        );
        // 2026-11-21T10:00:05Z
        assert_eq!(line.time, 1_795_255_205_000);
        assert!(parse("garbage").is_none());
        assert!(
            parse(r#"1.2.3.4 - - [99/Foo/2026:10:00:05 +0000] "GET / HTTP/1.1" 200 1"#).is_none()
        );
    }

    #[test]
    fn time_zones_are_taken_into_account() {
        assert_eq!(log_time("01/Jan/1970:01:00:00 +0100"), Some(0));
        assert_eq!(log_time("31/Dec/1969:23:00:00 -0100"), Some(0));
    }
}
