"""One record, as an operator sees it, and where operators put records."""


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
    from .errors import Error

    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise Error(f"{what} is not UTF-8: {e.reason} at byte {e.start}") from None


class Emitter:
    """Where a flat-map or update-state operator puts the records it makes,
    in order. Records go straight into the output batch's columns."""

    __slots__ = ("keys", "key_ends", "has_key", "values", "value_ends", "timestamps",
                 "header_owners", "header_names", "header_name_ends", "header_values",
                 "header_value_ends")

    def __init__(self):
        self.keys = bytearray()
        self.key_ends = []
        self.has_key = []
        self.values = bytearray()
        self.value_ends = []
        self.timestamps = []
        self.header_owners = []
        self.header_names = bytearray()
        self.header_name_ends = []
        self.header_values = bytearray()
        self.header_value_ends = []

    def __len__(self):
        return len(self.value_ends)

    def emit(self, record):
        """Adds `record`."""
        self._push(record.key, record.value, record.timestamp, record.headers)

    def emit_like(self, like, key, value):
        """Adds a copy of `like` with `key` and `value` in place of its own
        (its timestamp and headers kept), without building a record: the
        cheap way to emit many records made from one."""
        self._push(None if key is None else as_bytes(key), as_bytes(value),
                   like.timestamp, like.headers)

    def _push(self, key, value, timestamp, headers):
        index = len(self.value_ends)
        if key is None:
            self.has_key.append(False)
        else:
            self.keys += key
            self.has_key.append(True)
        self.key_ends.append(len(self.keys))
        self.values += value
        self.value_ends.append(len(self.values))
        self.timestamps.append(timestamp)
        for name, v in headers:
            self.header_owners.append(index)
            self.header_names += name
            self.header_name_ends.append(len(self.header_names))
            self.header_values += v
            self.header_value_ends.append(len(self.header_values))
