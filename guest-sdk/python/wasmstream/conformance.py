"""The conformance kit (`wit/conformance/*.json` in the wasmstream
repository), run in CPython against an operator, outside any component:

    python3 -m wasmstream.conformance KIT.json app.py

A kit names an operator kind and lists cases: params, one call's input,
and what must come back (records, keep flags, folded values, new states),
or the error that must (the record it names, words its message holds),
or an `init` that must refuse its params. `layout.json` instead pins the
contract's columnar layout: each case's records and their exact columns.
Bytes are written as JSON text (UTF-8), or as `{"hex": "ff00"}`.
"""

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

from . import batch, component, kinds
from .errors import describe
from .params import Params
from .record import Record


@dataclasses.dataclass
class ByteList:
    data: bytes
    ends: list


@dataclasses.dataclass
class Batch:
    keys: ByteList
    has_key: list
    values: ByteList
    timestamps: list
    header_owners: list
    header_names: ByteList
    header_values: ByteList


@dataclasses.dataclass
class StateInput:
    keys: ByteList
    has_state: list
    states: ByteList
    timing_out: list
    values: ByteList
    group_ends: list
    batch_time: int


@dataclasses.dataclass
class StateOutput:
    keep: list
    states: ByteList
    output: Batch


@dataclasses.dataclass
class CogroupInput:
    keys: ByteList
    left: Batch
    left_ends: list
    right: Batch
    right_ends: list


@dataclasses.dataclass
class ProcessInput:
    keys: ByteList
    has_state: list
    states: ByteList
    records: Batch
    record_ends: list
    fired: list
    fired_ends: list
    pending: list
    pending_ends: list
    watermark: object
    batch_time: int


@dataclasses.dataclass
class ProcessOutput:
    keep: list
    states: ByteList
    timers: list
    timer_ends: list
    output: Batch


class Types:
    """Stand-ins for the bindings' types, with the same fields."""

    ByteList = ByteList
    Batch = Batch


def data(value):
    """Bytes as a kit writes them."""
    if value is None:
        return None
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    return value.encode()


def record(r):
    return Record(
        data(r["value"]),
        key=data(r.get("key")),
        timestamp=r.get("timestamp", 0),
        headers=[(data(n), data(v)) for n, v in r.get("headers", [])],
    )


def byte_list(value):
    return ByteList(data(value["data"]), list(value["ends"]))


def columns(c):
    """A batch from a layout case's columns."""
    return Batch(
        byte_list(c["keys"]),
        list(c["has-key"]),
        byte_list(c["values"]),
        list(c["timestamps"]),
        list(c["header-owners"]),
        byte_list(c["header-names"]),
        byte_list(c["header-values"]),
    )


def check_layout(case):
    """Problems with packing and unpacking one layout case."""
    expected = [record(r) for r in case["records"]]
    problems = []
    packed = batch.pack(Types, expected)
    if packed != columns(case["columns"]):
        problems.append(f"packed as {packed}, expected {columns(case['columns'])}")
    unpacked = batch.records(columns(case["columns"]))
    if unpacked != expected:
        problems.append(f"unpacked as {unpacked}, expected {expected}")
    return problems


