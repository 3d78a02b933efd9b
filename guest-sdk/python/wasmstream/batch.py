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

from .record import Emitter, Record


def items(byte_list):
    """The items of a byte list, as bytes."""
    data, start, out = byte_list.data, 0, []
    for end in byte_list.ends:
        out.append(data[start:end])
        start = end
    return out


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


def byte_list(types, data, ends):
    """A byte list of the bindings' type."""
    return types.ByteList(bytes(data), ends)


def finish(types, out: Emitter):
    """The batch an emitter holds, as the bindings' `Batch`."""
    return types.Batch(
        byte_list(types, out.keys, out.key_ends),
        out.has_key,
        byte_list(types, out.values, out.value_ends),
        out.timestamps,
        out.header_owners,
        byte_list(types, out.header_names, out.header_name_ends),
        byte_list(types, out.header_values, out.header_value_ends),
    )


def pack(types, batch_records):
    """`batch_records` as the bindings' `Batch`."""
    out = Emitter()
    for record in batch_records:
        out.emit(record)
    return finish(types, out)


def pack_items(types, values):
    """A list of byte strings as the bindings' `ByteList`."""
    data, ends = bytearray(), []
    for value in values:
        data += value
        ends.append(len(data))
    return byte_list(types, data, ends)
