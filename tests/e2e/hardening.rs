//! Story: a platform team is about to let strangers run operators on its
//! server. Each hole a review found (issue 11) has a test here, named after
//! it, that an operator author or an unlucky user would trigger; the bad
//! manifests among them live with the others in `manifest_errors`.

use std::path::Path;

use std::process::Stdio;

use crate::support::{Running, manifest, output_lines, scratch, toml_path, wasm, wasmstream};

/// A pipeline in `dir` that runs `component` as a map over ten generated
/// records into `dir/out`, with `settings` (TOML lines) for the stage.
fn one_map(dir: &Path, component: &Path, settings: &str) -> std::path::PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "one-map"
batch_interval = "50ms"

[[sources]]
id = "gen"
kind = "generator"
records = 10

[[stages]]
id = "op"
kind = "map"
input = "gen"
component = {}
{settings}

[[sinks]]
id = "out"
kind = "files"
input = "op"
path = "out"
"#,
            toml_path(component)
        ),
    )
}

/// Runs `wasmstream run manifest` with its compile cache in `cache`.
fn run_with_cache(manifest: &Path, cache: &Path) -> crate::support::Output {
    let out = wasmstream()
        .env("WASMSTREAM_CACHE", cache)
        .args(["run", manifest.to_str().unwrap()])
        .output()
        .expect("run wasmstream");
    crate::support::Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Hole 1: memory was limited per linear memory, so a module with many
/// memories could hold many times the limit. Such a component is refused
/// when it is loaded.
#[test]
fn a_component_with_several_memories_in_one_module_is_refused_at_load() {
    let dir = scratch("multi-memory");
    let component = dir.join("two-memories.wasm");
    let text = r#"
        (component
            (core module $m
                (memory 1)
                (memory 1))
            (core instance (instantiate $m)))
    "#;
    std::fs::write(&component, wat::parse_str(text).unwrap()).unwrap();
    let manifest = one_map(&dir, &component, "");
    let out = crate::support::run(&["validate", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    let expected = format!(
        "{}:15: stages[0].component: cannot load operator {}: a module in it declares more than one linear memory (multi-memory), which operators may not use",
        manifest.display(),
        component.display()
    );
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
}

/// Hole 4: a damaged compile cache entry crashed every later start with
/// SIGSEGV or SIGTRAP, and stayed. It is now compiled again, with a
/// warning naming it, and replaced.
#[test]
fn a_damaged_compile_cache_entry_is_compiled_again_with_a_warning() {
    let dir = scratch("damaged-cache");
    let cache = dir.join("cache");
    let manifest = one_map(&dir, &wasm("lowercase"), "");
    let first = run_with_cache(&manifest, &cache);
    assert!(first.status.success(), "{}", first.stderr);
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];

    // Overwrite the middle of the compiled code with breakpoints (int3).
    let mut bytes = std::fs::read(entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 4096].fill(0xcc);
    std::fs::write(entry, &bytes).unwrap();

    let out = run_with_cache(&manifest, &cache);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "compile cache entry {} is unusable (its checksum does not match: it is damaged); compiling the component again",
            entry.display()
        )),
        "{}",
        out.stderr
    );
    let mut lines = output_lines(&dir.join("out"));
    lines.sort();
    assert_eq!(lines.len(), 10);
    assert_ne!(
        std::fs::read(entry).unwrap(),
        bytes,
        "the entry is replaced"
    );

    let again = run_with_cache(&manifest, &cache);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(
        !again.stderr.contains("compile cache entry"),
        "{}",
        again.stderr
    );
}

/// Hole 5: an operator's error message went whole into the log, however
/// long: 30 MB became one line. It is cut, and the cut is said.
#[test]
fn a_huge_error_message_from_an_operator_is_cut_in_the_log() {
    let dir = scratch("huge-error");
    let manifest = one_map(
        &dir,
        &wasm("misbehaving_map"),
        r#"params = { mode = "shout" }"#,
    );
    let out = crate::support::run(&["run", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr.len());
    let longest = out.stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 8192, "a log line of {longest} bytes");
    assert!(
        out.stderr.contains(&format!(
            "stage `op` (operator {}), partition 0, failed on record 0: {}… ({} more bytes cut)",
            wasm("misbehaving_map").display(),
            "A".repeat(4096),
            30_000_000 - 4096
        )),
        "{}",
        out.stderr.lines().last().unwrap_or_default()
    );
}

