"""Errors an operator raises."""


class Error(Exception):
    """Fails the batch: the host reports the stage, the record and this
    message (or dead-letters the record, if the pipeline says so).

    Any other exception an operator raises fails the batch the same way,
    its type named in the message."""


def describe(error: BaseException) -> str:
    """What the host shows for `error`: an `Error`'s own message, or the
    exception's type and message for anything else."""
    if isinstance(error, Error):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
