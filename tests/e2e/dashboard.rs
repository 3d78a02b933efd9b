//! Story: a data engineer opens the dashboard of a running pipeline in a
//! browser, watches its figures move, opens a batch's page, and sees a
//! hot reload marked on the timelines; on a server, each tenant's token
//! shows only its own pipelines. Drives Debian's headless chromium through
//! chromedriver (WebDriver, with fantoccini); `tests/run` installs both.
//! Each test saves a screenshot in `target/e2e-artifacts/`.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;

use crate::hosting::{Server, counting_pipeline};
use crate::metrics::{run_with_metrics, scrape};
use crate::support::{free_port, install, manifest, repo, scratch, toml_path, versioned_map};

/// How long the browser is given to show something.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long one browser session may take in all: a browser that hangs
/// fails the test instead of stopping the suite.
const SESSION: Duration = Duration::from_secs(300);

/// chromedriver on a port of its own (in a process group of its own, with
/// the browser it starts), and a headless chromium session.
struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    async fn open(profile: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver (tests/run installs chromium-driver)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1200",
                format!("--user-data-dir={}", profile.display()),
            ] }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let webdriver = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: a refused connection is
        // tried again, until the deadline.
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < PATIENCE => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot open a chromium session: {e}"),
            }
        };
        Browser { driver, client }
    }

    /// Opens the dashboard at `page`.
    async fn show(&self, page: &str) {
        self.client.goto(page).await.expect("open the dashboard");
    }

    /// Runs `script` in the page (its `arguments` are `args`).
    async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    /// Each row of table `id`'s body, as its cells' texts, read in the
    /// page in one step: the page redraws its tables every second, so a
    /// row found first and read after may be gone.
    async fn rows(&self, id: &str) -> Vec<Vec<String>> {
        let script = "const t = document.getElementById(arguments[0]);
            return t ? [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent)) : [];";
        serde_json::from_value(self.run(script, vec![id.into()]).await).expect("rows of cells")
    }

    /// Polls `look` until it gives something, for at most [`PATIENCE`].
    async fn until<T, F: Future<Output = Option<T>>>(&self, what: &str, look: impl Fn() -> F) -> T {
        let started = Instant::now();
        loop {
            if let Some(seen) = look().await {
                return seen;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} until {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The rows of table `id` once `check` likes them.
    async fn rows_when(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&[Vec<String>]) -> bool,
    ) -> Vec<Vec<String>> {
        self.until(what, || async {
            let rows = self.rows(id).await;
            check(&rows).then_some(rows)
        })
        .await
    }

    /// Saves what the browser shows as `target/e2e-artifacts/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let file = repo().join(format!("target/e2e-artifacts/{name}.png"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, png).unwrap();
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// chromedriver and the browser it started go, whatever happened.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// Runs `session` on a browser opened in `dir`, within [`SESSION`].
fn in_browser<F: Future<Output = ()>>(dir: &Path, session: impl FnOnce(Browser) -> F) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    tokio.block_on(async {
        let browser = Browser::open(&dir.join("chromium-profile")).await;
        tokio::time::timeout(SESSION, session(browser))
            .await
            .unwrap_or_else(|_| panic!("the browser session took over {SESSION:?}"));
    });
}

/// How many points the chart in `#chart-<id>` holds, and its last time.
const CHART_DATA: &str = "const c = state.charts[arguments[0]];
    const xs = c ? c.data[0] : [];
    return [xs.length, xs.length ? xs[xs.length - 1] : 0];";

#[test]
fn a_live_run_draws_its_figures_a_batch_page_and_a_reload_on_the_timeline() {
    let dir = scratch("dashboard-run");
    std::fs::write(dir.join("op.wasm"), versioned_map("v01")).unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "ticking"
batch_interval = "100ms"
reload = {{ probation = 2, debounce = "50ms" }}

[[sources]]
id = "gen"
kind = "generator"
rate = 500

[[stages]]
id = "lower"
kind = "map"
input = "gen"
component = {}

[[stages]]
id = "stamp"
kind = "map"
input = "lower"
component = "op.wasm"

[[sinks]]
id = "out"
kind = "files"
input = "stamp"
path = "out"
"#,
            toml_path(&crate::support::wasm("lowercase"))
        ),
    );
    let (running, url) = run_with_metrics(&manifest);
    let page = url.trim_end_matches("metrics").to_owned();
    let op = dir.join("op.wasm");
    in_browser(&dir, |browser| async move {
        browser.show(&page).await;

        // The pipeline's row, its batch count moving on.
        let batches = |rows: &[Vec<String>]| -> u64 { rows[0][3].parse().unwrap() };
        let first = browser
            .rows_when("pipelines", "the pipeline is listed", |rows| {
                rows.len() == 1 && rows[0][0] == "ticking"
            })
            .await;
        browser
            .rows_when("pipelines", "the batch count moves on", |rows| {
                batches(rows) > batches(&first) + 2
            })
            .await;

        // Each of the four timelines holds the recent batches, and the
        // newest point moves on as batches run; each histogram counts them.
        for chart in ["rate", "scheduling", "processing", "total"] {
            let seen = || async {
                let data = browser.run(CHART_DATA, vec![chart.into()]).await;
                (data[0].as_u64().unwrap(), data[1].as_f64().unwrap())
            };
            let (points, newest) = browser
                .until(&format!("the {chart} timeline has points"), || async {
                    let (points, newest) = seen().await;
                    (points > 2).then_some((points, newest))
                })
                .await;
            browser
                .until(&format!("the {chart} timeline moves on"), || async {
                    (seen().await.1 > newest).then_some(())
                })
                .await;
            let counted = browser
                .run(
                    "return state.charts[arguments[0] + '-histogram'].data[1].reduce((a, n) => a + n, 0);",
                    vec![chart.into()],
                )
                .await;
            assert!(counted.as_u64().unwrap() >= points, "{chart}'s histogram");
        }
        let rate: f64 = browser.rows("pipelines").await[0][6].parse().unwrap();
        assert!(rate > 0.0, "records flow: {rate}/s");
        let stages = browser.rows("stages").await;
        let names: Vec<&str> = stages.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(names, ["lower", "stamp"]);

        // A new version of `stamp`: the reload is listed and marked on
        // every timeline (which marked nothing before).
        let marks = |chart: &'static str| {
            let browser = &browser;
            async move {
                let marks = browser
                    .run(
                        "return document.querySelector('#chart-' + arguments[0] + ' .uplot').dataset.marks;",
                        vec![chart.into()],
                    )
                    .await;
                marks.as_str().map(str::to_owned)
            }
        };
        assert_eq!(marks("processing").await.as_deref(), Some("0"));
        install(&op, &versioned_map("v02"));
        browser
            .rows_when("events", "the reload is listed", |rows| {
                rows.iter().any(|r| r[1] == "reloaded" && r[2] == "stamp")
            })
            .await;
        for chart in ["rate", "scheduling", "processing", "total"] {
            browser
                .until(
                    &format!("the reload is marked on the {chart} timeline"),
                    || async { (marks(chart).await.as_deref() == Some("1")).then_some(()) },
                )
                .await;
        }
        browser.screenshot("dashboard-run").await;

        // A batch's page: each stage's time, and what the source gave.
        let newest = browser.rows("batches").await[0][0].clone();
        // Clicked in the page in one step (the table is redrawn each second).
        browser
            .run(
                "document.querySelector('#batches tbody tr:first-child a').click();",
                vec![],
            )
            .await;
        let title = browser
            .until("the batch's page opens", || async {
                let title = browser
                    .run("return document.getElementById('batch-page').hidden ? null : document.getElementById('batch-title').textContent;", vec![])
                    .await;
                title.as_str().map(str::to_owned)
            })
            .await;
        let shown: u64 = title.trim_start_matches("Batch ").parse().unwrap();
        assert!(shown >= newest.parse::<u64>().unwrap(), "{title}");
        let stages = browser
            .rows_when("batch-stages", "the batch's stages", |rows| rows.len() == 2)
            .await;
        let sources = browser.rows("batch-sources").await;
        assert_eq!(sources.len(), 1, "{sources:?}");
        let (source, read) = (&sources[0], sources[0][1].parse::<u64>().unwrap());
        assert_eq!(source[0], "gen");
        let range = source[2]
            .strip_prefix("records ")
            .expect("a generator's range");
        let (from, to) = range.split_once("..").unwrap();
        assert_eq!(
            to.parse::<u64>().unwrap() - from.parse::<u64>().unwrap(),
            read,
            "the range holds the records read"
        );
        for (stage, row) in ["lower", "stamp"].iter().zip(&stages) {
            assert_eq!(row[0], *stage);
            let ms: f64 = row[1].parse().unwrap();
            assert!(ms >= 0.0, "{row:?}");
            // Maps: as many records out as in, and the first takes what
            // the source read.
            assert_eq!(row[3], row[4], "{row:?}");
        }
        assert_eq!(stages[0][3], read.to_string());
        browser.screenshot("dashboard-batch").await;
        browser.close().await;
    });
    // Prometheus counts what the fused maps handed on too: each passes on
    // every record it was given.
    let samples = scrape(&url);
    let series = |name: &str, stage: &str| {
        samples[&format!(r#"{name}{{pipeline="ticking",stage="{stage}"}}"#)]
    };
    for stage in ["lower", "stamp"] {
        let into = series("wasmstream_stage_records_in_total", stage);
        assert!(into > 0.0, "{stage}");
        assert_eq!(
            series("wasmstream_stage_records_out_total", stage),
            into,
            "{stage}"
        );
    }
    running.interrupt();
    assert!(running.finish().status.success());
}

#[test]
fn on_a_server_each_tenants_token_shows_only_its_own_pipelines() {
    let dir = scratch("dashboard-serve");
    let server = Server::start(&dir);
    let a = server.tenant("a", &[]);
    let b = server.tenant("b", &[]);
    let a_manifest = counting_pipeline(&dir.join("a"), "counts", 100_000, 1000, "");
    let b_manifest = counting_pipeline(&dir.join("b"), "counts", 100_000, 1000, "");
    let b_private = counting_pipeline(&dir.join("b2"), "b-private", 100_000, 1000, "");
    server.ok(&a, &["deploy", a_manifest.to_str().unwrap()]);
    server.ok(&b, &["deploy", b_manifest.to_str().unwrap()]);
    server.ok(&b, &["deploy", b_private.to_str().unwrap()]);
    let page = format!("{}/", server.url);

    in_browser(&dir, |browser| async move {
        browser.show(&page).await;
        // No token yet: the page asks for one, and lists nothing.
        browser
            .until("the page asks for a token", || async {
                let hidden = browser
                    .run("return document.getElementById('login').hidden;", vec![])
                    .await;
                (hidden == Value::Bool(false)).then_some(())
            })
            .await;
        assert!(browser.rows("pipelines").await.is_empty());

        let log_in = |token: String| {
            let browser = &browser;
            async move {
                let field = browser
                    .client
                    .find(Locator::Id("token"))
                    .await
                    .expect("the token field");
                field.clear().await.expect("clear the field");
                field.send_keys(&token).await.expect("type the token");
                browser
                    .client
                    .find(Locator::Css("#login button"))
                    .await
                    .expect("the button")
                    .click()
                    .await
                    .expect("log in");
            }
        };
        let names = |rows: &[Vec<String>]| -> Vec<String> {
            let mut names: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
            names.sort();
            names
        };

        log_in(a.clone()).await;
        let rows = browser
            .rows_when("pipelines", "tenant a's pipelines are listed", |rows| {
                !rows.is_empty()
            })
            .await;
        assert_eq!(names(&rows), ["a/counts"]);
        // Its timelines draw as on a local run.
        browser
            .until("a's input-rate timeline has points", || async {
                let data = browser.run(CHART_DATA, vec!["rate".into()]).await;
                (data[0].as_u64().unwrap() > 2).then_some(())
            })
            .await;
        browser.screenshot("dashboard-tenant-a").await;

        // Tenant b's token, from a page that forgot a's.
        browser
            .run("localStorage.removeItem('wasmstream-token');", vec![])
            .await;
        browser.client.refresh().await.expect("reload the page");
        log_in(b.clone()).await;
        let rows = browser
            .rows_when("pipelines", "tenant b's pipelines are listed", |rows| {
                rows.len() == 2
            })
            .await;
        assert_eq!(names(&rows), ["b/b-private", "b/counts"]);
        browser.close().await;
    });
}
