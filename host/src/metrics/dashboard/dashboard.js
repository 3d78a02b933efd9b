// The wasmstream dashboard. Once a second it asks GET /v1/overview for
// every pipeline's figures at a glance (one recent batch each), and for
// the chosen pipeline its recent batches, events and checkpoints; it draws
// Spark's four timelines (input rate, scheduling delay, processing time
// against the interval, total delay), each with a histogram, hot-reload
// events marked on them, the stages (busy, backpressure, watermarks), the
// running and completed batches, and a batch's own page (each stage's
// time and records, each source's ranges). On a server the overview needs
// a token: the page asks for it and keeps it in this browser's local
// storage; a tenant's token shows its own pipelines.

"use strict";

const RECENT = 300;
const state = { charts: {}, token: localStorage.getItem("wasmstream-token") };

const $ = (id) => document.getElementById(id);
const cell = (content, cls) => {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content;
  if (cls) td.className = cls;
  return td;
};
const row = (cells) => {
  const tr = document.createElement("tr");
  cells.forEach((c) => tr.appendChild(c instanceof HTMLTableCellElement ? c : cell(c)));
  return tr;
};
const fixed = (x, digits) => Number(x).toFixed(digits);
const clock = (ms) => new Date(ms).toISOString().slice(11, 23);
const nameOf = (o) => (o.tenant ? `${o.tenant}/${o.pipeline}` : o.pipeline);

// Where the page is: `#pipeline=NAME` and, on a batch's page, `&batch=ID`.
function place() {
  const at = new URLSearchParams(location.hash.slice(1));
  return { pipeline: at.get("pipeline"), batch: at.get("batch") };
}
function go(pipeline, batch) {
  const at = new URLSearchParams({ pipeline });
  if (batch != null) at.set("batch", batch);
  location.hash = at.toString();
}

async function look(query) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const response = await fetch(`v1/overview?${query}`, { headers });
  if (response.status === 401) {
    $("login").hidden = false;
    throw new Error("this server needs an API token");
  }
  if (!response.ok) throw new Error(`the overview answered ${response.status}`);
  return response.json();
}

function drawPipelines(overviews, chosen) {
  $("pipelines").tBodies[0].replaceChildren(
    ...overviews.map((o) => {
      const last = o.recent[o.recent.length - 1];
      const versions = o.stages.filter((s) => s.version).map((s) => s.version.slice(0, 7));
      const tr = row([
        nameOf(o),
        cell(o.falling_behind ? "falling behind" : "keeping up", o.falling_behind ? "behind" : "ok"),
        versions.join(" ") || "-",
        String(o.batches),
        String(o.records_in),
        String(o.records_out),
        fixed(o.rate, 0),
        last ? fixed(last.scheduling_ms, 1) : "-",
        last ? fixed(last.processing_ms, 1) : "-",
        last ? fixed(last.scheduling_ms + last.processing_ms, 1) : "-",
        fixed(o.interval_ms, 0),
        String(o.batches_failed),
        String(o.batches_skipped),
      ]);
      tr.dataset.pipeline = nameOf(o);
      if (nameOf(o) === chosen) tr.classList.add("chosen");
      tr.addEventListener("click", () => go(nameOf(o)));
      return tr;
    }),
  );
}

// Event colours, by what happened.
const EVENT_COLOURS = {
  reloaded: "#1a73e8",
  promoted: "#188038",
  refused: "#b3261e",
  "rolled-back": "#e37400",
  "shadow-differed": "#a142f4",
};
const colourOf = (what) => EVENT_COLOURS[what] || "#5f6368";

// Draws each hot-reload event but a stage's start as a vertical line with
// its name, where its time falls on a timeline (and counts them in the
// chart's `data-marks`).
function eventMarks() {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const [min, max] = [u.scales.x.min, u.scales.x.max];
          let drawn = 0;
          ctx.save();
          ctx.font = `${11 * devicePixelRatio}px system-ui`;
          for (const e of state.events || []) {
            if (e.what === "started") continue;
            const t = e.time_ms / 1000;
            if (t < min || t > max) continue;
            const x = u.valToPos(t, "x", true);
            ctx.strokeStyle = ctx.fillStyle = colourOf(e.what);
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillText(e.stage ? `${e.what} ${e.stage}` : e.what, x + 4, u.bbox.top + 12 * devicePixelRatio);
            drawn += 1;
          }
          ctx.restore();
          u.root.dataset.marks = String(drawn);
        },
      ],
    },
  };
}

