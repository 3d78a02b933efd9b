"""Keyed process: a session per key over event time, emitted when the key
has been idle for `gap` of event time; the Python port of
`plugins/event-sessions`. Emits `(key, "<events> events from <first> to
<last>")` stamped `last` once the watermark passes the last record's time
plus the gap. A record a gap or more after the session's last starts a
new one. Params: `gap` (required), a duration: "30s", "500ms", "2m", "1h".
"""

import re

import wasmstream
from wasmstream import text

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}


def duration(value):
    """`"30s"` in milliseconds."""
    found = re.fullmatch(r"(\d+)([a-z]*)", value)
    if not found:
        raise ValueError(f'`gap` must be a duration such as "30s", not {value!r}')
    n, unit = int(found[1]), found[2]
    if unit not in _UNITS:
        raise ValueError(f"`gap` {value!r}: the unit is ms, s, m or h")
    if n <= 0:
        raise ValueError(f"`gap` {value!r} must be above zero")
    return n * _UNITS[unit]


class EventSessions(wasmstream.KeyedProcess):
    def init(self, params):
        params.only(["gap"])
        self.gap = duration(params.require("gap"))

    def process(self, key, timers, out):
        session = None
        if key.state is not None:
            session = [text.parse_int(p) for p in key.state.split(b",")[:3]]
            if len(session) < 3:
                raise wasmstream.Error("session state has too few fields")
        if session and key.fired and key.fired[-1] >= session[2] + self.gap:
            self.emit(key.key, session, out)
            session = None
        for time in sorted(r.timestamp for r in key.records):
            if session and time - session[2] < self.gap:
                session = [session[0] + 1, min(session[1], time), max(session[2], time)]
            else:
                if session:
                    self.emit(key.key, session, out)
                session = [1, time, time]
        timers.clear()
        if session is None:
            return None
        timers.set(session[2] + self.gap)
        return b",".join(text.format_int(n) for n in session)

    @staticmethod
    def emit(key, session, out):
        events, first, last = session
        summary = f"{events} events from {first} to {last}"
        out.emit(wasmstream.Record(summary, key=key, timestamp=last))


KeyedProcess = wasmstream.export(EventSessions)
