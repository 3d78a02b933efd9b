//! Fuzz targets: the readers of input nobody vouches for, each given
//! arbitrary bytes and checked to answer with a value or an error, never a
//! panic, a hang or a huge allocation, and to keep what it promises.
//!
//! `tests/fuzz` runs them under libFuzzer (`tests/fuzz/run <target>
//! [seconds]`); the e2e suite replays every kept input in
//! `tests/fuzz/corpus/<target>/` (the cases found so far among them), so
//! what was found once stays fixed.

use std::path::Path;

use crate::checkpoint::{self, Header, Writer};
use crate::manifest;
use crate::operator::{NativeOperator, Operator};
use crate::plan::{self, EventTime, Id, StagePlan, Step, Windowing};
use crate::record::{Batch, ByteList};
use crate::stage::StageRunner;

/// A fuzz target: it panics when the code under test breaks a promise.
pub type Target = fn(&[u8]);

/// The targets, by name.
pub const TARGETS: [(&str, Target); 5] = [
    ("manifest", manifest),
    ("checkpoint", checkpoint),
    ("intent_log", intent_log),
    ("batch_layout", batch_layout),
    ("socket_lines", socket_lines),
];

/// A manifest (as text, lossily) is parsed and, when it parses, resolved
/// into a plan; every error names the file.
pub fn manifest(data: &[u8]) {
    let file = Path::new("fuzz.toml");
    let text = String::from_utf8_lossy(data).into_owned();
    let errors = match manifest::parse(file, text) {
        Ok(parsed) => match plan::resolve(&parsed) {
            Ok(_) => return,
            Err(errors) => errors,
        },
        Err(errors) => errors,
    };
    assert!(!errors.0.is_empty(), "an error without a message");
    for error in errors.0 {
        let shown = error.to_string();
        assert!(shown.starts_with("fuzz.toml"), "{shown}");
    }
}

/// A checkpoint's bytes after its magic and version, framed with a good
/// checksum so the decoding behind it is reached: with an odd first byte
/// they are the whole rest of the file; otherwise a good header for the
/// stages below comes first and they are the stage states. Decoding and
/// restoring fail or succeed, and a restore that succeeds read exactly
/// what each stage kind keeps.
pub fn checkpoint(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut runners = stages();
    let mut file = Vec::new();
    let mut out = Writer::new(&mut file).expect("writing to memory");
    if mode % 2 == 0 {
        let header = Header {
            pipeline: "fuzz".into(),
            batch: 1,
            sources: Default::default(),
            stages: runners.iter().map(|r| r.id().to_owned()).collect(),
            summary: Default::default(),
            input_ended: false,
            run: 1,
        };
        let json = serde_json::to_vec(&header).expect("a header encodes");
        out.put(serde_bytes::Bytes::new(&json))
            .expect("writing to memory");
    }
    out.raw(body).expect("writing to memory");
    out.finish().expect("writing to memory");
    let Ok(loaded) = checkpoint::decode(Path::new("fuzz.ckpt"), file, "fuzz") else {
        return;
    };
    let mut states = loaded.states();
    for runner in &mut runners {
        if runner.restore(&mut states).is_err() {
            return;
        }
    }
}

/// One stage of each kind that keeps state, over two partitions.
fn stages() -> Vec<StageRunner> {
    let sum = || Operator::Native(NativeOperator::sum());
    let event_time = EventTime {
        length: 10,
        slide: 5,
        delay: 2,
        lateness: 3,
    };
    let steps = [
        Step::Window {
            length: 3,
            slide: 1,
        },
        Step::ReduceByKeyAndWindow {
            reduce: sum(),
            inverse: Some(Operator::Native(NativeOperator::subtract())),
            windowing: Windowing::Batches {
                length: 3,
                slide: 1,
            },
        },
        Step::ReduceByKeyAndWindow {
            reduce: sum(),
            inverse: None,
            windowing: Windowing::EventTime(event_time),
        },
        Step::CountByValueAndWindow(Windowing::EventTime(event_time)),
        Step::UpdateStateByKey(sum(), None),
    ];
    steps
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            let plan = StagePlan {
                id: Id::new(&format!("s{i}")).expect("a good id"),
                inputs: Vec::new(),
                step,
                parallelism: 2,
                shadow: None,
                sides_in_header: false,
            };
            StageRunner::new("fuzz", &plan)
        })
        .collect()
}

