"""Prepared reads: a queryset of fixed shape compiled to SQL once per database, then run with new ids.

Django compiles a queryset's SQL again on every evaluation: for a plain filter a third of a millisecond, more
than the database takes to answer it. The reads a page makes on every request (the work-order page: its thread,
files, history, dispatches, clocks, the customer's timeline) keep one shape; only the ids change. A `Prepared`
read calls its builder once per database with placeholder ids, keeps the SQL with how Django reads its rows
(columns, converters, related objects), and afterwards substitutes the ids and reads the rows the way the
queryset would have: the same model instances, or the same tuples for `values_list`.

Only for shapes whose SQL does not depend on the values: ids (never None, which turns `=` into `IS NULL`); no
`__in` over a list of varying length. Whatever else changes the SQL (a limit, a role's filter) is a keyword
argument: its "shape", one compiled variant per value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable, get_related_populators

# Placeholders, distinct per position: large negative numbers no real row has, or strings no key has.
_PLACEHOLDER = -7_300_000_000_001


def _placeholder(position: int, text: bool) -> int | str:
    return f"kefu-prepared-placeholder-{position}" if text else _PLACEHOLDER - position


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the value)
    compiler: Any
    kind: str  # "models", "tuples", "flat"
    model_slice: tuple[int, int]
    init_list: tuple[str, ...]
    model: Any
    annotations: tuple[tuple[str, int], ...]
    using: str
    converters: dict[int, Any]  # how Django converts each column it reads, worked out once (not per run)
    composite: bool


class Prepared:
    """`Prepared(build)`: `build(*ids, **shape)` returns the queryset; `run(*ids, **shape)` its rows as a list."""

    def __init__(self, build: Callable[..., QuerySet[Any]]) -> None:
        self.build = build
        self._compiled: dict[Hashable, _Compiled] = {}
        self._lock = threading.Lock()
        self._model: Any = None

    def run(self, *ids: int | str, **shape: Hashable) -> list[Any]:
        """The rows of `build(*ids, **shape)`: ids are ints or strings (keys). `shape` (a limit, a role) selects
        one compiled variant each."""
        if any(not isinstance(i, int | str) or isinstance(i, bool) for i in ids):
            return list(self.build(*ids, **shape))  # a None or a non-id: the ORM knows what SQL that needs
        if self._model is None:
            self._model = self.build(*ids, **shape).model
        using = router.db_for_read(self._model)
        connection = connections[using]
        texts = tuple(isinstance(i, str) for i in ids)
        cache_key = (using, connection.vendor, texts, tuple(sorted(shape.items())))
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            compiled = self._compile(texts, shape, using)
            with self._lock:
                self._compiled[cache_key] = compiled
        params = list(compiled.params)
        for position, index in compiled.slots:
            params[position] = ids[index]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return self._read(compiled, rows)

    def _compile(self, texts: tuple[bool, ...], shape: dict[str, Hashable], using: str) -> _Compiled:
        arity = len(texts)
        placeholders = [_placeholder(n, text) for n, text in enumerate(texts)]
        queryset = self.build(*placeholders, **shape)
        iterable = queryset._iterable_class  # type: ignore[attr-defined]
        if iterable is ModelIterable:
            kind = "models"
        elif iterable is ValuesListIterable:
            kind = "tuples"
        elif iterable is FlatValuesListIterable:
            kind = "flat"
        else:
            raise TypeError(f"a prepared read returns models or values_list rows, not {iterable.__name__}")
        query = queryset.query
        if kind != "models" and (query.extra_select or query.annotation_select):
            raise TypeError("a prepared values_list read names plain fields only")
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = tuple((position, placeholders.index(value)) for position, value in enumerate(params)
                      if value in placeholders)
        missing = set(range(arity)) - {index for _position, index in slots}
        if missing:
            raise ValueError(f"the prepared read does not use its ids {sorted(missing)} as query parameters")
        model_slice, init_list, model, annotations = (0, 0), (), None, ()
        if kind == "models":
            klass_info = compiler.klass_info
            fields = klass_info["select_fields"]
            model_slice = (fields[0], fields[-1] + 1)
            init_list = tuple(f[0].target.attname for f in compiler.select[model_slice[0]:model_slice[1]])
            model = klass_info["model"]
            annotations = tuple(compiler.annotation_col_map.items())
        fields = [column[0] for column in compiler.select[0:compiler.col_count]]
        return _Compiled(sql=sql, params=tuple(params), slots=slots, compiler=compiler, kind=kind,
                         model_slice=model_slice, init_list=init_list, model=model, annotations=annotations,
                         using=using, converters=compiler.get_converters(fields),
                         composite=compiler.has_composite_fields(fields))

    @staticmethod
    def _read(compiled: _Compiled, rows: list[tuple[Any, ...]]) -> list[Any]:
        compiler = compiled.compiler
        if compiled.composite:
            results = list(compiler.results_iter(results=[rows], tuple_expected=compiled.kind != "models"))
        elif compiled.converters:  # what results_iter does, without working out the converters again
            results = list(compiler.apply_converters(rows, compiled.converters))
            if compiled.kind != "models":
                results = [tuple(row) for row in results]
        else:
            results = list(rows)
        if compiled.kind == "tuples":
            return results
        if compiled.kind == "flat":
            return [row[0] for row in results]
        start, end = compiled.model_slice
        populators = get_related_populators(compiler.klass_info, compiler.select, compiled.using)
        objects = []
        for row in results:
            obj = compiled.model.from_db(compiled.using, compiled.init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects
