"""BLSP's behaviour metric: continuations from speech compared with continuations from the transcript."""

from __future__ import annotations

import numpy as np


def test_agreement_is_full_for_identical_continuations_and_low_for_unrelated_ones() -> None:
    from components.evaluation.behaviour import agreement

    same = agreement(["the cat sat on the mat", "a dog"], ["the cat sat on the mat", "a dog"])
    assert same == {"chrf": 100.0, "identical": 1.0}
    other = agreement(["zzz qqq", "xxxx"], ["the cat sat on the mat", "a dog"])
    assert other["identical"] == 0.0 and other["chrf"] < 10.0


def test_behaviour_compares_speech_and_untrained_continuations_with_the_text_ones(tiny_base_dirs) -> None:
    import torch

    from components.config import EvaluateParams, LoraParams
    from components.data.manifest import Utterance
    from components.evaluation.behaviour import behaviour_agreement, format_behaviour
    from components.modeling.speech_llm import SpeechLLM

    # LoRA with weight (the untrained control runs with it off) and a louder adapter, so that the tiny
    # LLM, which otherwise repeats one token whatever it is given, continues differently per condition
    tiny_model = SpeechLLM.from_base(*tiny_base_dirs, lora=LoraParams(r=4, alpha=8.0))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in tiny_model.llm.named_parameters():
            if "lora_" in name:
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
        for parameter in tiny_model.speech.adapter.parameters():
            parameter.mul_(3.0)
    rng = np.random.default_rng(0)
    utterances = [
        Utterance(
            id=f"u{i}",
            audio="x.wav",
            language="eng",
            text=f"the cat sees {i}",
            duration_s=1.0,
            sample_rate=16000,
            split="test",
        )
        for i in range(3)
    ]
    states = {
        u.id: tiny_model.clip_states(rng.standard_normal((80, 100)).astype(np.float32)) for u in utterances
    }
    models = {"trained": tiny_model, "untrained": tiny_model.untrained(1)}
    params = EvaluateParams(max_new_tokens=6, batch_size=2)
    report = behaviour_agreement(models, utterances, states, "Continue the following text.", params)
    assert report["n"] == 3 and report["instruction"] == "Continue the following text."
    from components.evaluation.behaviour import agreement
    from components.evaluation.zero_shot import generate_by_length

    prompts = ["Continue the following text."] * 3
    audio = [states[u.id] for u in utterances]
    text = generate_by_length(tiny_model, prompts, [u.text for u in utterances], params)
    continued = {name: generate_by_length(models[name], prompts, audio, params) for name in models}
    assert continued["trained"] != continued["untrained"]  # else the two comparisons could not be told apart
    for condition, model in (("speech", "trained"), ("untrained", "untrained")):  # each against the text's
        assert report[condition] == agreement(continued[model], text)
    assert "chrF" in format_behaviour(report) and behaviour_agreement(models, [], states, "x", params) == {}
