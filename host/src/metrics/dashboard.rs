//! The web dashboard: static files built into the binary (no build step,
//! nothing fetched), served at `/` beside `/metrics` by `wasmstream run
//! --metrics` and by `wasmstream serve`. The page reads `GET /v1/overview`
//! (with the caller's token on a server) and draws with uPlot 1.6.32 (MIT,
//! vendored from npm in `dashboard/vendor/`).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Each file: its path, media type and contents.
const FILES: [(&str, &str, &str); 5] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    (
        "/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/dashboard.js"),
    ),
    (
        "/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/dashboard.css"),
    ),
    (
        "/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.min.css"),
    ),
];

/// Routes serving the dashboard's files.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    FILES
        .into_iter()
        .fold(Router::new(), |router, (path, kind, body)| {
            router.route(
                path,
                get(move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() }),
            )
        })
}
