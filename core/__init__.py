"""The segment engine's pure kernel: the rule language, the condition-type contract
and plugin host, the compiler and evaluator, segment sets and their dependency
index, the real-time membership decisions, and the ports (``ports``) through
which services reach storage and messaging.

Nothing here imports another layer of the project or an AWS library: adapters
live in ``infra``, application services in ``services``, entry points in
``handlers``. Plugins and the plugin kit depend on this package, never the
other way round.
"""
