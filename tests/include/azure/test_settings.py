import json

import pytest

from include.azure.provider import AZURE
from include.azure.settings import AZURE_DATASETS, AzureExport
from include.providers.contract import Provider
from include.serving.publish import serving_ranks
from include.settings import ConfigError


def test_azure_is_a_provider_with_the_shared_names():
    assert isinstance(AZURE, Provider)
    assert (AZURE.name, AZURE.schema, AZURE.exports_variable, AZURE.remote_scheme) == (
        "azure",
        "azure_exports",
        "finops_azure_exports",
        "abfs",
    )
    assert AZURE_DATASETS == {
        "actual": "azure_actual",
        "amortized": "azure_amortized",
        "focus1.0": "azure_focus_1_0",
        "focus1.2": "azure_focus_1_2",
    }
    # each has its row in dbt/seeds/datasets.csv; actual and amortized cost share one rank: served together
    ranks = serving_ranks()
    assert ranks["azure_actual"] == ranks["azure_amortized"] > ranks["azure_focus_1_0"] > ranks["azure_focus_1_2"]


def test_blob_storage_export_defaults_its_connection_and_knows_its_root_folder_path():
    [export] = AZURE.parse_exports(
        json.dumps([{"name": "ea-actual", "uri": "abfs://msexports/billing/exports/", "format": "actual"}])
    )
    assert (export.uri, export.conn_id, export.root_folder_path, export.table_stem) == (
        "abfs://msexports/billing/exports",
        "azure_default",
        "billing/exports",
        "ea_actual",
    )
    assert AzureExport.from_dict(json.loads(json.dumps(export.to_dict()))) == export  # as XCom carries it


def test_an_export_at_the_top_of_its_container_or_on_a_mirror():
    exports = AZURE.parse_exports(
        json.dumps(
            [
                {"name": "top", "uri": "abfs://msexports", "format": "focus1.2", "conn_id": "azure_billing"},
                {"name": "mirror", "uri": "file:///mirror/billing", "format": "amortized"},
            ]
        )
    )
    assert [(e.root_folder_path, e.conn_id) for e in exports] == [("", "azure_billing"), (None, "azure_default")]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "uri": "abfs://c/p", "format": "usage"}, "format 'usage' must be one of"),
        ({"name": "x", "uri": "wasbs://c/p", "format": "actual"}, r"must be abfs://<container>/<root folder path>"),
        ({"name": "x", "uri": "s3://b/p", "format": "actual"}, r"must be abfs://"),
        ({"name": "x", "uri": "abfs://c@account.dfs.core.windows.net/p", "format": "actual"}, "container only"),
        ({"name": "x", "uri": "abfs:///p", "format": "actual"}, "container only"),
        ({"name": "../x", "uri": "abfs://c/p", "format": "actual"}, "the export's name"),
        ({"name": "x\n", "uri": "abfs://c/p", "format": "actual"}, "the export's name"),  # `$` matches before \n
        ({"name": "x", "uri": "abfs://c/p", "format": "actual", "container": "c"}, "unknown keys"),
        ({"name": "x", "uri": "abfs://c/p", "format": "actual", "conn_id": 7}, "conn_id must be a string"),
        ("x", "must be an object"),
    ],
)
def test_invalid_export_entries_name_the_problem(entry, message):
    with pytest.raises(ConfigError, match=rf"finops_azure_exports\[0\].*{message}"):
        AZURE.parse_exports(json.dumps([entry]))


@pytest.mark.parametrize(("text", "message"), [("[", "is not valid JSON"), ('{"name": "x"}', "must be a JSON list")])
def test_a_variable_that_is_not_a_json_list_is_refused_naming_it(text, message):
    with pytest.raises(ConfigError, match=f"finops_azure_exports {message}"):
        AZURE.parse_exports(text)


def test_an_empty_variable_is_no_export_and_duplicate_names_are_refused():
    assert AZURE.parse_exports("  ") == []
    entry = {"name": "x", "uri": "abfs://c/p", "format": "actual"}
    with pytest.raises(ConfigError, match="duplicate"):
        AZURE.parse_exports(json.dumps([entry, entry]))
