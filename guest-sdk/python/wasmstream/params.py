"""The string parameters a stage is given in the manifest."""


class Params:
    """A stage's `params` table from the manifest, handed to `init`.

    >>> params = Params([("field", "status"), ("equals", "500")])
    >>> params.require("field")
    'status'
    >>> params.only(["field"])
    Traceback (most recent call last):
    ValueError: unknown param `equals`; expected one of: field
    """

    __slots__ = ("_pairs",)

    def __init__(self, pairs=()):
        self._pairs = [(str(name), str(value)) for name, value in pairs]

    def get(self, name, default=None):
        """The value of a parameter, or `default` if it was not given."""
        for n, value in self._pairs:
            if n == name:
                return value
        return default

    def require(self, name):
        """The value of a parameter, or an error naming it."""
        value = self.get(name)
        if value is None:
            raise ValueError(f"param `{name}` is required")
        return value

    def parse(self, name, convert):
        """A parameter passed through `convert` (`int`, `float`, ...);
        `None` if absent, an error naming the parameter and the value if
        `convert` refuses it.

        >>> Params([("limit", "ten")]).parse("limit", int)
        Traceback (most recent call last):
        ValueError: param `limit` = 'ten': invalid literal for int() with base 10: 'ten'
        """
        value = self.get(name)
        if value is None:
            return None
        try:
            return convert(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"param `{name}` = {value!r}: {e}") from None

    def only(self, known):
        """Rejects any parameter not in `known`, so a misspelt name is
        caught at start-up rather than silently ignored."""
        for name, _ in self._pairs:
            if name not in known:
                if not known:
                    raise ValueError(f"unknown param `{name}`; this operator takes none")
                raise ValueError(f"unknown param `{name}`; expected one of: {', '.join(known)}")

    def __iter__(self):
        return iter(self._pairs)

    def __repr__(self):
        return f"Params({self._pairs!r})"
