"""Model versions that are whole or recognisably unfinished, and registry failures that say so.

A version is created with every tag in the one ``create_model_version`` call (``mlflow.register_model
(..., tags=...)``), so no reader ever sees it without its lineage. Its ``registration`` tag says
``pending`` until the alias is set, then ``complete``: a registration cut off between the two (an
outage, a kill) is found by the next retrain of the same pipeline state through its fingerprint and
finished, not reported as "nothing changed" and not registered twice.

MLflow's HTTP client already retries connection errors and 5xx answers with exponential backoff
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``); what is left after those retries becomes one :class:`RegistryError`
line naming the tracking server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

REGISTRATION_TAG = "registration"
PENDING, COMPLETE = "pending", "complete"


class RegistryError(RuntimeError):
    """The registry could not be searched or written; the message is one line."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, without MLflow's stack of causes."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def registry_errors(what: str, uri: str) -> Iterator[None]:
    """Turn what MLflow or the network raises inside the block into one :class:`RegistryError`."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except RegistryError:
        raise
    except (MlflowException, requests.exceptions.RequestException, OSError) as exc:
        raise RegistryError(f"MLflow at {uri}: {what} failed: {one_line(exc)}") from exc


def find_version(client: Any, model_name: str, fingerprint: str) -> Any | None:
    """The registered version built from exactly this pipeline state, if any (the oldest of several).

    Raises:
        RegistryError: the search itself failed; that is never taken for "no such version".
    """
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(
            f"name='{model_name}' and tags.lineage_fingerprint='{fingerprint}'"
        )
    except MlflowException as exc:
        state = fingerprint[:12]
        raise RegistryError(f"searching {model_name} for pipeline state {state}: {one_line(exc)}") from exc
    return min(versions, key=lambda v: int(v.version)) if versions else None


def is_complete(version: Any) -> bool:
    """Whether every step of ``version``'s registration ran (versions from before the tag count)."""
    return (version.tags or {}).get(REGISTRATION_TAG, COMPLETE) == COMPLETE


def create_version(model_uri: str, name: str, tags: dict[str, str]) -> Any:
    """Register ``model_uri`` as a new version of ``name`` with ``tags`` and ``registration=pending``,
    all in one call."""
    import mlflow

    return mlflow.register_model(model_uri, name, tags={**tags, REGISTRATION_TAG: PENDING})


def complete_version(client: Any, name: str, version: str, alias: str | None) -> None:
    """Set ``alias`` (if any) on ``version``, then mark its registration complete. Setting an alias
    twice is harmless, so an interrupted completion is simply run again."""
    if alias:
        client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, REGISTRATION_TAG, COMPLETE)
