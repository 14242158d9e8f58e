"""The local stack: the whole service on one machine, with moto standing in for AWS.

``python -m infra.local`` (``make run``) starts a moto server on 127.0.0.1,
creates what ``template.yaml`` declares (tables, queues, the event bus), seeds
demo tenants, and then plays Lambda's part for every function the template
names:

- :mod:`infra.local.pump` reads DynamoDB streams with event-source-mapping
  semantics (batching, per-shard order, partial-batch retries, bisection,
  on-failure destinations);
- :mod:`infra.local.queues` and :mod:`infra.local.schedules` drive the SQS and
  schedule triggers;
- :mod:`infra.local.front` turns HTTP requests on 127.0.0.1:3000 into API
  Gateway proxy events, calling the REQUEST authorizer first;
- :mod:`infra.local.bus` prints every event that reaches the EventBridge bus.

Functions and triggers are read from the template (:mod:`infra.local.functions`),
never restated here, so the local stack and the deployment cannot drift.
"""
