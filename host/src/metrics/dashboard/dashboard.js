// The wasmstream dashboard: polls GET /v1/overview once a second and
// draws the pipelines, and for the one chosen Spark's four timelines
// (input rate, scheduling delay, processing time against the interval,
// total delay), its stages and its recent batches. On a server the
// overview needs a token: the page asks for it and keeps it in this
// browser's local storage; a tenant's token shows its own pipelines.

"use strict";

const RECENT = 300;
const state = { chosen: location.hash.slice(1) || null, charts: {}, token: localStorage.getItem("wasmstream-token") };

const $ = (id) => document.getElementById(id);
const cell = (text, cls) => {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
};
const row = (cells) => {
  const tr = document.createElement("tr");
  cells.forEach((c) => tr.appendChild(typeof c === "string" ? cell(c) : c));
  return tr;
};
const fixed = (x, digits) => Number(x).toFixed(digits);
const nameOf = (o) => (o.tenant ? `${o.tenant}/${o.pipeline}` : o.pipeline);

async function look() {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const response = await fetch(`v1/overview?recent=${RECENT}`, { headers });
  if (response.status === 401) {
    $("login").hidden = false;
    throw new Error("this server needs an API token");
  }
  if (!response.ok) throw new Error(`the overview answered ${response.status}`);
  return response.json();
}

function drawPipelines(overviews) {
  const body = $("pipelines").tBodies[0];
  body.replaceChildren(
    ...overviews.map((o) => {
      const last = o.recent[o.recent.length - 1];
      const tr = row([
        nameOf(o),
        String(o.batches),
        String(o.records_in),
        String(o.records_out),
        fixed(o.rate, 0),
        last ? fixed(last.scheduling_ms, 1) : "-",
        last ? fixed(last.processing_ms, 1) : "-",
        fixed(o.interval_ms, 0),
        String(o.batches_failed),
        String(o.batches_skipped),
      ]);
      tr.dataset.pipeline = nameOf(o);
      if (nameOf(o) === state.chosen) tr.classList.add("chosen");
      tr.addEventListener("click", () => {
        state.chosen = nameOf(o);
        location.hash = state.chosen;
        refresh();
      });
      return tr;
    }),
  );
}

// One timeline per figure; x is the batch's time in seconds.
function timeline(id, label, series) {
  const target = $(id);
  const width = Math.max(target.clientWidth, 380);
  const opts = {
    width,
    height: 180,
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, dash: s.dash }))],
    axes: [{}, { label }],
    legend: { show: true },
  };
  return new uPlot(opts, [[]], target);
}

function charts() {
  if (state.charts.rate) return state.charts;
  state.charts = {
    rate: timeline("chart-rate", "records/s", [{ label: "input", stroke: "#1a73e8" }]),
    scheduling: timeline("chart-scheduling", "ms", [{ label: "scheduling", stroke: "#e37400" }]),
    processing: timeline("chart-processing", "ms", [
      { label: "processing", stroke: "#188038" },
      { label: "interval", stroke: "#9aa0a6", dash: [6, 4] },
    ]),
    total: timeline("chart-total", "ms", [{ label: "total delay", stroke: "#a142f4" }]),
  };
  return state.charts;
}

function drawPipeline(o) {
  $("pipeline").hidden = false;
  $("pipeline-name").textContent = nameOf(o);
  const recent = o.recent;
  const times = recent.map((b) => b.time_ms / 1000);
  const perSecond = recent.map((b) => (b.records * 1000) / o.interval_ms);
  const c = charts();
  c.rate.setData([times, perSecond]);
  c.scheduling.setData([times, recent.map((b) => b.scheduling_ms)]);
  c.processing.setData([times, recent.map((b) => b.processing_ms), recent.map(() => o.interval_ms)]);
  c.total.setData([times, recent.map((b) => b.scheduling_ms + b.processing_ms)]);

  $("stages").tBodies[0].replaceChildren(
    ...o.stages.map((s) =>
      row([
        s.stage,
        String(s.records_in),
        String(s.records_out),
        String(s.dead_letters),
        s.version || "-",
        String(s.calls),
        fixed(s.cpu_seconds, 3),
        fixed(s.memory_bytes / 1048576, 1),
      ]),
    ),
  );
  $("batches").tBodies[0].replaceChildren(
    ...recent
      .slice(-50)
      .reverse()
      .map((b) =>
        row([
          String(b.id),
          new Date(b.time_ms).toISOString().slice(11, 23),
          String(b.records),
          fixed(b.scheduling_ms, 1),
          fixed(b.processing_ms, 1),
          fixed(b.scheduling_ms + b.processing_ms, 1),
          cell(b.status, b.status),
        ]),
      ),
  );
}

async function refresh() {
  try {
    const overviews = await look();
    $("status").textContent = `${overviews.length} pipelines, updated ${new Date().toLocaleTimeString()}`;
    drawPipelines(overviews);
    const chosen = overviews.find((o) => nameOf(o) === state.chosen) || overviews[0];
    if (chosen) {
      state.chosen = nameOf(chosen);
      drawPipeline(chosen);
    }
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

refresh();
setInterval(refresh, 1000);