/// Hole 2: an operator that slept (a WASI clock wait) was never stopped:
/// the wait held the thread outside Wasm, where the CPU budget does not
/// reach. Timers now fire at once (the operator's clock is frozen anyway),
/// so sleeping in a loop spins in Wasm, and the budget stops it.
#[test]
fn an_operator_that_sleeps_is_stopped_by_its_cpu_budget() {
    let dir = scratch("sleeping-map");
    let manifest = one_map(
        &dir,
        &wasm("misbehaving_map"),
        r#"params = { mode = "sleep" }
limits = { cpu = "100ms" }"#,
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = running.finish();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "stage `op` (operator {}), partition 0, exceeded its CPU budget of 100 ms per call and was stopped in a call of",
            wasm("misbehaving_map").display()
        )),
        "{}",
        out.stderr
    );
}

/// Hole 2, at `init`: sleeping there hung `validate` and `run` before
/// anything started.
#[test]
fn an_operator_that_sleeps_in_init_is_stopped_and_validate_says_so() {
    let dir = scratch("sleeping-init");
    let manifest = one_map(
        &dir,
        &wasm("misbehaving_map"),
        r#"params = { mode = "reject", init = "sleep" }
limits = { cpu = "100ms" }"#,
    );
    let running = Running::start(&["validate", manifest.to_str().unwrap()], Stdio::null());
    let out = running.finish();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("exceeded its CPU budget of 100 ms per call and was stopped in `init`; if it needs longer, raise the stage's `limits.cpu`"),
        "{}",
        out.stderr
    );
}

/// A checkpointed pipeline named `name` in `dir`, writing its checkpoints
/// to `checkpoints` (relative to `dir`): 20 generated records into
/// `dir/out`, a checkpoint after every batch.
fn checkpointed(dir: &Path, name: &str, checkpoints: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "{name}"
batch_interval = "50ms"
checkpoint = {{ dir = "{checkpoints}", every = 1 }}

[[sources]]
id = "gen"
kind = "generator"
records = 20
rate = 200

[[sinks]]
id = "out"
kind = "files"
input = "gen"
path = "out"
"#
        ),
    )
}

/// The names of the files in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Hole 13: checkpoints removed by hand, with the intent logs left, made
/// a pipeline start from nothing without a word (and later blame a
/// damaged log). It now refuses, naming the folder and what is missing.
#[test]
fn intent_logs_without_their_checkpoints_are_refused_with_the_reason() {
    let dir = scratch("checkpoints-removed");
    let manifest = checkpointed(&dir, "removed", "checkpoints");
    crate::support::run_ok(&manifest);
    let checkpoints = dir.join("checkpoints");
    for name in names_in(&checkpoints) {
        if name.ends_with(".ckpt") {
            std::fs::remove_file(checkpoints.join(name)).unwrap();
        }
    }

    let out = crate::support::run(&["run", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "checkpoint folder {} has intent logs ({}",
            checkpoints.display(),
            checkpoints.join("intents-").display()
        )) && out
            .stderr
            .contains("but no checkpoint: the checkpoints were removed"),
        "{}",
        out.stderr
    );
}

/// Hole 13: a checkpoint folder another pipeline uses was reported as
/// damaged, and that pipeline's checkpoints renamed `.corrupt`. It is now
/// refused by the owner's name, and left as it is.
#[test]
fn a_checkpoint_folder_of_another_pipeline_is_refused_and_left_alone() {
    let dir = scratch("checkpoints-shared");
    let first = checkpointed(&dir.join("first"), "first", "../shared");
    crate::support::run_ok(&first);
    let shared = dir.join("shared");
    let before = names_in(&shared);

    let second = checkpointed(&dir.join("second"), "second", "../shared");
    let out = crate::support::run(&["run", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "checkpoint folder {} holds the checkpoints of pipeline `first`",
            shared.display()
        )) && out
            .stderr
            .contains("not of `second`; give each pipeline a checkpoint folder of its own"),
        "{}",
        out.stderr
    );
    assert_eq!(
        names_in(&shared),
        before,
        "the first pipeline's files are untouched"
    );
}

/// A pipeline in `dir` writing what a socket source reads from `address`
/// into `dir/out`, a record per line.
fn from_socket(dir: &Path, address: std::net::SocketAddr) -> std::path::PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "socket"
batch_interval = "50ms"

[[sources]]
id = "net"
kind = "socket"
address = "{address}"

[[sinks]]
id = "out"
kind = "files"
input = "net"
path = "out"
"#
        ),
    )
}

