"""Request and response bodies of the CSV import routes (``POST /imports``,
``POST /imports/{import_id}/start``, ``GET /imports/{import_id}``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ImportCreatedOut", "ImportOut", "ImportStartIn"]

_KIND = Literal["text", "number", "boolean", "date", "datetime", "multi"]


class ImportStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="report what would change and every bad row; write nothing")
    list: str | None = Field(None, min_length=1, max_length=256,
                             description="also put every imported contact on this list")
    separator: str = Field(";", min_length=1, max_length=8,
                           description="between the values of a multi-value cell")
    types: dict[str, _KIND] = Field(default_factory=dict, max_length=200,
                                    description="a column's forced type, by its header (else inferred)")


class ImportCreatedOut(BaseModel):
    import_id: str
    upload_url: str = Field(description="PUT the CSV file (UTF-8, a header row with contact_id) here")
    expires_at: str = Field(description="until when the upload_url accepts the file")
    status: Literal["awaiting_upload"]


class BadRowOut(BaseModel):
    line: int = Field(description="the physical line in the file (the header is line 1)")
    column: str | None
    message: str


class ImportReportOut(BaseModel):
    dry_run: bool
    rows: int = Field(description="rows read, bad ones included")
    counts: dict[str, int] = Field(description="created, updated, unchanged")
    columns: list[dict[str, Any]] = Field(description="each column's target and (inferred) type")
    bad_rows: list[BadRowOut] = Field(description="the first 100 bad rows")
    bad_row_count: int


class ImportOut(BaseModel):
    import_id: str
    status: Literal["awaiting_upload", "queued", "running", "done", "failed"]
    created_at: str
    updated_at: str
    options: dict[str, Any]
    rows_done: int
    rows_total: int | None = Field(description="rows to write, once the file is read")
    report: ImportReportOut | None
    error: str | None = Field(description="why a failed import failed (the file as a whole)")
