//! Story: a platform team runs `wasmstream serve`; tenants ship pipelines
//! to it with `wasmstream deploy`. Each tenant sees and touches only its
//! own pipelines; a changed manifest is a hot reload; bad uploads are
//! refused with a clear error and change nothing; a server killed
//! mid-stream resumes every pipeline from its checkpoint.
//!
//! Every command here is the real CLI against a real server process;
//! outputs are read from the files the pipelines wrote in the tenants'
//! areas on the server's disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{
    Output, Running, batch_texts, free_port, install, run, scratch, toml_path, versioned_counter,
    wasm,
};

/// A server on a port of its own, with a fresh data folder.
pub(crate) struct Server {
    process: Running,
    pub(crate) url: String,
    admin: String,
    data: PathBuf,
}

impl Server {
    pub(crate) fn start(dir: &Path) -> Server {
        let data = dir.join("server");
        let (process, url) = Server::launch(&data);
        let line = process.wait_for_stdout("admin token");
        let admin = line.rsplit(' ').next().unwrap().to_owned();
        assert!(admin.starts_with("wst_"), "{line}");
        Server {
            process,
            url,
            admin,
            data,
        }
    }

    fn launch(data: &Path) -> (Running, String) {
        let listen = format!("127.0.0.1:{}", free_port());
        let process = Running::start(
            &[
                "serve",
                "--listen",
                &listen,
                "--data",
                data.to_str().unwrap(),
            ],
            Stdio::null(),
        );
        process.wait_for_stdout("listening on");
        (process, format!("http://{listen}"))
    }

    /// Runs the CLI against this server with `token`.
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &self.url, "--token", token]);
        run(&all)
    }

    /// Like [`Server::cli`], expecting success.
    pub(crate) fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert!(
            out.status.success(),
            "wasmstream {args:?} failed:\n{}\n{}\nserver log:\n{}",
            out.stdout,
            out.stderr,
            self.process.stderr()
        );
        out.stdout
    }

    /// Creates tenant `name` (with quota flags) and a token for it.
    pub(crate) fn tenant(&self, name: &str, quota: &[&str]) -> String {
        let mut args = vec!["tenant", "create", name];
        args.extend(quota);
        self.ok(&self.admin, &args);
        self.ok(&self.admin, &["token", "create", "--tenant", name])
            .trim()
            .to_owned()
    }

    /// Where a tenant's pipelines write `path`.
    fn files(&self, tenant: &str, path: &str) -> PathBuf {
        self.data
            .join("tenants")
            .join(tenant)
            .join("files")
            .join(path)
    }

    /// A raw request: (status, body).
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let with = |r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match token {
            Some(t) => r.header("Authorization", format!("Bearer {t}")),
            None => r,
        };
        let withb = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match token {
            Some(t) => r.header("Authorization", format!("Bearer {t}")),
            None => r,
        };
        let response = match method {
            "GET" => with(agent.get(&url)).call(),
            "DELETE" => with(agent.delete(&url)).call(),
            "POST" => withb(agent.post(&url)).send(body),
            "PUT" => withb(agent.put(&url)).send(body),
            _ => unreachable!(),
        };
        let mut response = response.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }
}

/// A tenant's pipeline folder with a manifest: a generator of `records`
/// records (`rate` a second) keyed by `status`, counted per key by
/// `op.wasm` (the versioned counter), into files at `out`.
pub(crate) fn counting_pipeline(
    dir: &Path,
    name: &str,
    records: u64,
    rate: u64,
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    if !dir.join("op.wasm").exists() {
        std::fs::write(dir.join("op.wasm"), versioned_counter("v00", "ok")).unwrap();
    }
    let manifest = dir.join("manifest.toml");
    let text = format!(
        r#"
[pipeline]
name = "{name}"
batch_interval = "50ms"
checkpoint = {{ dir = "checkpoints/{name}", every = 1 }}

[[sources]]
id = "in"
kind = "generator"
records = {records}
rate = {rate}

[[stages]]
id = "fields"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "status", value = "seq" }}

[[stages]]
id = "count"
kind = "update_state_by_key"
input = "fields"
component = "op.wasm"
parallelism = 2
{extra}

[[sinks]]
id = "out"
kind = "files"
input = "count"
path = "out/{name}"
"#,
        extract = toml_path(&wasm("json_extract")),
    );
    std::fs::write(&manifest, text).unwrap();
    manifest
}

