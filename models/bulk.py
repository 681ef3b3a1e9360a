"""Bulk row writes on the fastest path each driver has: ``COPY … FROM STDIN`` on PostgreSQL,
``executemany`` on SQLite.

Values go through each column's SQLAlchemy bind processing first, so the stored rows are exactly
what an ORM insert would store. Only the listed columns are written: a column left out gets its
server default or NULL, never a Python-side default.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, bindparam


class BulkWriter:
    """Inserts rows (tuples in ``columns`` order) into ``table`` on ``conn``, in its transaction.

    Bind processing is memoised per column: bulk values repeat a lot (one timestamp, a few
    hundred prices and dates), and processing each one anew is most of the Python time.
    Unhashable values (JSON documents) are processed every time.
    """

    def __init__(
        self, conn, table: Table, columns: Sequence[str], ready: Sequence[str] = ()
    ) -> None:
        """``ready`` names columns whose values are given as the driver takes them (e.g. a JSON
        column's document already serialised)."""
        self.conn = conn
        self.table = table
        self.columns = list(columns)
        dialect = conn.dialect
        self.processors = [
            (index, processor, {})
            for index, name in enumerate(self.columns)
            if name not in ready
            and (processor := table.c[name].type._cached_bind_processor(dialect)) is not None
        ]

    def _bind(self, row: Sequence) -> tuple:
        values = list(row)
        for index, processor, memo in self.processors:
            value = values[index]
            try:
                values[index] = memo[value]
            except KeyError:
                values[index] = memo[value] = processor(value)
            except TypeError:
                values[index] = processor(value)
        return tuple(values)

    def write(self, rows: Sequence[Sequence]) -> None:
        """Insert ``rows``; ids come from the table's sequence (read them back if needed)."""
        if not rows:
            return
        if self.processors:
            rows = [self._bind(row) for row in rows]
        names = ", ".join(self.columns)
        if self.conn.dialect.name == "postgresql":
            cursor = self.conn.connection.dbapi_connection.cursor()
            try:
                with cursor.copy(f"COPY {self.table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            finally:
                cursor.close()
            return
        marks = ", ".join("?" for _ in self.columns)
        self.conn.exec_driver_sql(
            f"INSERT INTO {self.table.name} ({names}) VALUES ({marks})",  # noqa: S608
            rows,
        )


def among(column, ids: Sequence[int]):
    """A WHERE clause for ``column IN ids`` that stays cheap for a batch of hundreds of ids.

    On PostgreSQL a dense batch (as a run walks customers in id order) becomes ``BETWEEN min AND
    max``, which needs no per-id bind parameters to render and parse. The range may match ids
    outside ``ids``: a caller that must not see those filters the rows itself. SQLite keeps the
    IN list, which its planner matches to a (customer, …) index where a range loses to an
    equality on another indexed column.
    """
    from . import db

    if not ids:
        return column.in_([])
    low, high = min(ids), max(ids)
    dense = high - low + 1 <= 2 * len(ids)
    if dense and db.session.get_bind().dialect.name == "postgresql":
        return column.between(low, high)
    # one expanding parameter: the statement stays cacheable and the ids are not coerced one
    # by one into literals
    return column.in_(bindparam("among_ids", list(ids), expanding=True, unique=True))
