"""``Client(url, token)``: the Rubric REST API from Python.

Every method is one or a few API calls and returns the API's JSON (dicts and lists, as the
OpenAPI schema at ``/api/schema/`` describes them). Errors raise ``RubricError`` subclasses
carrying the API's ``detail`` and per-item ``errors``.

Requests that are safe to send again are retried on a network error, a 429 or a 5xx (with
backoff, honouring ``Retry-After``): every GET, and the calls the server makes idempotent:
an item push (imports are idempotent by ``external_id``), a claim (it resumes the caller's own
lease) and a submit (sent again it returns the annotation it made).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from rubric_client.errors import ChecksumMismatch, RubricError, ServerError, error_for

BATCH = 10_000  # items per push request (the server's limit)
RETRY_STATUSES = {429, 502, 503, 504, 500}
USER_AGENT = "rubric-client/0.1"
DONE_STATES = {"done", "failed"}


@dataclass
class PushResult:
    """What a push did, summed over its batches."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    batches: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


class Client:
    """A Rubric server at ``url`` (``https://rubric.example.org``), as the owner of ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Token {token}", "User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One API call, retried when safe; raises RubricError on an error answer."""
        retry = method == "GET" if retry is None else retry
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise ServerError(f"No answer from {self.url}: {exc}") from exc
                self._sleep(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                raise error_for(response.status_code, _body(response))
            return response
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        wait = self.backoff * 2**attempt
        if retry_after and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after))
        time.sleep(min(wait, 60.0))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call whose answer is a JSON object."""
        return _expect_object(self._json(method, path, **kwargs))

    def _list(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """A call whose answer is a JSON array of objects."""
        body = self._json(method, path, **kwargs)
        if not isinstance(body, list):
            raise RubricError(f"Expected a JSON array from {path}, got {type(body).__name__}.")
        return [_expect_object(entry) for entry in body]

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list (cursor or limit/offset: both give ``next``)."""
        body = self._object("GET", path, params=params)
        while True:
            for entry in body["results"]:
                yield _expect_object(entry)
            if not body.get("next"):
                return
            body = self._object("GET", body["next"])

    # --- projects ------------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        """The projects the caller is a member of."""
        body = self._json("GET", "/api/v1/projects/")
        if isinstance(body, dict) and "results" in body:
            body = body["results"]
        if not isinstance(body, list):
            raise RubricError(f"Expected a list of projects, got {type(body).__name__}.")
        return [_expect_object(project) for project in body]

    def project(self, project_id: int) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/projects/{project_id}/")

    def create_project(self, name: str, **settings: Any) -> dict[str, Any]:
        return self._object("POST", "/api/v1/projects/", json={"name": name, **settings})

    def update_project(self, project_id: int, **settings: Any) -> dict[str, Any]:
        return self._object("PATCH", f"/api/v1/projects/{project_id}/", json=settings)

    def add_member(self, project_id: int, username: str, role: str) -> dict[str, Any]:
        return self._object(
            "POST",
            f"/api/v1/projects/{project_id}/members/",
            json={"username": username, "role": role},
        )

    def dashboard(self, project_id: int) -> dict[str, Any]:
        """Progress, annotations per day, agreement over time, annotators, coverage."""
        return self._object("GET", f"/api/v1/projects/{project_id}/dashboard/")

    # --- items ---------------------------------------------------------------------------------

    def push_items(
        self,
        project_id: int,
        items: Iterable[dict[str, Any]],
        *,
        batch_size: int = BATCH,
        progress: bool = True,
        total: int | None = None,
    ) -> PushResult:
        """Push items in batches of ``batch_size`` (NDJSON), with a progress bar.

        A batch that fails on the network or a 5xx is sent again (imports are idempotent by
        ``external_id``), so a push interrupted half way can simply be run again: what went
        through counts as ``unchanged``. An invalid item raises BadRequest with the API's
        ``errors``, their ``index`` counted from the first item pushed; earlier batches stay."""
        if not 1 <= batch_size <= BATCH:
            raise ValueError(f"batch_size must be within 1..{BATCH}")
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        result = PushResult()
        bar = tqdm(total=total, unit="item", desc="push", disable=not progress)
        try:
            offset = 0
            for batch in _batches(items, batch_size):
                body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in batch)
                try:
                    answer = self._json(
                        "POST",
                        f"/api/v1/projects/{project_id}/items/",
                        content=body.encode(),
                        headers={"Content-Type": "application/x-ndjson"},
                        retry=True,
                    )
                except RubricError as exc:
                    for error in exc.errors:
                        if isinstance(error.get("index"), int):
                            error["index"] += offset
                    raise
                result.created += answer["created"]
                result.updated += answer["updated"]
                result.unchanged += answer["unchanged"]
                result.duplicates.extend(answer.get("duplicates") or [])
                result.batches += 1
                offset += len(batch)
                bar.update(len(batch))
        finally:
            bar.close()
        return result

    def items(self, project_id: int, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every item of the project that the filters keep (``kind``, ``status``, ``split``,
        ``category``, ``q``, ...), page after page."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._pages(f"/api/v1/projects/{project_id}/items/", params)

    def item(self, item_id: int) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/items/{item_id}/")

    # --- annotating ----------------------------------------------------------------------------

    def claim(self, project_id: int) -> dict[str, Any] | None:
        """The next task ``{assignment, item}``, or None when nothing is left for the caller."""
        task = self._json("POST", f"/api/v1/projects/{project_id}/claim/", retry=True)
        return None if task is None else _expect_object(task)

    def submit(
        self, assignment_id: int, payload: dict[str, Any], *, seconds_spent: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"payload": payload}
        if seconds_spent is not None:
            body["seconds_spent"] = seconds_spent
        return self._object(
            "POST", f"/api/v1/assignments/{assignment_id}/submit/", json=body, retry=True
        )

    def skip(
        self, assignment_id: int, *, reason: str | None = None, note: str | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in {"reason": reason, "note": note}.items() if v is not None}
        return self._object("POST", f"/api/v1/assignments/{assignment_id}/skip/", json=body)

    def heartbeat(self, assignment_id: int) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/assignments/{assignment_id}/heartbeat/")

    # --- review --------------------------------------------------------------------------------

    def review_queue(self, project_id: int) -> Iterator[dict[str, Any]]:
        return self._pages(f"/api/v1/projects/{project_id}/review-queue/")

    def review(
        self,
        item_id: int,
        decision: str,
        *,
        annotation: int | None = None,
        final: dict[str, Any] | None = None,
        note: str | None = None,
        then: str | None = None,
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in {
                "decision": decision,
                "annotation": annotation,
                "final": final,
                "note": note,
                "then": then,
            }.items()
            if v is not None
        }
        return self._object("POST", f"/api/v1/items/{item_id}/review/", json=body)

    # --- reports -------------------------------------------------------------------------------

    def request_agreement(self, project_id: int) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/projects/{project_id}/agreement/")

    def agreement(self, project_id: int) -> dict[str, Any]:
        """The latest agreement report."""
        return self._object("GET", f"/api/v1/projects/{project_id}/agreement/")

    def request_evaluation(self, project_id: int, **filters: Any) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/projects/{project_id}/evaluation/", json=filters)

    def evaluation(self, project_id: int, **filters: Any) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/projects/{project_id}/evaluation/", params=filters)

    # --- exports -------------------------------------------------------------------------------

    def start_export(
        self, project_id: int, format: str, *, split: str = "train", **options: Any
    ) -> dict[str, Any]:
        """Queue an export (``format``: trl-sft, trl-preference, parquet, ...)."""
        body = {"format": format, "split": split, **options}
        return self._object("POST", f"/api/v1/projects/{project_id}/exports/", json=body)

    def exports(self, project_id: int) -> list[dict[str, Any]]:
        return self._list("GET", f"/api/v1/projects/{project_id}/exports/")

    def export(self, export_id: int) -> dict[str, Any]:
        return self._object("GET", f"/api/v1/exports/{export_id}/")

    def wait_export(
        self,
        export_id: int,
        *,
        poll: float = 1.0,
        timeout: float | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Poll until the export is done (returned) or failed (RubricError with its error)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, unit="%", desc=f"export {export_id}", disable=not progress)
        try:
            while True:
                job = self.export(export_id)
                bar.n = round(100 * float(job.get("progress") or 0))
                bar.refresh()
                if job["status"] == "done":
                    bar.n = 100
                    bar.refresh()
                    return job
                if job["status"] == "failed":
                    raise RubricError(f"Export {export_id} failed: {job.get('error')}", body=job)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"export {export_id} is still {job['status']}")
                time.sleep(poll)
        finally:
            bar.close()

    def download_export(
        self, export_id: int, path: str | os.PathLike[str], *, progress: bool = True
    ) -> Path:
        """Download the export's file to ``path``, checking its sha256 against the manifest;
        on a mismatch (or a manifest without a sha256) nothing is left at ``path`` and
        ChecksumMismatch is raised."""
        job = self.export(export_id)
        if job["status"] != "done":
            raise error_for(409, {"detail": f"The export is {job['status']}, not done."})
        expected = (job.get("manifest") or {}).get("sha256") or job.get("sha256")
        if not expected:
            raise ChecksumMismatch(f"Export {export_id} has no sha256 to check the download by.")
        target = Path(path)
        digest = hashlib.sha256()
        folder = target.parent if str(target.parent) else Path(".")
        fd, temp_name = tempfile.mkstemp(prefix=".rubric-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                self._stream(f"/api/v1/exports/{export_id}/download/", out, digest, progress, job)
            actual = digest.hexdigest()
            if actual != expected:
                raise ChecksumMismatch(
                    f"sha256 {actual} of the download differs from the manifest's {expected}"
                )
            os.replace(temp_name, target)
        finally:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
        return target

    def _stream(
        self, path: str, out: Any, digest: Any, progress: bool, job: dict[str, Any]
    ) -> None:
        bar = tqdm(
            total=job.get("size_bytes") or None,
            unit="B",
            unit_scale=True,
            desc="download",
            disable=not progress,
        )
        try:
            with self._http.stream("GET", path) as response:
                if response.status_code in (301, 302, 303, 307, 308):
                    # Object storage: a pre-signed URL, fetched without the API token.
                    location = response.headers["Location"]
                    with httpx.stream("GET", location, timeout=self._http.timeout) as signed:
                        _copy(signed, out, digest, bar)
                    return
                _copy(response, out, digest, bar)
        finally:
            bar.close()

    def manifest(self, export_id: int) -> dict[str, Any]:
        response = self._send(
            "GET", f"/api/v1/exports/{export_id}/download/", params={"part": "manifest"}
        )
        if response.status_code in (301, 302, 303, 307, 308):
            signed = httpx.get(response.headers["Location"], timeout=self._http.timeout)
            if signed.status_code >= 400:
                raise error_for(signed.status_code, _body(signed))
            return _expect_object(signed.json())
        return _expect_object(response.json())

    # --- webhooks ------------------------------------------------------------------------------

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        return self._list("GET", f"/api/v1/projects/{project_id}/webhooks/")

    def create_webhook(
        self, project_id: int, url: str, events: list[str], *, description: str = ""
    ) -> dict[str, Any]:
        """Register an endpoint; the answer's ``secret`` is shown this once."""
        body = {"url": url, "events": events, "description": description}
        return self._object("POST", f"/api/v1/projects/{project_id}/webhooks/", json=body)

    def update_webhook(self, webhook_id: int, **changes: Any) -> dict[str, Any]:
        return self._object("PATCH", f"/api/v1/webhooks/{webhook_id}/", json=changes)

    def delete_webhook(self, webhook_id: int) -> None:
        self._json("DELETE", f"/api/v1/webhooks/{webhook_id}/")

    def deliveries(self, webhook_id: int) -> Iterator[dict[str, Any]]:
        return self._pages(f"/api/v1/webhooks/{webhook_id}/deliveries/")

    def redeliver(self, delivery_id: int) -> dict[str, Any]:
        return self._object("POST", f"/api/v1/deliveries/{delivery_id}/redeliver/")


def _expect_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RubricError(f"Expected a JSON object from the API, got {type(body).__name__}.")
    return body


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy(response: httpx.Response, out: Any, digest: Any, bar: Any) -> None:
    if response.status_code >= 400:
        response.read()
        raise error_for(response.status_code, _body(response))
    for chunk in response.iter_bytes(1 << 16):
        out.write(chunk)
        digest.update(chunk)
        bar.update(len(chunk))
