"""The CloudFormation template (infra/catalog-search.yaml) is built from the policy files and
passes cfn-lint.

Why: the policies have one source, infra/iam/*.json; a template edited by hand, or not built
again after a policy changed, would deploy other permissions than the ones the IAM tests
check. cfn-lint catches what CloudFormation would refuse only at deploy time: unknown
properties, a ``Fn::Sub`` placeholder naming no parameter or resource, invalid IAM actions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from cfnlint.api import ManualArgs, lint, lint_file

from support import iam

REGIONS = ["us-east-1", "eu-west-1"]


def build_template():
    spec = importlib.util.spec_from_file_location("build_template", iam.ROOT / "infra" / "build_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_template_is_the_one_the_policy_files_build():
    assert iam.TEMPLATE.read_text() == build_template().render(), \
        "infra/catalog-search.yaml is stale: run python infra/build_template.py and commit it"


def test_each_role_and_the_domain_carry_their_policy_file():
    resources = yaml.safe_load(iam.TEMPLATE.read_text())["Resources"]

    def unsub(value):
        if isinstance(value, dict):
            return value["Fn::Sub"] if set(value) == {"Fn::Sub"} else {k: unsub(v) for k, v in value.items()}
        return [unsub(v) for v in value] if isinstance(value, list) else value

    inlined = {logical: unsub(resources[logical]["Properties"]["Policies"][0]["PolicyDocument"])
               for logical in ("DagRole", "SageMakerExecutionRole", "SearchServiceRole")}
    assert inlined == {"DagRole": iam.raw("dag-role.json"), "SageMakerExecutionRole": iam.raw("sagemaker-execution-role.json"),
                       "SearchServiceRole": iam.raw("search-service.json")}
    assert unsub(resources["SearchDomain"]["Properties"]["AccessPolicies"]) == iam.raw(iam.DOMAIN_ACCESS)


def test_the_template_passes_cfn_lint():
    found = lint_file(Path(iam.TEMPLATE), ManualArgs(regions=REGIONS))
    assert not found, "cfn-lint:\n" + "\n".join(map(str, found))


def test_cfn_lint_catches_a_placeholder_that_names_nothing():
    broken = iam.TEMPLATE.read_text().replace("${BucketName}/catalog/*", "${Bukket}/catalog/*", 1)
    assert any("Bukket" in str(match) for match in lint(broken, ManualArgs(regions=REGIONS)))
