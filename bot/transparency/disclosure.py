"""Statistical disclosure control for every table the report or the dashboard publishes.

A published table is a grid of counts with its row totals, column totals and grand total.
Three rules make it safe to publish:

1. Primary suppression: any count (cell or total) from 1 to threshold - 1 is hidden. Zeros
   are shown: "nobody" identifies nobody.
2. Secondary suppression: a hidden count must not be computable from what is shown. An
   attacker knows every shown number, that each row and column adds up to its total, and
   that counts are never negative. For each hidden count we compute, by linear
   programming over exactly those facts, the smallest and largest value it could have;
   more counts are hidden until no hidden count is pinned to one value and every
   primary one could lie anywhere in a range at least `protection` wide. (Row and column
   constraints of a two-way table form a network matrix, so the LP bounds are the integer
   bounds: integrality tells the attacker nothing more.)
3. Sparse rows (community areas with few events) are merged into "other" before anything
   is published (`merge_sparse`).

Optionally, counts get calibrated noise first (`add_noise`, OpenDP's discrete Laplace);
suppression after noise is post-processing and keeps the differential-privacy guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy.optimize import linprog

THRESHOLD = 10
OTHER = "other"

Entry = tuple[int, int]  # (row, column) in the table extended by its totals


@dataclass(frozen=True)
class Table:
    """Counts by row label and column label (e.g. week x topic, area x outcome)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.cells) != len(self.rows) or any(len(r) != len(self.columns) for r in self.cells):
            raise ValueError("a table needs one count per row and column")
        if any(v < 0 for r in self.cells for v in r):
            raise ValueError("counts are never negative")

    @classmethod
    def from_counts(cls, counts: dict[tuple[str, str], int], rows: Sequence[str],
                    columns: Sequence[str]) -> "Table":
        return cls(tuple(rows), tuple(columns),
                   tuple(tuple(int(counts.get((r, c), 0)) for c in columns) for r in rows))

    def extended(self) -> list[list[int]]:
        """The grid with a totals column and a totals row: (R+1) x (C+1)."""
        grid = [list(r) + [sum(r)] for r in self.cells]
        totals = [sum(r[j] for r in grid) for j in range(len(self.columns) + 1)]
        return grid + [totals]


