"""The deployed Segment Builder: what the deployer puts into the app's bucket (moto S3),
and how it answers CloudFormation.

The bucket must end up holding exactly the current build plus a ``config.json`` that
names the deployment's API; what browsers may cache is each object's Cache-Control
(hashed assets a year, the page and its config revalidated each load). The custom
resource must answer every request, a failure included: CloudFormation otherwise
waits an hour on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from growthos_segments.handlers import web_deploy
from growthos_segments.infra.web_site import IMMUTABLE, REVALIDATE, empty_bucket, publish_site
from tests.integration.api_support import FakeContext

BUCKET = "app-files"
API = "https://d111111abcdef8.cloudfront.net/v1/"


def build(folder: Path, script: str, page: str = "<!doctype html><title>builder</title>") -> Path:
    """A web/dist as vite writes it: index.html, hashed assets, the public config.json."""
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(page)
    (folder / "config.json").write_text('{"api": null}\n')
    (folder / "assets" / script).write_text("console.log('builder')")
    (folder / "assets" / "index-5e6f7a8b.css").write_text("body { margin: 0 }")
    return folder


@pytest.fixture
def s3(mock_aws_session: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def objects(s3: Any) -> dict[str, dict[str, Any]]:
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key) for key in keys}


def test_each_file_gets_its_type_and_cache_policy_and_config_names_the_api(s3: Any, tmp_path: Path) -> None:
    published = publish_site(s3, BUCKET, build(tmp_path / "dist", "index-0a1b2c3d.js"), API)
    stored = objects(s3)
    assert sorted(stored) == sorted(published.uploaded) == [
        "assets/index-0a1b2c3d.js", "assets/index-5e6f7a8b.css", "config.json", "index.html",
    ]
    expected = {
        "index.html": ("text/html; charset=utf-8", REVALIDATE),
        "config.json": ("application/json; charset=utf-8", REVALIDATE),
        "assets/index-0a1b2c3d.js": ("text/javascript; charset=utf-8", IMMUTABLE),
        "assets/index-5e6f7a8b.css": ("text/css; charset=utf-8", IMMUTABLE),
    }
    assert {key: (o["ContentType"], o["CacheControl"]) for key, o in stored.items()} == expected
    assert IMMUTABLE == "public, max-age=31536000, immutable" and REVALIDATE == "no-cache"
    assert json.loads(stored["config.json"]["Body"].read()) == {"api": API}
    assert stored["index.html"]["Body"].read() == b"<!doctype html><title>builder</title>"


def test_a_new_build_replaces_the_old_one_and_its_stale_files_go(s3: Any, tmp_path: Path) -> None:
    publish_site(s3, BUCKET, build(tmp_path / "old", "index-0a1b2c3d.js", "<p>old</p>"), API)
    s3.put_object(Bucket=BUCKET, Key="assets/chunk-99.js", Body=b"from an even older build")
    new = build(tmp_path / "new", "index-ffff0000.js", "<p>new</p>")
    (new / "assets" / "index-5e6f7a8b.css").unlink()
    published = publish_site(s3, BUCKET, new, "https://other.example/v1/")
    stored = objects(s3)
    assert sorted(stored) == ["assets/index-ffff0000.js", "config.json", "index.html"]
    assert published.deleted == (
        "assets/chunk-99.js", "assets/index-0a1b2c3d.js", "assets/index-5e6f7a8b.css",
    )
    assert stored["index.html"]["Body"].read() == b"<p>new</p>"
    assert json.loads(stored["config.json"]["Body"].read()) == {"api": "https://other.example/v1/"}


def test_a_folder_without_a_build_publishes_nothing(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"holds no index\.html"):
        publish_site(s3, BUCKET, tmp_path, API)
    assert objects(s3) == {}


def test_emptying_deletes_every_file_in_batches_and_a_gone_bucket_is_empty(s3: Any) -> None:
    for number in range(1003):  # more than one DeleteObjects request holds
        s3.put_object(Bucket=BUCKET, Key=f"assets/f{number}.js", Body=b"x")
    assert empty_bucket(s3, BUCKET) == 1003
    assert objects(s3) == {}
    s3.delete_bucket(Bucket=BUCKET)
    assert empty_bucket(s3, BUCKET) == 0


# --------------------------------------------------------------------------- the custom resource


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the presigned ResponseURL: records each answer PUT to it."""
    answers: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            answers.append({"content_type": self.headers["Content-Type"], **body})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/response?signed=1", answers
    finally:
        server.shutdown()
        server.server_close()


def request(kind: str, url: str, physical_id: str | None = None, **properties: str) -> dict[str, Any]:
    event = {
        "RequestType": kind, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
        "RequestId": f"{kind}-1", "LogicalResourceId": "AppFiles", "ResourceType": "Custom::AppFiles",
        "ResourceProperties": {"ServiceToken": "arn:fn", "Bucket": BUCKET, "Api": API, **properties},
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def test_create_update_and_delete_answer_cloudformation(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    build(tmp_path / web_deploy.SITE_FOLDER, "index-0a1b2c3d.js")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    web_deploy.handler(request("Create", url), FakeContext())
    assert json.loads(objects(s3)["config.json"]["Body"].read()) == {"api": API}
    physical_id = answers[-1]["PhysicalResourceId"]
    assert answers[-1] == {
        "content_type": "", "Status": "SUCCESS", "Reason": "", "PhysicalResourceId": f"{BUCKET}/app",
        "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1", "RequestId": "Create-1",
        "LogicalResourceId": "AppFiles", "Data": {"Files": 4},
    }
    web_deploy.handler(request("Update", url, physical_id, Api="https://new.example/v1/"), FakeContext())
    assert (answers[-1]["Status"], answers[-1]["PhysicalResourceId"]) == ("SUCCESS", physical_id)
    assert json.loads(objects(s3)["config.json"]["Body"].read()) == {"api": "https://new.example/v1/"}
    web_deploy.handler(request("Delete", url, physical_id), FakeContext())
    assert answers[-1]["Status"] == "SUCCESS" and answers[-1]["Data"] == {"Deleted": 4}
    assert objects(s3) == {}


def test_a_failure_is_answered_with_its_reason_not_left_waiting(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = cloudformation
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))  # a package built without the app
    web_deploy.handler(request("Create", url), FakeContext())
    assert len(answers) == 1 and answers[0]["Status"] == "FAILED"
    assert answers[0]["Reason"].startswith("FileNotFoundError: ")
    assert "site holds no index.html" in answers[0]["Reason"]
    assert objects(s3) == {}
