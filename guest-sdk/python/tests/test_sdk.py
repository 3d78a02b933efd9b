"""The Python SDK's own tests, run with the standard library's runner:

    python3 -m unittest discover -s guest-sdk/python/tests

They run the SDK in CPython, outside any component: params, records and
the batch layout, each kind's calls and errors, and the conformance kit
(`wit/conformance`) against every stock operator's Python port.
"""

import doctest
import json
import sys
import unittest
from pathlib import Path

SDK = Path(__file__).resolve().parents[1]
REPO = SDK.parents[1]
sys.path.insert(0, str(SDK))

import wasmstream  # noqa: E402
from wasmstream import batch, conformance, kinds  # noqa: E402
from wasmstream.conformance import Types  # noqa: E402


def load_tests(loader, tests, ignore):
    for module in ("params", "record", "text", "json"):
        tests.addTests(doctest.DocTestSuite(f"wasmstream.{module}"))
    return tests


class ParamsAreCheckedAsInRust(unittest.TestCase):
    def test_messages_name_the_param(self):
        params = wasmstream.Params([("feild", "x"), ("limit", "ten")])
        with self.assertRaisesRegex(ValueError, r"^param `field` is required$"):
            params.require("field")
        with self.assertRaisesRegex(ValueError, r"^unknown param `feild`; expected one of: field$"):
            params.only(["field"])
        with self.assertRaisesRegex(ValueError, r"^unknown param `feild`; this operator takes none$"):
            params.only([])
        with self.assertRaisesRegex(ValueError, r"^param `limit` = 'ten': "):
            params.parse("limit", int)
        self.assertEqual(wasmstream.Params([("n", "3")]).parse("n", int), 3)


class Upper(wasmstream.Map):
    def map(self, record):
        if record.value == b"boom":
            raise wasmstream.Error("cannot shout boom")
        if record.value == b"bug":
            return {}["missing"]
        return record.with_value(record.value_str().upper())


class Keep(wasmstream.Filter):
    def filter(self, record):
        return record.key is not None


class Longest(wasmstream.Reduce):
    def reduce(self, key, a, b):
        if b == b"bad":
            raise wasmstream.Error("bad value")
        return a if len(a) >= len(b) else b


def columns(records):
    return batch.pack(Types, [wasmstream.Record(**r) for r in records])


class KindsRunOneRecordAtATime(unittest.TestCase):
    def test_a_map_keeps_keys_times_and_headers(self):
        given = [
            {"value": "a", "key": "k", "timestamp": 3, "headers": [("h", b"\xff")]},
            {"value": "b"},
        ]
        out = batch.records(kinds.run_map(Upper(), columns(given), Types))
        self.assertEqual(
            out,
            [
                wasmstream.Record("A", key="k", timestamp=3, headers=[("h", b"\xff")]),
                wasmstream.Record("B"),
            ],
        )

    def test_an_error_names_its_record_and_any_exception_its_type(self):
        with self.assertRaises(kinds.Failed) as failed:
            kinds.run_map(Upper(), columns([{"value": "a"}, {"value": "boom"}]), Types)
        self.assertEqual((failed.exception.index, failed.exception.message), (1, "cannot shout boom"))
        with self.assertRaises(kinds.Failed) as failed:
            kinds.run_map(Upper(), columns([{"value": "bug"}]), Types)
        self.assertEqual((failed.exception.index, failed.exception.message), (0, "KeyError: 'missing'"))

    def test_a_filter_returns_one_flag_per_record(self):
        given = columns([{"value": "a", "key": ""}, {"value": "b"}])
        self.assertEqual(kinds.run_filter(Keep(), given, Types), [True, False])

    def test_a_reduce_folds_each_group_and_names_the_value_it_failed_on(self):
        keys = batch.pack_items(Types, [b"x", b"y"])
        values = batch.pack_items(Types, [b"a", b"ccc", b"bb", b"d"])
        out = kinds.run_reduce(Longest(), keys, values, [3, 4], Types)
        self.assertEqual(batch.items(out), [b"ccc", b"d"])
        values = batch.pack_items(Types, [b"a", b"b", b"bad"])
        with self.assertRaises(kinds.Failed) as failed:
            kinds.run_reduce(Longest(), keys, values, [1, 3], Types)
        self.assertEqual(failed.exception.index, 2)

    def test_an_operator_takes_no_params_unless_it_says(self):
        with self.assertRaisesRegex(ValueError, "this operator takes none"):
            Upper().init(wasmstream.Params([("x", "1")]))


class TheConformanceKit(unittest.TestCase):
    KITS = REPO / "wit" / "conformance"

    def kit(self, name):
        return json.loads((self.KITS / f"{name}.json").read_text())

    def test_the_layout_is_packed_and_unpacked_exactly(self):
        self.assertEqual(conformance.run(self.kit("layout")), [])

    def test_every_python_port_passes_its_kit(self):
        ports = sorted(REPO.glob("plugins/*/python/app.py"))
        self.assertGreaterEqual(len(ports), 5)
        for app in ports:
            name = app.parents[1].name
            with self.subTest(port=name):
                cls = conformance.load_app(app)
                self.assertEqual(conformance.run(self.kit(name), cls), [])

    def test_a_wrong_expectation_is_reported_with_its_case(self):
        kit = self.kit("split-words")
        kit["cases"][0]["output"][0]["value"] = "TO"
        cls = conformance.load_app(REPO / "plugins/split-words/python/app.py")
        problems = conformance.run(kit, cls)
        self.assertEqual(len(problems), 1)
        self.assertEqual(problems[0][0], "each word keeps its line's key, time and headers")


if __name__ == "__main__":
    unittest.main()
