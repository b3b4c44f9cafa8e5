"""template.yaml translated by samtranslator, as `sam build`/`sam deploy` do (local paths become
S3 URIs first, as `sam validate` does). tests/unit/test_template_translated.py has its own copy,
with the intrinsic evaluator its tests need."""

from __future__ import annotations

import copy
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def translated() -> dict:
    from samcli.yamlhelper import yaml_parse
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    doc = yaml_parse((ROOT / "template.yaml").read_text())
    for res in doc["Resources"].values():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        return Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[]).translate(
            copy.deepcopy(doc), parameter_values={}, get_managed_policy_map=lambda: {})
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
