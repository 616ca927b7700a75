"""What every params section shares: strict pydantic models, the params file, language codes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PARAMS_FILE = "params.yaml"
LANGUAGE_CODE = Annotated[str, Field(pattern=r"^[a-z]{3}$")]


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


class OptionProblems(ValueError):
    """Problems with keys a section takes from its kind (an adapter's own fields), key by key."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {problem}" for key, problem in problems.items()))
        self.problems = problems
