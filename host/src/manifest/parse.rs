//! Reading a manifest file, reporting every shape error at once.
//!
//! The document is parsed into a spanned tree first; then `[pipeline]` and
//! each `[[sources]]`, `[[stages]]` and `[[sinks]]` entry are deserialized
//! separately, so a mistake in one entry does not hide the mistakes in the
//! others.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Collector;
use super::{
    Manifest, ManifestError, ManifestErrors, PipelineSection, SinkSpec, SourceSpec, StageSpec,
};

const SECTIONS: &str = "[pipeline], [[sources]], [[stages]], [[sinks]]";

/// Reads and parses the manifest at `file`.
pub fn load(file: &Path) -> Result<Manifest, ManifestErrors> {
    match std::fs::read_to_string(file) {
        Ok(text) => parse(file, text),
        Err(e) => {
            let mut errors = Collector::new(file, "");
            errors.push(None, "", format!("cannot read the manifest: {e}"));
            Err(errors.fail())
        }
    }
}

/// Parses manifest `text`, which was read from `file`.
pub fn parse(file: &Path, text: String) -> Result<Manifest, ManifestErrors> {
    match parse_lenient(file, text) {
        (Some(manifest), errors) if errors.is_empty() => Ok(manifest),
        (_, errors) => Err(ManifestErrors(errors)),
    }
}

/// Parses what it can: entries with shape errors are left out (their ids
/// kept in [`Manifest::broken_ids`]) so the rest can still be checked, and
/// every error found is returned. No manifest comes back when the TOML
/// itself or the `[pipeline]` section is broken.
pub(crate) fn parse_lenient(file: &Path, text: String) -> (Option<Manifest>, Vec<ManifestError>) {
    let mut errors = Collector::new(file, &text);
    let (root, syntax) = DeTable::parse_recoverable(&text);
    for e in &syntax {
        errors.push(e.span(), "", format!("invalid TOML: {}", e.message()));
    }
    if !syntax.is_empty() {
        return (None, errors.fail().0);
    }

    let mut pipeline = None;
    let (mut sources, mut stages, mut sinks) = (Vec::new(), Vec::new(), Vec::new());
    let mut broken_ids = Vec::new();
    for (key, value) in root.into_inner() {
        let span = key.span();
        match &**key.get_ref() {
            "pipeline" => pipeline = section::<PipelineSection>(value, "pipeline", &mut errors),
            "sources" => {
                sources = entries::<SourceSpec>(value, "sources", &mut errors, &mut broken_ids)
            }
            "stages" => {
                stages = entries::<StageSpec>(value, "stages", &mut errors, &mut broken_ids)
            }
            "sinks" => sinks = entries::<SinkSpec>(value, "sinks", &mut errors, &mut broken_ids),
            other => errors.push(
                Some(span),
                other,
                format!("unknown section; expected one of {SECTIONS}"),
            ),
        }
    }
    if pipeline.is_none()
        && !errors
            .errors
            .iter()
            .any(|e| e.field.starts_with("pipeline"))
    {
        errors.push(
            None,
            "pipeline",
            "missing [pipeline] section with at least `name = \"...\"`",
        );
    }
    let errors = errors.fail().0;
    let manifest = pipeline.map(|pipeline| Manifest {
        file: file.to_owned(),
        text,
        pipeline,
        sources,
        stages,
        sinks,
        broken_ids,
    });
    (manifest, errors)
}

fn section<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    field: &str,
    errors: &mut Collector<'_>,
) -> Option<T> {
    let span = value.span();
    if !value.get_ref().is_table() {
        errors.push(
            Some(span),
            field,
            format!("expected a table like [{field}]"),
        );
        return None;
    }
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            errors.push(e.span().or(Some(span)), field, e.message().to_owned());
            None
        }
    }
}

/// An entry of a `[[...]]` list that remembers its place in it.
trait Entry {
    fn set_position(&mut self, position: usize);
}

macro_rules! entry {
    ($($spec:ty),*) => {$(
        impl Entry for $spec {
            fn set_position(&mut self, position: usize) {
                self.position = position;
            }
        }
    )*};
}
entry!(SourceSpec, StageSpec, SinkSpec);

fn entries<T: DeserializeOwned + Entry>(
    value: Spanned<DeValue<'_>>,
    field: &str,
    errors: &mut Collector<'_>,
    broken_ids: &mut Vec<String>,
) -> Vec<T> {
    let span = value.span();
    let DeValue::Array(array) = value.into_inner() else {
        errors.push(
            Some(span),
            field,
            format!("expected a list of tables like [[{field}]]"),
        );
        return Vec::new();
    };
    let mut parsed = Vec::new();
    for (i, entry) in array.into_iter().enumerate() {
        let id = entry
            .get_ref()
            .get("id")
            .and_then(|id| id.get_ref().as_str())
            .map(str::to_owned);
        let name = match &id {
            Some(id) => format!("{field}[{i}] ({id:?})"),
            None => format!("{field}[{i}]"),
        };
        match section::<T>(entry, &name, errors) {
            Some(mut spec) => {
                spec.set_position(i);
                parsed.push(spec);
            }
            None => broken_ids.extend(id),
        }
    }
    parsed
}