/// An intent log's lines are read into intents or refused naming a line
/// that exists.
pub fn intent_log(data: &[u8]) {
    if let Err((line, _)) = checkpoint::parse_intents(data) {
        let lines = data.split(|&b| b == b'\n').count();
        assert!((1..=lines).contains(&line), "line {line} of {lines}");
    }
}

/// A batch as a guest might return it, laid out from the bytes: when the
/// layout check passes, every record reads back, and cutting it in two
/// and joining the parts gives the same records.
pub fn batch_layout(data: &[u8]) {
    let mut bytes = Bytes(data);
    let records = usize::from(bytes.byte() % 8);
    let batch = Batch {
        keys: bytes.list(),
        has_key: (0..records).map(|_| bytes.byte() % 2 == 1).collect(),
        values: bytes.list(),
        timestamps: (0..records).map(|_| i64::from(bytes.byte())).collect(),
        header_owners: (0..bytes.byte() % 4)
            .map(|_| u32::from(bytes.byte() % 9))
            .collect(),
        header_names: bytes.list(),
        header_values: bytes.list(),
    };
    if let Ok(()) = batch.keys.check("keys") {
        assert_eq!(batch.keys.iter().count(), batch.keys.len());
    }
    if batch.check().is_err() {
        return;
    }
    let all = seen(&batch);
    let cut = usize::from(bytes.byte()).min(batch.len());
    let joined = Batch::concat(vec![
        batch.part(0..cut).into_owned(),
        batch.part(cut..batch.len()).into_owned(),
    ]);
    joined.check().expect("joined parts are well laid out");
    assert_eq!(all, seen(&joined));
}

/// What a reader of `batch` sees: each record's key, value, time and
/// headers (not the bytes an absent key happens to hold).
fn seen(batch: &Batch) -> Vec<String> {
    batch
        .iter()
        .map(|r| {
            let headers: Vec<_> = r.headers.iter().collect();
            format!("{:?} {:?} {} {headers:?}", r.key, r.value, r.timestamp)
        })
        .collect()
}

/// Bytes taken one field at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }

    /// A byte list: either laid out right from item lengths (odd first
    /// byte) or with raw ends, as a careless guest might.
    fn list(&mut self) -> ByteList {
        let well_formed = self.byte() % 2 == 1;
        let items = self.byte() % 8;
        let mut list = ByteList::with_capacity(0, 0);
        if well_formed {
            for _ in 0..items {
                let len = usize::from(self.byte() % 8);
                let item: Vec<u8> = (0..len).map(|_| self.byte()).collect();
                list.push(&item);
            }
        } else {
            list.ends = (0..items).map(|_| u32::from(self.byte() % 16)).collect();
            list.data = (0..self.byte() % 16).map(|_| self.byte()).collect();
        }
        list
    }
}

/// A byte stream, arriving in reads of a few bytes (the first byte says
/// how many) with lines cut at a few bytes (the second says how many),
/// becomes the records a line reader promises: each line without its
/// `\n` or `\r\n`, in pieces of at most the cap, nothing lost or added.
pub fn socket_lines(data: &[u8]) {
    let [read, cap, stream @ ..] = data else {
        return;
    };
    let (read, cap) = (usize::from(read % 16) + 1, usize::from(cap % 16) + 1);
    let got = crate::source::lines_of(stream, read, cap);
    let mut expected: Vec<&[u8]> = Vec::new();
    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            expected.push(line);
        }
        expected.extend(line.chunks(cap));
    }
    let got: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
    assert_eq!(got, expected);
}