def call(kind, operator, case):
    """Runs one case's call: what came back, in the kit's terms."""
    given = case["input"]
    if kind == "map":
        out = kinds.run_map(operator, batch.pack(Types, map(record, given)), Types)
        return [batch.records(out)]
    if kind == "filter":
        return [kinds.run_filter(operator, batch.pack(Types, map(record, given)), Types)]
    if kind == "flat-map":
        out = kinds.run_flat_map(operator, batch.pack(Types, map(record, given)), Types)
        return [batch.records(out)]
    if kind == "reduce":
        groups = given["groups"]
        values = [data(v) for g in groups for v in g["values"]]
        ends, end = [], 0
        for g in groups:
            end += len(g["values"])
            ends.append(end)
        keys = batch.pack_items(Types, [data(g["key"]) for g in groups])
        out = kinds.run_reduce(operator, keys, batch.pack_items(Types, values), ends, Types)
        return [batch.items(out)]
    if kind == "update-state":
        groups = given["groups"]
        values = [data(v) for g in groups for v in g.get("values", [])]
        ends, end = [], 0
        for g in groups:
            end += len(g.get("values", []))
            ends.append(end)
        state_input = StateInput(
            batch.pack_items(Types, [data(g["key"]) for g in groups]),
            [g.get("state") is not None for g in groups],
            batch.pack_items(Types, [data(g.get("state")) or b"" for g in groups]),
            [g.get("timing_out", False) for g in groups],
            batch.pack_items(Types, values),
            ends,
            given.get("batch_time", 0),
        )
        out = kinds.run_update(operator, state_input, Types, StateOutput)
        return [out.keep, batch.items(out.states), batch.records(out.output)]
    if kind == "cogroup":
        groups = given["groups"]
        sides = {}
        for side in ("left", "right"):
            side_records, ends = [], []
            for g in groups:
                side_records.extend(record(r) for r in g[side])
                ends.append(len(side_records))
            sides[side] = (batch.pack(Types, side_records), ends)
        cogroup_input = CogroupInput(
            batch.pack_items(Types, [data(g["key"]) for g in groups]),
            *sides["left"],
            *sides["right"],
        )
        out = kinds.run_cogroup(operator, cogroup_input, Types)
        return [batch.records(out)]
    if kind == "keyed-process":
        groups = given["groups"]
        runs = {name: ([], []) for name in ("records", "fired", "pending")}
        for g in groups:
            for name, (flat, ends) in runs.items():
                flat.extend(g.get(name, []))
                ends.append(len(flat))
        process_input = ProcessInput(
            batch.pack_items(Types, [data(g["key"]) for g in groups]),
            [g.get("state") is not None for g in groups],
            batch.pack_items(Types, [data(g.get("state")) or b"" for g in groups]),
            batch.pack(Types, map(record, runs["records"][0])),
            runs["records"][1],
            *runs["fired"],
            *runs["pending"],
            given.get("watermark"),
            given.get("batch_time", 0),
        )
        out = kinds.run_process(operator, process_input, Types, ProcessOutput)
        timers, first = [], 0
        for end in out.timer_ends:
            timers.append(out.timers[first:end])
            first = end
        return [out.keep, batch.items(out.states), timers, batch.records(out.output)]
    raise ValueError(f"unknown kind {kind!r}")


def expected(kind, case):
    want = case["output"]
    if kind in ("map", "flat-map"):
        return [[record(r) for r in want]]
    if kind == "filter":
        return [want]
    if kind == "reduce":
        return [[data(v) for v in want]]
    if kind == "cogroup":
        return [[record(r) for r in want]]
    if kind == "keyed-process":
        return [
            want["keep"],
            [data(s) for s in want["states"]],
            want["timers"],
            [record(r) for r in want["records"]],
        ]
    return [
        want["keep"],
        [data(s) for s in want["states"]],
        [record(r) for r in want["records"]],
    ]


def check(kind, cls, case):
    """Problems with one case run against the operator class `cls`."""
    operator = cls()
    try:
        operator.init(Params(case.get("params", {}).items()))
        refused = None
    except Exception as e:
        refused = describe(e)
    if "init_error" in case:
        if refused is None:
            return ["init accepted params it must refuse"]
        missing = [w for w in case["init_error"]["contains"] if w not in refused]
        return [f"init refused with {refused!r}, without {missing}"] if missing else []
    if refused is not None:
        return [f"init refused: {refused}"]
    try:
        got = call(kind, operator, case)
    except kinds.Failed as failed:
        if "error" not in case:
            return [f"failed on record {failed.index}: {failed.message}"]
        want = case["error"]
        problems = []
        if failed.index != want["record"]:
            problems.append(f"failed on record {failed.index}, expected {want['record']}")
        missing = [w for w in want["contains"] if w not in failed.message]
        if missing:
            problems.append(f"error {failed.message!r} does not say {missing}")
        return problems
    if "error" in case:
        return [f"succeeded, expected to fail on record {case['error']['record']}"]
    want = expected(kind, case)
    return [] if got == want else [f"returned {got}, expected {want}"]


def run(kit, cls=None):
    """Every case of `kit` (parsed JSON): a list of (case, problem)."""
    problems = []
    for case in kit["cases"]:
        found = check_layout(case) if kit["kind"] == "layout" else check(kit["kind"], cls, case)
        problems.extend((case["name"], p) for p in found)
    return problems


def load_app(path):
    """Imports an operator's app.py and returns the class it exports."""
    path = Path(path).resolve()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"app_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    component.exported.clear()
    spec.loader.exec_module(module)
    if len(component.exported) != 1:
        raise ValueError(f"{path} exports {len(component.exported)} operators; expected one")
    return next(iter(component.exported.values()))


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: python3 -m wasmstream.conformance KIT.json [app.py]", file=sys.stderr)
        return 2
    kit = json.loads(Path(argv[1]).read_text())
    cls = load_app(argv[2]) if len(argv) == 3 else None
    problems = run(kit, cls)
    for case, problem in problems:
        print(f"{argv[1]}: {case}: {problem}")
    print(f"{argv[1]}: {len(kit['cases']) - len({c for c, _ in problems})} of {len(kit['cases'])} cases pass")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
