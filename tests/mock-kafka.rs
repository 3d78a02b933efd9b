//! `wasmstream-mock-kafka`: an in-memory Kafka cluster (librdkafka's mock
//! cluster) that supports transactions, for trying exactly-once delivery
//! where no broker that implements transactions can be installed. Not for
//! real data: it keeps everything in memory and is gone with the process.
//!
//! ```text
//! wasmstream-mock-kafka [TOPIC[:PARTITIONS] ...]
//! ```
//!
//! Creates the topics named (one partition unless told), prints the
//! bootstrap address as its first line of output, and serves until its
//! standard input closes.

use std::io::{Read, Write};
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;

fn main() -> ExitCode {
    let cluster = match MockCluster::new(3) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("wasmstream-mock-kafka: cannot start the mock cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    for arg in std::env::args().skip(1) {
        let (topic, partitions) = match arg.split_once(':') {
            Some((topic, n)) => match n.parse::<i32>() {
                Ok(n) if n > 0 => (topic.to_owned(), n),
                _ => {
                    eprintln!(
                        "wasmstream-mock-kafka: {arg:?}: the partition count must be a positive number"
                    );
                    return ExitCode::FAILURE;
                }
            },
            None => (arg.clone(), 1),
        };
        if let Err(e) = cluster.create_topic(&topic, partitions, 1) {
            eprintln!("wasmstream-mock-kafka: cannot create topic {topic:?}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", cluster.bootstrap_servers());
    let _ = out.flush();
    // Serve until whoever started the cluster closes our standard input.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    ExitCode::SUCCESS
}
