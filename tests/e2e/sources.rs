//! Story: a data engineer streams from a folder that files keep arriving
//! in, and from a TCP socket.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;

use crate::support::{Running, manifest, output_lines, run, scratch, toml_path, wasm};

#[test]
fn directory_source_picks_up_new_files() {
    let dir = scratch("directory-watch");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/1.txt"), "First\nFile\n").unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "watch"
batch_interval = "50ms"

[[sources]]
id = "in"
kind = "directory"
path = "in"

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {}

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    running.wait_until("the first file is processed", || {
        output_lines(&out).len() == 2
    });

    // A writer moves a finished file in; the half-written temporary is skipped.
    std::fs::write(dir.join("in/2.txt.tmp"), "Second\nFile\nArrives\n").unwrap();
    std::fs::rename(dir.join("in/2.txt.tmp"), dir.join("in/2.txt")).unwrap();
    running.wait_until("the new file is processed", || {
        output_lines(&out).len() == 5
    });

    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(
        output_lines(&out),
        ["first", "file", "second", "file", "arrives"]
    );
}

#[test]
fn socket_source_reads_lines_until_the_server_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dir = scratch("socket");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "socket"
batch_interval = "50ms"

[[sources]]
id = "net"
kind = "socket"
address = "{address}"

[[stages]]
id = "lower"
kind = "map"
input = "net"
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
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let (mut stream, _) = listener.accept().unwrap();
    let sent: Vec<String> = (0..5000).map(|i| format!("Line {i}")).collect();
    for line in &sent {
        writeln!(stream, "{line}").unwrap();
    }
    drop(stream);

    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let expected: Vec<String> = sent.iter().map(|l| l.to_lowercase()).collect();
    assert_eq!(output_lines(&dir.join("out")), expected);
    assert!(result.stderr.contains("done: "), "{}", result.stderr);
}

#[test]
fn a_json_line_without_the_key_field_stops_the_pipeline_naming_the_file_the_byte_and_the_field() {
    let dir = scratch("json-lines-bad");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    // Each line is 22 bytes and a newline: the third starts at byte 46.
    let lines = [
        r#"{"user":"ada","t":101}"#,
        r#"{"user":"bob","t":102}"#,
        r#"{"name":"cy", "t":103}"#,
    ];
    std::fs::write(dir.join("in/clicks.json"), lines.join("\n") + "\n").unwrap();
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "json-lines"

[[sources]]
id = "clicks"
kind = "directory"
path = "in"
watch = false
key_field = "user"
timestamp_field = "t"

[[sinks]]
id = "out"
kind = "files"
input = "clicks"
path = "out"
"#,
    );
    let out = run(&["run", manifest.to_str().unwrap()]);
    assert!(!out.status.success(), "a line without `user` went through");
    let file = dir.join("in/clicks.json");
    let expected = format!(
        "source `clicks`: {} at byte 46: the line has no field `user`",
        file.display()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(
        output_lines(&dir.join("out")).is_empty(),
        "the batch with the bad line was written"
    );
}