/// Every output line of a counting pipeline: (key, seq, count, version),
/// in batch order.
fn counted(dir: &Path) -> Vec<(String, u64, i64, String)> {
    let batches = batch_texts(dir);
    let mut lines = Vec::new();
    for text in batches.values() {
        for line in text.lines() {
            let inner = line.trim_start_matches('(').trim_end_matches(')');
            let (key, rest) = inner.split_once(',').expect("(key,value)");
            let mut words = rest.rsplitn(3, ' ');
            let version = words.next().unwrap().to_owned();
            let count = words
                .next()
                .unwrap()
                .trim_start_matches('#')
                .parse()
                .unwrap();
            let seq = words.next().unwrap().parse().unwrap();
            lines.push((key.to_owned(), seq, count, version));
        }
    }
    lines
}

/// Checks every sequence number below `records` came out exactly once,
/// and each key's counts ran 1, 2, 3... (state carried over everything).
fn assert_exactly_once(lines: &[(String, u64, i64, String)], records: u64) {
    let mut seen = vec![0u32; records as usize];
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, seq, count, _) in lines {
        seen[*seq as usize] += 1;
        let before = last.entry(key).or_default();
        assert_eq!(
            *count,
            *before + 1,
            "key {key} jumped from {before} to {count}"
        );
        *before = *count;
    }
    let wrong: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n != 1)
        .take(10)
        .collect();
    assert!(wrong.is_empty(), "(seq, times seen) not once: {wrong:?}");
}

