//! Reduce: count, sum, min and max of numbers, e.g. temperature readings
//! over a window. Each value is either a number (`21.5`) or a result of
//! this reduce, `{"count":3,"sum":64.5,"min":21,"max":22}`, so windows can
//! fold new readings into what they hold. Takes no params.

use wasmstream_guest::reduce::Values;
use wasmstream_guest::text::as_str;
use wasmstream_guest::{Error, Params, Reduce, export_reduce, json};

struct Stats;

/// What the reduce keeps.
struct Summary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn add(&mut self, value: &[u8]) -> Result<(), Error> {
        let value = value.trim_ascii_start();
        if value.first() == Some(&b'{') {
            let field = |name: &str| -> Result<f64, Error> {
                json::field(value, name)?
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| Error::new(format!("stats value without a number `{name}`")))
            };
            let count = json::field(value, "count")?
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| Error::new("stats value without a whole number `count`"))?;
            self.count += count;
            self.sum += field("sum")?;
            self.min = self.min.min(field("min")?);
            self.max = self.max.max(field("max")?);
        } else {
            let text = as_str(value)?.trim();
            let number = text
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| Error::new(format!("{text:?} is not a number")))?;
            self.count += 1;
            self.sum += number;
            self.min = self.min.min(number);
            self.max = self.max.max(number);
        }
        // A sum past f64's range would be written as `inf`, which is not
        // JSON: no later fold could read it.
        if !self.sum.is_finite() {
            return Err(Error::new("the sum is too large for a 64-bit float"));
        }
        Ok(())
    }
}

impl Reduce for Stats {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Stats)
    }

    fn reduce(&mut self, key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        self.reduce_all(key, &mut Values::from_slices(&[a, b]))
    }

    fn reduce_all(&mut self, _key: &[u8], values: &mut Values<'_>) -> Result<Vec<u8>, Error> {
        let mut summary = Summary {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        for value in values {
            summary.add(value)?;
        }
        Ok(format!(
            r#"{{"count":{},"sum":{},"min":{},"max":{}}}"#,
            summary.count, summary.sum, summary.min, summary.max
        )
        .into_bytes())
    }
}

export_reduce!(Stats);
