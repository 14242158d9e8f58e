"""The custom resource that puts the Segment Builder into its bucket (``AppFiles`` in template.yaml).

``sam build`` packages the built app (web/dist) beside this code as ``site/`` (see
devstack/lambda_package.py). On Create and Update the files are copied into the
bucket with a ``config.json`` naming the API (:func:`growthos_segments.infra.web_site.publish_site`);
on Delete the bucket is emptied, so that CloudFormation can delete it.
CloudFormation waits up to an hour for the answer PUT to the request's presigned
``ResponseURL``, then fails the stack: every outcome, a failure included, is
answered, with the reason in words. The answer is one PUT with the standard
library: crhelper, the usual helper, would create three more AWS clients per
container and retry an unanswerable URL forever.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from growthos_segments.infra.web_site import empty_bucket, publish_site

__all__ = ["SITE_FOLDER", "handler"]

SITE_FOLDER = "site"
"""Where the built app sits in the function's package (its root is ``LAMBDA_TASK_ROOT``)."""

logger = Logger(service="growthos-segments-web-deploy")


def _answer(event: dict[str, Any], status: str, physical_id: str, reason: str, data: dict[str, Any]) -> None:
    body = {"Status": status, "Reason": reason[:1000], "PhysicalResourceId": physical_id,
            "StackId": event["StackId"], "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"], "Data": data}
    request = urllib.request.Request(event["ResponseURL"], data=json.dumps(body).encode(), method="PUT",
                                     headers={"Content-Type": ""})  # the URL is signed with no type
    with urllib.request.urlopen(request, timeout=30):
        pass


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    properties = event.get("ResourceProperties") or {}
    bucket = str(properties.get("Bucket", ""))
    physical_id = event.get("PhysicalResourceId") or f"{bucket}/app"
    try:
        s3 = boto3.client("s3")
        if event["RequestType"] == "Delete":
            data: dict[str, Any] = {"Deleted": empty_bucket(s3, bucket)}
        else:
            site = Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / SITE_FOLDER
            published = publish_site(s3, bucket, site, properties.get("Api"))
            data, physical_id = {"Files": len(published.uploaded)}, f"{bucket}/app"
        logger.info("web app %s done", event["RequestType"], extra={"bucket": bucket, **data})
        _answer(event, "SUCCESS", physical_id, "", data)
    except Exception as error:  # CloudFormation must hear of any failure
        logger.exception("web app %s failed", event.get("RequestType"))
        _answer(event, "FAILED", physical_id, f"{type(error).__name__}: {error}", {})
