"""Find AWS billing deliveries in an export's folder and say what was found and why anything was skipped.

A delivery is one billing period's latest manifest plus exactly the data files it lists. AWS's
layouts (see README, "How a delivery is detected and loaded"):

- legacy CUR, CREATE_NEW_REPORT or OVERWRITE_REPORT: `<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json`
  (`assemblyId`, `reportKeys`), rewritten on every refresh; its files are in that period folder.
- legacy CUR with Athena integration (Parquet, always overwrites): data in
  `<report>/<report>/year=YYYY/month=M/`, listed by the period-root manifest, or by a manifest in
  that month folder, or by none; `<report>/cost_and_usage_data_status/` says READY or UPDATING.
- Data Exports (CUR 2.0, FOCUS): `<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`
  (`executionId`, `dataFiles`), files in `<export>/data/BILLING_PERIOD=YYYY-MM/`.

Folders are listed to pick data files only in the Athena month folder without a manifest: there is
nothing else to go by, and that layout always overwrites (no old versions beside the new one).

A billing period whose manifest cannot be used (unreadable, a file listed twice or outside the
period's folders) is refused on its own, so the export's other periods still load; a folder that
holds no layout of its format fails the export as a whole. A manifest that lists no data file
says the export restated the month to nothing: that delivery empties the month.

Paths are pathlib-like objects (Airflow's ObjectStoragePath or universal_pathlib's UPath), so this
module does not import Airflow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import date
from urllib.parse import urlsplit

from include.aws.settings import AwsExport
from include.providers.deliveries import DataFile, Delivery, DeliveryError, Discovery, Refusal, Skip

_V1_PERIOD_FOLDER = re.compile(r"^(\d{4})(\d{2})01-\d{8}$")
_ATHENA_YEAR_FOLDER = re.compile(r"^year=(\d{4})$")
_ATHENA_MONTH_FOLDER = re.compile(r"^month=(\d{1,2})$")  # AWS writes month=8; month=08 is accepted too
_EXPORT_PERIOD_FOLDER = re.compile(r"^billing_period=(\d{4})-(\d{2})$", re.IGNORECASE)
STATUS_FOLDER = "cost_and_usage_data_status"

# How a delivery was found (Delivery.layout).
PERIOD_MANIFEST = "period-root manifest"
ATHENA_MANIFEST = "Athena month-folder manifest"
ATHENA_LISTING = "Athena month folder without manifest"
DATA_EXPORTS_MANIFEST = "Data Exports manifest"

LEGACY_LAYOUTS = (
    "<name>/<yyyymmdd-yyyymmdd>/<name>-Manifest.json (CREATE_NEW_REPORT or OVERWRITE_REPORT), "
    "<name>/<name>/year=YYYY/month=M/ (Parquet with Athena integration)"
)
DATA_EXPORTS_LAYOUTS = "<name>/metadata/BILLING_PERIOD=YYYY-MM/<name>-Manifest.json with <name>/data/"


def discover(root, export: AwsExport) -> Discovery:
    """Survey `<root>/<name>/` (root = the export's `uri`): the latest delivery of every billing period, what
    is skipped and what is refused; raise when the folder holds no layout of its format."""
    export_folder = root / export.name
    discovery = Discovery(export=export, folder=str(export_folder))
    entries = _entries(export_folder)
    if not entries:
        discovery.empty = _nothing_delivered(root, export_folder, missing=entries is None)
        return discovery
    if export.format == "cur1":
        _discover_legacy(discovery, entries, root)
    else:
        _discover_data_exports(discovery, entries, root)
    discovery.deliveries.sort(key=lambda d: d.billing_period)
    discovery.skipped.sort(key=lambda s: s.billing_period or date.min)
    discovery.refused.sort(key=lambda r: r.billing_period or date.min)
    return discovery


def _entries(folder) -> list | None:
    """The folder's children sorted by name; None when it does not exist."""
    try:
        if not folder.exists():
            return None
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _children(folder) -> list:
    return (_entries(folder) or []) if folder is not None else []


def _nothing_delivered(root, export_folder, missing: bool) -> str:
    state = "does not exist" if missing else "is empty"
    siblings = [p.name for p in _children(root)]
    beside = f"; {root} holds {_names(siblings)}" if siblings else f"; {root} holds nothing either"
    return f"{export_folder} {state}: no delivery yet, or the export's name/uri is not where AWS delivers{beside}"


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', …' if len(names) > limit else ''}]"


