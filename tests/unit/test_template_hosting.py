"""The Segment Builder's hosting as template.yaml declares it: a private, encrypted bucket
that only the app's CloudFront distribution reads (Origin Access Control), HTTPS for
every visitor, the API forwarded uncached on the app's own origin, and the files
published at each deploy with a config.json naming that API.

cfn-lint checks that the template is valid CloudFormation; these check that it says
what the hosting needs (a public bucket or a cached API answer is valid CloudFormation).
"""

from __future__ import annotations

from typing import Any

import pytest

from growthos_segments.devstack.template import load_template

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""AWS's managed CloudFront policies (their ids are fixed across accounts)."""

DISTRIBUTION_ARN = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${AppDistribution}"
API_HOST = "${SegmentsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return load_template()["Resources"]


def test_the_bucket_is_private_and_encrypted(resources: dict[str, Any]) -> None:
    bucket = resources["AppBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert "WebsiteConfiguration" not in properties  # served through CloudFront only
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_only_the_apps_distribution_may_read_the_bucket(resources: dict[str, Any]) -> None:
    policy = resources["AppBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "AppBucket"}
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [{
        "Sid": "OnlyTheAppDistributionReads",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": "${AppBucket.Arn}/*"},
        "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": DISTRIBUTION_ARN}}},
    }]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Action"] == "s3:*"


def test_the_distribution_serves_the_bucket_over_https_through_origin_access_control(
    resources: dict[str, Any],
) -> None:
    config = resources["AppDistribution"]["Properties"]["DistributionConfig"]
    assert config["Enabled"] is True and config["DefaultRootObject"] == "index.html"
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    app = origins["app"]
    assert app["DomainName"] == {"Fn::GetAtt": ["AppBucket", "RegionalDomainName"]}
    assert app["OriginAccessControlId"] == {"Fn::GetAtt": ["AppOriginAccessControl", "Id"]}
    assert app["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy identity
    control = resources["AppOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"]) == ("s3", "always")
    # At most 64 characters and unique in the account: the stack id's UUID, not its name (128 allowed).
    assert control["Name"] == {"Fn::Join": ["-", ["segment-builder", {"Fn::Select": [
        2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]]}
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "app"
    assert default["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    assert default["CachePolicyId"] == CACHING_OPTIMIZED  # honours each file's Cache-Control
    # Pages live in the address's hash: no error-page rewrite to index.html is needed.
    assert "CustomErrorResponses" not in config


def test_the_api_is_forwarded_uncached_on_the_apps_origin_with_every_header_but_host(
    resources: dict[str, Any],
) -> None:
    config = resources["AppDistribution"]["Properties"]["DistributionConfig"]
    api_origin = next(origin for origin in config["Origins"] if origin["Id"] == "api")
    assert api_origin["DomainName"] == {"Fn::Sub": API_HOST}
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    (behavior,) = config["CacheBehaviors"]
    assert behavior["PathPattern"] == {"Fn::Sub": "/${StageName}/*"}
    assert resources["SegmentsApi"]["Properties"]["StageName"] == {"Ref": "StageName"}
    assert behavior["TargetOriginId"] == "api" and behavior["ViewerProtocolPolicy"] == "https-only"
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST  # the x-api-key reaches the API
    assert resources["SegmentsApi"]["Properties"]["EndpointConfiguration"] == {"Type": "REGIONAL"}


def test_each_deploy_publishes_the_build_with_the_apis_url(resources: dict[str, Any]) -> None:
    files = resources["AppFiles"]
    assert files["Type"].startswith("Custom::")
    assert files["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": ["AppDeployFunction", "Arn"]},
        "Bucket": {"Ref": "AppBucket"},
        "Api": {"Fn::Sub": "https://${AppDistribution.DomainName}/${StageName}/"},
        # A new package (a new build of the app) is a new version: an Update that publishes it.
        "Build": {"Ref": "AppDeployFunction.Version"},
    }
    function = resources["AppDeployFunction"]
    assert function["Metadata"] == {"BuildMethod": "makefile"}
    properties = function["Properties"]
    assert properties["Handler"] == "growthos_segments.handlers.web_deploy.handler"
    assert properties["AutoPublishAlias"]
    (policy,) = properties["Policies"]
    granted = {
        (action, str(statement["Resource"]))
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert granted == {
        ("s3:ListBucket", str({"Fn::GetAtt": ["AppBucket", "Arn"]})),
        ("s3:PutObject", str({"Fn::Sub": "${AppBucket.Arn}/*"})),
        ("s3:DeleteObject", str({"Fn::Sub": "${AppBucket.Arn}/*"})),
    }


def test_the_stack_outputs_the_apps_address() -> None:
    outputs = load_template()["Outputs"]
    assert outputs["AppUrl"]["Value"] == {"Fn::Sub": "https://${AppDistribution.DomainName}/"}
