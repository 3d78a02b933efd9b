"""The operator kinds, and how each runs over one call's batch.

Subclass one kind, override its method (and `init`, to take params), and
export the class with `wasmstream.export`. An operator may keep whatever
it likes on `self` between calls: one instance serves every batch of a
partition.

The `run_*` functions are what the exported component calls: each turns
the contract's columns into records (or keys), calls the operator once
per record (or key), and packs what comes back. A failure raises
`Failed` with the index of the record it names.
"""

from .batch import Items, finish, items, pack, pack_items, records
from .errors import describe
from .params import Params
from .record import Emitter


class Failed(Exception):
    """An operator failed on record `index` of the call's input."""

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index
        self.message = message


class Operator:
    """What every kind shares."""

    def init(self, params: Params):
        """Called once, before any batch, with the stage's params. Raise
        (`ValueError`, say) to reject them: the message reaches the user
        with the stage's name. By default an operator takes no params."""
        params.only([])


class Map(Operator):
    """One record in, one record out (Spark's `map`)."""

    def map(self, record):
        """Returns the record `record` becomes."""
        raise NotImplementedError("a Map operator defines map(self, record)")


class Filter(Operator):
    """Keeps or drops each record (Spark's `filter`)."""

    def filter(self, record):
        """Returns whether to keep `record`."""
        raise NotImplementedError("a Filter operator defines filter(self, record)")


class FlatMap(Operator):
    """One record in, zero or more out (Spark's `flatMap`)."""

    def flat_map(self, record, out: Emitter):
        """Emits the records `record` becomes into `out`."""
        raise NotImplementedError("a FlatMap operator defines flat_map(self, record, out)")


class Reduce(Operator):
    """An associative combine of two values of one key (Spark's
    `reduceByKey`): the host folds partial results again, so `reduce`
    must not care how the values are grouped."""

    def reduce(self, key, a, b):
        """Returns `a` and `b` (values of `key`, bytes) combined."""
        raise NotImplementedError("a Reduce operator defines reduce(self, key, a, b)")

    def reduce_all(self, key, values):
        """Returns all `values` of `key` folded into one. By default,
        `reduce` from left to right; override it when folding many at
        once is cheaper. `values` is a list of bytes, never empty."""
        folded = values[0]
        for i in range(1, len(values)):
            try:
                folded = self.reduce(key, folded, values[i])
            except Exception as e:
                e.wasmstream_position = i
                raise
        return folded


class KeyUpdate:
    """One key's turn in an update-state batch.

    - `key`: the key (bytes).
    - `state`: its state after the previous batch (bytes), `None` for a
      key not seen before (or evicted since).
    - `values`: its values in this batch, in record order (a sequence of
      bytes, each sliced out only when read; empty when timing out).
    - `timing_out`: the key has been idle past the stage's `ttl` and is
      being evicted: its last chance to emit; its state is deleted
      whatever `update` returns.
    - `batch_time`: when the batch was cut, in milliseconds since the Unix
      epoch: an operator's only clock, the same when a batch is replayed.
    """

    __slots__ = ("key", "state", "values", "timing_out", "batch_time")

    def __init__(self, key, state, values, timing_out=False, batch_time=0):
        self.key = key
        self.state = state
        self.values = values
        self.timing_out = timing_out
        self.batch_time = batch_time


class UpdateState(Operator):
    """Per-key state across batches (Spark's `updateStateByKey`).

    Define `migrate_state(self, from_version, state)` too, and export it
    with `wasmstream.export_migrate`, to convert the states an earlier
    version wrote when this one takes over in a running pipeline."""

    def update(self, key: KeyUpdate, out: Emitter):
        """Returns the key's new state (bytes), or `None` to delete it;
        may emit records into `out`."""
        raise NotImplementedError("an UpdateState operator defines update(self, key, out)")


class KeyedProcess(Operator):
    """Per-key state over event time, with timers (Flink's keyed process
    functions), for a `process_by_key` stage."""

    def process(self, key, timers, out: Emitter):
        """Processes one key (a `KeyEvents`): returns its new state
        (bytes), or `None` to delete it; sets or deletes its timers in
        `timers` (a `Timers`); may emit records into `out`."""
        raise NotImplementedError(
            "a KeyedProcess operator defines process(self, key, timers, out)"
        )


class KeyEvents:
    """One key's turn in a process-by-key batch.

    - `key`: the key (bytes); `state`: its state (bytes) or `None`.
    - `records`: its new records (`Record`s with timestamps and headers),
      in order; none behind the watermark.
    - `fired`: its timers the watermark reached (event times in ms),
      earliest first: each fires once.
    - `watermark`: the stage's watermark (ms), `None` before any
      timestamp; every record still to come is at or after it.
    - `batch_time`: when the batch was cut (ms).
    """

    __slots__ = ("key", "state", "records", "fired", "watermark", "batch_time")

    def __init__(self, key, state, records, fired=(), watermark=None, batch_time=0):
        self.key = key
        self.state = state
        self.records = records
        self.fired = list(fired)
        self.watermark = watermark
        self.batch_time = batch_time


