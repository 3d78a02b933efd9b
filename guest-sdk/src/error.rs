//! The error an operator returns for a record.

use std::fmt;

/// Why an operator could not process a record. The first error stops the
/// batch; the host reports it with the stage, the batch and the record.
///
/// Any standard error converts into it, so `?` works on parse errors:
///
/// ```
/// use wasmstream_guest::Error;
///
/// fn parse(text: &str) -> Result<u64, Error> {
///     Ok(text.trim().parse::<u64>()?)
/// }
/// assert!(parse("x").unwrap_err().to_string().contains("invalid digit"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    ///
    /// ```
    /// let error = wasmstream_guest::Error::new("field `status` is missing");
    /// assert_eq!(error.to_string(), "field `status` is missing");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error::new(error.to_string())
    }
}