/// Hole 8: complete lines that arrived with the start of another were held
/// back until its newline came; and a connection reset then lost them.
/// Lines now go out as they complete, and a reset connection is made again
/// with nothing lost (the partial line too).
#[test]
fn socket_lines_go_out_as_they_complete_and_a_reset_loses_none_of_them() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = scratch("socket-reset");
    let manifest = from_socket(&dir, listener.local_addr().unwrap());
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let (mut first, _) = listener.accept().unwrap();
    first.write_all(b"x\ny\npar").unwrap();
    let out = dir.join("out");
    running.wait_until("the two complete lines are written", || {
        output_lines(&out) == ["x", "y"]
    });

    // Reset (SO_LINGER 0), as a server that crashes does.
    let socket = socket2::Socket::from(first);
    socket.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(socket);
    let (mut second, _) = listener.accept().unwrap();
    second.write_all(b"z\n").unwrap();
    drop(second);

    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(output_lines(&out), ["x", "y", "par", "z"]);
    assert!(
        result.stderr.contains("connection lost") && result.stderr.contains("reconnecting"),
        "{}",
        result.stderr
    );
}

/// Hole 8: the 1 MiB line cap was not applied, so a line with no newline
/// grew without bound (a 1 GiB line took 2 GiB). A longer line is split
/// into records of 1 MiB.
#[test]
fn an_overlong_socket_line_is_split_into_records_of_one_mib() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = scratch("socket-long-line");
    let manifest = from_socket(&dir, listener.local_addr().unwrap());
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let (mut stream, _) = listener.accept().unwrap();
    const MIB: usize = 1 << 20;
    let mut long = vec![b'a'; 2 * MIB + MIB / 2];
    long.extend_from_slice(b"\nend\n");
    stream.write_all(&long).unwrap();
    drop(stream);

    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let lengths: Vec<usize> = output_lines(&dir.join("out"))
        .iter()
        .map(String::len)
        .collect();
    assert_eq!(lengths, [MIB, MIB, MIB / 2, 3]);
}

/// Hole 9: a file whose name is not UTF-8 stopped the pipeline (as "No
/// such file"), on every restart; links to files were skipped without a
/// word. Such a file is read like any other, a link is read as the file
/// it names, and what cannot be read is skipped with the reason.
#[test]
fn a_directory_source_reads_odd_names_and_links_and_says_what_it_skips() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("odd-names");
    let input = dir.join("in");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(elsewhere.join("a-folder")).unwrap();
    std::fs::write(input.join("1-plain.txt"), "plain\n").unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"2-caf\xe9.txt");
    std::fs::write(input.join(odd), "odd name\n").unwrap();
    std::fs::write(elsewhere.join("linked.txt"), "linked\n").unwrap();
    std::os::unix::fs::symlink(elsewhere.join("linked.txt"), input.join("3-link.txt")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("gone.txt"), input.join("4-dangling.txt")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("a-folder"), input.join("5-folder")).unwrap();
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "odd-names"
batch_interval = "50ms"
checkpoint = { dir = "checkpoints", every = 1 }

[[sources]]
id = "files"
kind = "directory"
path = "in"
watch = false

[[sinks]]
id = "out"
kind = "files"
input = "files"
path = "out"
"#,
    );
    let first = crate::support::run_ok(&manifest);
    assert_eq!(
        output_lines(&dir.join("out")),
        ["plain", "odd name", "linked"]
    );
    for (skipped, why) in [
        ("4-dangling.txt", "it cannot be read"),
        ("5-folder", "it is a folder"),
    ] {
        assert!(
            first.stderr.contains(&format!(
                "skipping {}: {why}",
                input.join(skipped).display()
            )),
            "{}",
            first.stderr
        );
    }
    // Restarted, it resumes past every file, the odd name included.
    crate::support::run_ok(&manifest);
    assert_eq!(
        output_lines(&dir.join("out")),
        ["plain", "odd name", "linked"]
    );
}

