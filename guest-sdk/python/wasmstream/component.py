"""Hands an operator class to the component's bindings.

componentize-py looks in the app module for a class named after the
interface the component exports (`Map`, `Filter`, `FlatMap`, `Reduce`,
`UpdateState`, `KeyedProcess`, `Cogroup`, `Migrate`); `export` makes that
class from an operator class:

    FlatMap = wasmstream.export(SplitWords)

It creates the operator at `init`, runs each call through the kind's
`run_*`, and turns failures into the contract's errors: a rejected
`init` into its message, a failed record into an `operator-error`
naming it.
"""

from . import kinds
from .errors import describe
from .params import Params

# One operator instance per component instance, shared by the kind's
# interface and `Migrate`.
_operator = {}

#: The operator class `export` was given, by kind name ("FlatMap", ...):
#: what the conformance kit runs when an app is imported outside a
#: component.
exported = {}


def _kind_of(cls):
    for kind in _CALLS:
        if issubclass(cls, kind):
            return kind
    raise TypeError(
        f"{cls.__name__} is not an operator: subclass wasmstream.Map, Filter, "
        "FlatMap, Reduce, UpdateState, KeyedProcess or Cogroup"
    )


def _init(cls, params):
    from componentize_py_types import Err

    try:
        operator = cls()
        operator.init(Params(params))
    except Exception as e:
        raise Err(describe(e)) from None
    _operator["live"] = operator


def _call(run, *args):
    from componentize_py_types import Err
    from wit_world.imports import types

    try:
        return run(_operator["live"], *args, types)
    except kinds.Failed as failed:
        raise Err(types.OperatorError(failed.index, failed.message)) from None


def _run_update(operator, state_input, types):
    from wit_world.exports import update_state

    return kinds.run_update(operator, state_input, types, update_state.StateOutput)


def _run_process(operator, process_input, types):
    from wit_world.exports import keyed_process

    return kinds.run_process(operator, process_input, types, keyed_process.ProcessOutput)


#: Per kind: the interface's method the host calls, and how it runs.
_CALLS = {
    kinds.Map: ("map", kinds.run_map),
    kinds.Filter: ("filter", kinds.run_filter),
    kinds.FlatMap: ("flat_map", kinds.run_flat_map),
    kinds.Reduce: ("reduce", kinds.run_reduce),
    kinds.UpdateState: ("update", _run_update),
    kinds.KeyedProcess: ("process", _run_process),
    kinds.Cogroup: ("cogroup", kinds.run_cogroup),
}


def export(cls):
    """The class componentize-py calls for `cls`'s kind; outside a
    component (in tests), `cls` itself."""
    kind = _kind_of(cls)
    exported[kind.__name__] = cls
    try:
        from wit_world import exports
    except ImportError:
        return cls
    method, run = _CALLS[kind]

    def init(self, params):
        _init(cls, params)

    def call(self, *args):
        return _call(run, *args)

    # A subclass of the bindings' protocol, named after the interface.
    return type(kind.__name__, (getattr(exports, kind.__name__),), {"init": init, method: call})


def export_migrate(cls):
    """The `Migrate` class for an update-state operator that defines
    `migrate_state(self, from_version, state)`: export it beside the
    `UpdateState` class, and build for the world
    `migrating-update-state-operator`."""
    if not hasattr(cls, "migrate_state"):
        raise TypeError(f"{cls.__name__} defines no migrate_state(self, from_version, state)")
    try:
        from componentize_py_types import Err
        from wit_world import exports
        from wit_world.imports import types
    except ImportError:
        return cls

    class Migrate(exports.Migrate):
        def migrate_state(self, from_version, states):
            try:
                return kinds.run_migrate(_operator["live"], from_version, states, types)
            except Exception as e:
                raise Err(describe(e)) from None

    return Migrate