# --- legacy CUR ---------------------------------------------------------------------------------


def _discover_legacy(discovery: Discovery, entries: list, root) -> None:
    report = discovery.export.name
    period_manifests, athena_months, ignored = {}, {}, []
    period_folders_without_manifest = {}
    athena_folder = status = None
    for entry in entries:
        period_match = _V1_PERIOD_FOLDER.match(entry.name)
        if period_match:
            period = date(int(period_match[1]), int(period_match[2]), 1)
            manifest = entry / f"{report}-Manifest.json"
            if manifest.exists():
                period_manifests[period] = manifest
            else:
                period_folders_without_manifest[period] = entry
        elif entry.name == report:
            athena_folder, athena_months = entry, _athena_month_folders(entry, ignored)
        elif entry.name == STATUS_FOLDER:
            status = _read_status(entry)
        else:
            ignored.append(entry.name)
    if not (period_manifests or period_folders_without_manifest or athena_folder is not None or status):
        raise DeliveryError(
            f"{discovery.folder} holds {_names([e.name for e in entries])} but no legacy CUR layout "
            f"(expected {LEGACY_LAYOUTS}){_format_hint(entries, 'cur1')}; check the export's name, uri and format"
        )
    discovery.seen += _legacy_seen(period_manifests, period_folders_without_manifest, athena_months, status, ignored)
    if not (period_manifests or period_folders_without_manifest or athena_months):
        created = f"the Athena folder {report}/" if athena_folder is not None else f"{STATUS_FOLDER}/"
        discovery.empty = (
            f"{discovery.folder} holds {created} but no month folder yet: AWS creates it when the report is "
            "set up, before it delivers the first month"
        )
    for period in sorted({*period_manifests, *period_folders_without_manifest, *athena_months}):
        found = _legacy_period(
            discovery.export,
            root,
            period,
            manifest=period_manifests.get(period),
            month_folder=athena_months.get(period),
            bare_folder=period_folders_without_manifest.get(period),
            updating=status == "UPDATING",
        )
        discovery.add(found)


_UPDATING = f"{STATUS_FOLDER}/ says UPDATING: AWS is rewriting the report; the next look loads it once READY"


def _legacy_period(
    export, root, period, manifest, month_folder, bare_folder, updating: bool
) -> Delivery | Skip | Refusal:
    """One billing period: the period-root manifest first, else the Athena month folder's manifest or files."""
    if manifest is None and month_folder is None:
        return Skip(period, str(bare_folder), f"no {export.name}-Manifest.json in it (AWS writes the manifest last)")
    if manifest is None and updating:
        return Skip(period, str(month_folder), _UPDATING)  # not even read: AWS is rewriting these files
    if manifest is not None:
        found = read_delivery(manifest, period, export, root, PERIOD_MANIFEST)
    else:
        found = _athena_month_delivery(month_folder, period, export, root)
    if isinstance(found, Delivery) and updating and _in_athena_folder(found):
        return Skip(period, found.delivery_uri, _UPDATING)
    return found


def _athena_month_folders(athena_root, ignored: list[str]) -> dict:
    months = {}
    for year_folder in _children(athena_root):
        year = _ATHENA_YEAR_FOLDER.match(year_folder.name)
        if not year:
            ignored.append(f"{athena_root.name}/{year_folder.name}")
            continue
        for month_folder in _children(year_folder):
            month = _ATHENA_MONTH_FOLDER.match(month_folder.name)
            if not month or not 1 <= int(month[1]) <= 12:
                ignored.append(f"{athena_root.name}/{year_folder.name}/{month_folder.name}")
                continue
            months[date(int(year[1]), int(month[1]), 1)] = month_folder
    return months


