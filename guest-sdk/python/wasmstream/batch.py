"""The contract's columnar batch (see `wit/operator.wit`), turned into
records and back.

A batch is seven flat lists: `keys` and `values` (byte lists: one buffer
and each item's end offset), `has-key` (one flag per record), `timestamps`,
and the headers of all records in record order (`header-owners`: the
record each belongs to; `header-names`, `header-values`: byte lists).
`types` is where the bindings' `Batch` and `ByteList` classes come from:
the component's generated `wit_world.imports.types`, or any namespace
with classes of the same fields (the conformance tests use plain ones).
"""

from collections.abc import Sequence
from itertools import accumulate, chain

from .record import Emitter, Record


def items(byte_list):
    """The items of a byte list, as bytes."""
    data, ends = byte_list.data, byte_list.ends
    return [data[start:end] for start, end in zip(chain((0,), ends), ends)]


class Items(Sequence):
    """Items `first..end` of a byte list, sliced out only when read: an
    update-state operator that only counts a key's values never copies
    them."""

    __slots__ = ("_data", "_ends", "_first", "_end")

    def __init__(self, byte_list, first, end):
        self._data, self._ends = byte_list.data, byte_list.ends
        self._first, self._end = first, end

    def __len__(self):
        return self._end - self._first

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("value index out of range")
        at = self._first + i
        start = self._ends[at - 1] if at else 0
        return self._data[start:self._ends[at]]

    def __eq__(self, other):
        return list(self) == list(other)

    def __repr__(self):
        return f"Items({list(self)!r})"


def records(batch):
    """The records of `batch`, in order."""
    keys = items(batch.keys)
    values = items(batch.values)
    out = [
        Record.__new__(Record) for _ in values
    ]
    for i, record in enumerate(out):
        record.key = keys[i] if batch.has_key[i] else None
        record.value = values[i]
        record.timestamp = batch.timestamps[i]
        record.headers = []
    if batch.header_owners:
        names = items(batch.header_names)
        header_values = items(batch.header_values)
        for h, owner in enumerate(batch.header_owners):
            out[owner].headers.append((names[h], header_values[h]))
    return out


def finish(types, out: Emitter):
    """The batch an emitter holds, as the bindings' `Batch`."""
    n = len(out.keys)
    if out.keys.count(None) == n:
        # No record has a key: the common case, without a loop.
        has_key, keys = [False] * n, types.ByteList(b"", [0] * n)
    else:
        has_key = [k is not None for k in out.keys]
        keys = pack_items(types, [b"" if k is None else k for k in out.keys])
    owners, names, header_values = [], [], []
    for first, count, headers in out.headers:
        for record in range(first, first + count):
            for name, value in headers:
                owners.append(record)
                names.append(name)
                header_values.append(value)
    return types.Batch(
        keys,
        has_key,
        pack_items(types, out.values),
        out.timestamps,
        owners,
        pack_items(types, names),
        pack_items(types, header_values),
    )


def pack(types, batch_records):
    """`batch_records` as the bindings' `Batch`."""
    out = Emitter()
    for record in batch_records:
        out.emit(record)
    return finish(types, out)


def pack_items(types, values):
    """A list of byte strings as the bindings' `ByteList`."""
    return types.ByteList(b"".join(values), list(accumulate(map(len, values))))
