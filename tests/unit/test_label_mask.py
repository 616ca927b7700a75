"""Label masks of the prompt splice and the loss they feed (methods.md §7.1, §7.3).

``[BOS prefix][speech][suffix][target EOS]``: only the target tokens and EOS carry labels; prompt,
speech and padding are -100, and the loss is the mean cross-entropy over those target positions.
"""

from __future__ import annotations

INSTRUCTIONS = ["Repeat the speech.", "Say it"]
TARGETS = ["hello world", "the quick brown fox jumps over the lazy dog"]
SLOT_LENGTHS = [5, 2]


def make_slots(hidden: int, lengths: list[int], seed: int = 0, scale: float = 0.02):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, hidden, generator=generator) * scale for n in lengths]


def expected_layout(tokenizer, instruction: str, target: str) -> tuple[list[int], list[int], list[int]]:
    """Prefix (BOS + text before the slot), suffix and target+EOS ids, computed straight from the template."""
    from components.modeling.prompts import BLSP_TEMPLATE, SPEECH_PLACEHOLDER

    before, _, after = BLSP_TEMPLATE.format(instruction=instruction).partition(SPEECH_PLACEHOLDER)
    prefix = [tokenizer.bos_token_id, *tokenizer(before, add_special_tokens=False)["input_ids"]]
    suffix = tokenizer(after, add_special_tokens=False)["input_ids"]
    target_ids = [*tokenizer(target, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return prefix, suffix, target_ids


def test_tiny_tokenizer_has_bos_eos_pad_and_no_chat_template(tiny_model) -> None:
    tok = tiny_model.tokenizer
    assert not getattr(tok, "chat_template", None)
    ids = {tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}
    assert None not in ids and len(ids) == 3


def test_only_target_tokens_and_eos_carry_labels_equal_to_tokenizer_ids_with_right_padding(
    tiny_model,
) -> None:
    import torch

    from components.modeling.prompted_llm import IGNORE_INDEX

    model, tok = tiny_model, tiny_model.tokenizer
    hidden = model.llm.get_input_embeddings().embedding_dim
    slots = make_slots(hidden, SLOT_LENGTHS)
    batch = model.splice(INSTRUCTIONS, slots, TARGETS)  # training default: right padding
    labels, attention = batch.labels, batch.attention_mask
    assert labels is not None and labels.shape == attention.shape == batch.inputs_embeds.shape[:2]

    lengths = []
    for row, (instruction, target, slot) in enumerate(zip(INSTRUCTIONS, TARGETS, slots, strict=True)):
        prefix, suffix, target_ids = expected_layout(tok, instruction, target)
        context = len(prefix) + slot.shape[0] + len(suffix)
        n = context + len(target_ids)
        lengths.append(n)
        # prompt (BOS + prefix), speech and suffix positions: ignored
        assert labels[row, :context].eq(IGNORE_INDEX).all()
        # exactly the target tokens + EOS, with the tokenizer's ids
        assert labels[row, context:n].tolist() == target_ids
        assert labels[row, n - 1].item() == tok.eos_token_id
        # right padding: real tokens first, then padding with attention 0 and label -100
        assert attention[row, :n].eq(1).all() and attention[row, n:].eq(0).all()
        assert labels[row, n:].eq(IGNORE_INDEX).all()
        assert batch.inputs_embeds[row, n:].eq(0).all()
        assert int((labels[row] != IGNORE_INDEX).sum()) == len(target_ids)

    assert max(lengths) == labels.shape[1]
    assert min(lengths) < labels.shape[1], "the test needs one padded row"
    assert torch.equal(attention.sum(dim=1), torch.tensor(lengths))


def test_splice_places_bos_prefix_speech_suffix_target_embeddings_in_order(tiny_model) -> None:
    import torch

    model, tok = tiny_model, tiny_model.tokenizer
    table = model.llm.get_input_embeddings()
    slots = make_slots(table.embedding_dim, SLOT_LENGTHS, seed=1)
    batch = model.splice(INSTRUCTIONS, slots, TARGETS)
    for row, (instruction, target, slot) in enumerate(zip(INSTRUCTIONS, TARGETS, slots, strict=True)):
        prefix, suffix, target_ids = expected_layout(tok, instruction, target)
        assert prefix[0] == tok.bos_token_id
        with torch.no_grad():
            want = torch.cat([table(torch.tensor(prefix)), slot, table(torch.tensor(suffix + target_ids))])
        got = batch.inputs_embeds[row, : want.shape[0]]
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_splice_without_targets_has_no_labels(tiny_model) -> None:
    slots = make_slots(tiny_model.llm.get_input_embeddings().embedding_dim, SLOT_LENGTHS)
    assert tiny_model.splice(INSTRUCTIONS, slots).labels is None


def _manual_target_ce(model, batch, targets_positions):
    """Mean CE over (row, position-of-label) pairs, each predicted from the logit one step before."""
    import torch

    with torch.no_grad():
        logits = model.llm(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
    terms = []
    for row, position in targets_positions:
        token = batch.labels[row, position]
        terms.append(torch.nn.functional.cross_entropy(logits[row, position - 1][None], token[None]))
    return torch.stack(terms).mean()


def _target_positions(model, slots):
    positions = []
    for row, (instruction, target, slot) in enumerate(zip(INSTRUCTIONS, TARGETS, slots, strict=True)):
        prefix, suffix, target_ids = expected_layout(model.tokenizer, instruction, target)
        context = len(prefix) + slot.shape[0] + len(suffix)
        positions += [(row, context + j) for j in range(len(target_ids))]
    return positions


def test_loss_equals_cross_entropy_over_shifted_logits_at_target_positions_only(tiny_model) -> None:
    import torch

    model = tiny_model
    slots = make_slots(model.llm.get_input_embeddings().embedding_dim, SLOT_LENGTHS, seed=2)
    batch = model.splice(INSTRUCTIONS, slots, TARGETS)
    with torch.no_grad():
        loss = model.loss(INSTRUCTIONS, slots, TARGETS)
        logits = model.llm(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
    # standard shifted CE with ignore_index
    shifted = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), batch.labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(loss, shifted, rtol=1e-5, atol=1e-5)
    # and the same number from positions computed independently of the label tensor
    manual = _manual_target_ce(model, batch, _target_positions(model, slots))
    torch.testing.assert_close(loss, manual, rtol=1e-5, atol=1e-5)


def test_changing_speech_or_padding_embeddings_does_not_change_counted_positions(tiny_model) -> None:
    import torch

    model = tiny_model
    hidden = model.llm.get_input_embeddings().embedding_dim
    slots = make_slots(hidden, SLOT_LENGTHS, seed=3)
    other = make_slots(hidden, SLOT_LENGTHS, seed=4, scale=1.0)
    batch = model.splice(INSTRUCTIONS, slots, TARGETS)
    changed = model.splice(INSTRUCTIONS, other, TARGETS)
    # different speech, same label mask and same counted positions
    assert torch.equal(batch.labels, changed.labels)
    assert torch.equal(batch.attention_mask, changed.attention_mask)
    positions = _target_positions(model, slots)
    assert int((changed.labels != -100).sum()) == len(positions)
    with torch.no_grad():
        loss_changed = model.loss(INSTRUCTIONS, other, TARGETS)
    torch.testing.assert_close(
        loss_changed, _manual_target_ce(model, changed, positions), rtol=1e-5, atol=1e-5
    )

    # garbage in the padded tail (attention 0, label -100) does not move the loss at all
    padded = batch.attention_mask == 0
    assert padded.any()
    noisy = batch.inputs_embeds.clone()
    noisy[padded] = torch.randn(int(padded.sum()), hidden, generator=torch.Generator().manual_seed(5)) * 3
    with torch.no_grad():
        clean_loss = model.llm(
            inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, labels=batch.labels
        ).loss
        noisy_loss = model.llm(
            inputs_embeds=noisy, attention_mask=batch.attention_mask, labels=batch.labels
        ).loss
    torch.testing.assert_close(noisy_loss, clean_loss, rtol=1e-6, atol=1e-6)


def test_batch_loss_is_mean_per_target_token_not_per_sequence(tiny_model) -> None:
    import torch

    model = tiny_model
    slots = make_slots(model.llm.get_input_embeddings().embedding_dim, SLOT_LENGTHS, seed=6)
    counts, singles = [], []
    with torch.no_grad():
        for instruction, slot, target in zip(INSTRUCTIONS, slots, TARGETS, strict=True):
            counts.append(len(expected_layout(model.tokenizer, instruction, target)[2]))
            singles.append(model.loss([instruction], [slot], [target]))
        joint = model.loss(INSTRUCTIONS, slots, TARGETS)
    assert counts[0] != counts[1], "the test needs targets of different lengths"
    weighted = sum(c * s for c, s in zip(counts, singles, strict=True)) / sum(counts)
    torch.testing.assert_close(joint, weighted, rtol=1e-5, atol=1e-5)


def test_a_configured_template_lays_out_the_prompt_and_survives_save_and_load(
    tiny_base_dirs, tmp_path
) -> None:
    """An LLM with no chat template is prompted in the configured layout, and the adapter keeps it."""
    from components.modeling.prompted_llm import IGNORE_INDEX
    from components.modeling.prompts import SPEECH_PLACEHOLDER
    from components.modeling.speech_llm import SpeechLLM

    template = "Task: {instruction}\nAudio:" + SPEECH_PLACEHOLDER + "\nAnswer:"
    model = SpeechLLM.from_base(*tiny_base_dirs, template=template)
    tok = model.tokenizer
    hidden = model.llm.get_input_embeddings().embedding_dim
    slot = make_slots(hidden, [3])
    batch = model.splice(["Say it"], slot, ["hello world"])

    before, _, after = template.format(instruction="Say it").partition(SPEECH_PLACEHOLDER)
    prefix = [tok.bos_token_id, *tok(before, add_special_tokens=False)["input_ids"]]
    suffix = tok(after, add_special_tokens=False)["input_ids"]
    embeddings = model.llm.get_input_embeddings().weight
    expected = [*embeddings[prefix], *slot[0], *embeddings[suffix]]
    context = len(expected)
    assert batch.labels[0, :context].eq(IGNORE_INDEX).all()
    for position, vector in enumerate(expected):
        assert batch.inputs_embeds[0, position].equal(vector), position

    model.save_pretrained(tmp_path / "adapter")
    assert SpeechLLM.from_pretrained(tmp_path / "adapter").template == template


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_an_llm_with_a_chat_template_gets_its_own_layout_one_bos_and_the_same_label_mask(
    tiny_base_dirs,
) -> None:
    import torch

    from components.modeling.prompted_llm import IGNORE_INDEX
    from components.modeling.prompts import prompt_ids, split_prompt
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs)
    tok = model.tokenizer
    tok.chat_template = CHAT_TEMPLATE
    custom = "Q: {instruction} <|speech|> A:"  # ignored: the LLM's own template wins
    prefix_text, suffix_text = split_prompt(tok, "Say it", custom)
    assert (prefix_text, suffix_text) == (f"{tok.bos_token}<|user|>Say it ", "<|end|><|assistant|>")
    ids = prompt_ids(tok, "Say it", custom)
    assert ids.prefix[0] == tok.bos_token_id and ids.prefix.count(tok.bos_token_id) == 1  # not doubled
    assert ids.prefix[1:] == tok("<|user|>Say it ", add_special_tokens=False)["input_ids"]
    assert ids.suffix == tok("<|end|><|assistant|>", add_special_tokens=False)["input_ids"]

    hidden = model.llm.get_input_embeddings().embedding_dim
    slot = make_slots(hidden, [3])
    batch = model.splice(["Say it"], slot, ["hello world"])
    context = len(ids.prefix) + 3 + len(ids.suffix)
    target = [*tok("hello world", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert batch.labels[0, :context].eq(IGNORE_INDEX).all()
    assert batch.labels[0, context:].tolist() == target
    table = model.llm.get_input_embeddings().weight
    expected_prefix = table[torch.tensor(ids.prefix)]
    torch.testing.assert_close(batch.inputs_embeds[0, : len(ids.prefix)], expected_prefix)
    torch.testing.assert_close(batch.inputs_embeds[0, len(ids.prefix) : len(ids.prefix) + 3], slot[0])


CHAT_WITH_SYSTEM = (
    "{% if messages[0]['role'] != 'system' %}<|system|>You are DefaultBot.<|end|>{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_the_recipes_system_turn_replaces_the_templates_default_and_records_name_it(
    tiny_base_dirs, tmp_path
) -> None:
    from components.modeling.prompts import split_prompt
    from components.modeling.speech_llm import SpeechLLM

    model = SpeechLLM.from_base(*tiny_base_dirs, system_prompt="Answer only.")
    tok = model.tokenizer
    tok.chat_template = CHAT_WITH_SYSTEM
    assert split_prompt(tok, "Say it")[0] == "<|system|>You are DefaultBot.<|end|><|user|>Say it "
    prefix, suffix = split_prompt(tok, "Say it", system_prompt="Answer only.")
    assert (prefix, suffix) == ("<|system|>Answer only.<|end|><|user|>Say it ", "<|end|><|assistant|>")
    hidden = model.llm.get_input_embeddings().embedding_dim
    spliced = model.splice(["Say it"], make_slots(hidden, [2])).inputs_embeds
    assert spliced.shape[1] == len(tok(prefix + suffix, add_special_tokens=False)["input_ids"]) + 2
    record = model.prompt_record()
    assert record["layout"] == "chat_template" and record["system_prompt"] == "Answer only."

    model.save_pretrained(tmp_path / "adapter")
    rebuilt = SpeechLLM.from_pretrained(tmp_path / "adapter")
    assert rebuilt.system_prompt == "Answer only." and rebuilt.untrained().system_prompt == "Answer only."