def _athena_month_delivery(month_folder, period: date, export: AwsExport, root) -> Delivery | Skip | Refusal:
    manifest = month_folder / f"{export.name}-Manifest.json"
    if manifest.exists():
        return read_delivery(manifest, period, export, root, ATHENA_MANIFEST)
    parquet = [p for p in _children(month_folder) if p.name.endswith(".parquet")]
    if not parquet:
        return Skip(period, str(month_folder), "no manifest and no .parquet file in it")
    relative_folder = f"{export.name}/{export.name}/{month_folder.parent.name}/{month_folder.name}"
    files = tuple(
        _locate(f"{export.s3_uri}/{relative_folder}/{p.name}", str(month_folder), export, period, root) for p in parquet
    )
    return Delivery(
        export=export,
        billing_period=period,
        delivery_uri=str(month_folder),
        version=_listing_version(parquet),
        data_files=files,
        columns=(),  # Parquet carries its own names and types
        layout=ATHENA_LISTING,
    )


def _listing_version(files: list) -> str:
    """Without a manifest, the files' names, sizes and ETags (S3) or modification times (local) are the version."""
    digest = hashlib.sha256()
    for path in files:
        info = path.fs.info(path.path)
        marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
        digest.update(f"{path.name}\t{info.get('size')}\t{str(marker).strip(chr(34))}\n".encode())
    return f"listing-sha256:{digest.hexdigest()[:32]}"


def _read_status(status_folder) -> str:
    """READY or UPDATING, from the one-column Parquet AWS keeps in cost_and_usage_data_status/."""
    import pyarrow.parquet as pq  # here, not at the top: the DAG file imports this module at every parse

    values = set()
    for path in _children(status_folder):
        if not path.name.endswith(".parquet"):
            continue
        try:
            with path.open("rb") as stream:
                values |= {str(v).upper() for v in pq.read_table(stream, columns=["status"]).column(0).to_pylist()}
        except (OSError, ValueError) as err:  # pyarrow's errors derive from these
            raise DeliveryError(f"{path}: cannot read the report status ({str(err).splitlines()[0]})") from err
    if not values:
        return "UNKNOWN"
    if not values <= {"READY", "UPDATING"}:
        raise DeliveryError(f"{status_folder}: unexpected report status {sorted(values)} (expected READY or UPDATING)")
    return "UPDATING" if "UPDATING" in values else "READY"


def _in_athena_folder(delivery: Delivery) -> bool:
    athena_root = f"{delivery.export.s3_uri}/{delivery.export.name}/{delivery.export.name}/".lower()
    return all(f.listed_uri.lower().startswith(athena_root) for f in delivery.data_files)


def _legacy_seen(period_manifests, without_manifest, athena_months, status, ignored) -> list[str]:
    seen = []
    if period_manifests or without_manifest:
        folders = sorted({*period_manifests, *without_manifest})
        seen.append(
            f"{len(folders)} billing-period folder(s) {_months(folders)}, "
            f"{len(period_manifests)} with a period-root manifest"
        )
    if athena_months:
        seen.append(f"Athena folder with month(s) {_months(sorted(athena_months))}")
    if status:
        seen.append(f"{STATUS_FOLDER}: {status}")
    if ignored:
        seen.append(f"ignored (not part of any layout): {_names(ignored)}")
    return seen


def _months(periods: list[date]) -> str:
    return _names([f"{p:%Y-%m}" for p in periods], limit=24)


def _format_hint(entries: list, configured: str) -> str:
    names = {e.name for e in entries}
    if configured == "cur1" and names & {"data", "metadata"}:
        return " (data/ and metadata/ look like a Data Exports export: format cur2, focus1.0 or focus1.2?)"
    if configured != "cur1" and any(_V1_PERIOD_FOLDER.match(n) for n in names):
        return " (yyyymmdd-yyyymmdd/ folders look like a legacy CUR: format cur1?)"
    return ""


# --- Data Exports (CUR 2.0, FOCUS) --------------------------------------------------------------


