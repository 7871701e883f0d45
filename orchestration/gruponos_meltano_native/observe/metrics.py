"""Prometheus metrics of each run: a node_exporter textfile and/or a Pushgateway push.

Every run updates a small snapshot in `<state_dir>/metrics/snapshot.json` (one entry per job,
company and facility; the last success time and the failure counters must outlive a failed
run), then:

- rewrites `GRUPONOS_MELTANO_METRICS__TEXTFILE_PATH` (atomically: node_exporter never reads half
  a file) with every scope's metrics, labelled `job`, `company`, `facility` (and `entity`,
  `kind`, `status` where they apply);
- PUTs the run's scope to `GRUPONOS_MELTANO_METRICS__PUSHGATEWAY_URL` under the grouping key
  `job/<job>/company/<company>/facility/<facility>` (the Pushgateway adds those labels).

Neither can fail a run: a problem comes back as a warning for the run's report.
"""

from __future__ import annotations

import base64
import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.files import atomic_write_json, read_json
from gruponos_meltano_native.observe.history import STATUSES
from gruponos_meltano_native.observe.quarantine import move_aside

PREFIX = "gruponos_meltano_"

# name (without prefix), type, help, extra label.
METRICS: tuple[tuple[str, str, str, str | None], ...] = (
    ("last_run_timestamp_seconds", "gauge", "End of the last run (Unix time).", None),
    ("last_success_timestamp_seconds", "gauge", "End of the last succeeded run.", None),
    ("last_run_status", "gauge", "1 for the last run's status, 0 for the others.", "status"),
    ("last_run_duration_seconds", "gauge", "Duration of the last run.", None),
    ("records_extracted", "gauge", "Records the tap sent in the last run.", "entity"),
    ("records_loaded", "gauge", "Records the target committed in the last run.", "entity"),
    ("rows_marked_deleted", "gauge", "Rows marked deleted by the last run.", "entity"),
    ("reconciliation_quality_score", "gauge", "Last reconciliation's score (percent).", None),
    ("runs_total", "counter", "Runs by status.", "status"),
    ("failures_total", "counter", "Failed or interrupted runs by failure kind.", "kind"),
)
SCOPE_LABELS = ("job", "company", "facility")


@dataclass
class RunSample:
    """What one run tells Prometheus."""

    job: str
    company: str
    facility: str
    status: str
    ended_at: float
    duration_seconds: float
    failure_kind: str | None = None
    quality_score: float | None = None
    extracted: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    marked_deleted: dict[str, int] = field(default_factory=dict)


