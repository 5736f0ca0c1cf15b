//! `flowlog generate`: realistic synthetic export lines on standard output,
//! the same every time for the same seed. For trying out filters, masks and
//! log shippers without a cluster.

use std::io::Write;

use clap::Args;
use flowlog_flow::json::encode_line;
use flowlog_flow::synthetic::FlowGenerator;

use crate::error::{Failure, RuntimeError};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many flows to write.
    #[arg(long, default_value_t = 1_000)]
    pub count: u64,
    /// Seed of the generator; the same seed gives the same flows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The node name in the flows.
    #[arg(long, default_value = "kind-kind/kind-worker", value_name = "NAME")]
    pub node_name: String,
}

pub fn run(args: &GenerateArgs) -> Result<(), Failure> {
    let mut generator = FlowGenerator::new(args.seed, &args.node_name);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = Vec::with_capacity(2048);
    for _ in 0..args.count {
        line.clear();
        encode_line(&generator.next_event(), None, &mut line).expect("synthetic flows are encodable");
        if let Err(error) = out.write_all(&line) {
            // A closed pipe (`flowlog generate | head`) is a normal way to stop.
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(RuntimeError::Stdout(error).into());
        }
    }
    match out.flush() {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(RuntimeError::Stdout(error).into()),
        _ => Ok(()),
    }
}
