"""CSV import jobs on AWS: the job item in the counters table, uploads in S3, the job queue in SQS.

A job is one small item beside the tenant's other derived data (``T#_tenant`` /
``import#<id>``, see :mod:`growthos_segments.infra.keys`), expiring
:data:`JOB_RETENTION` after its last change; its status moves by conditional
writes, so two deliveries of one job cannot both start it. Uploads are
``<tenant>/<import id>.csv`` in the imports bucket: the tenant prefix is what the
presigned address is for, so one tenant's address can never write another's file.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports_imports import ImportJob, JobStatus, UploadTooLarge
from growthos_segments.core.timeutil import parse_iso, to_iso
from growthos_segments.infra import keys

__all__ = ["JOB_RETENTION", "DynamoImportJobs", "S3Uploads", "SqsImportQueue", "job_message"]

JOB_RETENTION = timedelta(days=30)
"""How long a job's report stays readable after its last change (TTL)."""


class DynamoImportJobs:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, tenant_id: str, import_id: str) -> dict[str, Any]:
        pk, sk = keys.import_job_key(tenant_id, import_id)
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _item(self, job: ImportJob) -> dict[str, Any]:
        document = {
            "status": job.status, "created_at": to_iso(job.created_at), "updated_at": to_iso(job.updated_at),
            "options": dict(job.options), "rows_done": job.rows_done, "rows_total": job.rows_total,
            "report": job.report, "error": job.error,
        }
        return {
            **self._key(job.tenant_id, job.import_id),
            "tenant_id": {"S": job.tenant_id},
            "job_status": {"S": job.status},
            "job": {"S": json.dumps(document, separators=(",", ":"), default=str)},
            "expires_at": {"N": str(keys.expires_at(job.updated_at, JOB_RETENTION))},
        }

    def create(self, job: ImportJob) -> None:
        self._client.put_item(TableName=self._table, Item=self._item(job),
                              ConditionExpression="attribute_not_exists(pk)")

    def get(self, tenant_id: str, import_id: str) -> ImportJob | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(tenant_id, import_id),
                                     ConsistentRead=True).get("Item")
        if not item:
            return None
        document = json.loads(item["job"]["S"])
        return ImportJob(
            tenant_id=tenant_id, import_id=import_id, status=document["status"],
            created_at=parse_iso(document["created_at"]), updated_at=parse_iso(document["updated_at"]),
            options=document["options"], rows_done=document["rows_done"], rows_total=document["rows_total"],
            report=document["report"], error=document["error"],
        )

    def update(self, job: ImportJob, *, expected: tuple[JobStatus, ...]) -> bool:
        names = {f":s{i}": {"S": status} for i, status in enumerate(expected)}
        try:
            self._client.put_item(
                TableName=self._table, Item=self._item(job),
                ConditionExpression=f"job_status IN ({', '.join(names)})", ExpressionAttributeValues=names,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _upload_key(tenant_id: str, import_id: str) -> str:
    return f"{keys.check_tenant_id(tenant_id)}/{import_id}.csv"


class S3Uploads:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def upload_url(self, tenant_id: str, import_id: str, *, expires: timedelta) -> str:
        return str(self._client.generate_presigned_url(
            "put_object", Params={"Bucket": self._bucket, "Key": _upload_key(tenant_id, import_id)},
            ExpiresIn=int(expires.total_seconds())))

    def size(self, tenant_id: str, import_id: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=_upload_key(tenant_id, import_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def read(self, tenant_id: str, import_id: str, *, max_bytes: int) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=_upload_key(tenant_id, import_id))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise KeyError(import_id) from None
            raise
        if int(answer["ContentLength"]) > max_bytes:
            answer["Body"].close()
            raise UploadTooLarge(f"{answer['ContentLength']:,} bytes")
        return bytes(answer["Body"].read())


class SqsImportQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self._url = url

    def send(self, tenant_id: str, import_id: str) -> None:
        self._client.send_message(QueueUrl=self._url,
                                  MessageBody=json.dumps({"tenant_id": tenant_id, "import_id": import_id}))


def job_message(body: str) -> tuple[str, str]:
    """``(tenant, import id)`` of a message :class:`SqsImportQueue` sent (``ValueError`` otherwise)."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("an import message is a JSON object")
    return keys.check_tenant_id(message.get("tenant_id")), str(message.get("import_id"))
