"""AWS's export settings: the Variable `finops_aws_exports` parsed into exports, and each format's dataset id.

Plain values, no Airflow: `include.orchestration.config` reads the Variable and hands its text here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from include.providers.deliveries import ExportConfig, parse_export_list
from include.settings import ConfigError

EXPORTS_VARIABLE = "finops_aws_exports"
DEFAULT_CONN_ID = "aws_default"
# Each export format and its dataset id: the ledger's `dataset` of its loads, the source view dbt reads
# (sources_aws.<dataset id>), the mart's x_Dataset, and its row in dbt/seeds/datasets.csv (the serving rank).
AWS_DATASETS = {"cur1": "aws_cur1", "cur2": "aws_cur2", "focus1.0": "aws_focus_1_0", "focus1.2": "aws_focus_1_2"}
AWS_FORMATS = tuple(AWS_DATASETS)
_KEYS = {"name", "uri", "format", "s3_uri", "conn_id"}


@dataclass(frozen=True, kw_only=True)
class AwsExport(ExportConfig):
    """A CUR or Data Export. `uri` is where the pipeline reads (`s3://bucket/prefix` or `file:///local/mirror`),
    the folder that holds the `<name>/` export folder. `s3_uri` is the S3 location the manifests refer to;
    it defaults to `uri` and is required for a `file://` mirror, so data files listed outside it can be refused.
    """

    s3_uri: str
    conn_id: str = DEFAULT_CONN_ID


def parse_exports(text: str) -> list[AwsExport]:
    """Parse the `finops_aws_exports` Variable: a JSON list of export objects."""
    return parse_export_list(text, EXPORTS_VARIABLE, _KEYS, AWS_FORMATS, _build_export)


def _build_export(entry: dict, *, where: str, name: str, fmt: str) -> AwsExport:
    uri = entry.get("uri", "")
    scheme = urlsplit(uri).scheme
    if scheme not in ("s3", "file"):
        raise ConfigError(f"{where} ({name}): uri {uri!r} must start with s3:// or file://")
    s3_uri = entry.get("s3_uri") or (uri if scheme == "s3" else None)
    if not s3_uri or urlsplit(s3_uri).scheme != "s3":
        raise ConfigError(f"{where} ({name}): a file:// mirror needs s3_uri, the s3://bucket/prefix it mirrors")
    return AwsExport(
        name=name,
        uri=uri.rstrip("/"),
        format=fmt,
        s3_uri=s3_uri.rstrip("/"),
        conn_id=entry.get("conn_id") or DEFAULT_CONN_ID,
    )
