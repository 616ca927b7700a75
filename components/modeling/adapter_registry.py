"""Adapter kinds by name: params and saved adapter directories name a kind, this module builds it.

Imports are lazy, so validating ``params.yaml`` does not build anything.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from torch import nn

# kind → (module, adapter class, config class)
ADAPTERS: dict[str, tuple[str, str, str]] = {
    "conv_glu": ("components.modeling.adapters", "BlspAdapter", "BlspAdapterConfig"),
    "stack_swiglu": ("components.modeling.projector", "StackSwigluProjector", "StackSwigluConfig"),
    "conv_downsampler": ("components.modeling.conv_downsampler", "ConvDownsampler", "ConvDownsamplerConfig"),
    "encoder_blocks": ("components.modeling.encoder_blocks", "EncoderBlocksAdapter", "EncoderBlocksConfig"),
    "cif": ("components.modeling.cif", "CifAdapter", "CifAdapterConfig"),
}
# Filled from the encoder, the LLM and the training corpus, never from params; a kind takes those
# its config declares. The values stand in for them when a config's own checks run on params.
DERIVED_STAND_INS: dict[str, Any] = {
    "input_size": 1,
    "output_size": 1,
    "output_scale": 1.0,
    "lid_languages": ("und",),
}
DERIVED_FIELDS = frozenset(DERIVED_STAND_INS)


def adapter_classes(kind: str) -> tuple[type[nn.Module], type]:
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}")
    module_name, adapter_name, config_name = ADAPTERS[kind]
    module = importlib.import_module(module_name)
    return getattr(module, adapter_name), getattr(module, config_name)


def adapter_fields(kind: str) -> set[str]:
    """The fields params may set for ``kind``: its config's fields minus the derived sizes."""
    _, config_class = adapter_classes(kind)
    return {f.name for f in dataclasses.fields(config_class)} - DERIVED_FIELDS


def option_problems(kind: str, options: dict[str, Any]) -> dict[str, str]:
    """What is wrong with each option: an unknown name, a value of the wrong type, or out of range.

    Every adapter's counts and sizes are positive integers and its rates and thresholds non-negative
    numbers, so one rule covers all kinds; a field typed ``int | None`` may also be null.
    """
    _, config_class = adapter_classes(kind)
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    known = set(fields) - DERIVED_FIELDS
    problems = {}
    for key, value in options.items():
        if key not in known:
            problems[key] = f"unknown key (the {kind} adapter's fields are {sorted(known)})"
            continue
        kind_of = str(fields[key].type)
        if value is None:
            if "None" not in kind_of:
                problems[key] = "must not be null"
        elif kind_of.startswith("int"):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems[key] = f"must be a positive integer (got {value!r})"
        elif kind_of.startswith("float"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems[key] = f"must be a number >= 0 (got {value!r})"
        elif kind_of.startswith("bool") and not isinstance(value, bool):
            problems[key] = f"must be true or false (got {value!r})"
    if not problems:  # the config's own checks across fields, with stand-ins for the derived values
        try:
            config_class(**{k: v for k, v in DERIVED_STAND_INS.items() if k in fields}, **options)
        except ValueError as error:
            key, _, problem = str(error).partition(": ")
            problems[key if key in known else "options"] = problem if key in known else str(error)
    return problems


def build_adapter(kind: str, sizes: dict[str, Any], options: dict[str, Any]) -> nn.Module:
    """A fresh adapter of ``kind`` with the derived ``sizes`` it declares and the params' ``options``."""
    _, config_class = adapter_classes(kind)
    declared = {f.name for f in dataclasses.fields(config_class)}
    return adapter_from_config(kind, {**{k: v for k, v in sizes.items() if k in declared}, **options})


def adapter_from_config(kind: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild an adapter from the config saved beside its weights."""
    adapter_class, config_class = adapter_classes(kind)
    return adapter_class(config_class(**config))
