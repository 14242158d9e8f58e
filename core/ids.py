"""The grammar of the ids every layer checks: one definition, so a rule, the API and
the storage keys agree on what an id can be.

Segment and tenant ids end up inside composite DynamoDB keys followed by more
parts (``T#S``, ``VER#<segment>#<version>``), so they use a small safe alphabet
and no ``#``; 64 characters keep the longest key far inside DynamoDB's limits.
A rule may only reference an id that can be stored, which is why the rule
language checks references against the same pattern. Contact and event ids
come from customers' systems (emails, UUIDs, CRM ids) and only lose ``#`` and
control characters.
"""

from __future__ import annotations

import re

__all__ = [
    "CONTACT_ID_DESCRIPTION",
    "CONTACT_ID_PATTERN",
    "CONTACT_ID_RE",
    "SEGMENT_ID_DESCRIPTION",
    "SEGMENT_ID_PATTERN",
    "SEGMENT_ID_RE",
    "TENANT_ID_RE",
]

SEGMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
"""As JSON Schema and the OpenAPI document carry it (a ``pattern`` string)."""
SEGMENT_ID_RE = re.compile(SEGMENT_ID_PATTERN)
SEGMENT_ID_DESCRIPTION = "1-64 letters, digits, '_', '.', ':', '-'; starts with a letter or digit"

TENANT_ID_RE = SEGMENT_ID_RE
"""Tenant ids sit in the same keys as segment ids, for the same reasons."""

CONTACT_ID_PATTERN = r"^[^#\x00-\x1f\x7f]{1,256}$"
"""Contact ids, and event ids (they come from the same systems)."""
CONTACT_ID_RE = re.compile(CONTACT_ID_PATTERN)
CONTACT_ID_DESCRIPTION = "1-256 characters, no '#' and no control characters"
