"""Disclosure control: no published table lets a suppressed count be computed."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.transparency.disclosure import (OTHER, Table, add_noise, epsilon, feasible_range,
                                         lines, merge_sparse, protect)

# Small counts dominate, as in a quiet week of a small area; some zeros and big cells too.
COUNT = st.one_of(st.integers(0, 12), st.integers(0, 200), st.just(0), st.integers(1, 3))


@st.composite
def tables(draw: st.DrawFn) -> Table:
    n_rows, n_columns = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    cells = draw(st.lists(st.lists(COUNT, min_size=n_columns, max_size=n_columns),
                          min_size=n_rows, max_size=n_rows))
    return Table(tuple(f"r{i}" for i in range(n_rows)), tuple(f"c{j}" for j in range(n_columns)),
                 tuple(tuple(r) for r in cells))


def line_check(grid: list[list[int | None]]) -> None:
    """The textbook rule: a row or column (with its total) never has exactly one hidden count."""
    n_rows, n_columns = len(grid) - 1, len(grid[0]) - 1
    for parts, total in lines(n_rows, n_columns):
        hidden = sum(grid[i][j] is None for i, j in parts + [total])
        assert hidden != 1, f"one hidden count in line {parts + [total]}: {grid}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([3, 5, 10]))
def test_no_suppressed_count_can_be_computed(table: Table, threshold: int) -> None:
    published = protect(table, threshold)
    grid = published.grid()
    truth = table.extended()
    line_check(grid)
    for i, j in product(range(len(grid)), range(len(grid[0]))):
        value = grid[i][j]
        if value is not None:
            assert value == truth[i][j]  # nothing shown is altered
            assert value == 0 or value >= threshold  # nothing small is shown
            continue
        lo, hi = feasible_range(grid, (i, j))
        assert lo <= truth[i][j] <= hi  # the attacker's range holds the truth...
        assert hi - lo >= 1, f"hidden count {(i, j)} = {truth[i][j]} is computable"
        if 0 < truth[i][j] < threshold:  # ...and a small count is not narrowed down
            assert hi - lo >= threshold / 2


def brute_force_determined(grid: list[list[int | None]], limit: int) -> set[tuple[int, int]]:
    """Independent of the LP: try every value 0..limit of the hidden inner cells, derive the
    totals, keep the completions that agree with everything shown; a hidden count with one
    possible value is disclosed. (Moving one unit around a cycle of hidden cells changes
    each by one, so a limit above the largest true count finds a second value if any.)"""
    n_rows, n_columns = len(grid) - 1, len(grid[0]) - 1
    inner = [(i, j) for i in range(n_rows) for j in range(n_columns) if grid[i][j] is None]
    hidden = [(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if v is None]
    seen: dict[tuple[int, int], set[int]] = {e: set() for e in hidden}
    for values in product(range(limit + 1), repeat=len(inner)):
        cells = [[grid[i][j] for j in range(n_columns)] for i in range(n_rows)]
        for (i, j), v in zip(inner, values):
            cells[i][j] = v
        full = Table(tuple(map(str, range(n_rows))), tuple(map(str, range(n_columns))),
                     tuple(tuple(int(v or 0) for v in row) for row in cells)).extended()
        if all(grid[i][j] is None or grid[i][j] == full[i][j]
               for i in range(n_rows + 1) for j in range(n_columns + 1)):
            for i, j in hidden:
                seen[(i, j)].add(full[i][j])
    return {e for e, values in seen.items() if len(values) == 1}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2), st.integers(1, 2), st.data())
def test_brute_force_agrees_nothing_is_determined(n_rows: int, n_columns: int,
                                                  data: st.DataObject) -> None:
    cells = tuple(tuple(data.draw(st.integers(0, 4)) for _ in range(n_columns))
                  for _ in range(n_rows))
    table = Table(tuple(f"r{i}" for i in range(n_rows)),
                  tuple(f"c{j}" for j in range(n_columns)), cells)
    grid = protect(table, threshold=3, protection=1).grid()
    assert brute_force_determined(grid, limit=6) == set()


def test_a_lone_small_cell_takes_a_partner_in_its_row_and_column() -> None:
    table = Table(("north", "south"), ("raid", "checkpoint", "other"),
                  ((3, 40, 25), (30, 50, 60)))
    published = protect(table, 10)
    assert published.cells[0][0] is None  # the 3
    assert published.primary == 1 and published.secondary >= 3  # a partner in row, column, and the corner
    row = published.cells[0]
    assert sum(v is None for v in row) >= 2
    assert sum(published.cells[i][0] is None for i in range(2)) >= 2
    assert published.total == 208  # the grand total stays shown when safe


def test_small_totals_are_hidden_too() -> None:
    published = protect(Table(("a",), ("x", "y"), ((0, 4),)), 10)
    assert published.row_totals == (None,) and published.total is None
    assert published.cells[0][0] == 0  # a zero is shown


def test_zero_and_large_cells_are_shown_untouched() -> None:
    table = Table(("a", "b"), ("x", "y"), ((0, 12), (15, 40)))
    published = protect(table)
    assert published.cells == ((0, 12), (15, 40)) and published.secondary == 0


def test_merge_sparse_areas_into_other() -> None:
    counts = {"pilsen": {"v": 30, "u": 12}, "hegewisch": {"v": 2, "u": 1},
              "edison_park": {"v": 1, "u": 0}, "loop": {"v": 20, "u": 20}}
    merged = merge_sparse(counts, 10)
    # 4 events in the two sparse areas: still too few, so the next smallest (loop, 40) joins.
    assert merged == {"pilsen": {"v": 30, "u": 12}, OTHER: {"v": 23, "u": 21}}
    counts["loop"] = {"v": 50, "u": 50}  # now pilsen is the next smallest
    merged = merge_sparse(counts, 10)
    assert merged[OTHER] == {"v": 33, "u": 13} and set(merged) == {"loop", OTHER}
    assert merge_sparse({"a": {"v": 12}}, 10) == {"a": {"v": 12}}


def test_noise_is_opendp_discrete_laplace() -> None:
    table = Table(("a",), ("x", "y"), ((100, 0),))
    noisy = [add_noise(table, 2.0).cells[0][0] for _ in range(100)]
    assert len(set(noisy)) > 3 and abs(sum(noisy) / len(noisy) - 100) < 3
    assert all(v >= 0 for _ in range(5) for v in add_noise(table, 2.0).cells[0])
    assert epsilon(2.0) == 0.5


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        Table(("a",), ("x",), ((-1,),))
    with pytest.raises(ValueError):
        Table(("a", "b"), ("x",), ((1,),))
