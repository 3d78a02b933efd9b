"""One record, as an operator sees it, and where operators put records."""

from .errors import Error


def as_bytes(data):
    """`data` as bytes: text is encoded as UTF-8."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes or str, got {type(data).__name__}")


class Record:
    """One record: an optional key, a value, an event time (milliseconds
    since the Unix epoch) and headers (name, value pairs), all bytes.

    >>> r = Record("hello", key="k")
    >>> (r.key, r.value, r.value_str())
    (b'k', b'hello', 'hello')
    """

    __slots__ = ("key", "value", "timestamp", "headers")

    def __init__(self, value, key=None, timestamp=0, headers=()):
        self.value = as_bytes(value)
        self.key = None if key is None else as_bytes(key)
        self.timestamp = int(timestamp)
        self.headers = [(as_bytes(n), as_bytes(v)) for n, v in headers]

    def value_str(self):
        """The value as UTF-8 text, or an `Error` saying it is not."""
        return _text(self.value, "value")

    def key_str(self):
        """The key as UTF-8 text (`None` without a key), or an `Error`."""
        return None if self.key is None else _text(self.key, "key")

    def header(self, name):
        """The value of the first header called `name`, or `None`."""
        name = as_bytes(name)
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def with_key(self, key):
        """A copy with `key` (`None`: no key)."""
        return Record(self.value, key, self.timestamp, self.headers)

    def with_value(self, value):
        """A copy with `value`."""
        return Record(value, self.key, self.timestamp, self.headers)

    def with_timestamp(self, timestamp):
        """A copy with `timestamp`."""
        return Record(self.value, self.key, timestamp, self.headers)

    def with_header(self, name, value):
        """A copy with one more header."""
        return Record(self.value, self.key, self.timestamp, self.headers + [(name, value)])

    def __eq__(self, other):
        return isinstance(other, Record) and (
            self.key,
            self.value,
            self.timestamp,
            self.headers,
        ) == (other.key, other.value, other.timestamp, other.headers)

    def __repr__(self):
        return (
            f"Record(value={self.value!r}, key={self.key!r}, "
            f"timestamp={self.timestamp}, headers={self.headers!r})"
        )


def _text(data, what):
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise Error(f"{what} is not UTF-8: {e.reason} at byte {e.start}") from None


class Emitter:
    """Where a flat-map or update-state operator puts the records it makes,
    in order. It keeps each record's parts in lists and packs them into
    the output batch's columns once, at the end of the call, with bulk
    joins: per record, emitting costs a few list appends."""

    __slots__ = ("keys", "values", "timestamps", "headers")

    def __init__(self):
        self.keys = []
        self.values = []
        self.timestamps = []
        # (index of the first record, how many, their headers) for records
        # that have headers.
        self.headers = []

    def __len__(self):
        return len(self.values)

    def emit(self, record):
        """Adds `record`."""
        self.emit_like(record, record.key, record.value)

    def emit_like(self, like, key, value):
        """Adds a copy of `like` with `key` and `value` in place of its own
        (its timestamp and headers kept), without building a record."""
        if like.headers:
            self.headers.append((len(self.values), 1, like.headers))
        self.keys.append(key if key is None or type(key) is bytes else as_bytes(key))
        self.values.append(value if type(value) is bytes else as_bytes(value))
        self.timestamps.append(like.timestamp)

    def emit_values(self, like, key, values):
        """Adds one copy of `like` per item of `values` (bytes or text),
        each with `key` and that value: the cheap way for a flat-map to
        emit the many records it makes of one (the words of a line, say).

        >>> out = Emitter()
        >>> out.emit_values(Record("to be", timestamp=7), None, ["to", "be"])
        >>> len(out)
        2
        """
        n = len(values)
        if not n:
            return
        if like.headers:
            self.headers.append((len(self.values), n, like.headers))
        if key is not None and type(key) is not bytes:
            key = as_bytes(key)
        self.keys.extend([key] * n)
        types = set(map(type, values))
        if types == {bytes}:
            self.values.extend(values)
        elif types == {str}:
            # One encode for all, split again where the NULs joined them
            # (a value that held a NUL itself takes the slow way).
            encoded = "\0".join(values).encode().split(b"\0")
            if len(encoded) != n:
                encoded = [v.encode() for v in values]
            self.values.extend(encoded)
        else:
            self.values.extend([as_bytes(v) for v in values])
        self.timestamps.extend([like.timestamp] * n)