class MetricsSnapshot:
    """The metrics of every scope, kept in the state folder between runs."""

    def __init__(self, state_dir: Path) -> None:
        """Keep the snapshot under `<state_dir>/metrics/`."""
        self.folder = Path(state_dir) / "metrics"
        self.path = self.folder / "snapshot.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Parallel runs (several facilities) update the same snapshot: one at a time.
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update(self, sample: RunSample) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """Fold a run into its scope; return that scope's entry, every scope's, and warnings.

        A snapshot that cannot be read or is not shaped like one is moved to quarantine
        (the warning names the file) and the metrics start again from this run.
        """
        with self._locked():
            warnings = []
            try:
                scopes = read_json(self.path) or {}
                if not isinstance(scopes, dict):
                    raise ValueError("not a JSON object")
                entry, entries = self._fold(scopes, sample)
            except (StateError, KeyError, TypeError, AttributeError, ValueError) as exc:
                kept = move_aside(self.path)
                warnings.append(
                    f"metrics snapshot unreadable ({exc}); moved to {kept}, counters restart"
                )
                scopes = {}
                entry, entries = self._fold(scopes, sample)
            atomic_write_json(self.path, scopes)
            return entry, entries, warnings

    @staticmethod
    def _fold(
        scopes: dict[str, Any], sample: RunSample
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        key = "/".join((sample.job, sample.company, sample.facility))
        entry = scopes.get(key) or {
            "labels": {
                "job": sample.job,
                "company": sample.company,
                "facility": sample.facility,
            },
            "runs": {},
            "failures": {},
        }
        entry["last_run"] = sample.ended_at
        entry["status"] = sample.status
        entry["runs"][sample.status] = entry["runs"].get(sample.status, 0) + 1
        if sample.status == "succeeded":
            entry["last_success"] = sample.ended_at
        if sample.status in ("failed", "interrupted"):
            kind = sample.failure_kind or sample.status
            entry["failures"][kind] = entry["failures"].get(kind, 0) + 1
        if sample.status != "skipped":  # a skipped run did nothing: keep what the last one did
            entry["duration"] = sample.duration_seconds
            entry["entities"] = {
                name: {
                    "extracted": sample.extracted.get(name),
                    "loaded": sample.loaded.get(name),
                    "marked_deleted": sample.marked_deleted.get(name),
                }
                for name in sorted(
                    set(sample.extracted) | set(sample.loaded) | set(sample.marked_deleted)
                )
            }
            if sample.quality_score is not None:
                entry["quality_score"] = sample.quality_score
        scopes[key] = entry
        entries = [scopes[k] for k in sorted(scopes)]
        render(entries)  # every entry must render: a damaged one raises here
        return entry, entries


def _samples(entry: dict[str, Any]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Return the scope's samples per metric name, with their own labels (no scope labels)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name, *_ in METRICS}
    out["last_run_timestamp_seconds"].append(({}, entry["last_run"]))
    if "last_success" in entry:
        out["last_success_timestamp_seconds"].append(({}, entry["last_success"]))
    for status in STATUSES:
        out["last_run_status"].append(({"status": status}, float(entry["status"] == status)))
        out["runs_total"].append(({"status": status}, float(entry["runs"].get(status, 0))))
    if "duration" in entry:
        out["last_run_duration_seconds"].append(({}, entry["duration"]))
    for entity, figures in entry.get("entities", {}).items():
        for metric, figure in (
            ("records_extracted", "extracted"),
            ("records_loaded", "loaded"),
            ("rows_marked_deleted", "marked_deleted"),
        ):
            if figures.get(figure) is not None:
                out[metric].append(({"entity": entity}, float(figures[figure])))
    if "quality_score" in entry:
        out["reconciliation_quality_score"].append(({}, entry["quality_score"]))
    for kind, count in sorted(entry["failures"].items()):
        out["failures_total"].append(({"kind": kind}, float(count)))
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    number = repr(float(value)) if value != int(value) else str(int(value))
    return f"{PREFIX}{name}{{{inner}}} {number}" if inner else f"{PREFIX}{name} {number}"


def render(entries: list[dict[str, Any]], with_scope_labels: bool = True) -> str:
    """Render entries in Prometheus' text exposition format (version 0.0.4)."""
    per_entry = [(entry, _samples(entry)) for entry in entries]
    lines = []
    for name, kind, help_text, _ in METRICS:
        lines += [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]
        for entry, samples in per_entry:
            labels_of = entry["labels"]
            scope = {k: labels_of[k] for k in SCOPE_LABELS} if with_scope_labels else {}
            lines += [_line(name, {**scope, **labels}, value) for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Replace the textfile atomically (temp file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # node_exporter often runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def grouping_path(labels: dict[str, str]) -> str:
    """Return the Pushgateway's `/metrics/job/<job>/<label>/<value>…` path for a scope."""
    parts = []
    for name in SCOPE_LABELS:
        value = labels[name]
        if value and "/" not in value:
            parts += [name, quote(value, safe="")]
        else:  # the Pushgateway's encoding for values with a slash (or empty ones)
            encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
            parts += [f"{name}@base64", encoded]
    return "/metrics/" + "/".join(parts)


def shown_url(url: str) -> str:
    """Return a Pushgateway URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


def push(url: str, entry: dict[str, Any], timeout: float) -> None:
    """PUT a scope's metrics to the Pushgateway, replacing that group's previous ones."""
    response = requests.put(
        url + grouping_path(entry["labels"]),
        data=render([entry], with_scope_labels=False).encode(),
        headers={"Content-Type": "text/plain; version=0.0.4"},
        timeout=timeout,
    )
    if response.status_code >= 300:
        raise OSError(f"HTTP {response.status_code}: {response.text.strip()[:200]}")


def publish(
    state_dir: Path,
    sample: RunSample,
    textfile_path: Path | None,
    pushgateway_url: str | None,
    timeout: float,
) -> list[str]:
    """Record a run's metrics and send them where configured; return warnings, never raise."""
    if textfile_path is None and pushgateway_url is None:
        return []
    try:
        entry, entries, warnings = MetricsSnapshot(state_dir).update(sample)
    except Exception as exc:
        return [f"metrics not updated: cannot write the metrics snapshot: {exc}"]
    if textfile_path is not None:
        try:
            write_textfile(textfile_path, render(entries))
        except OSError as exc:
            warnings.append(f"metrics textfile {textfile_path} not written: {exc.strerror or exc}")
    if pushgateway_url is not None:
        try:
            push(pushgateway_url, entry, timeout)
        except requests.Timeout:
            warnings.append(_not_pushed(pushgateway_url, f"no answer within {timeout:g}s"))
        except requests.ConnectionError:
            warnings.append(_not_pushed(pushgateway_url, "cannot connect"))
        except (OSError, requests.RequestException) as exc:
            # requests' messages repeat the URL, which may hold credentials: name the kind only.
            reason = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)
            warnings.append(_not_pushed(pushgateway_url, reason))
    return warnings


def _not_pushed(url: str, reason: str) -> str:
    return f"metrics not pushed to Pushgateway {shown_url(url)}: {reason}"
