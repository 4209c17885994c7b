import json

import pytest

from include.aws.provider import AWS
from include.aws.settings import AWS_DATASETS, AWS_FORMATS, AwsExport
from include.settings import ConfigError


def test_s3_export_defaults_its_s3_uri_and_connection():
    [export] = AWS.parse_exports(json.dumps([{"name": "cur", "uri": "s3://bucket/prefix/", "format": "cur2"}]))
    assert (export.s3_uri, export.conn_id, export.uri) == ("s3://bucket/prefix", "aws_default", "s3://bucket/prefix")
    assert AwsExport.from_dict(json.loads(json.dumps(export.to_dict()))) == export  # as XCom carries it


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "cur", "uri": "s3://b/p", "format": "cur3"}, "format 'cur3'"),
        ({"name": "cur", "uri": "gs://b/p", "format": "cur1"}, "must start with s3:// or file://"),
        ({"name": "cur", "uri": "file:///mirror", "format": "cur1"}, "needs s3_uri"),
        ({"name": "../x", "uri": "s3://b/p", "format": "cur1"}, "must be the export's name"),
        ({"name": "cur\n", "uri": "s3://b/p", "format": "cur1"}, "must be the export's name"),  # `$` matches before \n
        ({"name": "cur\nx", "uri": "s3://b/p", "format": "cur1"}, "must be the export's name"),
        ({"name": "cur", "uri": "s3://b/p", "format": "cur1", "bucket": "b"}, "unknown keys"),
    ],
)
def test_invalid_export_entries_name_the_problem(entry, message):
    with pytest.raises(ConfigError, match=rf"finops_aws_exports\[0\].*{message}"):
        AWS.parse_exports(json.dumps([entry]))


@pytest.mark.parametrize(("text", "message"), [("[", "is not valid JSON"), ('{"name": "cur"}', "must be a JSON list")])
def test_a_variable_that_is_not_a_json_list_is_refused_naming_it(text, message):
    with pytest.raises(ConfigError, match=f"finops_aws_exports {message}"):
        AWS.parse_exports(text)


def test_duplicate_export_names_are_refused():
    entry = {"name": "cur", "uri": "s3://b/p", "format": "cur1"}
    with pytest.raises(ConfigError, match="duplicate"):
        AWS.parse_exports(json.dumps([entry, entry]))


def test_every_format_has_one_dataset_id_of_the_provider():
    assert set(AWS.datasets) == set(AWS_FORMATS) == set(AWS_DATASETS)
    assert len(set(AWS.datasets.values())) == len(AWS.datasets)
    assert all(dataset.startswith(f"{AWS.name}_") for dataset in AWS.datasets.values())