// One timeline per figure; x is the batch's time in seconds.
function timeline(id, label, series) {
  const target = $(id);
  const opts = {
    width: Math.max(target.clientWidth, 300),
    height: 170,
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, dash: s.dash }))],
    axes: [{}, { label }],
    plugins: [eventMarks()],
  };
  return new uPlot(opts, [[]], target);
}

// One histogram per figure: how many of the recent batches fell in each
// of twenty equal buckets.
function histogram(id, label, stroke) {
  const target = $(id);
  const opts = {
    width: Math.max(target.clientWidth, 100),
    height: 170,
    scales: { x: { time: false } },
    series: [{ label }, { label: "batches", stroke, fill: `${stroke}55`, paths: uPlot.paths.bars({ size: [0.9] }) }],
    axes: [{ label }, {}],
    legend: { show: false },
  };
  return new uPlot(opts, [[]], target);
}
function buckets(values) {
  if (values.length === 0) return [[], []];
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const width = (high - low) / 20 || 1;
  const counts = new Array(20).fill(0);
  for (const v of values) counts[Math.min(19, Math.floor((v - low) / width))] += 1;
  return [counts.map((_, i) => low + width * (i + 0.5)), counts];
}

const FIGURES = [
  { id: "rate", label: "records/s", stroke: "#1a73e8", series: [{ label: "input" }] },
  { id: "scheduling", label: "ms", stroke: "#e37400", series: [{ label: "scheduling" }] },
  {
    id: "processing",
    label: "ms",
    stroke: "#188038",
    series: [{ label: "processing" }, { label: "interval", stroke: "#9aa0a6", dash: [6, 4] }],
  },
  { id: "total", label: "ms", stroke: "#a142f4", series: [{ label: "total delay" }] },
];

function charts() {
  if (state.charts.rate) return state.charts;
  for (const f of FIGURES) {
    const series = f.series.map((s) => ({ stroke: f.stroke, ...s }));
    state.charts[f.id] = timeline(`chart-${f.id}`, f.label, series);
    state.charts[`${f.id}-histogram`] = histogram(`histogram-${f.id}`, f.label, f.stroke);
  }
  return state.charts;
}

// The input rate has a line per source (and the total when there are
// several): the chart is made again when the sources change.
const SOURCE_COLOURS = ["#1a73e8", "#e37400", "#188038", "#a142f4", "#b3261e", "#5f6368"];
function rateChart(sources) {
  const key = sources.join(",");
  if (state.rateSources === key) return;
  state.rateSources = key;
  state.charts.rate.destroy();
  const lines = sources.map((s, i) => ({ label: s, stroke: SOURCE_COLOURS[i % SOURCE_COLOURS.length] }));
  if (sources.length !== 1) lines.push({ label: "all", stroke: "#1d2330", dash: [6, 4] });
  state.charts.rate = timeline("chart-rate", "records/s", lines);
}

function drawCharts(o) {
  const recent = o.recent;
  const times = recent.map((b) => b.time_ms / 1000);
  const perSecond = (n) => (n * 1000) / o.interval_ms;
  const values = {
    rate: recent.map((b) => perSecond(b.records)),
    scheduling: recent.map((b) => b.scheduling_ms),
    processing: recent.map((b) => b.processing_ms),
    total: recent.map((b) => b.scheduling_ms + b.processing_ms),
  };
  const c = charts();
  const last = recent[recent.length - 1];
  const sources = last ? last.sources.map((s) => s.source) : [];
  rateChart(sources);
  for (const f of FIGURES) {
    const data = [times];
    if (f.id === "rate") {
      for (const source of sources) {
        data.push(recent.map((b) => perSecond((b.sources.find((s) => s.source === source) || { records: 0 }).records)));
      }
      if (sources.length !== 1) data.push(values.rate);
    } else {
      data.push(values[f.id]);
    }
    if (f.id === "processing") data.push(recent.map(() => o.interval_ms));
    c[f.id].setData(data);
    c[`${f.id}-histogram`].setData(buckets(values[f.id]));
  }
}

function busyBar(stage, o) {
  const span = document.createElement("span");
  span.className = "busy";
  const bar = document.createElement("span");
  bar.style.width = `${Math.min(100, stage.busy * 100)}%`;
  span.appendChild(bar);
  const text = document.createElement("span");
  text.textContent = `${fixed(stage.busy * 100, 0)}%`;
  const wrap = document.createElement("span");
  wrap.append(span, text);
  const busiest = Math.max(...o.stages.map((s) => s.busy));
  if (o.falling_behind) wrap.title = stage.busy === busiest ? "the bottleneck" : "held back by the bottleneck";
  return wrap;
}

function backpressure(stage, o) {
  if (!o.falling_behind) return cell("ok", "ok");
  const busiest = Math.max(...o.stages.map((s) => s.busy));
  return stage.busy === busiest ? cell("bottleneck", "behind") : cell("high", "behind");
}

