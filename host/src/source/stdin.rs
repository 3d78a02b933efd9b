//! Lines from standard input, one record each, until EOF.

use anyhow::Result;
use tokio::io::BufReader;
use tokio::sync::{mpsc, watch};

use crate::record::Batch;

pub async fn run(id: String, tx: mpsc::Sender<Batch>, stop: watch::Receiver<bool>) -> Result<()> {
    super::lines::read_lines(&id, BufReader::new(tokio::io::stdin()), &tx, stop).await
}