#[test]
fn two_tenants_each_see_only_their_own_pipelines_and_need_a_valid_token() {
    let dir = scratch("hosting-tenants");
    let server = Server::start(&dir);
    let a = server.tenant("a", &[]);
    let b = server.tenant("b", &[]);

    // The same pipeline name for both: names carry the tenant.
    let a_manifest = counting_pipeline(&dir.join("a"), "counts", 300, 3000, "");
    let b_manifest = counting_pipeline(&dir.join("b"), "counts", 200, 2000, "");
    let b_private = counting_pipeline(&dir.join("b2"), "b-private", 10, 1000, "");
    let deployed = server.ok(&a, &["deploy", a_manifest.to_str().unwrap()]);
    assert!(
        deployed.contains("pipeline `counts` (tenant `a`): version 1"),
        "{deployed}"
    );
    server.ok(&b, &["deploy", b_manifest.to_str().unwrap()]);
    server.ok(&b, &["deploy", b_private.to_str().unwrap()]);

    let (a_out, b_out) = (
        server.files("a", "out/counts"),
        server.files("b", "out/counts"),
    );
    server
        .process
        .wait_until("both tenants' pipelines wrote every record", || {
            counted(&a_out).len() == 300 && counted(&b_out).len() == 200
        });
    assert_exactly_once(&counted(&a_out), 300);
    assert_exactly_once(&counted(&b_out), 200);

    // Prometheus: the admin's token scrapes every tenant's pipelines, a
    // tenant's only its own; the counts are the records written.
    let a_sink = r#"wasmstream_sink_records_total{tenant="a",pipeline="counts",sink="out"} 300"#;
    let b_sink = r#"wasmstream_sink_records_total{tenant="b",pipeline="counts",sink="out"} 200"#;
    server
        .process
        .wait_until("the metrics count every record written", || {
            let (_, all) = server.request("GET", "/metrics", Some(&server.admin), b"");
            all.lines().any(|l| l == a_sink) && all.lines().any(|l| l == b_sink)
        });
    let (code, mine) = server.request("GET", "/metrics", Some(&a), b"");
    assert_eq!(code, 200, "{mine}");
    let a_source =
        r#"wasmstream_source_records_total{tenant="a",pipeline="counts",source="in"} 300"#;
    assert!(mine.lines().any(|l| l == a_sink), "{mine}");
    assert!(mine.lines().any(|l| l == a_source), "{mine}");
    assert!(!mine.contains(r#"tenant="b""#), "{mine}");
    let (_, theirs) = server.request("GET", "/metrics", Some(&b), b"");
    assert!(theirs.contains(r#"pipeline="b-private""#), "{theirs}");
    assert!(!theirs.contains(r#"tenant="a""#), "{theirs}");
    let (code, body) = server.request("GET", "/metrics", None, b"");
    assert_eq!(
        (code, body.contains("needs a token")),
        (401, true),
        "{body}"
    );
    // The overview `wasmstream top` reads follows the same rules.
    let (code, body) = server.request("GET", "/v1/overview", Some(&a), b"");
    assert_eq!(code, 200, "{body}");
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    let seen: Vec<(&str, &str, u64)> = (overview.as_array().unwrap().iter())
        .map(|o| {
            let tenant = o["tenant"].as_str().unwrap();
            (
                tenant,
                o["pipeline"].as_str().unwrap(),
                o["records_in"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("a", "counts", 300)]);

    let listed = server.ok(&a, &["ls"]);
    assert!(listed.contains("counts"), "{listed}");
    assert!(
        !listed.contains("b-private") && !listed.contains("\nb "),
        "{listed}"
    );

    // B's pipeline is answered exactly as one that does not exist.
    for (method, path) in [
        ("GET", "/v1/pipelines/{}"),
        ("GET", "/v1/pipelines/{}/logs"),
        ("GET", "/v1/pipelines/{}/events"),
        ("GET", "/v1/pipelines/{}/state"),
        ("GET", "/v1/pipelines/{}/metrics"),
        ("POST", "/v1/pipelines/{}/stop"),
        ("POST", "/v1/pipelines/{}/start"),
        ("DELETE", "/v1/pipelines/{}"),
    ] {
        let theirs = server.request(method, &path.replace("{}", "b-private"), Some(&a), b"");
        let nobodys = server.request(method, &path.replace("{}", "nobodys"), Some(&a), b"");
        assert_eq!(theirs.0, 404, "{method} {path}: {theirs:?}");
        assert_eq!(
            theirs.1.replace("b-private", "X"),
            nobodys.1.replace("nobodys", "X")
        );
    }
    let stop = server.cli(&a, &["stop", "b-private"]);
    assert!(
        stop.stderr.contains("there is no pipeline `b-private`"),
        "{}",
        stop.stderr
    );
    let listed = server.ok(&b, &["ls"]);
    assert!(
        listed.contains("b-private"),
        "B's pipeline is still there: {listed}"
    );
    let status = server.ok(&b, &["status", "b-private"]);
    assert!(!status.contains("stopped"), "{status}");

    // Tokens: none, malformed, revoked.
    let (code, body) = server.request("GET", "/v1/pipelines", None, b"");
    assert_eq!(
        (code, body.contains("needs a token")),
        (401, true),
        "{body}"
    );
    let (code, body) = server.request("GET", "/v1/pipelines", Some("wst_nothex_x"), b"");
    assert_eq!((code, body.contains("malformed")), (401, true), "{body}");
    let spare = server.ok(&server.admin, &["token", "create", "--tenant", "a"]);
    let spare = spare.trim();
    let id = spare.split('_').nth(1).unwrap();
    assert_eq!(
        server.request("GET", "/v1/pipelines", Some(spare), b"").0,
        200
    );
    server.ok(&server.admin, &["token", "revoke", id]);
    let (code, body) = server.request("GET", "/v1/pipelines", Some(spare), b"");
    assert_eq!((code, body.contains("revoked")), (401, true), "{body}");
    // A tenant cannot act as the admin.
    let refused = server.cli(&a, &["tenant", "create", "c"]);
    assert!(
        refused.stderr.contains("only an admin token"),
        "{}",
        refused.stderr
    );

    // The API describes itself.
    let (code, openapi) = server.request("GET", "/openapi.json", None, b"");
    assert_eq!(code, 200);
    assert!(openapi.contains("/v1/pipelines/{name}/logs"), "{openapi}");
}

#[test]
fn redeploying_a_changed_operator_is_a_hot_reload_and_an_unchanged_one_sends_nothing() {
    let dir = scratch("hosting-redeploy");
    let server = Server::start(&dir);
    let a = server.tenant("a", &[]);
    let records = 6000;
    let manifest = counting_pipeline(&dir.join("a"), "counts", records, 1000, "");
    let manifest = manifest.to_str().unwrap();
    let first = server.ok(&a, &["deploy", manifest]);
    assert!(first.contains("uploaded 2 of 2 components"), "{first}");
    let out = server.files("a", "out/counts");
    server
        .process
        .wait_until("the first version has counted", || {
            counted(&out).len() > 200
        });

    let stored = server.data.join("tenants/a/components");
    let before: Vec<_> = std::fs::read_dir(&stored)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    let again = server.ok(&a, &["deploy", manifest]);
    assert!(
        again.contains("uploaded 0 of 2 components (0 B)"),
        "{again}"
    );
    assert!(
        again.contains("version 1") && again.contains("unchanged"),
        "{again}"
    );
    let after: Vec<_> = std::fs::read_dir(&stored)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    assert_eq!(before, after, "no component was written again");

    install(&dir.join("a/op.wasm"), &versioned_counter("v01", "ok"));
    let changed = server.ok(&a, &["deploy", manifest]);
    assert!(changed.contains("uploaded 1 of 2 components"), "{changed}");
    assert!(
        changed.contains("version 2") && changed.contains("hot reload"),
        "{changed}"
    );
    server
        .process
        .wait_until("the pipeline counted everything", || {
            counted(&out).len() == records as usize
        });
    let lines = counted(&out);
    assert_exactly_once(&lines, records);
    let versions: Vec<&str> = lines.iter().map(|l| l.3.as_str()).collect();
    let swap = versions
        .iter()
        .position(|v| *v == "v01")
        .expect("v01 went live");
    assert!(versions[..swap].iter().all(|v| *v == "v00"));
    assert!(
        versions[swap..].iter().all(|v| *v == "v01"),
        "one swap, at a batch boundary"
    );
    assert!(swap > 0, "v00 ran first");
    let status = server.ok(&a, &["status", "counts"]);
    assert!(status.contains("version:  2"), "{status}");
}

#[test]
fn bad_uploads_are_refused_with_a_clear_error_and_change_nothing() {
    let dir = scratch("hosting-bad-input");
    let server = Server::start(&dir);
    let a = server.tenant("a", &["--pipelines", "1"]);
    let good = counting_pipeline(&dir.join("good"), "good", 10, 1000, "");
    server.ok(&a, &["deploy", good.to_str().unwrap()]);
    let components = || {
        std::fs::read_dir(server.data.join("tenants/a/components"))
            .unwrap()
            .count()
    };
    let stored = components();
    let refused = |args: &[&str], wanted: &str| {
        let out = server.cli(&a, args);
        assert!(!out.status.success(), "{args:?} succeeded:\n{}", out.stdout);
        assert!(
            out.stderr.contains(wanted),
            "{args:?}: wanted {wanted:?} in:\n{}",
            out.stderr
        );
    };

    // Quota: one pipeline.
    let second = counting_pipeline(&dir.join("second"), "second", 10, 1000, "");
    refused(
        &["deploy", second.to_str().unwrap()],
        "tenant `a` has 1 pipelines, its quota (`pipelines`)",
    );
    // Quota: operator memory, on a redeploy of the first.
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(
        &good,
        text.replace(
            "parallelism = 2",
            "parallelism = 2\nlimits = { memory = \"1GiB\" }",
        ),
    )
    .unwrap();
    refused(
        &["deploy", good.to_str().unwrap()],
        "stages[count].limits.memory is 1024 MiB, more than 256 MiB, past tenant `a`'s quota (`operator_memory`)",
    );
    std::fs::write(&good, &text).unwrap();
    // A files sink outside the manifest's folder.
    std::fs::write(
        &good,
        text.replace("path = \"out/good\"", "path = \"../../escape\""),
    )
    .unwrap();
    refused(
        &["deploy", good.to_str().unwrap()],
        "sinks[out].path is ../../escape, which climbs out with `..`",
    );
    std::fs::write(&good, &text).unwrap();
    // Components bigger than another tenant's upload quota.
    let small = server.tenant("small", &["--upload-size", "16KiB"]);
    let out = server.cli(&small, &["deploy", good.to_str().unwrap()]);
    assert!(
        out.stderr
            .contains("larger than 16384 bytes, tenant `small`'s quota (`upload_bytes`)"),
        "{}",
        out.stderr
    );
    let kept = std::fs::read_dir(server.data.join("tenants/small/components"));
    assert_eq!(kept.map_or(0, |d| d.count()), 0, "nothing kept for `small`");

    // Raw requests: a file that is not a component, one that imports what
    // the host does not grant, malformed JSON, an unknown pipeline.
    let put = |bytes: &[u8]| {
        let digest = wasmstream::plugin::content_hash(bytes);
        server.request("PUT", &format!("/v1/components/{digest}"), Some(&a), bytes)
    };
    let (code, body) = put(b"not a component at all");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("it is not a WebAssembly file"), "{body}");
    let importer =
        wat::parse_str(r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#).unwrap();
    let (code, body) = put(&importer);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("does not grant") || body.contains("not a wasmstream operator"),
        "{body}"
    );
    let (code, body) = server.request(
        "PUT",
        &format!("/v1/components/{}", "0".repeat(64)),
        Some(&a),
        b"abc",
    );
    assert_eq!(code, 400);
    assert!(body.contains("not the 0000"), "{body}");
    let (code, body) = server.request("POST", "/v1/pipelines", Some(&a), b"{\"plan\": nope");
    assert_eq!(code, 400);
    assert!(body.contains("not the JSON expected"), "{body}");
    refused(&["status", "nope"], "there is no pipeline `nope`");

    assert_eq!(components(), stored, "no component was kept");
    let listed = server.ok(&a, &["ls"]);
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("a ")).count(),
        1,
        "{listed}"
    );
    assert!(
        listed.contains(" v1 "),
        "the pipeline is still version 1: {listed}"
    );
}

#[test]
fn a_server_killed_mid_stream_resumes_every_pipeline_exactly_once() {
    let dir = scratch("hosting-restart");
    let server = Server::start(&dir);
    let a = server.tenant("a", &[]);
    let b = server.tenant("b", &[]);
    let records = 3000;
    server.ok(
        &a,
        &[
            "deploy",
            counting_pipeline(&dir.join("a"), "counts", records, 1000, "")
                .to_str()
                .unwrap(),
        ],
    );
    server.ok(
        &b,
        &[
            "deploy",
            counting_pipeline(&dir.join("b"), "counts", records, 1000, "")
                .to_str()
                .unwrap(),
        ],
    );
    let (a_out, b_out) = (
        server.files("a", "out/counts"),
        server.files("b", "out/counts"),
    );
    server.process.wait_until("both are part way", || {
        counted(&a_out).len() > 500 && counted(&b_out).len() > 500
    });
    let Server { process, data, .. } = server;
    process.kill();
    let written = counted(&a_out).len();
    assert!(written < records as usize, "killed mid-stream");

    let (process, _) = Server::launch(&data);
    let resumed = process.wait_for_stdout("resumed");
    assert!(resumed.contains("resumed 2 pipelines"), "{resumed}");
    process.wait_until("both counted everything", || {
        counted(&a_out).len() == records as usize && counted(&b_out).len() == records as usize
    });
    assert_exactly_once(&counted(&a_out), records);
    assert_exactly_once(&counted(&b_out), records);
}

/// A tenant's pipeline of `records` generated records (`rate` a second)
/// through `misbehaving_map` with `settings`, into files at `out/<name>`.
fn misbehaving_pipeline(
    dir: &Path,
    name: &str,
    interval: &str,
    records: u64,
    rate: u64,
    settings: &str,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
[pipeline]
name = "{name}"
batch_interval = "{interval}"

[[sources]]
id = "in"
kind = "generator"
records = {records}
rate = {rate}

[[stages]]
id = "map"
kind = "map"
input = "in"
component = {component}
{settings}

[[sinks]]
id = "out"
kind = "files"
input = "map"
path = "out/{name}"
"#,
        component = toml_path(&wasm("misbehaving_map")),
    );
    std::fs::write(&manifest, text).unwrap();
    manifest
}

/// The longest a batch of B may start late, measured as the gaps between
/// its output files less its interval: ten intervals, for a 2-core
/// machine that runs other tests beside this one.
const B_LATE: std::time::Duration = std::time::Duration::from_secs(1);

#[test]
fn a_tenants_looping_hoarding_and_trapping_pipelines_back_off_while_another_tenant_keeps_its_interval()
 {
    let dir = scratch("hosting-isolation");
    let server = Server::start(&dir);
    let a = server.tenant("a", &["--calls-at-once", "1"]);
    let b = server.tenant("b", &[]);
    let records = 600;
    // Triggered by no record: it passes everything through.
    let steady = misbehaving_pipeline(
        &dir.join("b"),
        "steady",
        "100ms",
        records,
        100,
        "params = { mode = \"panic\", on = \"never\" }",
    );
    server.ok(&b, &["deploy", steady.to_str().unwrap()]);
    let b_out = server.files("b", "out/steady");
    server
        .process
        .wait_until("B's pipeline writes", || b_out.is_dir());

    let hostile = [
        (
            "spin",
            "params = { mode = \"loop\" }\nlimits = { cpu = \"1s\" }",
            "exceeded its CPU budget of 1000 ms per call",
        ),
        (
            "hoard",
            "params = { mode = \"hog\" }\nlimits = { memory = \"16MiB\" }",
            "exceeded its memory limit of 16 MiB",
        ),
        ("trap", "params = { mode = \"panic\" }", "operator panicked"),
    ];
    for (name, settings, _) in &hostile {
        let manifest = misbehaving_pipeline(&dir.join("a"), name, "100ms", 1000, 100, settings);
        server.ok(&a, &["deploy", manifest.to_str().unwrap()]);
    }
    for (name, _, reason) in &hostile {
        server
            .process
            .wait_until(&format!("A's `{name}` is failed and backing off"), || {
                let status = server.ok(&a, &["status", name]);
                status.contains("state:    backing-off") && status.contains(reason)
            });
    }
    server
        .process
        .wait_until("A's `trap` was restarted and failed again", || {
            server
                .ok(&a, &["logs", "trap"])
                .contains("(restart 2 of 5)")
        });
    server
        .process
        .wait_until("B's pipeline wrote every record", || {
            crate::support::output_lines(&b_out).len() == records as usize
        });

    let mut seqs: Vec<u64> = crate::support::output_lines(&b_out)
        .iter()
        .map(|line| {
            line["{\"seq\":".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..records).collect::<Vec<_>>(),
        "B's output is complete, each record once"
    );
    let mut written: Vec<_> = std::fs::read_dir(&b_out)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    written.sort();
    let late = written
        .windows(2)
        .map(|w| {
            w[1].duration_since(w[0])
                .unwrap_or_default()
                .saturating_sub(std::time::Duration::from_millis(100))
        })
        .max()
        .unwrap();
    println!("B's batches started at most {late:?} late while A's pipelines failed beside it");
    assert!(late <= B_LATE, "B's batches were {late:?} late");
    let status = server.ok(&b, &["status", "steady"]);
    assert!(status.contains("restarts: 0"), "{status}");
}

#[test]
fn login_saves_the_server_and_token_logs_follow_and_sigterm_stops_cleanly() {
    let dir = scratch("hosting-login");
    let server = Server::start(&dir);
    let config = dir.join("config");
    // Only what `login` saved: no flags, no environment.
    let cli = |args: &[&str]| -> String {
        let out = crate::support::wasmstream()
            .args(args)
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("WASMSTREAM_SERVER")
            .env_remove("WASMSTREAM_TOKEN")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "wasmstream {args:?}:\n{stdout}\n{stderr}"
        );
        stdout.into_owned()
    };
    let said = cli(&["login", "--server", &server.url, "--token", &server.admin]);
    assert!(said.contains("as the admin"), "{said}");
    let saved = config.join("wasmstream/config.toml");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&saved)
            .unwrap()
            .contains(&server.admin)
    );

    cli(&["tenant", "create", "a"]);
    let quota = cli(&[
        "tenant",
        "quota",
        "a",
        "--pipelines",
        "3",
        "--cpu-per-second",
        "500ms",
    ]);
    assert!(
        quota.contains("a: 0 of 3 pipelines") && quota.contains("CPU a second 500 ms"),
        "{quota}"
    );
    assert!(cli(&["tenant", "ls"]).contains("a: 0 of 3 pipelines"));
    let token = cli(&["token", "create", "--tenant", "a"]);
    let said = cli(&["login", "--server", &server.url, "--token", token.trim()]);
    assert!(said.contains("as tenant `a`"), "{said}");
    let manifest = counting_pipeline(&dir.join("a"), "counts", 1_000_000, 200, "");
    cli(&["deploy", manifest.to_str().unwrap()]);

    let follow = Running::start(
        &[
            "logs",
            "counts",
            "--follow",
            "--server",
            &server.url,
            "--token",
            token.trim(),
        ],
        Stdio::null(),
    );
    follow.wait_for_stdout("running version 1");
    install(&dir.join("a/op.wasm"), &versioned_counter("v01", "ok"));
    cli(&["deploy", manifest.to_str().unwrap()]);
    let line = follow.wait_for_stdout("deployed version 2");
    assert!(line.contains("handed to the running pipeline"), "{line}");
    drop(follow);

    let Server { process, data, .. } = server;
    process.terminate();
    let stopped = process.finish();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(stopped.stderr.contains("stopped"), "{}", stopped.stderr);
    let (process, _) = Server::launch(&data);
    let resumed = process.wait_for_stdout("resumed");
    assert!(resumed.contains("resumed 1 pipelines"), "{resumed}");
}
