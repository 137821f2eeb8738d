"""The exceptions visionrt raises; the extension module makes them from the
engine's errors through _from_engine."""

from __future__ import annotations


class Error(RuntimeError):
    """A failure reported by the engine.

    ``status`` names its cause, as the engine's status codes are spelled:
    ``invalid_argument``, ``not_found``, ``io_error``, ``corrupt_file``,
    ``unsupported``, ``shape_mismatch``, ``out_of_memory``, ``device_error``
    or ``internal``. The message names the file, tensor or argument.
    """

    __module__ = "visionrt"  # shown and pickled under the name users import it by
    status: str

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[type[Error], tuple[str, str]]:
        # Both arguments, so that the error crosses process boundaries whole.
        return (type(self), (str(self), self.status))


class InvalidArgumentError(Error, ValueError):
    """An unusable argument (status ``invalid_argument``): also a ValueError,
    as Python reports unusable values."""

    __module__ = "visionrt"

    def __init__(self, message: str, status: str = "invalid_argument") -> None:
        super().__init__(message, status)


def _from_engine(status: str, message: str) -> Error:
    if status == "invalid_argument":
        return InvalidArgumentError(message)
    return Error(message, status)
