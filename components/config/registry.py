"""``registry``: where versions are registered, and the aliases they are given."""

from __future__ import annotations

from pydantic import Field

from components.config.base import Section


class RegistryParams(Section):
    model_name: str = Field("speechalign", min_length=1)
    experiment: str = Field("speechalign", min_length=1)
    stage_timeout_s: int = Field(3600, gt=0)
    challenger_alias: str = "challenger"