function drawPipeline(o) {
  $("pipeline").hidden = false;
  $("batch-page").hidden = true;
  $("pipeline-name").textContent = nameOf(o);
  drawCharts(o);
  $("stages").tBodies[0].replaceChildren(
    ...o.stages.map((s) =>
      row([
        s.stage,
        String(s.records_in),
        String(s.records_out),
        String(s.dead_letters),
        cell(busyBar(s, o)),
        backpressure(s, o),
        s.watermark_ms != null ? clock(s.watermark_ms) : "-",
        s.version || "-",
        String(s.calls),
        fixed(s.cpu_seconds, 3),
        fixed(s.memory_bytes / 1048576, 1),
      ]),
    ),
  );
  const active = o.active;
  $("active").tBodies[0].replaceChildren(
    ...(active
      ? [row([String(active.id), clock(active.time_ms), fixed(Math.max(0, Date.now() - active.started_ms), 0)])]
      : []),
  );
  $("batches").tBodies[0].replaceChildren(
    ...o.recent
      .slice(-50)
      .reverse()
      .map((b) => {
        const link = document.createElement("a");
        link.href = `#${new URLSearchParams({ pipeline: nameOf(o), batch: b.id })}`;
        link.textContent = String(b.id);
        return row([
          cell(link),
          clock(b.time_ms),
          String(b.records),
          fixed(b.scheduling_ms, 1),
          fixed(b.processing_ms, 1),
          fixed(b.scheduling_ms + b.processing_ms, 1),
          cell(b.status, b.status),
          b.error || "",
        ]);
      }),
  );
  $("events").tBodies[0].replaceChildren(
    ...o.events
      .slice()
      .reverse()
      .map((e) => row([clock(e.time_ms), cell(e.what, `event-${e.what}`), e.stage || "-", e.reason])),
  );
  $("checkpoints").tBodies[0].replaceChildren(
    ...o.checkpoints
      .slice()
      .reverse()
      .map((c) => row([String(c.batch), clock(c.time_ms), fixed(c.took_ms, 1), String(c.bytes)])),
  );
}

// A batch's own page: each stage's time and records, each source's ranges.
function drawBatch(o, id) {
  $("pipeline").hidden = true;
  $("batch-page").hidden = false;
  const back = $("batch-back");
  back.href = `#${new URLSearchParams({ pipeline: nameOf(o) })}`;
  back.textContent = `← ${nameOf(o)}`;
  const b = o.recent.find((r) => String(r.id) === String(id));
  $("batch-title").textContent = `Batch ${id}`;
  if (!b) {
    $("batch-summary").textContent = "This batch is no longer among the recent ones kept.";
    $("batch-stages").tBodies[0].replaceChildren();
    $("batch-sources").tBodies[0].replaceChildren();
    return;
  }
  $("batch-summary").textContent =
    `cut at ${clock(b.time_ms)}, ${b.records} records, scheduling delay ${fixed(b.scheduling_ms, 1)} ms, ` +
    `processing ${fixed(b.processing_ms, 1)} ms, ${b.status}${b.error ? `: ${b.error}` : ""}`;
  $("batch-stages").tBodies[0].replaceChildren(
    ...b.stages.map((s) =>
      row([
        s.stage,
        fixed(s.ms, 2),
        s.fused_with.length ? `with ${s.fused_with.join(", ")}` : "-",
        String(s.records_in),
        String(s.records_out.reduce((a, n) => a + n, 0)),
        s.records_out.join(" / "),
      ]),
    ),
  );
  $("batch-sources").tBodies[0].replaceChildren(
    ...b.sources.map((s) => row([s.source, String(s.records), s.ranges.join(", ") || "-"])),
  );
}

async function refresh() {
  try {
    const overviews = await look("recent=1");
    const at = place();
    const chosen = at.pipeline || (overviews[0] && nameOf(overviews[0]));
    $("status").textContent = `${overviews.length} pipelines, updated ${new Date().toLocaleTimeString()}`;
    drawPipelines(overviews, chosen);
    if (!chosen) return;
    const [o] = await look(`recent=${RECENT}&pipeline=${encodeURIComponent(chosen)}`);
    if (!o) return;
    state.events = o.events;
    if (at.batch != null) drawBatch(o, at.batch);
    else drawPipeline(o);
  } catch (e) {
    $("status").textContent = String(e.message || e);
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  localStorage.setItem("wasmstream-token", state.token);
  $("login").hidden = true;
  refresh();
});
addEventListener("hashchange", refresh);

refresh();
setInterval(refresh, 1000);
