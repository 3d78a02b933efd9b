//! What the benchmarks share: loading the stock plugins, a seeded random
//! generator for their inputs, and printing numbers people can read.

// Each benchmark is its own crate and uses only part of this.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use wasmstream::plugin::{Limits, Runtime};
use wasmstream::stage::Operator;

/// The stock plugin `name` (built for wasm32-wasip2 in `repo`), with
/// `params` and generous limits, so only its speed is measured.
pub fn plugin(
    runtime: &Runtime,
    repo: &Path,
    name: &str,
    params: &[(&str, &str)],
) -> anyhow::Result<Operator> {
    let path = repo
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    let plugin = runtime
        .load(&path)
        .map_err(|e| anyhow::anyhow!("{e}; build the plugins first (see the top of this file)"))?;
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let limits = Limits {
        memory_bytes: 2 << 30,
        cpu: Duration::from_secs(60),
    };
    Ok(Operator::wasm(plugin, params, limits))
}

/// A rate with thousands separators: `1,234,567`.
pub fn grouped(rate: f64) -> String {
    let digits = (rate.round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A seeded generator (SplitMix64).
pub struct SplitMix(pub u64);

impl SplitMix {
    /// A number in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() * n as f64) as usize
    }
}