def _discover_data_exports(discovery: Discovery, entries: list, root) -> None:
    export = discovery.export
    by_name = {e.name: e for e in entries}
    if "metadata" not in by_name and "data" not in by_name:
        raise DeliveryError(
            f"{discovery.folder} holds {_names(list(by_name))} but no Data Exports layout "
            f"(expected {DATA_EXPORTS_LAYOUTS}){_format_hint(entries, export.format)}; "
            "check the export's name, uri and format"
        )
    manifests, partitions_without_manifest = {}, {}
    for folder in _children(by_name.get("metadata")):
        match = _EXPORT_PERIOD_FOLDER.match(folder.name)
        if not match:
            continue
        period = date(int(match[1]), int(match[2]), 1)
        # AWS names the period-root manifest both ways in its docs; accept either.
        manifest = next(
            (m for m in (folder / f"{export.name}-Manifest.json", folder / "Manifest.json") if m.exists()), None
        )
        if manifest is None:
            partitions_without_manifest[period] = folder
        else:
            manifests[period] = manifest
    for folder in _children(by_name.get("data")):
        match = _EXPORT_PERIOD_FOLDER.match(folder.name)
        period = date(int(match[1]), int(match[2]), 1) if match else None
        if period and period not in manifests:
            partitions_without_manifest.setdefault(period, folder)
    discovery.seen.append(
        f"{len(manifests)} billing period(s) with a manifest {_months(sorted(manifests))}"
        + (f", {len(partitions_without_manifest)} without" if partitions_without_manifest else "")
    )
    for period, folder in sorted(partitions_without_manifest.items()):
        discovery.skipped.append(Skip(period, str(folder), "no manifest yet (AWS writes it after the data files)"))
    for period, manifest in sorted(manifests.items()):
        discovery.add(read_delivery(manifest, period, export, root, DATA_EXPORTS_MANIFEST))


# --- manifests and the files they list ----------------------------------------------------------


def read_delivery(manifest, billing_period: date, export: AwsExport, root, layout: str) -> Delivery | Refusal:
    """Parse one manifest into a Delivery, or a Refusal saying what is wrong with it."""
    manifest_uri = str(manifest)
    version, listed = None, []
    try:
        body = _manifest_body(manifest, manifest_uri)
        version = body.get("assemblyId" if export.format == "cur1" else "executionId")
        version = str(version) if version else _fallback_version(manifest)
        if export.format == "cur1":
            listed = _legacy_listed_files(body, manifest_uri, export)
        else:
            listed = _data_exports_listed_files(body, manifest_uri)
        files = tuple(_locate(uri, manifest_uri, export, billing_period, root) for uri in listed)
        _refuse_files_listed_twice(files, manifest_uri)
        columns = _manifest_columns(body, export.format, manifest_uri)
    except DeliveryError as err:
        version = version or _fallback_version(manifest)  # an unreadable manifest: its key and time tell it apart
        return Refusal(export, billing_period, manifest_uri, version, tuple(listed), str(err))
    return Delivery(
        export=export,
        billing_period=billing_period,
        delivery_uri=manifest_uri,
        version=version,
        data_files=files,  # none: the export restated the month to nothing
        columns=columns,
        layout=layout,
    )


def _manifest_body(manifest, manifest_uri: str) -> dict:
    try:
        body = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DeliveryError(f"{manifest_uri}: invalid manifest JSON ({err})") from err
    if not isinstance(body, dict):
        raise DeliveryError(f"{manifest_uri}: manifest is not a JSON object")
    return body


def _refuse_files_listed_twice(files: tuple[DataFile, ...], manifest_uri: str) -> None:
    """A file listed twice would load its rows twice; loading it once would hide a broken manifest."""
    times = Counter(f.read_uri for f in files)
    for read_uri, count in times.items():
        if count > 1:
            spellings = sorted({f.listed_uri for f in files if f.read_uri == read_uri})
            raise DeliveryError(
                f"{manifest_uri}: manifest lists the data file {' = '.join(spellings)} {count} times; "
                "refusing the delivery (its rows would count twice)"
            )


