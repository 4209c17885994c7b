"""Find Azure Cost Management export runs in an export's folder and say what was found and why anything was not loaded.

Azure writes every run of an export to `<root folder path>/<export-name>/<YYYYMMDD-YYYYMMDD>/<run-id>/` (some
writers put an `<export-time>/` level before the run id): its parts and, last, a `manifest.json` that lists
them (`blobs[].blobName`, paths inside the container). The manifest decides: the month is its
`runInfo.startDate`'s, the parts are exactly its blobs, and of a month's runs the newest by
`runInfo.submittedTime` is the delivery (CreateNewReport keeps every run, OverwritePreviousReport only the
last; each run exports the whole month so far, so the newest replaces the month). Its `runId` is the version.
Two manifest shapes: `manifestVersion` 2024-04-01 (row counts per blob), and the older one of API
2023-07-01-preview, without manifestVersion, byteCount, dataRowCount or compressionMode at the top.

A month is refused (and no older run of it loaded) when one of its manifests cannot be used: it may be the
newest run. A run that lists no blob restates its month to nothing. The folder is listed once, recursively;
that listing says which listed blobs exist. Paths are pathlib-like objects (Airflow's ObjectStoragePath or
universal_pathlib's UPath), so this module does not import Airflow.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from include.azure.settings import MANIFEST_DATA_VERSIONS, MANIFEST_TYPES, AzureExport
from include.providers.deliveries import DataFile, Delivery, DeliveryError, Discovery, Refusal, Skip

MANIFEST = "manifest.json"
_MONTH_FOLDER = re.compile(r"^(\d{4})(\d{2})\d{2}-\d{8}$")
_START_DATE = re.compile(r"^(\d{4})-(\d{2})-\d{2}")
LAYOUT = "<name>/<YYYYMMDD-YYYYMMDD>/[<export-time>/]<run-id>/manifest.json"


@dataclass(frozen=True)
class ListedBlob:
    name: str  # blobName: the path inside the container
    rows: int | None  # dataRowCount, where the manifest states it


@dataclass(frozen=True)
class Run:
    """One export run, as its manifest describes it."""

    manifest_uri: str
    folder: str  # the run's folder relative to the export's uri: `<name>/<YYYYMMDD-YYYYMMDD>/…/<run-id>/`
    run_id: str
    submitted: datetime
    billing_period: date
    shape: str  # the manifestVersion, or what stands for it in the older shape
    blobs: tuple[ListedBlob, ...]


def discover(root, export: AzureExport) -> Discovery:
    """Survey `<root>/<name>/` (root = the export's `uri`): the newest run of every month, what is skipped and
    what is refused."""
    export_folder = root / export.name
    discovery = Discovery(export=export, folder=str(export_folder))
    files = _files_under(export_folder)
    if not files:
        discovery.empty = _nothing_delivered(root, export_folder, missing=files is None)
        return discovery
    manifests = [path for path in files if path.rsplit("/", 1)[-1] == MANIFEST]
    by_month: dict[date, list[Run]] = defaultdict(list)
    broken: dict[date | None, list[Refusal]] = defaultdict(list)
    for relative in manifests:
        found = read_run(export_folder / relative, f"{export.name}/{relative}", export)
        if isinstance(found, Refusal):
            broken[found.billing_period].append(found)
        else:
            by_month[found.billing_period].append(found)
    month_folders = {_folder_month(path): path.split("/", 1)[0] for path in files if _folder_month(path)}
    without_manifest = set(month_folders) - set(by_month) - set(broken)
    discovery.seen += _seen(manifests, by_month, files, without_manifest)
    if not manifests:
        discovery.empty = (
            f"{discovery.folder} holds {len(files)} file(s) but no {MANIFEST} (Azure writes a run's manifest after "
            f"its parts; exports of the older experience write none and are not supported: expected {LAYOUT})"
        )
    for period in sorted(without_manifest):
        folder = f"{discovery.folder}/{month_folders[period]}"
        discovery.add(Skip(period, folder, f"no {MANIFEST} yet (Azure writes it after the parts)"))
    for refusals in broken.values():
        for refusal in refusals:
            discovery.add(refusal)
    existing = set(files)
    for period, runs in sorted(by_month.items()):
        if period in broken:
            continue  # its broken manifest may be the newest run: loading an older one would undo it
        newest = max(runs, key=lambda run: (run.submitted, run.run_id))
        discovery.add(_delivery(newest, export, root, existing))
    discovery.skipped.sort(key=lambda s: s.billing_period or date.min)
    discovery.refused.sort(key=lambda r: r.billing_period or date.min)
    discovery.deliveries.sort(key=lambda d: d.billing_period)
    return discovery


def _files_under(folder) -> list[str] | None:
    """Every file under `folder`, relative to it, in name order; None when the folder does not exist."""
    try:
        found = folder.fs.find(folder.path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    prefix = folder.path.rstrip("/") + "/"
    files = sorted(path[len(prefix) :] for path in found if path.startswith(prefix))
    if not files and not folder.exists():
        return None
    return files


def _nothing_delivered(root, export_folder, missing: bool) -> str:
    state = "does not exist" if missing else "is empty"
    try:
        siblings = sorted(p.name for p in root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        siblings = []
    beside = f"; {root} holds {_names(siblings)}" if siblings else f"; {root} holds nothing either"
    return (
        f"{export_folder} {state}: no run yet, or the export's name/uri is not where Azure delivers "
        f"(uri: the container and root folder path the export writes to){beside}"
    )


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', …' if len(names) > limit else ''}]"


def _folder_month(relative: str) -> date | None:
    """The month of the `<YYYYMMDD-YYYYMMDD>` folder a path under the export's folder is in, if it is in one."""
    match = _MONTH_FOLDER.match(relative.split("/", 1)[0])
    if not match or not 1 <= int(match[2]) <= 12:
        return None
    return date(int(match[1]), int(match[2]), 1)


def _seen(manifests: list[str], by_month: dict[date, list[Run]], files: list[str], without_manifest) -> list[str]:
    months = sorted(by_month)
    seen = [f"{len(manifests)} run manifest(s), readable ones in {len(months)} month(s) {_months(months)}"]
    superseded = sum(len(runs) - 1 for runs in by_month.values())
    if superseded:
        seen.append(f"{superseded} older run(s) superseded by a newer run of their month (CreateNewReport keeps all)")
    deeper = sum(1 for path in manifests if path.count("/") > 2)
    if deeper:
        seen.append(f"{deeper} run(s) under an <export-time>/ folder")
    if without_manifest:
        seen.append(f"month folder(s) without any manifest yet {_months(sorted(without_manifest))}")
    outside = sorted({path.split("/", 1)[0] for path in files if _folder_month(path) is None})
    if outside:
        seen.append(f"ignored (not in a <YYYYMMDD-YYYYMMDD> folder): {_names(outside)}")
    return seen


def _months(periods: list[date]) -> str:
    return _names([f"{p:%Y-%m}" for p in periods], limit=24)


# --- one manifest ---------------------------------------------------------------------------------


def read_run(manifest, relative: str, export: AzureExport) -> Run | Refusal:
    """Parse the manifest at `manifest` (`relative`: its path under the export's uri) into a Run, or a Refusal."""
    manifest_uri = str(manifest)
    folder_month = _folder_month(relative.split("/", 1)[1])
    run_id = None
    try:
        body = _manifest_body(manifest, manifest_uri)
        run_info = _object(body, "runInfo", manifest_uri)
        run_id = _text(run_info, "runId", manifest_uri)
        run = Run(
            manifest_uri=manifest_uri,
            folder=relative.rsplit("/", 1)[0] + "/",
            run_id=run_id,
            submitted=_timestamp(run_info, "submittedTime", manifest_uri),
            billing_period=_start_month(run_info, manifest_uri),
            shape=_shape(body, manifest_uri),
            blobs=_listed_blobs(body, manifest_uri),
        )
        _check_export_type(body, export, manifest_uri)
        if run.billing_period != folder_month:
            where = f"the {relative.split('/')[1]}/ folder" if folder_month else "no <YYYYMMDD-YYYYMMDD> folder"
            raise DeliveryError(
                f"{manifest_uri}: runInfo.startDate's month {run.billing_period:%Y-%m} disagrees with its place "
                f"({where}); Azure writes each run in its month's folder ({LAYOUT})"
            )
    except DeliveryError as err:
        period = folder_month
        return Refusal(export, period, manifest_uri, run_id or _fallback_version(manifest), (), str(err))
    return run


def _manifest_body(manifest, manifest_uri: str) -> dict:
    try:
        body = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DeliveryError(f"{manifest_uri}: invalid manifest JSON ({err})") from err
    if not isinstance(body, dict):
        raise DeliveryError(f"{manifest_uri}: manifest is not a JSON object")
    return body


def _object(body: dict, key: str, manifest_uri: str) -> dict:
    value = body.get(key)
    if not isinstance(value, dict):
        raise DeliveryError(f"{manifest_uri}: {key} is missing or not an object")
    return value


def _text(section: dict, key: str, manifest_uri: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DeliveryError(f"{manifest_uri}: {key} is missing or not text")
    return value


def _timestamp(section: dict, key: str, manifest_uri: str) -> datetime:
    text = _text(section, key, manifest_uri)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise DeliveryError(f"{manifest_uri}: {key} {text!r} is not a timestamp") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Azure's times are UTC, with or without Z


def _start_month(run_info: dict, manifest_uri: str) -> date:
    """The billing month: the year and month of runInfo.startDate (as FinOps hubs takes it)."""
    text = _text(run_info, "startDate", manifest_uri)
    match = _START_DATE.match(text)
    if not match or not 1 <= int(match[2]) <= 12:
        raise DeliveryError(f"{manifest_uri}: runInfo.startDate {text!r} is not a date")
    return date(int(match[1]), int(match[2]), 1)


def _shape(body: dict, manifest_uri: str) -> str:
    version = body.get("manifestVersion")
    if version is None:
        api = (body.get("exportConfig") or {}).get("apiVersion") or "unknown"
        return f"without manifestVersion (API {api})"
    if not isinstance(version, str):
        raise DeliveryError(f"{manifest_uri}: manifestVersion {version!r} is not text")
    return version


def _check_export_type(body: dict, export: AzureExport, manifest_uri: str) -> None:
    config = _object(body, "exportConfig", manifest_uri)
    kind, data_version = config.get("type"), config.get("dataVersion")
    expected_versions = MANIFEST_DATA_VERSIONS.get(export.format)
    type_fits = isinstance(kind, str) and kind.lower() == MANIFEST_TYPES[export.format].lower()
    if not type_fits or (expected_versions and data_version not in expected_versions):
        expected = MANIFEST_TYPES[export.format] + (f" {' or '.join(expected_versions)}" if expected_versions else "")
        raise DeliveryError(
            f"{manifest_uri}: the run is a {kind} export (dataVersion {data_version}), but {export.name} is configured "
            f"as format {export.format}, which reads {expected}; set the export's format in finops_azure_exports"
        )


def _listed_blobs(body: dict, manifest_uri: str) -> tuple[ListedBlob, ...]:
    entries = body.get("blobs")
    if not isinstance(entries, list):
        raise DeliveryError(f"{manifest_uri}: blobs must be a list of {{blobName: …}} objects")
    blobs = []
    for entry in entries:
        name = entry.get("blobName") if isinstance(entry, dict) else None
        rows = entry.get("dataRowCount") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or not _is_count(rows, optional=True):
            raise DeliveryError(f"{manifest_uri}: unreadable blobs entry {entry!r}")
        blobs.append(ListedBlob(name, rows))
    _check_counts(body, blobs, manifest_uri)
    return tuple(blobs)


def _is_count(value, optional: bool) -> bool:
    return (optional and value is None) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _check_counts(body: dict, blobs: list[ListedBlob], manifest_uri: str) -> None:
    """The manifest's own totals agree with its list, where it states them (the older shape states fewer)."""
    blob_count, row_count = body.get("blobCount"), body.get("dataRowCount")
    for key, value in (("blobCount", blob_count), ("dataRowCount", row_count)):
        if not _is_count(value, optional=True):
            raise DeliveryError(f"{manifest_uri}: {key} {value!r} is not a count")
    if blob_count is not None and blob_count != len(blobs):
        raise DeliveryError(f"{manifest_uri}: blobCount is {blob_count} but blobs lists {len(blobs)}")
    if row_count == 0 and blobs:
        # FinOps hubs reads dataRowCount 0 as "no rows"; a month is restated to nothing only by a run that lists none.
        raise DeliveryError(
            f"{manifest_uri}: dataRowCount is 0 but blobs lists {len(blobs)} part(s); refusing a run that contradicts "
            "itself (a run with no rows lists no blob)"
        )
    if row_count is not None and blobs and all(blob.rows is not None for blob in blobs):
        listed_rows = sum(blob.rows for blob in blobs)
        if listed_rows != row_count:
            raise DeliveryError(f"{manifest_uri}: dataRowCount is {row_count} but its blobs' add up to {listed_rows}")


def _fallback_version(manifest) -> str:
    """Without a run id, path + ETag (Blob storage) or modification time (local) identifies a manifest."""
    info = manifest.fs.info(manifest.path)
    marker = info.get("etag") or info.get("ETag") or info.get("mtime") or info.get("last_modified")
    return f"{manifest.path}@{str(marker).strip(chr(34))}"


# --- the newest run's parts -----------------------------------------------------------------------


def _delivery(run: Run, export: AzureExport, root, existing: set[str]) -> Delivery | Refusal:
    try:
        _refuse_listed_twice(run)
        located = [_locate(blob.name, run, export, root) for blob in run.blobs]
        # `existing` is relative to the export's folder, the located paths to its uri (the export's name first)
        absent = [file.listed_uri for file, relative in located if relative.split("/", 1)[1] not in existing]
        if absent:
            raise DeliveryError(
                f"{run.manifest_uri}: {len(absent)} listed part(s) missing from the run's folder: {_names(absent, 5)}; "
                "refusing a partial month (re-run the export for the month, or wait for its copy to finish)"
            )
    except DeliveryError as err:
        listed = tuple(blob.name for blob in run.blobs)
        return Refusal(export, run.billing_period, run.manifest_uri, run.run_id, listed, str(err))
    return Delivery(
        export=export,
        billing_period=run.billing_period,
        delivery_uri=run.manifest_uri,
        version=run.run_id,
        data_files=tuple(file for file, _ in located),  # none: the run restated the month to nothing
        columns=(),  # Azure's manifests declare no column types
        layout=f"Cost Management manifest {run.shape}",
    )


def _refuse_listed_twice(run: Run) -> None:
    """A part listed twice would load its rows twice; loading it once would hide a broken manifest."""
    for name, count in Counter(blob.name for blob in run.blobs).items():
        if count > 1:
            raise DeliveryError(
                f"{run.manifest_uri}: blobs lists {name} {count} times; refusing the run (its rows would count twice)"
            )


def _locate(blob_name: str, run: Run, export: AzureExport, root) -> tuple[DataFile, str]:
    """Where the pipeline reads a listed blob, and its path relative to the export's uri; refuse anything
    outside the run's folder."""
    before = _folder_before(blob_name, run, export)
    rest = blob_name[len(before) + len(run.folder) :] if before is not None else ""
    if not rest:
        where = f"{export.root_folder_path}/" if export.root_folder_path else ""
        if export.root_folder_path is None:
            where = f"<the folder {export.uri} mirrors>/"
        raise DeliveryError(
            f"{run.manifest_uri}: blob {blob_name} is outside its run's folder {where}{run.folder}; refusing the run"
        )
    if any(part in ("", ".", "..") for part in rest.split("/")):
        raise DeliveryError(f"{run.manifest_uri}: blob {blob_name} has an empty, '.' or '..' path segment; refusing it")
    relative = run.folder + rest
    return DataFile(listed_uri=blob_name, read_uri=str(root / relative)), relative


def _folder_before(blob_name: str, run: Run, export: AzureExport) -> str | None:
    """What a blob name holds before its run's folder (the export's root folder path, with its `/`), or None
    when the run's folder is not where that path ends."""
    root_folder = export.root_folder_path
    if root_folder is not None:  # Blob storage: the uri names the root folder path
        before = f"{root_folder}/" if root_folder else ""
        return before if blob_name.startswith(before + run.folder) else None
    # A file:// mirror's root is the container: its uri ends with the root folder path, whatever it is.
    at = blob_name.find(run.folder)
    if at < 0:
        return None
    before = blob_name[:at]
    mirror = urlsplit(export.uri).path.rstrip("/")
    fits = not before or (before.endswith("/") and mirror.endswith("/" + before.rstrip("/")))
    return before if fits else None


def listed_row_counts(manifest, delivery: Delivery) -> dict[str, int]:
    """{blob name: dataRowCount} of the delivery's run, where its manifest states them (read again at load time,
    since a Delivery carries no counts); a DeliveryError when the manifest is no longer that run's."""
    relative = f"{delivery.export.name}/{_relative_to_export(delivery)}"
    found = read_run(manifest, relative, delivery.export)
    if isinstance(found, Refusal):
        raise DeliveryError(found.error)
    if found.run_id != delivery.version:
        raise DeliveryError(
            f"{delivery.delivery_uri}: now describes run {found.run_id}, not {delivery.version}: the export "
            "overwrote the run since it was found; the next run loads the new one"
        )
    return {blob.name: blob.rows for blob in found.blobs if blob.rows is not None}


def _relative_to_export(delivery: Delivery) -> str:
    """The manifest's path under the export's folder, from the delivery's URI."""
    found = re.search(rf"/{re.escape(delivery.export.name)}/(\d{{8}}-\d{{8}}/.+)$", delivery.delivery_uri)
    if not found:
        raise DeliveryError(f"{delivery.delivery_uri}: not a run manifest of export {delivery.export.name}")
    return found[1]
