//! The graph: ids unique and plain, each input naming a stream that
//! exists, and stages in an order where each comes after its inputs.

use std::collections::HashMap;

use super::Resolver;
use crate::manifest::{Spanned, StageSettings};
use crate::plan::{Id, StagePlan, Stream};

impl Resolver<'_> {
    /// Ids are unique across sources, stages and sinks, and plain.
    pub(super) fn check_ids(&mut self) {
        let m = self.manifest;
        let ids = m
            .sources
            .iter()
            .map(|s| ("sources", &s.id))
            .chain(m.stages.iter().map(|s| ("stages", &s.id)))
            .chain(m.sinks.iter().map(|s| ("sinks", &s.id)));
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut problems = Vec::new();
        for (section, id) in ids {
            let text = id.get_ref().as_str();
            if let Err(why) = Id::new(text) {
                problems.push((id.span(), format!("{section}.id"), why.to_string()));
            }
            if let Some(first) = seen.insert(text, section) {
                problems.push((
                    id.span(),
                    format!("{section}.id"),
                    format!("id {text:?} is already used in [[{first}]]"),
                ));
            }
        }
        for (span, field, message) in problems {
            self.errors.push(Some(span), field, message);
        }
    }

    /// An entry's id; an invalid one was reported by [`Self::check_ids`].
    pub(super) fn id(&self, id: &Spanned<String>) -> Option<Id> {
        Id::new(id.get_ref()).ok()
    }

    /// The stream `input` names, or an error listing the ones there are.
    /// An input naming an entry whose shape was wrong (already reported)
    /// is left out quietly.
    pub(super) fn input(&mut self, input: &Spanned<String>, field: String) -> Option<Stream> {
        let m = self.manifest;
        let name = input.get_ref();
        let dead_letters = m
            .pipeline
            .on_error
            .as_ref()
            .is_some_and(|e| e.get_ref() == "dead-letter");
        let event_time = |s: &&crate::manifest::StageSpec| {
            let time = match &s.settings {
                StageSettings::Join(join) => join.time.as_ref(),
                StageSettings::ProcessByKey(_) => return true,
                settings => settings.window().and_then(|w| w.time),
            };
            time.is_some_and(|t| t.get_ref() == "event")
        };
        let mut known: Vec<(String, Option<Stream>)> = Vec::new();
        let stream =
            |make: fn(Id) -> Stream, id: &Spanned<String>| Id::new(id.get_ref()).ok().map(make);
        for s in &m.sources {
            known.push((s.id.get_ref().clone(), stream(Stream::Source, &s.id)));
        }
        for s in &m.stages {
            known.push((s.id.get_ref().clone(), stream(Stream::Stage, &s.id)));
        }
        for s in m.stages.iter().filter(event_time) {
            let late = format!("{}{}", s.id.get_ref(), Stream::LATE_SUFFIX);
            known.push((late, stream(Stream::Late, &s.id)));
        }
        if dead_letters {
            known.push((Stream::DEAD_LETTERS.to_owned(), Some(Stream::DeadLetters)));
        }
        if let Some((_, stream)) = known.iter().find(|(n, _)| n == name) {
            return stream.clone();
        }
        if !m.is_broken(name) {
            // Every source and stage in the file, readable or not, and the
            // side streams.
            let side = known
                .iter()
                .map(|(n, _)| n.as_str())
                .skip(m.sources.len() + m.stages.len());
            let mut names = m.ids_in("sources");
            names.extend(m.ids_in("stages"));
            names.extend(side);
            self.error(
                input,
                field,
                format!(
                    "unknown input {name:?}; the sources and stages are: {}",
                    names.join(", ")
                ),
            );
        }
        None
    }

    /// Sorts stages so each comes after its inputs; reports cycles.
    pub(super) fn order(&mut self, mut pending: Vec<StagePlan>) -> Vec<StagePlan> {
        let mut done: Vec<StagePlan> = Vec::new();
        let waiting = |pending: &[StagePlan], input: &Stream| match input {
            Stream::Stage(id) | Stream::Late(id) => pending.iter().any(|p| &p.id == id),
            Stream::Source(_) | Stream::DeadLetters => false,
        };
        // A stage is ready when none of its inputs is a stage still waiting.
        while let Some(i) = pending
            .iter()
            .position(|stage| stage.inputs.iter().all(|input| !waiting(&pending, input)))
        {
            done.push(pending.remove(i));
        }
        if !pending.is_empty() {
            let ids: Vec<_> = pending.iter().map(|s| s.id.as_str()).collect();
            let spec = self
                .manifest
                .stages
                .iter()
                .find(|s| s.id.get_ref() == ids[0])
                .expect("a pending stage has a spec");
            let cycle = format!(
                "stages {} form a cycle; a stage cannot read its own output",
                ids.iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.error(&spec.id, format!("stages[{}].input", spec.position), cycle);
        }
        done
    }
}
