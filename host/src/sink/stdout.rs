//! Prints each non-empty batch's time and first records, like Spark's
//! `DStream.pprint`.

use std::io::Write;

use anyhow::Result;

use super::{BatchInfo, Progress, Sink};
use crate::record::{Batch, write_display};

pub struct Stdout {
    max_records: usize,
}

impl Stdout {
    pub fn new(max_records: usize) -> Self {
        Stdout { max_records }
    }
}

impl Sink for Stdout {
    fn write(&mut self, batch: BatchInfo, partitions: &[Batch], _: &Progress) -> Result<()> {
        let total: usize = partitions.iter().map(Batch::len).sum();
        if total == 0 {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "-------------------------------------------")?;
        writeln!(out, "Time: {} ms (batch {})", batch.time_ms, batch.id)?;
        writeln!(out, "-------------------------------------------")?;
        for record in partitions
            .iter()
            .flat_map(|p| p.iter())
            .take(self.max_records)
        {
            write_display(&mut out, &record)?;
            out.write_all(b"\n")?;
        }
        if total > self.max_records {
            writeln!(out, "... ({} more)", total - self.max_records)?;
        }
        writeln!(out)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        std::io::stdout().flush()?;
        Ok(())
    }
}
