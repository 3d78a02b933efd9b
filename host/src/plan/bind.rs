//! Binding a plan: each component loaded (compiled once, cached by
//! content hash), checked to export the kind its stage runs, and its
//! `init` run once on the stage's params, so a bound plan is runnable and
//! a component that cannot start is refused before anything runs.

use std::sync::Arc;

use super::{Component, Id, PipelinePlan, Role, StagePlan};
use crate::operator::Operator;
use crate::plugin::{OperatorKind, Runtime};

/// A plan with its components loaded: what the scheduler runs.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The plan, as data.
    pub plan: PipelinePlan,
    /// Its stages with their operators loaded, in the plan's order.
    pub stages: Vec<StagePlan<crate::operator::Operator>>,
}

/// A component that could not be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage `{stage}`: {message}")]
pub struct BindError {
    /// The stage.
    pub stage: Id,
    /// The field at fault.
    pub field: Field,
    /// What is wrong.
    pub message: String,
}

/// The stage field a bind error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The component in this role.
    Component(Role),
    /// The params its `init` rejected.
    Params,
}

/// Loads and checks every component of `plan`, reporting every one that
/// fails. Blocking (it may compile): call it off the async runtime.
pub fn bind(plan: &PipelinePlan, runtime: &Runtime) -> Result<Bound, Vec<BindError>> {
    let mut errors = Vec::new();
    let mut stages = Vec::with_capacity(plan.stages.len());
    for stage in &plan.stages {
        let label: Arc<str> = format!("{}/{}", plan.name, stage.id).into();
        let expected = stage.step.operator_kind();
        let mut load = |component: &Component, role: Role| {
            let kind = expected.expect("a step with components runs an operator");
            operator(runtime, stage, component, role, kind, &label).map_err(|e| errors.push(e))
        };
        let step = stage.step.try_map(&mut load);
        let shadow = stage
            .shadow
            .as_ref()
            .map(|shadow| load(shadow, Role::Shadow))
            .transpose();
        if let (Ok(step), Ok(shadow)) = (step, shadow) {
            stages.push(StagePlan {
                id: stage.id.clone(),
                inputs: stage.inputs.clone(),
                step,
                parallelism: stage.parallelism,
                shadow,
                sides_in_header: stage.sides_in_header,
            });
        }
    }
    match errors.is_empty() {
        true => Ok(Bound {
            plan: plan.clone(),
            stages,
        }),
        false => Err(errors),
    }
}

/// Loads `component`, for `stage` in `role`, expecting a `kind` operator.
fn operator(
    runtime: &Runtime,
    stage: &StagePlan,
    component: &Component,
    role: Role,
    kind: OperatorKind,
    label: &Arc<str>,
) -> Result<Operator, BindError> {
    let fail = |field: Field, message: String| BindError {
        stage: stage.id.clone(),
        field,
        message,
    };
    let path = &component.path;
    let plugin = runtime
        .load(path)
        .map_err(|e| fail(Field::Component(role), e.to_string()))?;
    if plugin.digest() != component.digest {
        return Err(fail(
            Field::Component(role),
            format!(
                "{} changed while it was being loaded (its content hash is no longer the plan's {}); load it again",
                path.display(),
                component.digest
            ),
        ));
    }
    if plugin.kind() != kind {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let found = plugin.kind();
        return Err(fail(
            Field::Component(role),
            match role {
                Role::Operator => format!(
                    "{file} is a {found} operator, but the stage's kind is {:?}, which needs a {kind} operator",
                    stage.step.kind_name()
                ),
                Role::Shadow => {
                    format!("{file} is a {found} operator, but it shadows a {kind} operator")
                }
                Role::Inverse => {
                    format!(
                        "{file} is a {found} operator, but an inverse must be a {kind} operator"
                    )
                }
            },
        ));
    }
    if let Err(e) = plugin.instantiate(label.clone(), component.limits, &component.params) {
        return Err(fail(
            Field::Params,
            format!("operator {} {e}", path.display()),
        ));
    }
    Ok(Operator::wasm(
        plugin,
        component.params.clone(),
        component.limits,
    ))
}
