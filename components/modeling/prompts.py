"""Prompt layout ``[prefix][speech][suffix][target]`` and its token ids.

The LLM's chat template is used when its tokenizer has one; otherwise the recipe's template. The
speech slot is a placeholder that is split out, so text and speech prompts share every other token.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

SPEECH_PLACEHOLDER = "<|speech|>"
# BLSP's layout: BOS, the human turn with the instruction, the speech, then the assistant tag.
BLSP_TEMPLATE = "###[Human]:{instruction} " + SPEECH_PLACEHOLDER + "\n\n\n###[Assistant]:"


def check_template(template: str) -> str:
    """A template has one ``{instruction}`` field and one speech placeholder, and no other field.

    Anything else would either fail at the first prompt or silently drop the instruction or the speech.
    """
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:  # an unmatched brace
        raise ValueError(f"not a format string ({error}); write a literal brace as {{{{ or }}}}") from None
    if fields != ["instruction"]:
        raise ValueError(f"needs exactly one {{instruction}} field and no other, found {fields}")
    if template.count(SPEECH_PLACEHOLDER) != 1:
        raise ValueError(f"needs the speech placeholder {SPEECH_PLACEHOLDER} exactly once")
    return template


@dataclass(frozen=True)
class PromptIds:
    """Token ids around the speech slot for one instruction."""

    prefix: list[int]
    suffix: list[int]


def split_prompt(
    tokenizer: Any, instruction: str, template: str = BLSP_TEMPLATE, system_prompt: str | None = None
) -> tuple[str, str]:
    """Render the prompt with a speech placeholder and split it into the text before and after.

    With a chat template, ``system_prompt`` is the system turn (else the template's own default, if
    it has one: SmolLM2's names the model and calls it a helpful assistant).
    """
    if getattr(tokenizer, "chat_template", None):
        content = f"{instruction} {SPEECH_PLACEHOLDER}"
        messages = [{"role": "user", "content": content}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        rendered = template.format(instruction=instruction)
    prefix, _, suffix = rendered.partition(SPEECH_PLACEHOLDER)
    return prefix, suffix


def prompt_ids(
    tokenizer: Any, instruction: str, template: str = BLSP_TEMPLATE, system_prompt: str | None = None
) -> PromptIds:
    """Token ids of prefix (starting with BOS where the LLM has one) and suffix (no special tokens)."""
    prefix_text, suffix_text = split_prompt(tokenizer, instruction, template, system_prompt)
    prefix = tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not prefix or prefix[0] != bos) and not getattr(tokenizer, "chat_template", None):
        prefix = [bos, *prefix]
    suffix = tokenizer(suffix_text, add_special_tokens=False)["input_ids"]
    return PromptIds(prefix=prefix, suffix=suffix)


def prompt_record(tokenizer: Any, template: str, system_prompt: str | None) -> dict[str, str | None]:
    """The layout a prompt is really rendered in, for records: the chat template (by sha256) with the
    system prompt, or the template; never one that was not used."""
    import hashlib

    chat = getattr(tokenizer, "chat_template", None)
    if chat:
        digest = hashlib.sha256(chat.encode()).hexdigest()
        return {"layout": "chat_template", "chat_template_sha256": digest, "system_prompt": system_prompt}
    return {"layout": "prompt_template", "template": template}


def end_of_turn_id(tokenizer: Any) -> int:
    """The token that ends the assistant's turn: what the chat template writes right after an assistant
    message (``<|im_end|>`` for ChatML models, ``<|eot_id|>`` for Llama 3), when it is a special
    token; EOS otherwise (no chat template, or one that ends a turn in plain text).

    An LLM that was tuned on its template stops there, so targets end with it and generation stops on it.
    """
    eos = tokenizer.eos_token_id
    if not getattr(tokenizer, "chat_template", None):
        return eos
    mark = "\u2063end\u2063"  # text no template contains, so the turn's end is found after it
    messages = [{"role": "user", "content": "u"}, {"role": "assistant", "content": mark}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    _, found, after = rendered.partition(mark)
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if found else []
    return ids[0] if ids and is_special(tokenizer, ids[0]) else eos


def is_special(tokenizer: Any, token_id: int) -> bool:
    """Whether ``token_id`` is a special token: a named one, or an added token marked special (a
    template's turn end may be only that, e.g. once converted from GGUF)."""
    if token_id in tokenizer.all_special_ids:
        return True
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return bool(getattr(added.get(token_id), "special", False))


def stop_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Every token greedy decoding stops on: the end of turn, EOS, and each end token the model's
    generation config lists (``eos_token_id``: one id or a list), in that order, without repeats."""
    listed = getattr(generation_config, "eos_token_id", None)
    listed = [] if listed is None else [listed] if isinstance(listed, int) else list(listed)
    ids = [end_of_turn_id(tokenizer), tokenizer.eos_token_id, *listed]
    return list(dict.fromkeys(i for i in ids if i is not None))


def target_ids(tokenizer: Any, target: str, end_id: int) -> list[int]:
    """The target's tokens followed by ``end_id`` (the end of turn, see :func:`end_of_turn_id`): the
    only positions that carry a label."""
    return [*tokenizer(target, add_special_tokens=False)["input_ids"], end_id]


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """Tokens for a transcript placed in the speech slot (the text-input teacher and baseline)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]
