"""params.yaml validation: every error names the offending key and the file; defaults parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import Params, ParamsError, load_params, parse_params

REPO = Path(__file__).resolve().parents[2]


def test_defaults_parse_from_an_empty_mapping_and_from_none() -> None:
    assert parse_params({}) == Params()
    assert parse_params(None) == Params()  # type: ignore[arg-type]
    params = parse_params({})
    assert params.recipe == "blsp" and params.train.adapter.kind == "conv_glu"
    assert params.train.adapter.options() == {} and params.train.lora is None
    assert params.validate.sample_rate == params.prepare.sample_rate == 16000
    assert params.export.provider == "CPUExecutionProvider"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"lrr": 1e-3}}, "train.lrr"),
        ({"bogus": {}}, "bogus"),
        ({"train": {"adapter": {"kernel": 3}}}, "train.adapter.kernel"),
        ({"prepare": {"base_models": {"tiny_llm": {"vocab": 300}}}}, "prepare.base_models.tiny_llm.vocab"),
    ],
)
def test_unknown_key_error_names_the_dotted_key(raw, key) -> None:
    with pytest.raises(ParamsError) as info:
        parse_params(raw, "my/params.yaml")
    message = str(info.value)
    assert message.startswith("my/params.yaml: ")
    assert f"{key}: unknown key" in message


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"lr": -1}}, "train.lr"),
        ({"train": {"lr": "fast"}}, "train.lr"),
        ({"train": {"adapter": {"kernel_size": 0}}}, "train.adapter.kernel_size"),
        ({"validate": {"sample_rate": 0}}, "validate.sample_rate"),
        ({"export": {"batch_sizes": [0]}}, "export.batch_sizes"),
        ({"export": {"provider": "TPUExecutionProvider"}}, "export.provider"),
        ({"prepare": {"languages": ["en"]}}, "prepare.languages.0"),
        ({"prepare": {"languages": []}}, "prepare.languages"),
        (
            {"prepare": {"base_models": {"tiny_llm": {"vocab_size": 10}}}},
            "prepare.base_models.tiny_llm.vocab_size",
        ),
        ({"recipe": "nope"}, "recipe"),
        ({"validate": {"audio": {"too_long": "truncate"}}}, "validate.audio.too_long"),
        ({"validate": {"audio": {"resample": "sometimes"}}}, "validate.audio.resample"),
        ({"validate": {"max_quarantine_share": 1.5}}, "validate.max_quarantine_share"),
        ({"validate": {"leakage": {"speakers": True}}}, "validate.leakage.speakers"),
        ({"train": "not a mapping"}, "train"),
        ({"targets": {"vllm_timeout_s": "1e400"}}, "targets.vllm_timeout_s"),  # YAML's 1e400: infinity
        ({"targets": {"vllm_timeout_s": 0}}, "targets.vllm_timeout_s"),
        (
            {"prepare": {"base_models": {"prompt_template": "Q: {instruction}"}}},
            "prepare.base_models.prompt_template",
        ),
        (
            {"prepare": {"base_models": {"prompt_template": "<|speech|>"}}},
            "prepare.base_models.prompt_template",
        ),
        (
            {"prepare": {"base_models": {"prompt_template": "{instruction} <|speech|> {answer}"}}},
            "prepare.base_models.prompt_template",
        ),
        (
            {"prepare": {"base_models": {"prompt_template": "{instruction <|speech|>"}}},
            "prepare.base_models.prompt_template",
        ),
        (
            {"prepare": {"base_models": {"prompt_template": "{instruction} <|speech|> <|speech|>"}}},
            "prepare.base_models.prompt_template",
        ),
    ],
)
def test_bad_value_error_names_the_dotted_key(raw, key) -> None:
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    assert f"params.yaml: {key}: " in str(info.value)


def test_error_names_every_offending_key_at_once() -> None:
    with pytest.raises(ParamsError) as info:
        parse_params({"train": {"lr": 0, "stepz": 3}, "export": {"atol": -1}})
    message = str(info.value)
    for key in ("train.lr", "train.stepz", "export.atol"):
        assert key in message


@pytest.mark.parametrize(
    ("validate", "low", "high"),
    [
        ({"min_duration_s": 12, "max_duration_s": 10}, "min_duration_s", "max_duration_s"),
        ({"min_chars_per_second": 50}, "min_chars_per_second", "max_chars_per_second"),
        ({"min_sample_rate": 22050}, "min_sample_rate", "sample_rate"),
        ({"min_text_chars": 500}, "min_text_chars", "max_text_chars"),
    ],
)
def test_validate_ranges_must_not_be_inverted(validate, low, high) -> None:
    with pytest.raises(ParamsError) as info:
        parse_params({"validate": validate})
    message = str(info.value)
    assert message.startswith("params.yaml: validate: ") and f"{low} (" in message and f"{high} (" in message


def test_an_unset_duration_limit_is_the_encoders_and_a_set_one_wins() -> None:
    unset = parse_params({"validate": {"min_duration_s": 12}}).validate
    assert unset.max_duration_s is None
    assert unset.with_encoder_limit(30.0).max_duration_s == 30.0
    explicit = parse_params({"validate": {"max_duration_s": 8}}).validate
    assert explicit.with_encoder_limit(30.0).max_duration_s == 8


def test_validate_policy_defaults_are_the_strictest_useful_ones() -> None:
    params = parse_params({})
    assert params.validate.audio.too_long == "reject"
    assert params.validate.leakage.transcript and params.validate.leakage.speaker
    assert params.validate.max_quarantine_share == 0.05


def test_params_error_is_a_value_error_and_sections_are_frozen() -> None:
    assert issubclass(ParamsError, ValueError)
    params = parse_params({})
    with pytest.raises(Exception):  # noqa: B017  (pydantic's frozen-instance error)
        params.train.lr = 1.0  # type: ignore[misc]


def test_load_params_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ParamsError, match="nope.yaml: file not found"):
        load_params(missing)


@pytest.mark.parametrize("text", ["- train\n- export\n", "just a string\n", "42\n"])
def test_load_params_non_mapping_yaml_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError, match="top level must be a mapping"):
        load_params(path)


def test_load_params_invalid_yaml_is_a_params_error(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {lr: [1,\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


def test_load_params_empty_file_gives_defaults_and_bad_key_names_file_and_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_params(empty) == Params()
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: -0.1\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(bad)
    assert str(bad) in str(info.value) and "train.lr" in str(info.value)


def test_the_repository_params_yaml_validates() -> None:
    path = REPO / "params.yaml"
    if not path.is_file():
        pytest.skip("no params.yaml in this checkout")
    params = load_params(path)
    assert isinstance(params, Params)
