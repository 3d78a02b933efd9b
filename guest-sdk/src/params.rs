//! The string parameters a stage is given in the manifest.

use std::str::FromStr;

/// A stage's `params` table from the manifest, handed to `init`.
///
/// ```
/// use wasmstream_guest::Params;
///
/// let params = Params::from_pairs([("field", "status"), ("equals", "500")]);
/// assert_eq!(params.require("field").unwrap(), "status");
/// assert!(params.only(&["field"]).unwrap_err().contains("unknown param `equals`"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from name/value pairs (what the host passes to `init`).
    ///
    /// ```
    /// let params = wasmstream_guest::Params::from_pairs([("threshold", "30")]);
    /// assert_eq!(params.get("threshold"), Some("30"));
    /// ```
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// The value of a parameter, if it was given.
    ///
    /// ```
    /// assert_eq!(wasmstream_guest::Params::default().get("x"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a parameter, or an error naming it.
    ///
    /// ```
    /// let error = wasmstream_guest::Params::default().require("field").unwrap_err();
    /// assert_eq!(error, "param `field` is required");
    /// ```
    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("param `{name}` is required"))
    }

    /// A parameter parsed into any `FromStr` type; `None` if absent, an error
    /// naming the parameter and the value if it does not parse.
    ///
    /// ```
    /// let params = wasmstream_guest::Params::from_pairs([("limit", "ten")]);
    /// let error = params.parse::<u32>("limit").unwrap_err();
    /// assert!(error.starts_with("param `limit` = \"ten\": "));
    /// ```
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| format!("param `{name}` = {v:?}: {e}"))
            })
            .transpose()
    }

    /// Rejects any parameter not in `known`, so a misspelt name is caught at
    /// start-up rather than silently ignored.
    ///
    /// ```
    /// let params = wasmstream_guest::Params::from_pairs([("feild", "x")]);
    /// assert_eq!(params.only(&["field"]).unwrap_err(), "unknown param `feild`; expected one of: field");
    /// ```
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            None => Ok(()),
            Some((name, _)) if known.is_empty() => {
                Err(format!("unknown param `{name}`; this operator takes none"))
            }
            Some((name, _)) => Err(format!(
                "unknown param `{name}`; expected one of: {}",
                known.join(", ")
            )),
        }
    }
}
