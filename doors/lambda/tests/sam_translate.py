"""Translate a SAM template to plain CloudFormation, offline, with
aws-sam-translator (what `sam deploy` has CloudFormation do), so the tests
can lint the result and check what SAM made of it.

Usage: python sam_translate.py TEMPLATE.yaml OUTPUT.json [Name=Value ...]
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """Stands in for ManagedPolicyLoader, which would ask IAM for the AWS
    managed policies; the template names none beyond the basic execution
    role SAM adds itself."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        }


def main():
    src, out = sys.argv[1], sys.argv[2]
    params = dict(arg.split("=", 1) for arg in sys.argv[3:])
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(src, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # The pseudo parameters SAM itself would pass.
    values = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}
    values.update(params)
    # Local paths (CodeUri, ContentUri) are uploaded by `sam deploy`; stand in S3 URIs.
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://tollgate-artifacts/" + props[key].strip("./").replace("/", "-")
    output = transform(template, values, OfflinePolicyLoader())
    with open(out, "w", encoding="utf-8") as f:
        json.dump(output, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
