"""Turns end where the LLM ends them: targets close with the chat template's end-of-turn token, and
generation stops on it, on EOS and on every end token the generation config lists."""

from __future__ import annotations

import pytest

END = "<|end|>"
# A template whose assistant turn ends with its own special token, not with EOS.
CHAT = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}" + END + "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


@pytest.fixture
def chat_llm(tiny_base_dirs):
    """The tiny LLM with ``<|end|>`` added as a special token and a chat template ending turns with it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_dirs[1])
    tokenizer.add_special_tokens({"additional_special_tokens": [END]})
    tokenizer.chat_template = CHAT
    llm = AutoModelForCausalLM.from_pretrained(tiny_base_dirs[1], dtype="float32").eval()
    llm.resize_token_embeddings(len(tokenizer))
    return llm, tokenizer


def test_the_end_of_turn_is_the_templates_token_when_it_differs_from_eos(chat_llm) -> None:
    from components.modeling.prompts import end_of_turn_id, stop_ids

    llm, tokenizer = chat_llm
    end = tokenizer.convert_tokens_to_ids(END)
    assert end != tokenizer.eos_token_id
    assert end_of_turn_id(tokenizer) == end

    llm.generation_config.eos_token_id = [tokenizer.eos_token_id, 7]
    assert stop_ids(tokenizer, llm.generation_config) == [end, tokenizer.eos_token_id, 7]

    tokenizer.chat_template = CHAT.replace(END, "\n")  # a turn ended in plain text: EOS ends it
    assert end_of_turn_id(tokenizer) == tokenizer.eos_token_id
    tokenizer.chat_template = None
    assert end_of_turn_id(tokenizer) == tokenizer.eos_token_id


def test_targets_end_with_the_end_of_turn_token(chat_llm) -> None:
    import torch

    from components.modeling.prompted_llm import IGNORE_INDEX, PromptedLLM

    llm, tokenizer = chat_llm
    model = PromptedLLM(llm, tokenizer)
    slots = model.text_slots(["hello world", "a dog"])
    batch = model.splice(["say it", "say it"], slots, ["hello world", "a dog"])
    end = tokenizer.convert_tokens_to_ids(END)
    for row in batch.labels:
        labelled = row[row != IGNORE_INDEX]
        assert int(labelled[-1]) == end
        assert tokenizer.eos_token_id not in labelled.tolist()
    assert torch.equal(
        batch.labels[0][batch.labels[0] != IGNORE_INDEX][:-1],
        torch.tensor(tokenizer("hello world", add_special_tokens=False)["input_ids"]),
    )


@pytest.mark.parametrize("token", ["end_of_turn", "listed"])
def test_generation_stops_on_every_end_token(chat_llm, token: str) -> None:
    import torch

    from components.modeling.prompted_llm import PromptedLLM

    llm, tokenizer = chat_llm
    stop = tokenizer.convert_tokens_to_ids(END) if token == "end_of_turn" else 11
    if token == "listed":  # a token only the generation config names as an end
        tokenizer.chat_template = None
        llm.generation_config.eos_token_id = [tokenizer.eos_token_id, stop]
    # an output layer that always predicts ``stop``: decoding must end after its first token
    head = torch.nn.Linear(llm.config.hidden_size, len(tokenizer), bias=True)
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.zero_()
        head.bias[stop] = 10.0
    llm.set_output_embeddings(head)
    steps = []
    head.register_forward_hook(lambda module, inputs, output: steps.append(output.shape[1]))
    model = PromptedLLM(llm, tokenizer)
    model.generate(["say it"], model.text_slots(["hello world"]), max_new_tokens=8)
    assert len(steps) == 1  # the prefill's prediction was an end token: no second step


def test_an_added_token_marked_special_ends_the_turn(chat_llm) -> None:
    from tokenizers import AddedToken

    from components.modeling.prompts import end_of_turn_id

    _, tokenizer = chat_llm
    tokenizer.add_tokens([AddedToken("<|turn_end|>", special=True)])  # added, not a named special token
    tokenizer.chat_template = CHAT.replace(END, "<|turn_end|>")
    assert end_of_turn_id(tokenizer) == tokenizer.convert_tokens_to_ids("<|turn_end|>")
