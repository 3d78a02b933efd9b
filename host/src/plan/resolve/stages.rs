//! Resolving `[[stages]]`: kinds, inputs, partitions, limits, and the
//! components each stage names (hashed here, loaded by bind).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Defaults, Resolver};
use crate::manifest::kinds::{OperatorFields, Params};
use crate::manifest::{Spanned, StageSettings, StageSpec, units};
use crate::plan::{Component, StagePlan, Step, Stream, Windowing};
use crate::plugin::Limits;

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
        let operator = spec.settings.operator();
        let limits = self.limits(
            operator.and_then(|op| op.limits),
            defaults.limits,
            &field("limits"),
        );
        let windowing = match spec.settings.window() {
            Some(window) => Some(self.windowing(spec, window, defaults.interval)?),
            None => None,
        };
        let step = match (&spec.settings, operator) {
            (StageSettings::Union(_), _) => Step::Union,
            (StageSettings::Join(settings), Some(op)) => {
                let operator = match op.component {
                    Some(path) => Some(self.component(spec, op, path, "component", limits)?),
                    None => {
                        self.operator_settings_alone(spec, op);
                        None
                    }
                };
                self.join(spec, settings, operator)?
            }
            (StageSettings::CountByValue(_), _) => Step::CountByValue,
            (StageSettings::Window(window), _) => match windowing? {
                Windowing::Batches { length, slide } => Step::Window { length, slide },
                Windowing::EventTime(_) => {
                    let time = window
                        .time
                        .as_ref()
                        .expect("event time is chosen by `time`");
                    self.error(
                        time,
                        field("time"),
                        "a window stage windows batches (processing time); for event time use reduce_by_key_and_window or count_by_value_and_window",
                    );
                    return None;
                }
            },
            (StageSettings::CountByValueAndWindow(_), _) => Step::CountByValueAndWindow(windowing?),
            (settings, Some(op)) => {
                let Some(path) = op.component else {
                    self.error(
                        &spec.id,
                        field("component"),
                        format!("a {kind} stage needs `component = \"path/to/operator.wasm\"`"),
                    );
                    return None;
                };
                let operator = self.component(spec, op, path, "component", limits);
                let inverse = match settings {
                    StageSettings::ReduceByKeyAndWindow(s) => s
                        .inverse
                        .as_ref()
                        .map(|inverse| self.component(spec, op, inverse, "inverse", limits)),
                    _ => None,
                };
                let operator = operator?;
                match settings {
                    StageSettings::Map(_) => Step::Map(operator),
                    StageSettings::Filter(_) => Step::Filter(operator),
                    StageSettings::FlatMap(_) => Step::FlatMap(operator),
                    StageSettings::ReduceByKey(_) => Step::ReduceByKey(operator),
                    StageSettings::UpdateStateByKey(s) => {
                        Step::UpdateStateByKey(operator, self.ttl(spec, s.ttl.as_ref()))
                    }
                    StageSettings::ProcessByKey(s) => {
                        let Some(watermark) = &s.watermark else {
                            self.error(
                                &spec.id,
                                field("watermark"),
                                "a process_by_key stage needs `watermark = \"...\"`: how far out of order records may come, which decides when timers fire",
                            );
                            return None;
                        };
                        let delay = self.millis(Some(watermark), field("watermark"))?;
                        Step::ProcessByKey { operator, delay }
                    }
                    _ => Step::ReduceByKeyAndWindow {
                        reduce: operator,
                        inverse: inverse.map(|i| i.ok_or(())).transpose().ok()?,
                        windowing: windowing?,
                    },
                }
            }
            (_, None) => unreachable!("every other kind runs an operator"),
        };
        let shadow = match (operator.and_then(|op| op.shadow), step.operator()) {
            (Some(shadow), Some(live)) => {
                let op = operator.expect("a shadow is an operator setting");
                self.component(spec, op, shadow, "shadow", live.limits)
            }
            _ => None,
        };
        Some(StagePlan {
            id: self.id(&spec.id)?,
            // An input that names nothing was reported; the rest of the
            // stage was checked all the same.
            inputs: inputs.into_iter().collect::<Option<_>>()?,
            step,
            parallelism,
            shadow,
            sides_in_header: false,
        })
    }

    /// The streams a stage reads: `inputs` for a union, else `input`;
    /// `None` for each that names no stream (reported), and `None` for
    /// all when they are not given right.
    fn stage_inputs(&mut self, spec: &StageSpec) -> Option<Vec<Option<Stream>>> {
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let kind = spec.kind.get_ref().as_str();
        if let StageSettings::Join(sides) = &spec.settings {
            return self.join_inputs(spec, sides);
        }
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

    /// Reports settings for an operator a stage without one was given
    /// (a join may run one, or not).
    fn operator_settings_alone(&mut self, spec: &StageSpec, op: OperatorFields<'_>) {
        let field = |name: &str| format!("stages[{}].{name}", spec.position);
        let why = "it is for the stage's `component`, which this stage has none of";
        if let Some(params) = op.params {
            self.error(
                params,
                field("params"),
                format!("`params` without a component: {why}"),
            );
        }
        if let Some(shadow) = op.shadow {
            self.error(
                shadow,
                field("shadow"),
                format!("`shadow` without a component: {why}"),
            );
        }
        if op.limits.is_some() || op.build.is_some() {
            let name = if op.limits.is_some() {
                "limits"
            } else {
                "build"
            };
            self.error(
                &spec.id,
                field(name),
                format!("`{name}` without a component: {why}"),
            );
        }
    }

    pub(super) fn ttl(
        &mut self,
        spec: &StageSpec,
        ttl: Option<&Spanned<String>>,
    ) -> Option<Duration> {
        let field = format!("stages[{}].ttl", spec.position);
        let ttl = ttl?;
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

    /// The component at `path` (the stage's field `name`), with the
    /// stage's params and `limits`: found and hashed, not yet loaded.
    fn component(
        &mut self,
        spec: &StageSpec,
        op: OperatorFields<'_>,
        path: &Spanned<String>,
        name: &str,
        limits: Limits,
    ) -> Option<Component> {
        let field = format!("stages[{}].{name}", spec.position);
        let params = self.params(spec, op.params)?;
        let file = self.path(path.get_ref());
        if !file.is_file() {
            let hint = if op.build.is_some() {
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
    fn params(
        &mut self,
        spec: &StageSpec,
        params: Option<&Params>,
    ) -> Option<Vec<(String, String)>> {
        let Some(params) = params else {
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
