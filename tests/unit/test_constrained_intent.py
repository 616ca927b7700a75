"""Intent chosen from the label set: the option the LLM finds likeliest, tokens and end of turn summed."""

from __future__ import annotations

import torch

OPTIONS = ["set an alarm", "play music", "weather", "turn the lights off please"]


def total_log_probability(model, instruction: str, slot: torch.Tensor, option: str) -> float:
    """Summed log-probability of the option's tokens and the end of turn, from the full logits."""
    batch = model.splice([instruction], [slot], [option])
    logits = model.logits(batch)[0, :-1].float()
    labels = batch.labels[0, 1:]
    keep = labels != -100
    return float(torch.log_softmax(logits[keep], dim=-1).gather(1, labels[keep][:, None]).sum())


def test_choose_returns_the_option_of_highest_total_log_probability(tiny_model) -> None:
    generator = torch.Generator().manual_seed(0)
    hidden = tiny_model.llm.config.hidden_size
    slots = [torch.randn(n, hidden, generator=generator) for n in (3, 7, 5)]
    instructions = ["What does the speaker want?", "Intent?", "Which request is this?"]
    with torch.no_grad():
        chosen = tiny_model.choose(instructions, slots, OPTIONS)
        for instruction, slot, picked in zip(instructions, slots, chosen, strict=True):
            scores = {o: total_log_probability(tiny_model, instruction, slot, o) for o in OPTIONS}
            assert picked == max(scores, key=scores.get), scores


def test_constrained_intents_answer_only_intent_queries_from_their_labels(tiny_model) -> None:
    import numpy as np

    from components.data.manifest import Utterance
    from components.evaluation.zero_shot import Query, constrained_intents, score

    def utterance(uid: str, intent: str | None) -> Utterance:
        return Utterance(
            id=uid,
            audio=f"{uid}.wav",
            language="eng",
            text=f"please {uid}",
            duration_s=1.0,
            sample_rate=16000,
            split="test",
            intent=intent,
        )

    queries = [
        Query(utterance("a", "alarm"), "intent", "Intent?", "alarm", "eng", "eng"),
        Query(utterance("b", None), "asr", "Transcribe.", "please b", "eng", "eng"),
        Query(utterance("c", "music"), "intent", "Intent?", "music", "eng", "eng"),
    ]
    rng = np.random.default_rng(0)
    states = {uid: tiny_model.clip_states(rng.standard_normal((80, 100)).astype(np.float32)) for uid in "abc"}
    models = {"trained": tiny_model, "untrained": tiny_model.untrained(1)}
    outputs = constrained_intents(models, queries, states)
    assert set(outputs) == {"speech_constrained", "untrained_constrained", "text_constrained"}
    for answers in outputs.values():
        assert answers[1] == "" and {answers[0], answers[2]} <= {"alarm", "music"}
    report = score(queries, {"speech": ["x", "please b", "y"]}, outputs)
    assert set(report["intent"]) == {"speech", *outputs} and set(report["asr"]) == {"speech"}
