"""The analytical path: whole-tenant questions answered by compiling a rule to SQL.

A rule compiles (through each condition type's ``bulk_compile``, built with sqlglot)
to one query over a columnar copy of a tenant's contacts and events, run by DuckDB
embedded; the per-contact engine stays the reference, and parity tests hold the two
to the same member sets. No AWS library is imported here.
"""