class Timers:
    """A key's pending timers: event times (ms) at which it is called
    again, with or without records, once the watermark reaches them.

    >>> t = Timers([5000])
    >>> t.set(2000); t.set(5000); t.delete(2000)
    >>> t.pending
    [5000]
    """

    __slots__ = ("pending",)

    def __init__(self, pending=()):
        self.pending = sorted(set(pending))

    def set(self, at):
        """Sets a timer at `at` (once, however often it is set)."""
        if at not in self.pending:
            self.pending.append(int(at))
            self.pending.sort()

    def delete(self, at):
        """Deletes the timer at `at`, if there is one."""
        self.pending = [t for t in self.pending if t != at]

    def clear(self):
        """Deletes every timer."""
        self.pending = []


class Cogroup(Operator):
    """Two keyed streams' records, key by key, for a join stage with a
    component: it decides what each key makes (Spark's `cogroup`)."""

    def cogroup(self, key, left, right, out: Emitter):
        """Emits into `out` what `key`'s records make: `left` and `right`
        are its records of each side (lists of `Record`), in order; one
        may be empty."""
        raise NotImplementedError(
            "a Cogroup operator defines cogroup(self, key, left, right, out)"
        )


def run_map(operator, batch, types):
    out = []
    for i, record in enumerate(records(batch)):
        try:
            out.append(operator.map(record))
        except Exception as e:
            raise Failed(i, describe(e)) from None
    return pack(types, out)


def run_filter(operator, batch, types):
    keep = []
    for i, record in enumerate(records(batch)):
        try:
            keep.append(bool(operator.filter(record)))
        except Exception as e:
            raise Failed(i, describe(e)) from None
    return keep


def run_flat_map(operator, batch, types):
    out = Emitter()
    for i, record in enumerate(records(batch)):
        try:
            operator.flat_map(record, out)
        except Exception as e:
            raise Failed(i, describe(e)) from None
    return finish(types, out)


def run_reduce(operator, keys, values, group_ends, types):
    keys, values = items(keys), items(values)
    folded, first = [], 0
    for g, end in enumerate(group_ends):
        try:
            folded.append(bytes(operator.reduce_all(keys[g], values[first:end])))
        except Exception as e:
            at = first + getattr(e, "wasmstream_position", 0)
            raise Failed(at, describe(e)) from None
        first = end
    return pack_items(types, folded)


def run_update(operator, state_input, types, state_output):
    keys, states = items(state_input.keys), items(state_input.states)
    values = state_input.values
    keep, new_states, out, first = [], [], Emitter(), 0
    for g, end in enumerate(state_input.group_ends):
        update = KeyUpdate(
            keys[g],
            states[g] if state_input.has_state[g] else None,
            Items(values, first, end),
            state_input.timing_out[g],
            state_input.batch_time,
        )
        try:
            state = operator.update(update, out)
        except Exception as e:
            raise Failed(first, describe(e)) from None
        keep.append(state is not None)
        new_states.append(b"" if state is None else bytes(state))
        first = end
    return state_output(keep, pack_items(types, new_states), finish(types, out))


def run_cogroup(operator, cogroup_input, types):
    keys = items(cogroup_input.keys)
    left, right = records(cogroup_input.left), records(cogroup_input.right)
    out, l, r = Emitter(), 0, 0
    for g, (l_end, r_end) in enumerate(zip(cogroup_input.left_ends, cogroup_input.right_ends)):
        # The key's first record: its first left one, else its first right one.
        first = l if l < l_end else len(left) + r
        try:
            operator.cogroup(keys[g], left[l:l_end], right[r:r_end], out)
        except Exception as e:
            raise Failed(first, describe(e)) from None
        l, r = l_end, r_end
    return finish(types, out)


def run_process(operator, process_input, types, process_output):
    p = process_input
    keys, states = items(p.keys), items(p.states)
    all_records = records(p.records)
    keep, new_states, timers, timer_ends, out = [], [], [], [], Emitter()
    r = f = q = 0
    for g in range(len(keys)):
        r_end, f_end, q_end = p.record_ends[g], p.fired_ends[g], p.pending_ends[g]
        key = KeyEvents(
            keys[g],
            states[g] if p.has_state[g] else None,
            all_records[r:r_end],
            p.fired[f:f_end],
            p.watermark,
            p.batch_time,
        )
        pending = Timers(p.pending[q:q_end])
        try:
            state = operator.process(key, pending, out)
        except Exception as e:
            raise Failed(r, describe(e)) from None
        keep.append(state is not None)
        new_states.append(b"" if state is None else bytes(state))
        timers.extend(pending.pending)
        timer_ends.append(len(timers))
        r, f, q = r_end, f_end, q_end
    return process_output(keep, pack_items(types, new_states), timers, timer_ends, finish(types, out))


def run_migrate(operator, from_version, states, types):
    return pack_items(
        types, [bytes(operator.migrate_state(from_version, s)) for s in items(states)]
    )
