//! Reading a manifest file, reporting every shape error at once.
//!
//! The document is parsed into a spanned tree first; then `[pipeline]` and
//! each `[[sources]]`, `[[stages]]` and `[[sinks]]` entry are deserialized
//! separately, so a mistake in one entry does not hide the mistakes in the
//! others. An entry is read as its kind says ([`super::kinds`]).

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Collector;
use super::kinds::{self, Settings};
use super::{
    Broken, Manifest, ManifestError, ManifestErrors, PipelineSection, SinkSettings, SinkSpec,
    SourceSettings, SourceSpec, StageSettings, StageSpec,
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
/// kept in [`Manifest::broken`]) so the rest can still be checked, and
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
    let mut broken = Vec::new();
    for (key, value) in root.into_inner() {
        let span = key.span();
        match &**key.get_ref() {
            "pipeline" => pipeline = section::<PipelineSection>(value, "pipeline", &mut errors),
            "sources" => {
                sources = entries::<SourceSpec>(value, "sources", &mut errors, &mut broken)
            }
            "stages" => stages = entries::<StageSpec>(value, "stages", &mut errors, &mut broken),
            "sinks" => sinks = entries::<SinkSpec>(value, "sinks", &mut errors, &mut broken),
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
        broken,
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

/// What every entry of one `[[...]]` section has, whatever its kind.
trait Entry: Sized {
    /// The settings every kind of the section shares (`id`, `kind`, ...).
    type Head: DeserializeOwned;
    /// Each kind's own settings.
    type Settings: Settings;
    fn kind(head: &Self::Head) -> &Spanned<String>;
    fn new(position: usize, head: Self::Head, settings: Self::Settings) -> Self;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceHead {
    id: Spanned<String>,
    kind: Spanned<String>,
}

impl Entry for SourceSpec {
    type Head = SourceHead;
    type Settings = SourceSettings;
    fn kind(head: &SourceHead) -> &Spanned<String> {
        &head.kind
    }
    fn new(position: usize, head: SourceHead, settings: SourceSettings) -> Self {
        SourceSpec {
            position,
            id: head.id,
            kind: head.kind,
            settings,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageHead {
    id: Spanned<String>,
    kind: Spanned<String>,
    input: Option<Spanned<String>>,
    inputs: Option<Spanned<Vec<Spanned<String>>>>,
    parallelism: Option<Spanned<i64>>,
}

impl Entry for StageSpec {
    type Head = StageHead;
    type Settings = StageSettings;
    fn kind(head: &StageHead) -> &Spanned<String> {
        &head.kind
    }
    fn new(position: usize, head: StageHead, settings: StageSettings) -> Self {
        StageSpec {
            position,
            id: head.id,
            kind: head.kind,
            input: head.input,
            inputs: head.inputs,
            parallelism: head.parallelism,
            settings,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkHead {
    id: Spanned<String>,
    kind: Spanned<String>,
    input: Spanned<String>,
}

impl Entry for SinkSpec {
    type Head = SinkHead;
    type Settings = SinkSettings;
    fn kind(head: &SinkHead) -> &Spanned<String> {
        &head.kind
    }
    fn new(position: usize, head: SinkHead, settings: SinkSettings) -> Self {
        SinkSpec {
            position,
            id: head.id,
            kind: head.kind,
            input: head.input,
            settings,
        }
    }
}

fn entries<T: Entry>(
    value: Spanned<DeValue<'_>>,
    field: &'static str,
    errors: &mut Collector<'_>,
    broken: &mut Vec<Broken>,
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
        match self::entry::<T>(entry, field, i, id.as_deref(), errors) {
            Some(spec) => parsed.push(spec),
            None => broken.push(Broken {
                section: field,
                position: i,
                id,
            }),
        }
    }
    parsed
}

/// Entry `i` of section `field`: its head, then its kind's settings. A
/// setting another kind takes is reported as not applying and left out;
/// `None` when the entry cannot be read (all its errors reported).
fn entry<T: Entry>(
    entry: Spanned<DeValue<'_>>,
    field: &str,
    i: usize,
    id: Option<&str>,
    errors: &mut Collector<'_>,
) -> Option<T> {
    let name = match id {
        Some(id) => format!("{field}[{i}] ({id:?})"),
        None => format!("{field}[{i}]"),
    };
    let span = entry.span();
    let DeValue::Table(table) = entry.into_inner() else {
        errors.push(Some(span), &name, format!("expected a table like [{name}]"));
        return None;
    };
    let shared = kinds::fields_of::<T::Head>();
    let (mut head, mut own) = (DeTable::new(), DeTable::new());
    for (key, value) in table {
        match shared.contains(&key.get_ref().as_ref()) {
            true => head.insert(key, value),
            false => own.insert(key, value),
        };
    }
    let head: T::Head = read(head, span.clone(), &name, errors)?;
    let kind = T::kind(&head);
    let Some(takes) = T::Settings::fields(kind.get_ref()) else {
        let kinds = T::Settings::KINDS;
        let (last, rest) = kinds.split_last().expect("a section has kinds");
        errors.push(
            Some(kind.span()),
            format!("{field}[{i}].kind"),
            format!(
                "unknown {} kind {:?}; use {} or {last}",
                T::Settings::WHAT,
                kind.get_ref(),
                rest.join(", ")
            ),
        );
        return None;
    };
    let mut settings = DeTable::new();
    let mut unknown = false;
    for (key, value) in own {
        let name_of = key.get_ref().to_string();
        if takes.contains(&name_of.as_str()) {
            settings.insert(key, value);
            continue;
        }
        let elsewhere = T::Settings::KINDS
            .iter()
            .filter_map(|k| T::Settings::fields(k))
            .any(|fields| fields.contains(&name_of.as_str()));
        if elsewhere {
            let why = T::Settings::misplaced(kind.get_ref(), &name_of).unwrap_or_else(|| {
                format!(
                    "`{name_of}` does not apply to a {} {}; remove it",
                    kind.get_ref(),
                    T::Settings::WHAT
                )
            });
            errors.push(Some(key.span()), format!("{field}[{i}].{name_of}"), why);
        } else {
            unknown = true;
            let expected: Vec<String> = shared
                .iter()
                .chain(takes)
                .map(|f| format!("`{f}`"))
                .collect();
            errors.push(
                Some(key.span()),
                &name,
                format!(
                    "unknown field `{name_of}`; a {} {} takes {}",
                    kind.get_ref(),
                    T::Settings::WHAT,
                    expected.join(", ")
                ),
            );
        }
    }
    if unknown {
        return None;
    }
    let value = Spanned::new(span.clone(), DeValue::Table(settings));
    match T::Settings::read(kind.get_ref(), ValueDeserializer::from(value)) {
        Ok(settings) => Some(T::new(i, head, settings)),
        Err(e) => {
            errors.push(e.span().or(Some(span)), &name, e.message().to_owned());
            None
        }
    }
}

/// Deserializes `table` (spanning `span` in the file).
fn read<T: DeserializeOwned>(
    table: DeTable<'_>,
    span: std::ops::Range<usize>,
    name: &str,
    errors: &mut Collector<'_>,
) -> Option<T> {
    let value = Spanned::new(span.clone(), DeValue::Table(table));
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            errors.push(e.span().or(Some(span)), name, e.message().to_owned());
            None
        }
    }
}
