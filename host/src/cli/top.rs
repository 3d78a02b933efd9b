//! `wasmstream top`: a live terminal view of pipelines' figures (the
//! overview `/v1/overview` serves), from a local run's metrics address
//! (`wasmstream run --metrics`) or a server. `q` quits.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row, Table};

use super::client::{Client, Connection};
use crate::metrics::Overview;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to look: `--server` a local run's metrics address
    /// (`http://127.0.0.1:9090`, no token needed) or a server's URL.
    #[command(flatten)]
    connection: Connection,
    /// How often to look again.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    every: Duration,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let client = args.connection.client_without_token()?;
    let mut terminal = ratatui::init();
    let shown = show(&mut terminal, &client, args.every);
    ratatui::restore();
    shown?;
    Ok(ExitCode::SUCCESS)
}

/// Looks and draws every `every` until `q` (or Ctrl-C).
fn show(terminal: &mut ratatui::DefaultTerminal, client: &Client, every: Duration) -> Result<()> {
    loop {
        let looked: Result<Vec<Overview>> = client.get("/v1/overview?recent=1");
        terminal.draw(|frame| draw(frame, client.server(), &looked))?;
        if event::poll(every)?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && (key.code == KeyCode::Char('q')
                || (key.code == KeyCode::Char('c')
                    && key.modifiers.contains(KeyModifiers::CONTROL)))
        {
            return Ok(());
        }
    }
}

/// One screen: the pipelines, then their stages.
fn draw(frame: &mut Frame, server: &str, looked: &Result<Vec<Overview>>) {
    let [title, pipelines, stages] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(40),
        Constraint::Fill(1),
    ])
    .areas(frame.area());
    let overviews = match looked {
        Ok(overviews) => overviews.as_slice(),
        Err(e) => {
            frame.render_widget(
                Line::from(format!("wasmstream top: {server}: {e:#}")),
                title,
            );
            return;
        }
    };
    frame.render_widget(
        Line::from(format!("wasmstream top: {server}   (q quits)")).style(bold()),
        title,
    );
    frame.render_widget(pipeline_table(overviews), pipelines);
    frame.render_widget(stage_table(overviews), stages);
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// A pipeline's name, with its tenant on a server.
fn name(o: &Overview) -> String {
    match &o.tenant {
        Some(tenant) => format!("{tenant}/{}", o.pipeline),
        None => o.pipeline.clone(),
    }
}

fn pipeline_table(overviews: &[Overview]) -> Table<'_> {
    let header = [
        "PIPELINE",
        "BATCHES",
        "IN",
        "OUT",
        "IN/S",
        "SCHED_MS",
        "PROC_MS",
        "INTERVAL_MS",
        "FAILED",
        "SKIPPED",
    ];
    let rows = overviews.iter().map(|o| {
        let last = o.recent.last();
        Row::new([
            name(o),
            o.batches.to_string(),
            o.records_in.to_string(),
            o.records_out.to_string(),
            format!("{:.0}", o.rate),
            last.map_or("-".into(), |b| format!("{:.1}", b.scheduling_ms)),
            last.map_or("-".into(), |b| format!("{:.1}", b.processing_ms)),
            format!("{:.0}", o.interval_ms),
            o.batches_failed.to_string(),
            o.batches_skipped.to_string(),
        ])
    });
    let widths = [Constraint::Fill(3)]
        .into_iter()
        .chain([Constraint::Fill(1); 9]);
    Table::new(rows, widths)
        .header(Row::new(header).style(bold()))
        .block(Block::bordered().title(" pipelines "))
}

fn stage_table(overviews: &[Overview]) -> Table<'_> {
    let header = [
        "PIPELINE", "STAGE", "IN", "OUT", "DEAD", "VERSION", "CALLS", "CPU_S", "MEM_MIB",
    ];
    let rows = overviews.iter().flat_map(|o| {
        o.stages.iter().map(move |s| {
            Row::new([
                name(o),
                s.stage.clone(),
                s.records_in.to_string(),
                s.records_out.to_string(),
                s.dead_letters.to_string(),
                s.version.clone().unwrap_or_else(|| "-".into()),
                s.calls.to_string(),
                format!("{:.3}", s.cpu_seconds),
                format!("{:.1}", s.memory_bytes as f64 / (1 << 20) as f64),
            ])
        })
    });
    let widths = [Constraint::Fill(3), Constraint::Fill(2)]
        .into_iter()
        .chain([Constraint::Fill(1); 7]);
    Table::new(rows, widths)
        .header(Row::new(header).style(bold()))
        .block(Block::bordered().title(" stages "))
}
