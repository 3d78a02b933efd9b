//! Resolving `[[stages]]`: kinds, inputs, partitions, limits, and the
//! components each stage names (hashed here, loaded by bind).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Defaults, Resolver};
use crate::manifest::{Spanned, StageSpec, units};
use crate::plan::{Component, StagePlan, Step, Stream, Windowing};
use crate::plugin::Limits;

/// The stage kinds, as a manifest names them.
const KINDS: &str = "map, filter, flat_map, reduce_by_key, update_state_by_key, union, window, reduce_by_key_and_window or count_by_value_and_window";

impl Resolver<'_> {
    pub(super) fn stages(&mut self, defaults: Defaults) -> Vec<StagePlan> {
        let mut plans = Vec::new();
        for spec in &self.manifest.stages {
            if let Some(plan) = self.stage(spec, defaults) {
                plans.push(plan);
            }
        }
        self.order(plans)
    }

    fn stage(&mut self, spec: &StageSpec, defaults: Defaults) -> Option<StagePlan> {
        let i = spec.position;
        let field = |name: &str| format!("stages[{i}].{name}");
        let kind = spec.kind.get_ref().as_str();
        let inputs = self.stage_inputs(spec)?;
        let parallelism = self
            .parallelism(spec.parallelism.as_ref(), &field("parallelism"))
            .unwrap_or(defaults.parallelism);
        let limits = self.limits(spec.limits.as_ref(), defaults.limits, &field("limits"));
        let ttl = self.ttl(spec);
        let windowed = matches!(
            kind,
            "window" | "reduce_by_key_and_window" | "count_by_value_and_window"
        );
        if !windowed {
            let window_fields = [
                ("window", spec.window.as_ref()),
                ("slide", spec.slide.as_ref()),
                ("time", spec.time.as_ref()),
                ("watermark", spec.watermark.as_ref()),
                ("allowed_lateness", spec.allowed_lateness.as_ref()),
            ];
            for (name, value) in window_fields {
                if let Some(value) = value {
                    self.error(
                        value,
                        field(name),
                        format!("`{name}` applies to window stages only; remove it"),
                    );
                }
            }
        }
        if let Some(inverse) = &spec.inverse
            && kind != "reduce_by_key_and_window"
        {
            self.error(
                inverse,
                field("inverse"),
                "only a reduce_by_key_and_window stage takes an `inverse`; remove it",
            );
        }
        let windowing = match windowed {
            true => Some(self.windowing(spec, defaults.interval)?),
            false => None,
        };
        let step = match kind {
            "union" => {
                self.no_component(spec, "a union runs no operator");
                Step::Union
            }
            "window" => {
                self.no_component(spec, "a window stage runs no operator");
                match windowing? {
                    Windowing::Batches { length, slide } => Step::Window { length, slide },
                    Windowing::EventTime(_) => {
                        let time = spec.time.as_ref().expect("event time is chosen by `time`");
                        self.error(
                            time,
                            field("time"),
                            "a window stage windows batches (processing time); for event time use reduce_by_key_and_window or count_by_value_and_window",
                        );
                        return None;
                    }
                }
            }
            "count_by_value_and_window" => {
                self.no_component(spec, "count_by_value_and_window counts by itself");
                Step::CountByValueAndWindow(windowing?)
            }
            "map"
            | "filter"
            | "flat_map"
            | "reduce_by_key"
            | "reduce_by_key_and_window"
            | "update_state_by_key" => {
                let Some(path) = &spec.component else {
                    self.error(
                        &spec.id,
                        field("component"),
                        format!("a {kind} stage needs `component = \"path/to/operator.wasm\"`"),
                    );
                    return None;
                };
                let operator = self.component(spec, path, "component", limits);
                let inverse = spec
                    .inverse
                    .as_ref()
                    .map(|inverse| self.component(spec, inverse, "inverse", limits));
                let operator = operator?;
                match kind {
                    "map" => Step::Map(operator),
                    "filter" => Step::Filter(operator),
                    "flat_map" => Step::FlatMap(operator),
                    "reduce_by_key" => Step::ReduceByKey(operator),
                    "update_state_by_key" => Step::UpdateStateByKey(operator, ttl),
                    _ => Step::ReduceByKeyAndWindow {
                        reduce: operator,
                        inverse: inverse.map(|i| i.ok_or(())).transpose().ok()?,
                        windowing: windowing?,
                    },
                }
            }
            other => {
                self.error(
                    &spec.kind,
                    field("kind"),
                    format!("unknown stage kind {other:?}; use {KINDS}"),
                );
                return None;
            }
        };
        let shadow = match (&spec.shadow, step.operator()) {
            (None, _) => None,
            (Some(shadow), Some(live)) => self.component(spec, shadow, "shadow", live.limits),
            (Some(shadow), None) => {
                self.error(
                    shadow,
                    field("shadow"),
                    format!("a {kind} stage runs no operator to shadow; remove `shadow`"),
                );
                None
            }
        };
        Some(StagePlan {
            id: self.id(&spec.id)?,
            // An input that names nothing was reported; the rest of the
            // stage was checked all the same.
            inputs: inputs.into_iter().collect::<Option<_>>()?,
            step,
            parallelism,
            shadow,
        })
    }

    /// The streams a stage reads: `inputs` for a union, else `input`;
    /// `None` for each that names no stream (reported), and `None` for
    /// all when they are not given right.
    fn stage_inputs(&mut self, spec: &StageSpec) -> Option<Vec<Option<Stream>>> {
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let kind = spec.kind.get_ref().as_str();
        let inputs: Vec<&Spanned<String>> = match (kind, &spec.input, &spec.inputs) {
            ("union", None, Some(inputs)) if inputs.get_ref().len() >= 2 => {
                inputs.get_ref().iter().collect()
            }
            ("union", _, _) => {
                self.error(
                    &spec.kind,
                    field("inputs"),
                    "a union needs `inputs = [\"a\", \"b\"]` with two or more streams",
                );
                return None;
            }
            (_, Some(input), None) => vec![input],
            (_, _, Some(inputs)) => {
                self.error(
                    inputs,
                    field("inputs"),
                    "only a union takes `inputs`; use `input = \"...\"`",
                );
                return None;
            }
            (_, None, None) => {
                self.error(
                    &spec.id,
                    field("input"),
                    "missing `input = \"...\"` naming a source or stage",
                );
                return None;
            }
        };
        Some(
            inputs
                .into_iter()
                .map(|input| self.input(input, field("input")))
                .collect(),
        )
    }

    fn ttl(&mut self, spec: &StageSpec) -> Option<Duration> {
        let field = format!("stages[{}].ttl", spec.position);
        let ttl = spec.ttl.as_ref()?;
        if spec.kind.get_ref() != "update_state_by_key" {
            self.error(
                ttl,
                field,
                "only an update_state_by_key stage forgets idle keys; remove `ttl`",
            );
            return None;
        }
        match units::duration(ttl.get_ref()) {
            Ok(d) if d > Duration::ZERO => Some(d),
            Ok(_) => {
                self.error(ttl, field, "must be longer than 0ms");
                None
            }
            Err(e) => {
                self.error(ttl, field, e);
                None
            }
        }
    }

    /// Reports a `component` on a stage that runs no operator.
    fn no_component(&mut self, spec: &StageSpec, why: &str) {
        if let Some(component) = &spec.component {
            self.error(
                component,
                format!("stages[{}].component", spec.position),
                format!("{why}; remove `component`"),
            );
        }
    }

    /// The component at `path` (the stage's field `name`), with the
    /// stage's params and `limits`: found and hashed, not yet loaded.
    fn component(
        &mut self,
        spec: &StageSpec,
        path: &Spanned<String>,
        name: &str,
        limits: Limits,
    ) -> Option<Component> {
        let field = format!("stages[{}].{name}", spec.position);
        let params = self.params(spec)?;
        let file = self.path(path.get_ref());
        if !file.is_file() {
            let hint = if spec.build.is_some() {
                "; run `wasmstream build` on this manifest to build it"
            } else {
                ""
            };
            self.error(
                path,
                field,
                format!("no such file: {}{hint}", file.display()),
            );
            return None;
        }
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(path, field, format!("cannot read {}: {e}", file.display()));
                return None;
            }
        };
        Some(Component {
            digest: crate::plugin::content_hash(&bytes),
            path: file,
            params,
            limits,
        })
    }

    /// The stage's params, as the strings `init` gets.
    fn params(&mut self, spec: &StageSpec) -> Option<Vec<(String, String)>> {
        let Some(params) = &spec.params else {
            return Some(Vec::new());
        };
        let table: &BTreeMap<String, toml::Value> = params.get_ref();
        let mut pairs = Vec::new();
        for (name, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    self.error(
                        params,
                        format!("stages[{}].params.{name}", spec.position),
                        "params are strings, numbers or booleans",
                    );
                    return None;
                }
            };
            pairs.push((name.clone(), text));
        }
        Some(pairs)
    }
}
