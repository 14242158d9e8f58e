"""``make demo``: the offline CLI walked through on sample data (``make run`` starts the local stack).

It runs the same commands the README walkthrough shows, on the rules and
contacts in ``examples/``, at a fixed ``--now`` so the output is reproducible.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from growthos_segments.devstack.cli import main as segments

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = "2026-11-22T12:00:00Z"

STEPS: list[tuple[str, list[str]]] = [
    ("A valid rule", ["validate", "examples/rules/free_uk_recent.json"]),
    ("A rule with mistakes: every error, with its JSON pointer", ["validate", "examples/rules/typos.json"]),
    ("Evaluate the rule for each sample contact",
     ["evaluate", "--rule", "examples/rules/free_uk_recent.json", "--contacts", "examples/contacts.jsonl",
      "--now", NOW]),
    ("Why is c3 not a member? (--explain, first contact lines only)",
     ["evaluate", "--rule", "examples/rules/free_uk_recent.json", "--contacts", "examples/one_contact.jsonl",
      "--now", NOW, "--explain"]),
    ("A rule mixing conditions and plain JsonLogic, referencing another segment",
     ["evaluate", "--rule", "examples/rules/engaged_not_vip.json", "--segments", "examples/segments.json",
      "--contacts", "examples/contacts.jsonl", "--now", NOW]),
]


def run() -> int:
    root = EXAMPLES.parent
    failures = 0
    for title, argv in STEPS:
        print(f"\n=== {title}\n$ segments {shlex.join(argv)}", flush=True)
        argv = [str(root / a) if a.startswith("examples/") else a for a in argv]
        code = segments(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"(exit {code})", flush=True)
        failures += code not in (0, 2)
    print("\nMore: `segments condition-types`, `segments templates`, `segments --help`.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run())
