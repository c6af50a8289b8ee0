"""The few statements every message runs, compiled once and run on the driver's cursor.

A button press runs about eight small statements (the open ticket, the stored
conversation, the subscriber's window, the conversation's write, the counts). Through
SQLAlchemy's execution path each cost about 110 us on a SQLite file where the driver's own
cursor took 47 us (the ticket lookup, timed 5,000 times): the compiled cache's key, the
execution context and the result's metadata, all Python holding the GIL, which the event
loop needs. A `Prepared` statement is still written in SQLAlchemy Core and compiled by
SQLAlchemy for the connection's dialect, once; each run applies the columns' bind and
result processors (SQLite's datetimes are strings in the file) and runs on the DBAPI cursor
of the caller's `Connection`, so it is part of that connection's transaction. Driver errors
come out as SQLAlchemy's (`sa.exc.IntegrityError`, ...), as from `Connection.execute`.

Only fixed statements belong here: no `IN` lists that expand, nothing SQLAlchemy renders
per call (a list of values is one parameter instead: bot.app.queue_tables.any_of).
tests/storage/test_prepared.py runs each against `Connection.execute` on both databases.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    compiled: Any  # sqlalchemy.sql.compiler.SQLCompiler
    order: tuple[str, ...] | None  # positional drivers (SQLite's qmark): names in order
    binds: tuple[tuple[str, Processor], ...]
    results: tuple[Processor | None, ...] | None  # by column; None: no typed columns


class Rows:
    """What a statement gave: its rows as mappings, or how many rows it changed."""

    def __init__(self, keys: Sequence[str], rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.keys = tuple(keys)
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self.keys, self.rows[0])) if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def named(self) -> list[Any]:
        """The rows as named tuples (`row.id`), as SQLAlchemy's rows read."""
        make = _row_class(self.keys)._make
        return [make(row) for row in self.rows]


@functools.lru_cache(maxsize=64)
def _row_class(keys: tuple[str, ...]) -> Any:
    return collections.namedtuple("Row", keys, rename=True)  # type: ignore[misc]


class Prepared:
    def __init__(self, statement: sa.sql.ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        sql = str(compiled)
        if "POSTCOMPILE" in sql:  # an expanding IN or a literal rendered per call
            raise ValueError(f"not a fixed statement, run it with Connection.execute: {sql}")
        binds = tuple((name, processor) for name, bind in compiled.binds.items()
                      if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)))
        columns = getattr(self.statement, "selected_columns", None)
        results = None
        if columns is not None:
            processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                               for column in columns)
            results = processors if any(processors) else None
        order = tuple(compiled.positiontup) if dialect.positional else None
        return _Plan(sql, compiled, order, binds, results)

    def _arguments(self, plan: _Plan, params: Mapping[str, Any]) -> Any:
        values = plan.compiled.construct_params(params)  # the statement's own literals too
        for name, processor in plan.binds:
            values[name] = processor(values[name])
        return tuple(values[name] for name in plan.order) if plan.order is not None else values

    def execute(self, connection: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        plan = self._plan(connection.dialect)
        arguments = self._arguments(plan, params or {})
        do_execute = connection.dialect.do_execute  # PostgreSQL's BEGIN: bot.storage.pg_begin
        return self._run(connection, plan, lambda cursor: do_execute(cursor, plan.sql, arguments),
                         arguments)

    def executemany(self, connection: Connection, params: Sequence[Mapping[str, Any]]) -> Rows:
        plan = self._plan(connection.dialect)
        arguments = [self._arguments(plan, one) for one in params]
        do_executemany = connection.dialect.do_executemany
        return self._run(connection, plan,
                         lambda cursor: do_executemany(cursor, plan.sql, arguments), arguments)

    @staticmethod
    def _run(connection: Connection, plan: _Plan, run: Callable[[Any], Any],
             arguments: Any) -> Rows:
        dialect = connection.dialect
        cursor = connection.connection.cursor()
        try:
            if connection._has_events or connection.engine._has_events:  # listeners see it
                connection.dispatch.before_cursor_execute(connection, cursor, plan.sql, arguments,
                                                          None, isinstance(arguments, list))
            run(cursor)
            keys = [d[0] for d in cursor.description] if cursor.description else []
            rows = cursor.fetchall() if keys else []
            rowcount = cursor.rowcount
        except dialect.dbapi.Error as error:  # type: ignore[union-attr]
            disconnected = dialect.is_disconnect(error, connection.connection, cursor)
            if disconnected:
                connection.invalidate(error)
            raise sa.exc.DBAPIError.instance(  # type: ignore[no-untyped-call]
                plan.sql, arguments, error, dialect.dbapi.Error,  # type: ignore[union-attr]
                connection_invalidated=disconnected, dialect=dialect) from error
        finally:
            cursor.close()
        if plan.results is not None:
            processors = plan.results
            rows = [tuple(p(v) if p is not None else v for p, v in zip(processors, row))
                    for row in rows]
        return Rows(keys, rows, rowcount)
