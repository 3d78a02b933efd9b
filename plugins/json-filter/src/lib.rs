//! Filter: keeps records whose value is a JSON object with a top-level
//! field equal to a given text.
//!
//! Params:
//! - `field` (required): the field to test, e.g. `"status"`.
//! - `equals` (required): the text to compare with. Numbers and booleans
//!   compare by how they are written, so `equals = "500"` matches both
//!   `"status": 500` and `"status": "500"`.
//! - `on_invalid = "fail" | "drop"` (default `"fail"`): what to do with a
//!   value that is not a JSON object. `fail` stops the batch, naming the
//!   record.

use wasmstream_guest::{Error, Filter, Params, Record, export_filter, json};

struct JsonFilter {
    field: String,
    equals: String,
    drop_invalid: bool,
}

impl Filter for JsonFilter {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["field", "equals", "on_invalid"])?;
        let drop_invalid = match params.get("on_invalid").unwrap_or("fail") {
            "fail" => false,
            "drop" => true,
            other => {
                return Err(format!(
                    "param `on_invalid` = {other:?}: expected \"fail\" or \"drop\""
                ));
            }
        };
        Ok(JsonFilter {
            field: params.require("field")?.to_owned(),
            equals: params.require("equals")?.to_owned(),
            drop_invalid,
        })
    }

    fn filter(&mut self, record: &Record<'_>) -> Result<bool, Error> {
        match json::field(&record.value, &self.field) {
            Ok(found) => Ok(found.is_some_and(|v| v == self.equals.as_str())),
            Err(_) if self.drop_invalid => Ok(false),
            Err(e) => Err(e),
        }
    }
}

export_filter!(JsonFilter);
