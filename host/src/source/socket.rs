//! Lines read from a TCP server, like Spark's `socketTextStream`: the
//! pipeline connects to `address` and reads one record per line until the
//! server closes the connection. While the server is not there yet, it
//! retries with backoff and says so in the log; a connection that fails
//! (reset, say) is made again, after the lines received on it are sent.

use std::time::Duration;

use anyhow::Result;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::lines::{Ended, read_lines};
use crate::record::Batch;
use crate::retry::{self, Retryable as _};

pub async fn run(
    id: String,
    address: String,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let connect = || TcpStream::connect(&address);
        let attempts = connect
            .retry(retry::backoff(Duration::from_millis(100), Duration::from_secs(5), None))
            .sleep(tokio::time::sleep)
            .notify(|e, wait| {
                tracing::warn!(source = %id, %address, "cannot connect: {e}; retrying in {} ms", wait.as_millis());
            });
        let stream = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            connected = attempts => connected?,
        };
        tracing::info!(source = %id, %address, "connected");
        let mut reader = BufReader::new(stream);
        match read_lines(&id, &mut reader, &tx, &mut stop).await {
            Ended::Closed => {
                tracing::info!(source = %id, %address, "connection closed");
                return Ok(());
            }
            Ended::Stopped | Ended::Dropped => return Ok(()),
            // Like Spark's receiver, start again; what was received is
            // already sent.
            Ended::Failed(e) => {
                tracing::warn!(source = %id, %address, "connection lost: {e}; reconnecting");
            }
        }
    }
}