/// Hole 9: each file was read whole into memory (a 254 MB input took over
/// 272 MB). Files are read a window at a time: copying a 256 MiB file in
/// small batches holds well under half of it.
#[test]
fn a_directory_source_reads_a_big_file_without_holding_it() {
    const FILE: u64 = 256 << 20;
    let dir = scratch("big-file");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let line = format!("{}\n", "x".repeat(1023));
    {
        use std::io::Write;
        let file = std::fs::File::create(dir.join("big.txt")).unwrap();
        let mut out = std::io::BufWriter::new(file);
        for _ in 0..FILE / line.len() as u64 {
            out.write_all(line.as_bytes()).unwrap();
        }
    }
    std::fs::rename(dir.join("big.txt"), input.join("big.txt")).unwrap();
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "big-file"
batch_interval = "10ms"

[[sources]]
id = "files"
kind = "directory"
path = "in"
max_batch_records = 4096

[[sinks]]
id = "out"
kind = "files"
input = "files"
path = "out"
"#,
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    let written = || -> u64 {
        std::fs::read_dir(&out).map_or(0, |entries| {
            entries
                .map(|e| e.unwrap())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.metadata().unwrap().len())
                .sum()
        })
    };
    running.wait_until_within(
        std::time::Duration::from_secs(180),
        "the whole file is copied",
        || written() >= FILE,
    );
    let peak = running.peak_memory();
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(written(), FILE);
    println!(
        "peak memory {} MiB reading a {} MiB file",
        peak >> 20,
        FILE >> 20
    );
    assert!(
        peak < FILE / 2,
        "the process held {} MiB reading a {} MiB file",
        peak >> 20,
        FILE >> 20
    );
}

