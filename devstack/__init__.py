"""The local stack: the whole service on one machine, with moto standing in for AWS.

``python -m growthos_segments.devstack`` (``make run``) starts a moto server on 127.0.0.1,
creates what ``template.yaml`` declares (tables, queues, the event bus), seeds
demo tenants, and then plays Lambda's part for every function the template
names:

- :mod:`growthos_segments.devstack.pump` reads DynamoDB streams with event-source-mapping
  semantics (batching, per-shard order, partial-batch retries, bisection,
  on-failure destinations);
- :mod:`growthos_segments.devstack.queues` drives the SQS and schedule triggers;
- :mod:`growthos_segments.devstack.front` turns HTTP requests on 127.0.0.1:3000 into API
  Gateway proxy events, calling the REQUEST authorizer first;
- :mod:`growthos_segments.devstack.bus` prints every event that reaches the EventBridge bus
  (and ``segments tail`` watches it from another terminal);
- :mod:`growthos_segments.devstack.moto_tuning` keeps moto's memory and per-request work
  bounded over a long session.

Functions and triggers are read from the template (:mod:`growthos_segments.devstack.functions`),
never restated here, so the local stack and the deployment cannot drift.

API keys: each demo tenant gets ``local-<tenant>-key`` (``local-demo-key``,
``local-acme-key``, named ``<tenant>-admin``, of no team), and the first one also
``local-<tenant>-growth-key`` (named ``growth-app``, of team ``growth``), handed to the
real authorizer as ``API_KEYS``. Send it in
the ``x-api-key`` header (the only one the authorizer reads); the start-up
banner prints ready-made curl lines.

Ports (127.0.0.1 only): the API on ``--port``/``LOCAL_API_PORT`` (3000), moto on
``--moto-port``/``MOTO_PORT`` (5055); 0 picks a free port. A taken port is one
line on stderr and exit code 2.
"""
