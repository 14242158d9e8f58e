"""The exact-audience port over the tenant's Parquet copy: DuckDB embedded, one connection
per request.

Each request opens a fresh in-memory DuckDB over the one tenant's folder
(:func:`growthos_segments.analytics.parquet.open_tenant`), so nothing of another
tenant is readable from it, and answers through
:func:`growthos_segments.analytics.engine.answer` (SQL when the rule has an exact
form, per contact otherwise).

Why a bound on the per-contact path: a rule without an exact SQL form is answered
by evaluating every contact of the copy in Python, tens of microseconds each, and
one API request must answer well within API Gateway's 29 seconds. Above
:attr:`CopyAudience.max_per_contact` contacts that question is refused
(:class:`~growthos_segments.core.ports_analytics.TooCostly`) instead of timing out.

duckdb, sqlglot and the engine are imported when a question is asked, never when
this module is: the API function imports it at cold start, and its other routes
should not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_analytics import ExactAnswer, NoCopy, TooCostly
from growthos_segments.core.segments import SegmentSet

if TYPE_CHECKING:
    import duckdb

    from growthos_segments.analytics.compiler import NoSqlForm

__all__ = ["CopyAudience"]


class CopyAudience:
    """:class:`~growthos_segments.core.ports_analytics.ExactAudience` over copies on local disk.

    ``root_of(tenant_id)`` names the folder holding ``tenant_id=<tenant>/`` for that
    tenant (``None``: it has no copy); on AWS it is where the copy was synced to /tmp.
    """

    def __init__(
        self, host: PluginHost, root_of: Callable[[str], Path | None], *, max_per_contact: int = 20_000
    ) -> None:
        self.host = host
        self.root_of = root_of
        self.max_per_contact = max_per_contact

    def available(self, tenant_id: str) -> bool:
        """The tenant's folder is there. Finding the root may fetch the copy (an S3 copy is
        synchronised to /tmp first); the questions that follow then find it in place."""
        from growthos_segments.analytics.parquet import CONTACTS, EVENTS, DocumentError, tenant_folder

        root = self.root_of(tenant_id)
        if root is None:
            return False
        try:
            folder = tenant_folder(root, tenant_id)
        except DocumentError:
            return False
        return (folder / CONTACTS).is_dir() and (folder / EVENTS).is_dir()

    def members(
        self, tenant_id: str, questions: Sequence[tuple[SegmentSet, str]], now: datetime,
        *, context: Mapping[str, Any] | None = None,
    ) -> list[ExactAnswer]:
        from growthos_segments.analytics.compiler import NoSqlForm, compile_segment
        from growthos_segments.analytics.engine import answer
        from growthos_segments.analytics.parquet import open_copy

        con = open_copy(self.root_of(tenant_id), tenant_id)
        if con is None:
            raise NoCopy(tenant_id)
        try:
            for segments, segment_id in questions:
                try:
                    compile_segment(segments, segment_id)
                except NoSqlForm as exc:
                    self._check_size(con, exc)
            return [answer(con, self.host, segments, segment_id, tenant_id, now, context=context)
                    for segments, segment_id in questions]
        finally:
            con.close()

    def _check_size(self, con: duckdb.DuckDBPyConnection, why: NoSqlForm) -> None:
        row = con.execute("SELECT count(*) FROM contacts").fetchone()
        contacts = row[0] if row else 0
        if contacts > self.max_per_contact:
            raise TooCostly(f"{why}; answering it contact by contact would evaluate {contacts:,} contacts, "
                            f"more than the {self.max_per_contact:,} one request may")