/// Hole 11: the files sink rewrote bytes: invalid UTF-8 became U+FFFD, and
/// a record holding a line break became two lines. Each record is now one
/// line that says exactly which bytes it holds (`\xNN`, `\r`, `\n`, `\\`).
#[test]
fn the_files_sink_writes_the_bytes_it_was_given() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let topic = crate::kafka::fresh_topic("odd-bytes");
    crate::kafka::create_topics(&[&topic], 1);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", crate::kafka::bootstrap())
        .create()
        .unwrap();
    let values: [&[u8]; 4] = [b"caf\xe9", b"two\r\nlines", b"back\\slash", b"plain"];
    for value in values {
        producer
            .send(BaseRecord::<(), [u8]>::to(&topic).payload(value))
            .unwrap();
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();

    let dir = scratch("odd-bytes");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "odd-bytes"
batch_interval = "50ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{}"
topic = "{topic}"
start = "earliest"

[[sinks]]
id = "out"
kind = "files"
input = "in"
path = "out"
"#,
            crate::kafka::bootstrap()
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    running.wait_until("the four records are written", || {
        output_lines(&out).len() >= 4
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(
        output_lines(&out),
        [r"caf\xe9", r"two\r\nlines", r"back\\slash", "plain"]
    );
}

/// Hole 3: operator calls ran on a thread pool every pipeline shares, one
/// thread per partition, so a pipeline of 600 busy partitions took every
/// thread and its neighbour stopped. A pipeline now runs as many calls at
/// once as there are cores, and once a partition fails the batch the rest
/// are not run. (Each call spins for its whole 10 s budget: with shorter
/// budgets the old pool freed threads often enough for the neighbour to
/// get by, slowly.)
#[test]
fn a_pipeline_of_many_busy_partitions_leaves_its_neighbour_threads() {
    let dir = scratch("many-partitions");
    let hungry = dir.join("hungry");
    std::fs::create_dir_all(&hungry).unwrap();
    let hungry = manifest(
        &hungry,
        &format!(
            r#"
[pipeline]
name = "hungry"
batch_interval = "50ms"
on_error = "skip"

[[sources]]
id = "gen"
kind = "generator"
rate = 100000

[[stages]]
id = "spin"
kind = "map"
input = "gen"
component = {}
params = {{ mode = "loop" }}
parallelism = 600
limits = {{ cpu = "10s" }}

[[sinks]]
id = "out"
kind = "stdout"
input = "spin"
"#,
            toml_path(&wasm("misbehaving_map"))
        ),
    );
    let healthy = dir.join("healthy");
    std::fs::create_dir_all(healthy.join("in")).unwrap();
    let healthy_manifest = manifest(
        &healthy,
        &format!(
            r#"
[pipeline]
name = "healthy"
batch_interval = "50ms"

[[sources]]
id = "files"
kind = "directory"
path = "in"

[[stages]]
id = "lower"
kind = "map"
input = "files"
component = {}
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    let running = Running::start(
        &[
            "run",
            hungry.to_str().unwrap(),
            healthy_manifest.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    running.wait_for_log("started stage `spin`");
    let lines: String = (0..20000).map(|i| format!("LINE-{i:05}\n")).collect();
    std::fs::write(healthy.join("lines.txt"), &lines).unwrap();
    std::fs::rename(healthy.join("lines.txt"), healthy.join("in/lines.txt")).unwrap();
    let out = healthy.join("out");
    running.wait_until("the healthy pipeline has written every line", || {
        output_lines(&out).len() == 20000
    });
    running.interrupt();
    let result = running.finish();
    let mut got = output_lines(&out);
    got.sort();
    let expected: Vec<String> = (0..20000).map(|i| format!("line-{i:05}")).collect();
    assert_eq!(got, expected, "{}", result.stderr);
}

/// A pipeline in `dir` reading the files in `dir/in` whole (no
/// `max_batch_records`, so a backlog is one batch) through `component` as
/// a map with `settings`, into `dir/out`.
fn backlog_map(dir: &Path, component: &Path, settings: &str) -> std::path::PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "backlog"
batch_interval = "50ms"

[[sources]]
id = "files"
kind = "directory"
path = "in"

[[stages]]
id = "op"
kind = "map"
input = "files"
component = {}
{settings}

[[sinks]]
id = "out"
kind = "files"
input = "op"
path = "out"
"#,
            toml_path(component)
        ),
    )
}

/// Writes `lines` lines of `width` bytes (numbered, upper case) as
/// `dir/in/backlog.txt`, renamed in whole.
fn write_backlog(dir: &Path, lines: usize, width: usize) {
    use std::io::Write;
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut text = Vec::with_capacity(lines * (width + 1));
    for i in 0..lines {
        let start = text.len();
        write!(text, "LINE {i:08} ").unwrap();
        text.resize(start + width, b'X');
        text.push(b'\n');
    }
    std::fs::write(dir.join("backlog.txt"), text).unwrap();
    std::fs::rename(dir.join("backlog.txt"), input.join("backlog.txt")).unwrap();
}

/// Hole 12: with no `max_batch_records`, a 20 MB backlog was one batch
/// and one call, which no operator with a 16 MiB memory limit could take.
/// The batch is split into calls that fit, and every line comes out.
#[test]
fn a_backlog_bigger_than_the_memory_limit_is_split_into_calls_that_fit() {
    const LINES: usize = 100_000;
    let dir = scratch("backlog-memory");
    write_backlog(&dir, LINES, 200);
    let manifest = backlog_map(&dir, &wasm("lowercase"), r#"limits = { memory = "16MiB" }"#);
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    running.wait_until("every line is written", || {
        output_lines(&out).len() >= LINES
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let mut lines = output_lines(&out);
    assert_eq!(lines.len(), LINES);
    lines.sort();
    assert_eq!(lines[0], format!("line 00000000 {}", "x".repeat(186)));
    assert_eq!(
        lines[LINES - 1],
        format!("line {:08} {}", LINES - 1, "x".repeat(186))
    );
}

/// Hole 12, the CPU budget: 20,000 records that each take a fraction of a
/// millisecond took seconds as one call, far past a 200 ms budget. Calls
/// are sized by how long the last ones took, so each stays well inside.
#[test]
fn a_backlog_longer_than_the_cpu_budget_is_split_into_calls_that_fit() {
    const LINES: usize = 20_000;
    let dir = scratch("backlog-cpu");
    write_backlog(&dir, LINES, 40);
    let manifest = backlog_map(
        &dir,
        &wasm("misbehaving_map"),
        r#"params = { mode = "slow", spins = "200000" }
limits = { cpu = "200ms" }"#,
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    running.wait_until("every line is written", || {
        output_lines(&out).len() >= LINES
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(output_lines(&out).len(), LINES);
}

/// Hole 12, the message: when one record alone does not fit, the error
/// says how big the call was and which setting to raise.
#[test]
fn a_record_too_big_for_its_operator_names_the_call_and_the_setting() {
    let dir = scratch("record-too-big");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "too-big"
batch_interval = "50ms"

[[sources]]
id = "gen"
kind = "generator"
records = 3
record_bytes = 1048576

[[stages]]
id = "op"
kind = "map"
input = "gen"
component = {}
limits = {{ memory = "2MiB" }}

[[sinks]]
id = "out"
kind = "files"
input = "op"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    let out = crate::support::run(&["run", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "stage `op` (operator {}), partition 0, exceeded its memory limit of 2 MiB and was stopped in a call of 1 record (1 MiB); if it needs more, raise the stage's `limits.memory`",
            wasm("lowercase").display()
        )),
        "{}",
        out.stderr
    );
}
