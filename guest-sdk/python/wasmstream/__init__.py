"""Operators for wasmstream in Python.

Write a class for one operator kind, one record (or one key) at a time,
and export it; `wasmstream build` (or `componentize-py`) makes it a
WebAssembly component that the host calls once per batch.

    import wasmstream

    class Upper(wasmstream.Map):
        def map(self, record):
            return record.with_value(record.value.upper())

    Map = wasmstream.export(Upper)

The pieces:

- `Record`, `Emitter`: one record, and where a flat-map or update-state
  operator puts what it makes (`record.py`).
- `Params`: the stage's `params` from the manifest, checked in `init`
  (`params.py`).
- `Error`: raised by an operator to fail a batch, naming the record.
- `Map`, `Filter`, `FlatMap`, `Reduce`, `UpdateState` (with `KeyUpdate`),
  `KeyedProcess` (with `KeyEvents`, `Timers`), `Cogroup`: the operator
  kinds (`kinds.py`), and `export`, which hands a class to the
  component's bindings (`component.py`).
- `text`, `json`: reading words, integers and JSON fields as the Rust
  SDK does.
- `batch`: the contract's columnar batch, turned into records and back
  (`batch.py`); only SDK code and tests need it.
"""

from .record import Record, Emitter
from .params import Params
from .errors import Error
from .kinds import (
    Map,
    Filter,
    FlatMap,
    Reduce,
    UpdateState,
    KeyUpdate,
    KeyedProcess,
    KeyEvents,
    Timers,
    Cogroup,
)
from .component import export, export_migrate
from . import text, json

__all__ = [
    "Record",
    "Emitter",
    "Params",
    "Error",
    "Map",
    "Filter",
    "FlatMap",
    "Reduce",
    "UpdateState",
    "KeyUpdate",
    "KeyedProcess",
    "KeyEvents",
    "Timers",
    "Cogroup",
    "export",
    "export_migrate",
    "text",
    "json",
]
