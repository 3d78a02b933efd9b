//! Names in a plan: the ids of sources, stages and sinks, and the streams
//! that flow between them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of a source, stage or sink: letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl Id {
    /// `text` as an id, or why it is not one.
    pub fn new(text: &str) -> Result<Id, InvalidId> {
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match plain {
            true => Ok(Id(text.to_owned())),
            false => Err(InvalidId(text.to_owned())),
        }
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = InvalidId;
    fn try_from(text: String) -> Result<Id, InvalidId> {
        Id::new(&text)
    }
}

/// A name that is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid id; use letters, digits, `_` and `-`")]
pub struct InvalidId(pub String);

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A stream a stage or sink can read: a source's records, a stage's
/// output, or one of the side outputs the engine makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// What a source reads.
    Source(Id),
    /// What a stage makes.
    Stage(Id),
    /// The records an event-time stage found too late for its windows;
    /// written `<stage>.late`.
    Late(Id),
    /// The records operators rejected under `on_error = "dead-letter"`;
    /// written `dead-letters`.
    DeadLetters,
}

impl Stream {
    /// How a manifest names the dead letters.
    pub const DEAD_LETTERS: &str = "dead-letters";
    /// How a manifest names a stage's late records: `<stage>` + this.
    pub const LATE_SUFFIX: &str = ".late";
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stream::Source(id) | Stream::Stage(id) => write!(f, "{id}"),
            Stream::Late(id) => write!(f, "{id}{}", Stream::LATE_SUFFIX),
            Stream::DeadLetters => f.write_str(Stream::DEAD_LETTERS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        assert!(Id::new("word-count_2").is_ok());
        for bad in ["", "a b", "../x", "a.late", "é"] {
            let err = Id::new(bad).unwrap_err().to_string();
            assert!(err.contains("is not a valid id"), "{bad}: {err}");
        }
    }

    #[test]
    fn streams_are_named_as_a_manifest_names_them() {
        let id = Id::new("per-10s").unwrap();
        assert_eq!(Stream::Stage(id.clone()).to_string(), "per-10s");
        assert_eq!(Stream::Late(id).to_string(), "per-10s.late");
        assert_eq!(Stream::DeadLetters.to_string(), "dead-letters");
    }
}
