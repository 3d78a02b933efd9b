"""Update-state: counts the records of each key across batches (Spark's
running word count with `updateStateByKey`); the Python port of
`plugins/running-count`. Each batch it emits `(key, count so far)` for
every key that had records in it. With a stage `ttl`, a key idle that
long is forgotten and starts again from zero. Takes no params.
"""

import wasmstream
from wasmstream import text


class RunningCount(wasmstream.UpdateState):
    def update(self, key, out):
        if key.timing_out:
            return None
        before = 0 if key.state is None else text.parse_int(key.state)
        state = text.format_int(before + len(key.values))
        out.emit(wasmstream.Record(state, key=key.key, timestamp=key.batch_time))
        return state


UpdateState = wasmstream.export(RunningCount)
