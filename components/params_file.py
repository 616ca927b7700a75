"""Edit ``params.yaml`` in place: a command changes a few keys, and the file keeps its comments and layout.

``params.yaml`` is written by people and read by DVC, so a tool that sets a value (e.g. the corpus to
import) must leave everything else byte for byte, and must never leave an invalid file behind.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from components.atomic import write_text
from components.config import Params, ParamsError, parse_params


def round_trip_yaml() -> YAML:
    """ruamel.yaml in round-trip mode: comments, key order, flow style and quotes survive a load and dump."""
    round_trip = YAML()
    round_trip.width = 4096  # never re-wrap a long line
    round_trip.indent(mapping=2, sequence=4, offset=2)  # params.yaml's block lists: "- " two in from the key
    round_trip.preserve_quotes = True
    round_trip.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return round_trip


def assign(node: Any, key: str, value: Any) -> None:
    """Set ``node[key]``; a mapping merges key by key, so comments on the keys it keeps stay put."""
    current = node.get(key)
    if isinstance(value, Mapping) and isinstance(current, Mapping):
        for name, item in value.items():
            assign(current, name, item)
    else:
        node[key] = value


def update_params(path: str | Path, updates: Mapping[str, Any], replace: Collection[str] = ()) -> Params:
    """Set dotted keys (``{"prepare.corpus": {...}}``) in ``path``; validated before it is written.

    A mapping merges into the one there, except for the dotted keys in ``replace``, which it replaces
    whole (an adapter of another kind must not keep the old one's options).
    """
    path = Path(path)
    round_trip = round_trip_yaml()
    try:
        document = round_trip.load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})") from None
    if document is None:
        document = CommentedMap()
    for dotted, value in updates.items():
        *parents, leaf = dotted.split(".")
        node = document
        for key in parents:
            if not isinstance(node.get(key), Mapping):
                node[key] = CommentedMap()
            node = node[key]
        if dotted in replace:
            node[leaf] = value
        else:
            assign(node, leaf, value)
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    params = parse_params(yaml.safe_load(buffer.getvalue()), str(path))
    write_text(path, buffer.getvalue())
    return params
