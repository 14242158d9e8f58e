"""The segment engine's pure core: rule language, condition contract, compiler.

Nothing here talks to AWS; adapters live in ``infra`` and entry points in
``handlers``. Plugins depend on this package, never the other way round.
"""
