"""CSV imports through the API on moto: create, PUT the file to the upload address, start,
the import function runs the queued job, the report; another tenant's import is a 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import current_settings
from tests.integration.api_support import IMPORTS_BUCKET, Api, FakeContext, install, install_imports, path

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CSV = b"contact_id,email,nps\nc1,a@b.co,9\nc2,b@b.co,x\nc3,,7\n"


@pytest.fixture
def api(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    yield install(install_imports(repos, monkeypatch), lambda: NOW, monkeypatch)


def run_queued(api: Api) -> int:
    """What the import function does with the queue's messages (as Lambda's SQS trigger)."""
    from growthos_segments.handlers import imports

    sqs = aws.client("sqs", api.repos.settings)
    url = sqs.get_queue_url(QueueName=IMPORTS_BUCKET)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{IMPORTS_BUCKET}"}
               for m in messages]
    imports.jobs.cache_clear()
    current_settings.cache_clear()  # the function reads IMPORTS_BUCKET from its settings, read once a process
    try:
        answer = imports.handler({"Records": records}, FakeContext())
    finally:
        current_settings.cache_clear()
    assert answer == {"batchItemFailures": []}
    return len(records)


def test_an_import_is_uploaded_started_run_from_the_queue_and_reported(api: Api) -> None:
    created = api.post("/imports")
    assert created.status == 201 and created.body["status"] == "awaiting_upload"
    import_id = created.body["import_id"]
    assert f"/t1/{import_id}.csv" in created.body["upload_url"]
    early = api.post(path("imports", import_id, "start"), {})
    assert early.status == 409 and "no file was uploaded" in early.body["message"]

    assert requests.put(created.body["upload_url"], data=CSV, timeout=10).status_code == 200
    started = api.post(path("imports", import_id, "start"), {"list": "spring", "types": {"nps": "number"}})
    assert started.status == 202 and started.body["status"] == "queued"
    assert api.post(path("imports", import_id, "start"), {}).status == 409

    assert run_queued(api) == 1
    done = api.get(path("imports", import_id))
    assert done.status == 200 and done.body["status"] == "done"
    assert (done.body["rows_done"], done.body["rows_total"]) == (2, 2)
    report = done.body["report"]
    assert report["counts"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert report["bad_rows"] == [{"line": 3, "column": "nps", "message": '"x" is not a number'}]
    c1 = api.repos.contacts.get("t1", "c1")
    assert c1 is not None and c1["lists"] == ["spring"] and c1["attributes"]["custom"] == {"nps": 9}


def test_another_tenants_import_is_unknown_and_bad_options_are_422(api: Api) -> None:
    import_id = api.post("/imports").body["import_id"]
    for reply in (api.get(path("imports", import_id), tenant="t2"),
                  api.post(path("imports", import_id, "start"), {}, tenant="t2"),
                  api.get(path("imports", "not-an-import"))):
        assert reply.status == 404 and reply.body["message"] == "import not found"
    s3 = aws.client("s3", api.repos.settings)
    s3.put_object(Bucket=IMPORTS_BUCKET, Key=f"t1/{import_id}.csv", Body=CSV)
    bad = api.post(path("imports", import_id, "start"), {"separator": ","})
    assert bad.status == 422 and "separator" in bad.body["message"]
    unknown = api.post(path("imports", import_id, "start"), {"types": {"nps": "color"}})
    assert unknown.status == 422
    assert api.get(path("imports", import_id)).body["status"] == "awaiting_upload"
