//! Flat-map: turns a `stats` result into a line a person reads,
//! `avg=21.50 max=22.00 readings=3`. With `avg_above = 30`, it reports
//! only the records whose average is above 30, as `ALERT avg=...`, and
//! drops the rest. The key, timestamp and headers (such as a window's
//! bounds) are kept.

use wasmstream_guest::{Emitter, Error, FlatMap, Params, Record, export_flat_map, json};

struct StatsReport {
    avg_above: Option<f64>,
}

impl FlatMap for StatsReport {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["avg_above"])?;
        Ok(StatsReport {
            avg_above: params.parse("avg_above")?,
        })
    }

    fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error> {
        let field = |name: &str| -> Result<f64, Error> {
            json::field(&record.value, name)?
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::new(format!("not a stats value: no number `{name}`")))
        };
        let (count, sum, max) = (field("count")?, field("sum")?, field("max")?);
        let avg = sum / count.max(1.0);
        let line = format!("avg={avg:.2} max={max:.2} readings={count}");
        match self.avg_above {
            None => out.emit(record.with_value(line)),
            Some(threshold) if avg > threshold => {
                out.emit(record.with_value(format!("ALERT {line}")))
            }
            Some(_) => {}
        }
        Ok(())
    }
}

export_flat_map!(StatsReport);
