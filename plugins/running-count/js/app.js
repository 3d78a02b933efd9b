// Update-state: counts the records of each key across batches and emits
// (key, count so far), stamped with the batch time; the JavaScript port
// of plugins/running-count. A key timing out is forgotten. No params.

import * as wasmstream from "./wasmstream.js";

class RunningCount extends wasmstream.UpdateState {
  update(key, out) {
    if (key.timingOut) return null;
    const before = key.state === null ? 0 : wasmstream.parseInteger(key.state);
    const state = wasmstream.formatInteger(before + key.values.length);
    out.emit(new wasmstream.Record(state, { key: key.key, timestamp: key.batchTime }));
    return state;
  }
}

export const updateState = wasmstream.exportUpdateState(RunningCount);
