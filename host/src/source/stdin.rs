//! Lines from standard input, one record each, until EOF.

use anyhow::Result;
use tokio::io::BufReader;
use tokio::sync::{mpsc, watch};

use super::lines::{Ended, read_lines};
use crate::record::Batch;

pub async fn run(
    id: String,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin());
    match read_lines(&id, &mut stdin, &tx, &mut stop).await {
        Ended::Failed(e) => Err(anyhow::Error::from(e).context("cannot read standard input")),
        Ended::Closed | Ended::Stopped | Ended::Dropped => Ok(()),
    }
}
