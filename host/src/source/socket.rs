//! Lines read from a TCP server, like Spark's `socketTextStream`: the
//! pipeline connects to `address` and reads one record per line until the
//! server closes the connection. While the server is not there yet, it
//! retries with backoff and says so in the log.

use std::time::Duration;

use anyhow::Result;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::record::Batch;

pub async fn run(
    id: String,
    address: String,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut backoff = Duration::from_millis(100);
    let stream = loop {
        let attempt = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            attempt = TcpStream::connect(&address) => attempt,
        };
        match attempt {
            Ok(stream) => break stream,
            Err(e) => {
                tracing::warn!(source = %id, %address, "cannot connect: {e}; retrying in {} ms", backoff.as_millis());
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    tracing::info!(source = %id, %address, "connected");
    super::lines::read_lines(&id, BufReader::new(stream), &tx, stop).await?;
    tracing::info!(source = %id, %address, "connection closed");
    Ok(())
}
