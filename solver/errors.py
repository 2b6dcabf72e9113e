"""Expected outcomes the CLI reports without a traceback, and their exit codes."""

from __future__ import annotations

EXIT_OK, EXIT_INFEASIBLE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class UserError(Exception):
    """Bad input: the message names the field, what was given and what would work."""

    exit_code = EXIT_BAD_INPUT


class InfeasibleError(UserError):
    """The input is valid but no deployment meets it."""

    exit_code = EXIT_INFEASIBLE


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every exception class that is the user's to fix (imported lazily: costmodel loads no data)."""
    from costmodel import UnknownModelError, UnsupportedModelError
    from costmodel import BadInputFileError
    from costmodel import MissingDataError
    from costmodel import DataNotFoundError
    from costmodel import UnknownSystemError
    from costmodel import CorruptDataError
    from costmodel import BadArtifactsError

    return (
        UserError,
        UnknownModelError,
        UnsupportedModelError,
        MissingDataError,
        DataNotFoundError,
        UnknownSystemError,
        CorruptDataError,
        BadInputFileError,
        BadArtifactsError,
    )
