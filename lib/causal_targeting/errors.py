"""The exceptions a user can meet.

Each one names what is wrong (the table, the column, the key) and how to fix it. The CLI prints
``str(error)`` on one line and exits with status 2, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class UserError(Exception):
    """Base class of every error caused by input or configuration rather than by a bug."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration key is unknown, has the wrong type, or a config file is unreadable."""


class DataContractError(UserError):
    """A table breaks the data contract: missing column, wrong values, too few rows, ..."""

    def __init__(self, table: str, problem: str, fix: str, column: str | None = None) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.fix = fix
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}. Fix: {fix}")


def refuse_missing_columns(
    columns: Iterable[str], needed: Sequence[str], table: str, fix: str
) -> None:
    """Refuse a table whose ``columns`` lack any of ``needed``: a :class:`DataContractError`
    naming the table, the missing columns (the first of them as its column) and ``fix``."""
    present = set(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataContractError(table, f"missing columns {missing}", fix, column=missing[0])


class ModelError(UserError):
    """A model URI does not resolve, or a model does not fit the table it is asked to score."""


class InfeasibleError(UserError):
    """Guardrails that no allocation can satisfy; names each guardrail at fault."""

    def __init__(self, guardrails: list[str], detail: str) -> None:
        self.guardrails = guardrails
        super().__init__(f"infeasible guardrails {', '.join(guardrails)}: {detail}")
