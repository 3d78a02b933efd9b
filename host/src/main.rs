//! The `wasmstream` binary: parse the command line, start logging and the
//! async runtime, and hand over to [`wasmstream::cli`].

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wasmstream::cli::Cli::parse();
    wasmstream::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(wasmstream::cli::run(cli));
    // A stdin source may still be parked in a blocking read; don't wait.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}
