"""One batch's recipe objective: the weighted sum of the loss terms a training phase names.

``ce`` and ``kl`` go through the frozen LLM (``kl`` also through the LLM given the transcript in the
speech slot, as the teacher); ``ctc``, ``mse`` and ``quantity`` act on the adapter's output directly
against the LLM's own token embeddings of the transcript; ``lid_ctc`` on an intermediate layer's
language-ID logits against each clip's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from components.modeling.prompts import text_ids
from components.modeling.speech_llm import SpeechLLM, trim
from components.reductions import fixed_order_mean
from components.training.losses import (
    cif_quantity_loss,
    ctc_on_embedding_matrix,
    embedding_mse,
    kl_to_text_teacher,
    masked_ctc,
    target_cross_entropy,
)

SPECIAL_ROLES = ("pad", "eos", "bos", "unk")


def blank_token_id(tokenizer: PreTrainedTokenizerBase, blank: str) -> int:
    """The id of the CTC blank: a special token named by its role (``pad``) or spelled (``<pad>``).

    It must be special, so that no transcript can contain it (a word-piece blank would be unlearnable).
    """
    if blank in SPECIAL_ROLES:
        token_id = getattr(tokenizer, f"{blank}_token_id")
        if token_id is None:
            raise ValueError(f"train.ctc_blank: the tokenizer has no {blank} token")
        return int(token_id)
    if blank not in tokenizer.all_special_tokens:
        raise ValueError(
            f"train.ctc_blank: {blank!r} is not a special token of the tokenizer "
            f"(name a role {list(SPECIAL_ROLES)} or one of {tokenizer.all_special_tokens})"
        )
    return int(tokenizer.convert_tokens_to_ids(blank))


@dataclass(frozen=True)
class ObjectiveSettings:
    """What the loss terms need beyond the batch; fixed for a whole run, so resolved once."""

    kl_temperature: float
    eot_weight: float
    blank_id: int  # the ctc loss
    embedding_mean_square: float  # the mse loss's unit: the frozen table's mean squared element


def objective_settings(
    model: SpeechLLM, kl_temperature: float, eot_weight: float, ctc_blank: str
) -> ObjectiveSettings:
    table = model.llm.get_input_embeddings().weight.detach()
    return ObjectiveSettings(
        kl_temperature,
        eot_weight,
        blank_token_id(model.tokenizer, ctc_blank),
        float(fixed_order_mean(table.float().pow(2))),  # float: the table may be stored in bf16 on a GPU
    )


def batch_objective(
    model: SpeechLLM,
    states: torch.Tensor,
    state_mask: torch.Tensor,
    instructions: Sequence[str],
    targets: Sequence[str],
    texts: Sequence[str],
    losses: dict[str, float],
    settings: ObjectiveSettings,
    languages: Sequence[str] = (),
) -> dict[str, torch.Tensor]:
    """Every named loss term and ``objective`` = Σ weight × term; ``languages`` (one per row) only
    for ``lid_ctc``."""
    token_ids = [text_ids(model.tokenizer, text) for text in texts]
    counts = torch.tensor([len(ids) for ids in token_ids], device=states.device)
    # CIF fires one vector per transcript token when told how many; other adapters ignore the counts.
    out = model.speech.adapt(states, state_mask, counts)
    table = model.llm.get_input_embeddings().weight
    terms: dict[str, torch.Tensor] = {}
    if "ce" in losses or "kl" in losses:
        batch = model.splice(instructions, trim(out), targets)
        student = model.target_logits(batch)
        terms["ce"] = target_cross_entropy(student)
        if "kl" in losses:
            with torch.no_grad(), model.frozen_llm():
                teacher = model.target_logits(model.splice(instructions, model.text_slots(texts), targets))
            terms["kl"] = kl_to_text_teacher(
                student,
                teacher,
                temperature=settings.kl_temperature,
                eot_weight=settings.eot_weight,
                eot_token_id=model.end_of_turn,
            )
    if "ctc" in losses:
        terms["ctc"] = ctc_on_embedding_matrix(
            out.embeds, out.mask, table, token_ids, blank_id=settings.blank_id
        )
    if "mse" in losses:
        rows = [torch.tensor(ids, dtype=torch.long, device=table.device) for ids in token_ids]
        wanted = [table[row].detach() for row in rows]
        terms["mse"] = embedding_mse(
            out.embeds, out.mask, wanted, counts, scale=settings.embedding_mean_square
        )
    if "quantity" in losses:
        terms["quantity"] = cif_quantity_loss(out.alphas, None, counts)
    if "lid_ctc" in losses:
        terms["lid_ctc"] = language_ctc(model, out.lid_logits, out.lid_mask, languages)
    terms["objective"] = sum(weight * terms[name] for name, weight in losses.items())
    return terms


def language_ctc(
    model: SpeechLLM, logits: torch.Tensor | None, mask: torch.Tensor | None, languages: Sequence[str]
) -> torch.Tensor:
    """Intermediate CTC whose target is one token: the clip's language (class 0 is the blank)."""
    if logits is None or mask is None:
        raise ValueError("lid_ctc: the adapter has no language-ID head (set train.adapter.lid_block)")
    classes = list(model.speech.adapter.config.lid_languages)
    if len(languages) != logits.shape[0]:
        raise ValueError(f"lid_ctc: {logits.shape[0]} clips but {len(languages)} languages")
    unknown = sorted(set(languages) - set(classes))
    if unknown:
        raise ValueError(f"lid_ctc: clip languages {unknown} are not among the adapter's {classes}")
    return masked_ctc(logits, mask, [[classes.index(code) + 1] for code in languages], 0, name="lid_ctc")
