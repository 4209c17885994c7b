"""A small Metabase REST client: what the refresh task and the dashboard installer need.

Authenticates with an API key (`x-api-key`, Metabase 0.49+, open-source edition included) or with
a user's session (`POST /api/session/` → `X-Metabase-Session`). Connection failures and timeouts
are retried with backoff by urllib3, then raised as MetabaseUnavailable; 401/403 become
MetabaseAuthError, which no retry can fix. Nothing here imports Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class MetabaseError(RuntimeError):
    """Metabase answered with an error the caller should not retry blindly."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class MetabaseAuthError(MetabaseError):
    """401/403: the key or the credentials are wrong, or lack the permission."""


class MetabaseUnavailable(MetabaseError):
    """Metabase could not be reached or did not answer in time, after the retries."""


@dataclass(frozen=True)
class MetabaseSettings:
    url: str
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0

    def __post_init__(self):
        if not self.api_key and not (self.username and self.password):
            raise ValueError(f"Metabase at {self.url}: give an API key, or a username and password")


class MetabaseClient:
    def __init__(self, settings: MetabaseSettings):
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self._http = requests.Session()
        retry = Retry(
            total=settings.retries,
            connect=settings.retries,
            read=settings.retries,
            status=0,  # an HTTP answer is Metabase's decision; only retry when there was none
            backoff_factor=settings.backoff_s,
            allowed_methods=None,  # sync, rescan and the installer's writes are all safe to repeat
            raise_on_status=False,
        )
        self._http.mount("http://", HTTPAdapter(max_retries=retry))
        self._http.mount("https://", HTTPAdapter(max_retries=retry))
        if settings.api_key:
            self._http.headers["x-api-key"] = settings.api_key

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MetabaseClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: dict | None = None, **params) -> Any:
        return _json_or_none(self.request("POST", path, params=params, body=body))

    def put(self, path: str, body: dict, **params) -> Any:
        return _json_or_none(self.request("PUT", path, params=params, body=body))

    def request(self, method: str, path: str, params: dict | None = None, body: dict | None = None):
        """One API call; raises MetabaseAuthError, MetabaseUnavailable or MetabaseError on failure."""
        if not self.settings.api_key and "X-Metabase-Session" not in self._http.headers:
            self._log_in()
        response = self._send(method, path, params, body)
        if response.status_code in (401, 403):
            raise MetabaseAuthError(
                f"Metabase refused {method} {path} with {response.status_code}: {self._auth_hint()}",
                response.status_code,
            )
        if response.status_code >= 400:
            raise MetabaseError(
                f"Metabase answered {method} {path} with {response.status_code}: {response.text[:300]}",
                response.status_code,
            )
        return response

    def _send(self, method: str, path: str, params: dict | None, body: dict | None) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self._http.request(method, url, params=params or None, json=body, timeout=self.settings.timeout_s)
        except requests.exceptions.RequestException as err:
            raise MetabaseUnavailable(
                f"Metabase at {self.base_url} did not answer {method} {path} "
                f"after {self.settings.retries} retries ({self.settings.timeout_s:g} s timeout): {err}"
            ) from err

    def _log_in(self) -> None:
        body = {"username": self.settings.username, "password": self.settings.password}
        response = self._send("POST", "/api/session/", None, body)
        if response.status_code in (400, 401, 403):
            raise MetabaseAuthError(
                f"Metabase at {self.base_url} refused the login of {self.settings.username} "
                f"({response.status_code}): check the connection's login and password",
                response.status_code,
            )
        if response.status_code >= 400:
            raise MetabaseError(f"Metabase login answered {response.status_code}: {response.text[:300]}")
        self._http.headers["X-Metabase-Session"] = response.json()["id"]

    def _auth_hint(self) -> str:
        if self.settings.api_key:
            return "the API key is wrong or revoked, or its group lacks the permission (Admin > API keys)"
        return f"the user {self.settings.username} lacks the permission, or the session expired"


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
