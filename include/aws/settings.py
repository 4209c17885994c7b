"""AWS's export settings: the Variable `finops_aws_exports` parsed into exports, and each format's dataset id.

Plain values, no Airflow: `include.orchestration.config` reads the Variable and hands its text here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from include.providers.deliveries import ExportConfig
from include.settings import ConfigError

EXPORTS_VARIABLE = "finops_aws_exports"
DEFAULT_CONN_ID = "aws_default"
# Each export format and its dataset id: the ledger's `dataset` of its loads, the source view dbt reads
# (sources_aws.<dataset id>), the mart's x_Dataset, and its row in dbt/seeds/datasets.csv (the serving rank).
AWS_DATASETS = {"cur1": "aws_cur1", "cur2": "aws_cur2", "focus1.0": "aws_focus_1_0", "focus1.2": "aws_focus_1_2"}
AWS_FORMATS = tuple(AWS_DATASETS)
_EXPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # with fullmatch: `^…$` and match let "cur\n" through
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
    try:
        entries = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as err:
        raise ConfigError(f"{EXPORTS_VARIABLE} is not valid JSON: {err}") from err
    if not isinstance(entries, list):
        raise ConfigError(f"{EXPORTS_VARIABLE} must be a JSON list of export objects")
    exports = [_parse_export(entry, position) for position, entry in enumerate(entries)]
    names = [export.name for export in exports]
    if len(set(names)) != len(names):
        raise ConfigError(f"{EXPORTS_VARIABLE} has duplicate export names: {names}")
    return exports


def _parse_export(entry: object, position: int) -> AwsExport:
    where = f"{EXPORTS_VARIABLE}[{position}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object with name, uri and format")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    name, uri, fmt = entry.get("name"), entry.get("uri", ""), entry.get("format")
    if not isinstance(name, str) or not _EXPORT_NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must be the export/report name (letters, digits, - and _)")
    if fmt not in AWS_FORMATS:
        raise ConfigError(f"{where} ({name}): format {fmt!r} must be one of {AWS_FORMATS}")
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