def _legacy_listed_files(body: dict, manifest_uri: str, export: AwsExport) -> list[str]:
    keys = body.get("reportKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise DeliveryError(f"{manifest_uri}: reportKeys must be a list of S3 keys")
    bucket = body.get("bucket") or urlsplit(export.s3_uri).netloc
    return [f"s3://{bucket}/{key.lstrip('/')}" for key in keys]


def _data_exports_listed_files(body: dict, manifest_uri: str) -> list[str]:
    entries = body.get("dataFiles")
    if not isinstance(entries, list):
        raise DeliveryError(f"{manifest_uri}: dataFiles must be a list of s3:// URIs")
    uris = []
    for entry in entries:
        # Some writers give objects instead of plain strings; accept the known spellings.
        uri = entry if isinstance(entry, str) else (entry or {}).get("s3Uri") or (entry or {}).get("filePath")
        if not isinstance(uri, str):
            raise DeliveryError(f"{manifest_uri}: unreadable dataFiles entry {entry!r}")
        uris.append(uri)
    return uris


def _period_folders(export: AwsExport, period: date) -> list[tuple[re.Pattern, str]]:
    """Where a delivery of `period` may keep its files, relative to s3_uri: (pattern, how to show it)."""
    name = re.escape(export.name)
    if export.format == "cur1":
        return [
            # Any end date: AWS's older docs end the folder on the last day, newer ones on the 1st.
            (re.compile(rf"{name}/{period:%Y%m}01-\d{{8}}/", re.IGNORECASE), f"{export.name}/{_v1_period(period)}/"),
            (
                re.compile(rf"{name}/{name}/year={period.year}/month=0?{period.month}/", re.IGNORECASE),
                f"{export.name}/{export.name}/year={period.year}/month={period.month}/",
            ),
        ]
    return [
        (
            re.compile(rf"{name}/data/billing_period={period:%Y-%m}/", re.IGNORECASE),
            f"{export.name}/data/BILLING_PERIOD={period:%Y-%m}/",
        )
    ]


def _v1_period(period: date) -> str:
    following = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    return f"{period:%Y%m%d}-{following:%Y%m%d}"


def _locate(listed_uri: str, manifest_uri: str, export: AwsExport, period: date, root) -> DataFile:
    """Map a listed S3 URI to where the pipeline reads it; refuse anything outside the period's folders."""
    folders = _period_folders(export, period)
    prefix = f"{export.s3_uri}/"
    relative = listed_uri[len(prefix) :] if listed_uri.lower().startswith(prefix.lower()) else None
    if relative is not None and any(part in ("", ".", "..") for part in relative.split("/")):
        raise DeliveryError(
            f"{manifest_uri}: data file {listed_uri} has an empty, '.' or '..' path segment; refusing to load it"
        )
    if relative is None or not any(pattern.match(relative) for pattern, _ in folders):
        expected = " or ".join(f"{export.s3_uri}/{shown}" for _, shown in folders)
        raise DeliveryError(
            f"{manifest_uri}: data file {listed_uri} is outside the export's billing-period folders for "
            f"{period:%Y-%m} ({expected}); refusing to load it{_elsewhere_hint(listed_uri, export, folders)}"
        )
    return DataFile(listed_uri=listed_uri, read_uri=str(root / relative))


def _elsewhere_hint(listed_uri: str, export: AwsExport, folders) -> str:
    """Blame s3_uri only when the file is exactly where this period's files belong, under another prefix."""
    for pattern, _ in folders:
        found = re.search("/" + pattern.pattern, listed_uri, pattern.flags)
        if found and listed_uri[: found.start()].startswith("s3://"):
            other = listed_uri[: found.start()]
            return (
                f". The manifest places this period's files under {other}, not under the export's s3_uri "
                f"{export.s3_uri}: if the report writes there, set s3_uri to {other}"
            )
    return ""


def _manifest_columns(body: dict, fmt: str, manifest_uri: str) -> tuple[tuple[str, str | None], ...]:
    columns = body.get("columns") or []
    try:
        if fmt == "cur1":
            return tuple((f"{c['category']}/{c['name']}", c.get("type")) for c in columns)
        return tuple((c["name"], c.get("type")) for c in columns)
    except (KeyError, TypeError, AttributeError) as err:
        raise DeliveryError(f"{manifest_uri}: unreadable columns entry ({err!r})") from err


def _fallback_version(manifest) -> str:
    """Without an id, key + ETag (S3) or modification time (local) identifies a delivery."""
    info = manifest.fs.info(manifest.path)
    marker = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    return f"{manifest.path}@{str(marker).strip(chr(34))}"
