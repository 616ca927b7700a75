"""The LLM behind the project's one prompt splice: ``[prefix][slot][suffix][target]``.

The slot holds speech embeddings (from the adapter) or a transcript's token embeddings (the text
teacher, the text baseline, and the demo LLM's own text lessons), so every use shares every other
token, the label mask and left-padded generation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from components.modeling.prompts import (
    BLSP_TEMPLATE,
    end_of_turn_id,
    prompt_ids,
    prompt_record,
    stop_ids,
    target_ids,
    text_ids,
)
from components.modeling.target_logits import (
    IGNORE_INDEX,
    TargetLogits,
    head_split_matches,
    prediction_positions,
    split_head,
)

__all__ = ["IGNORE_INDEX", "PromptedLLM", "SplicedBatch"]


@dataclass
class SplicedBatch:
    """LLM inputs for a batch: embeddings (B, L, H), attention mask (B, L), labels (B, L) or None."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None


class PromptedLLM(nn.Module):
    """An LLM with the project's one prompt splice: ``[prefix][slot][suffix][target]``.

    Teaching the demo LLM its text skills and training the adapter both go through this splice, so
    the LLM learns text tasks in exactly the prompts it later receives speech in.
    """

    def __init__(
        self, llm: nn.Module, tokenizer: Any, template: str = BLSP_TEMPLATE, system_prompt: str | None = None
    ) -> None:
        super().__init__()
        self.llm = llm
        self.tokenizer = tokenizer
        self.template = template
        self.system_prompt = system_prompt
        self.end_of_turn = end_of_turn_id(tokenizer)  # ends every target; generation stops on it

    def prompt_record(self) -> dict[str, str | None]:
        """The prompt layout in use, as records name it (see :func:`prompts.prompt_record`)."""
        return prompt_record(self.tokenizer, self.template, self.system_prompt)

    def prompt_tokens(self, instruction: str) -> int:
        """Tokens of the prompt around the slot for ``instruction`` (template, system turn)."""
        ids = prompt_ids(self.tokenizer, instruction, self.template, self.system_prompt)
        return len(ids.prefix) + len(ids.suffix)

    def text_slots(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Token embeddings of transcripts, placed where speech would go."""
        table = self.llm.get_input_embeddings()
        ids = [
            torch.tensor(text_ids(self.tokenizer, t), dtype=torch.long, device=table.weight.device)
            for t in texts
        ]
        return [table(row) for row in ids]

    # -- the prompt splice ------------------------------------------------------------------------

    def splice(
        self,
        instructions: Sequence[str],
        slots: Sequence[torch.Tensor],
        targets: Sequence[str] | None = None,
        padding_side: str = "right",
    ) -> SplicedBatch:
        """Build ``[prefix][slot][suffix][target]`` per example, pad, and label only target tokens."""
        table = self.llm.get_input_embeddings()
        device = table.weight.device  # every tensor of the batch is built where the LLM is
        rows, labels = [], []
        for index, (instruction, slot) in enumerate(zip(instructions, slots, strict=True)):
            ids = prompt_ids(self.tokenizer, instruction, self.template, self.system_prompt)
            target = (
                target_ids(self.tokenizer, targets[index], self.end_of_turn) if targets is not None else []
            )
            prefix = table(torch.tensor(ids.prefix, dtype=torch.long, device=device))
            suffix = table(torch.tensor(ids.suffix + target, dtype=torch.long, device=device))
            rows.append(torch.cat([prefix, slot.to(prefix.dtype), suffix]))
            context = len(ids.prefix) + slot.shape[0] + len(ids.suffix)
            labels.append([IGNORE_INDEX] * context + target)
        width = max(row.shape[0] for row in rows)
        hidden = rows[0].shape[1]
        embeds = rows[0].new_zeros(len(rows), width, hidden)
        attention = torch.zeros(len(rows), width, dtype=torch.long, device=device)
        label_tensor = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long, device=device)
        for index, row in enumerate(rows):
            n = row.shape[0]
            span = slice(0, n) if padding_side == "right" else slice(width - n, width)
            embeds[index, span] = row
            attention[index, span] = 1
            label_tensor[index, span] = torch.tensor(labels[index], dtype=torch.long, device=device)
        return SplicedBatch(embeds, attention, label_tensor if targets is not None else None)

    # -- training and generation ----------------------------------------------------------------

    def llm_scope(self) -> contextlib.AbstractContextManager:
        """The context every LLM call runs in (a subclass may switch LoRA off in it)."""
        return contextlib.nullcontext()

    def logits(self, batch: SplicedBatch) -> torch.Tensor:
        """LLM logits (B, L, V) over a spliced batch."""
        with self.llm_scope():
            # no KV cache: nothing reads it after a scoring pass, and checkpointed layers may not write it
            return self.llm(
                inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, use_cache=False
            ).logits

    def target_logits(self, batch: SplicedBatch) -> TargetLogits:
        """The logits at the positions that predict ``batch.labels``' target tokens, projected from
        those hidden states alone (see :mod:`target_logits`); the same values as gathering them from
        :meth:`logits`, for a fraction of its time and memory.

        Raises:
            ValueError: the batch has no labels.
        """
        if batch.labels is None:
            raise ValueError("target_logits: the batch has no targets")
        split = self._head_split()
        if split is None:
            return TargetLogits.gather(self.logits(batch), batch.labels)
        decoder, head = split
        positions = prediction_positions(batch.labels)
        with self.llm_scope():
            hidden = decoder(
                inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, use_cache=False
            )
            logits = head(hidden.last_hidden_state[positions])
        return TargetLogits(logits, batch.labels[:, 1:][positions[:, :-1]], positions.sum(dim=1))

    def _head_split(self) -> tuple[nn.Module, nn.Module] | None:
        """The LLM's (decoder, projection), checked once against its own forward pass; None where the
        split is not the model."""
        if not hasattr(self, "_split_checked"):
            split = split_head(self.llm)
            if split is not None and not head_split_matches(self.llm, *split):
                split = None
            self._split_checked = split is not None
        return split_head(self.llm) if self._split_checked else None

    def loss(
        self, instructions: Sequence[str], slots: Sequence[torch.Tensor], targets: Sequence[str]
    ) -> torch.Tensor:
        """Mean cross-entropy over target tokens only (prompt, speech and padding are ignored)."""
        batch = self.splice(instructions, slots, targets, padding_side="right")
        target = self.target_logits(batch)
        return torch.nn.functional.cross_entropy(target.logits.float(), target.labels)

    @torch.no_grad()
    def choose(
        self, instructions: Sequence[str], slots: Sequence[torch.Tensor], options: Sequence[str]
    ) -> list[str]:
        """Decoding constrained to a label set: for each example, the option whose tokens followed by
        the end of turn the LLM gives the highest total log-probability (rank classification, as
        BLOOMZ and BLOOMZMMS score classification tasks such as SpeechGLUE's).

        Raises:
            ValueError: no option to choose from.
        """
        if not options:
            raise ValueError("choose: no option to choose from")
        chosen = []
        for instruction, slot in zip(instructions, slots, strict=True):
            batch = self.splice([instruction] * len(options), [slot] * len(options), options)
            target = self.target_logits(batch)
            picked = torch.log_softmax(target.logits.float(), dim=-1).gather(1, target.labels[:, None])[:, 0]
            totals = torch.stack([row.sum() for row in picked.split(target.counts.tolist())])
            chosen.append(options[int(totals.argmax())])
        return chosen

    @torch.no_grad()
    def generate(
        self, instructions: Sequence[str], slots: Sequence[torch.Tensor], max_new_tokens: int
    ) -> list[str]:
        """Greedy decoding of a left-padded batch, each row stopping at the first of the LLM's end tokens
        (see :func:`prompts.stop_ids`); returns the generated text of each example."""
        batch = self.splice(instructions, slots, padding_side="left")
        with self.llm_scope():
            out = self.llm.generate(
                inputs_embeds=batch.inputs_embeds,
                attention_mask=batch.attention_mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=stop_ids(self.tokenizer, self.llm.generation_config),
            )
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in out]
