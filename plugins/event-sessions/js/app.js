// Keyed process: a session per key over event time, emitted when the key
// has been idle for `gap` of event time; the JavaScript port of
// plugins/event-sessions. Emits (key, "<events> events from <first> to
// <last>") stamped `last` once the watermark passes the last record's
// time plus the gap. A record a gap or more after the session's last
// starts a new one. Params: `gap` (required), a duration: "30s", "500ms",
// "2m", "1h".

import * as wasmstream from "./wasmstream.js";

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

/** "30s" in milliseconds. */
function duration(value) {
  const found = /^(\d+)([a-z]*)$/.exec(value);
  if (!found) throw new Error(`\`gap\` must be a duration such as "30s", not ${JSON.stringify(value)}`);
  const [n, unit] = [Number(found[1]), found[2]];
  if (!(unit in UNITS)) throw new Error(`\`gap\` ${JSON.stringify(value)}: the unit is ms, s, m or h`);
  if (n <= 0) throw new Error(`\`gap\` ${JSON.stringify(value)} must be above zero`);
  return n * UNITS[unit];
}

function emit(key, [events, first, last], out) {
  const summary = `${events} events from ${first} to ${last}`;
  out.emit(new wasmstream.Record(summary, { key, timestamp: last }));
}

class EventSessions extends wasmstream.KeyedProcess {
  init(params) {
    params.only(["gap"]);
    this.gap = duration(params.require("gap"));
  }

  process(key, timers, out) {
    let session = null;
    if (key.state !== null) {
      session = new TextDecoder().decode(key.state).split(",").slice(0, 3).map(wasmstream.parseInteger);
      if (session.length < 3) throw new wasmstream.OperatorError("session state has too few fields");
    }
    const fired = key.fired.at(-1);
    if (session && fired !== undefined && fired >= session[2] + this.gap) {
      emit(key.key, session, out);
      session = null;
    }
    for (const time of key.records.map((r) => r.timestamp).sort((a, b) => a - b)) {
      if (session && time - session[2] < this.gap) {
        session = [session[0] + 1, Math.min(session[1], time), Math.max(session[2], time)];
      } else {
        if (session) emit(key.key, session, out);
        session = [1, time, time];
      }
    }
    timers.clear();
    if (session === null) return null;
    timers.set(session[2] + this.gap);
    return session.join(",");
  }
}

export const keyedProcess = wasmstream.exportKeyedProcess(EventSessions);