@dataclass(frozen=True)
class Published:
    """What may be shown: None where a count is hidden."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    total: int | None
    threshold: int
    primary: int  # how many counts were below the threshold
    secondary: int  # how many more were hidden to protect them
    noise_scale: float | None = None
    notes: tuple[str, ...] = field(default=())

    def grid(self) -> list[list[int | None]]:
        """The published table extended by its totals, as `Table.extended` lays it out."""
        return [list(r) + [t] for r, t in zip(self.cells, self.row_totals)] + \
            [list(self.column_totals) + [self.total]]

    def as_dict(self) -> dict[str, object]:
        return {"rows": list(self.rows), "columns": list(self.columns),
                "cells": [list(r) for r in self.cells], "row_totals": list(self.row_totals),
                "column_totals": list(self.column_totals), "total": self.total,
                "threshold": self.threshold, "suppressed_primary": self.primary,
                "suppressed_secondary": self.secondary, "noise_scale": self.noise_scale}


def lines(n_rows: int, n_columns: int) -> list[tuple[list[Entry], Entry]]:
    """Each constraint of the extended grid: (entries that add up, the entry they add up to)."""
    out: list[tuple[list[Entry], Entry]] = []
    for i in range(n_rows + 1):  # rows, and the totals row
        out.append(([(i, j) for j in range(n_columns)], (i, n_columns)))
    for j in range(n_columns + 1):  # columns, and the totals column
        out.append(([(i, j) for i in range(n_rows)], (n_rows, j)))
    return out


def feasible_range(grid: Sequence[Sequence[int | None]], target: Entry) -> tuple[float, float]:
    """What an attacker can know of a hidden entry: its min and max over every table that
    agrees with the shown numbers, the sums and non-negativity."""
    n_rows, n_columns = len(grid) - 1, len(grid[0]) - 1
    hidden = [(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if v is None]
    index = {entry: k for k, entry in enumerate(hidden)}
    a_eq, b_eq = [], []
    for parts, total in lines(n_rows, n_columns):
        coefficients = np.zeros(len(hidden))
        known = 0.0
        for entry, sign in [(p, 1.0) for p in parts] + [(total, -1.0)]:
            value = grid[entry[0]][entry[1]]
            if value is None:
                coefficients[index[entry]] += sign
            else:
                known += sign * value
        if coefficients.any():
            a_eq.append(coefficients)
            b_eq.append(-known)
    objective = np.zeros(len(hidden))
    objective[index[target]] = 1.0
    bounds = [(0, None)] * len(hidden)
    low = linprog(objective, A_eq=np.array(a_eq) if a_eq else None, b_eq=b_eq or None,
                  bounds=bounds, method="highs")
    high = linprog(-objective, A_eq=np.array(a_eq) if a_eq else None, b_eq=b_eq or None,
                   bounds=bounds, method="highs")
    lo = float(low.fun) if low.status == 0 else 0.0
    hi = float(-high.fun) if high.status == 0 else float("inf")
    return lo, hi


def _candidates(grid: Sequence[Sequence[int]], hidden: set[Entry], line: Iterable[Entry],
                n_rows: int, n_columns: int, may_hide: set[Entry] | None) -> list[Entry]:
    """Shown entries of a line, best complement first: inner cells before totals, then
    cells with counts before zeros (hiding a zero protects little), then the smallest."""
    def cost(entry: Entry) -> tuple[int, int, int]:
        i, j = entry
        value = grid[i][j]
        return (int(i == n_rows or j == n_columns), int(value == 0), value)
    return sorted((e for e in line if e not in hidden and (may_hide is None or e in may_hide)),
                  key=cost)


def protect(table: Table, threshold: int = THRESHOLD, protection: float | None = None,
            noise_scale: float | None = None, hidden_already: Iterable[Entry] = (),
            may_hide: set[Entry] | None = None) -> Published:
    """Suppress what must be hidden (see the module's docstring).

    `hidden_already`: entries hidden by an earlier pass (see `protect_by_row`); `may_hide`:
    the only entries this pass may hide in addition (None: any)."""
    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    wanted = threshold / 2 if protection is None else protection
    grid = table.extended()
    n_rows, n_columns = len(table.rows), len(table.columns)
    primary = {(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if 0 < v < threshold}
    hidden = set(primary) | set(hidden_already)
    all_lines = [parts + [total] for parts, total in lines(n_rows, n_columns)]

    def hide_one_more(line: list[Entry]) -> bool:
        found = _candidates(grid, hidden, line, n_rows, n_columns, may_hide)
        if found:
            hidden.add(found[0])
        return bool(found)

    for _ in range((n_rows + 1) * (n_columns + 1) + 1):  # each pass hides one more, or ends
        # Cheap first: a line with exactly one hidden entry gives it away by subtraction.
        lone = next((line for line in all_lines if sum(e in hidden for e in line) == 1), None)
        if lone is not None:
            if hide_one_more(lone):
                continue
        # Then the exact audit: what can be inferred from everything shown at once.
        shown = [[None if (i, j) in hidden else v for j, v in enumerate(row)]
                 for i, row in enumerate(grid)]
        weak = None
        for entry in sorted(hidden, key=lambda e: (e not in primary, e)):
            lo, hi = feasible_range(shown, entry)
            if hi - lo < (wanted if entry in primary else 1):
                weak = entry
                break
        if weak is None:
            break
        i, j = weak
        row_line = [(i, k) for k in range(n_columns + 1)]
        column_line = [(k, j) for k in range(n_rows + 1)]
        if not (hide_one_more(row_line) or hide_one_more(column_line)):
            # Its lines are all hidden already: widen through any other shown count.
            if not hide_one_more([e for line in all_lines for e in line]):
                break  # everything is hidden
    out = [[None if (i, j) in hidden else v for j, v in enumerate(row)] for i, row in enumerate(grid)]
    return Published(
        rows=table.rows, columns=table.columns,
        cells=tuple(tuple(row[:n_columns]) for row in out[:n_rows]),
        row_totals=tuple(row[n_columns] for row in out[:n_rows]),
        column_totals=tuple(out[n_rows][:n_columns]), total=out[n_rows][n_columns],
        threshold=threshold, primary=len(primary), secondary=len(hidden) - len(primary),
        noise_scale=noise_scale)


def protect_by_row(table: Table, threshold: int = THRESHOLD, protection: float | None = None,
                   with_totals: bool = True, noise_scale: float | None = None) -> Published:
    """Each row protected on its own, so a row shows the same whatever rows come after it:
    the running quarter adds a week at a time, and two snapshots must not differ by more
    than the new week (differencing them would otherwise expose a hidden count). Column
    totals, when wanted, are then shown only where the audit allows, hiding totals only.
    """
    hidden: set[Entry] = set()
    n_rows, n_columns = len(table.rows), len(table.columns)
    for i, row in enumerate(table.cells):
        alone = protect(Table((table.rows[i],), table.columns, (row,)), threshold, protection)
        hidden |= {(i, j) for j, v in enumerate(alone.cells[0]) if v is None}
        if alone.row_totals[0] is None:
            hidden.add((i, n_columns))
    totals = {(n_rows, j) for j in range(n_columns + 1)}
    if not with_totals:
        hidden |= totals
    return protect(table, threshold, protection, noise_scale, hidden_already=hidden,
                   may_hide=totals)


def merge_sparse(counts: dict[str, dict[str, int]], threshold: int = THRESHOLD,
                 keep: Iterable[str] = ()) -> dict[str, dict[str, int]]:
    """Rows (areas) with fewer than `threshold` events in all are added into "other"; if
    "other" is still below the threshold, the next smallest rows join it, so "other" is
    never a small row in disguise. Rows in `keep` (e.g. the total) are left alone."""
    kept = set(keep)
    totals = {name: sum(row.values()) for name, row in counts.items()}
    sparse = {name for name, total in totals.items()
              if name not in kept and (total < threshold or name == OTHER)}
    rest = sorted((n for n in counts if n not in sparse and n not in kept), key=lambda n: (totals[n], n))
    while sparse and sum(totals[n] for n in sparse) < threshold and rest:
        sparse.add(rest.pop(0))
    merged = {name: dict(row) for name, row in counts.items() if name not in sparse}
    if sparse and any(totals[n] for n in sparse):
        other: dict[str, int] = {}
        for name in sparse:
            for column, value in counts[name].items():
                other[column] = other.get(column, 0) + value
        merged[OTHER] = other
    return merged


def add_noise(table: Table, scale: float) -> Table:
    """Each count plus discrete Laplace noise of this scale (OpenDP), clamped at zero.

    One event changes one cell of a table by one, so each table is (1/scale)-differentially
    private per event; totals are sums of the noisy cells and cost nothing more."""
    try:
        import opendp.prelude as dp
    except ImportError as exc:  # pragma: no cover - opendp is pinned in pyproject.toml
        raise RuntimeError("noise needs the opendp package") from exc
    dp.enable_features("contrib")
    mechanism = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale)
    cells = tuple(tuple(max(0, int(mechanism(int(v)))) for v in row) for row in table.cells)
    return Table(table.rows, table.columns, cells)


def epsilon(scale: float) -> float:
    """The privacy loss per event of one table noised at this scale (sensitivity 1)."""
    return 1.0 / scale
