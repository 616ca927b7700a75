"""The recipes' training losses, as pure functions of tensors.

Every function takes what the model already produced (logits at the target positions, adapter
vectors, CIF weights) and the labels, so the trainer can combine them by weight and each one can be
checked by hand. Labels follow the prompt splice: ``IGNORE_INDEX`` everywhere but the target tokens
and EOS, and the logits at position ``t`` predict the token at ``t + 1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from components.modeling.target_logits import TargetLogits


def target_cross_entropy(target: TargetLogits) -> torch.Tensor:
    """Mean cross-entropy per target token over the whole batch.

    Summed over tokens and divided by their count, so a long target weighs more than a short one,
    exactly as the LLM's own loss; a mean of per-sequence means would not.

    Raises:
        ValueError: the batch has no labelled target token.
    """
    if target.labels.numel() == 0:
        raise ValueError("target_cross_entropy: the batch has no labelled target token")
    return F.cross_entropy(target.logits.float(), target.labels, reduction="mean")


def _check_aligned(student: TargetLogits, teacher: TargetLogits) -> None:
    """Both views must predict the same tokens, row by row."""
    if student.counts.shape[0] != teacher.counts.shape[0]:
        raise ValueError(
            f"kl_to_text_teacher: {student.counts.shape[0]} student rows but "
            f"{teacher.counts.shape[0]} teacher rows"
        )
    for row, (s, t) in enumerate(zip(student.rows(), teacher.rows(), strict=True)):
        if s.numel() != t.numel():
            raise ValueError(
                f"kl_to_text_teacher: row {row} has {s.numel()} student target tokens but "
                f"{t.numel()} teacher target tokens"
            )
        if not torch.equal(s, t.to(s.device)):
            raise ValueError(
                f"kl_to_text_teacher: row {row} has different target tokens for student and teacher "
                f"({s.tolist()} vs {t.tolist()})"
            )


def _kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² × KL(teacher ‖ student) of (N, V) logits at temperature T, averaged over the N positions.

    The T² factor (Hinton et al., 2015, "Distilling the knowledge in a neural network") keeps the
    gradients' scale independent of T, since softening by T shrinks them by 1/T².
    """
    return temperature**2 * F.kl_div(
        F.log_softmax(student.float() / temperature, dim=-1),
        F.log_softmax(teacher.detach().float() / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    )


def kl_to_text_teacher(
    student: TargetLogits,
    teacher: TargetLogits,
    temperature: float = 2.0,
    eot_weight: float = 1.0,
    eot_token_id: int | None = None,
) -> torch.Tensor:
    """Distil the LLM reading the transcript (teacher) into the LLM hearing the speech (student).

    The two sequences share only their targets: prefix lengths (speech vs. transcript slot) and
    paddings differ, so each is read at its own positions that predict a label (see
    :class:`TargetLogits`), which pair up token by token. The end-of-turn term repeats the KL on the
    positions predicting ``eot_token_id`` (or, when it is None, each row's last label, which the
    splice makes EOS), so the student learns where the teacher stops.

    Raises:
        ValueError: the rows' target tokens differ between the views, or there are none.
    """
    _check_aligned(student, teacher)
    if student.labels.numel() == 0:
        raise ValueError("kl_to_text_teacher: the batch has no labelled target token")
    teacher_logits = teacher.logits.to(student.logits.device)
    loss = _kl(student.logits, teacher_logits, temperature)
    eot = student.row_ends() if eot_token_id is None else student.labels == eot_token_id
    if eot_weight and bool(eot.any()):
        loss = loss + eot_weight * _kl(student.logits[eot], teacher_logits[eot], temperature)
    return loss


def _rows(
    values: torch.Tensor | Sequence[torch.Tensor], lengths: torch.Tensor | Sequence[int] | None, what: str
) -> list[torch.Tensor]:
    """A padded (B, U, ...) tensor with lengths, or a list of (U_i, ...) tensors, as a list of rows."""
    if isinstance(values, torch.Tensor):
        if lengths is None:
            raise ValueError(f"{what}: a padded tensor needs its lengths")
        return [values[row, : int(n)] for row, n in enumerate(lengths)]
    if lengths is not None and [int(n) for n in lengths] != [len(v) for v in values]:
        raise ValueError(f"{what}: lengths {list(lengths)} do not match the rows given")
    return list(values)


def embedding_mse(
    vectors: torch.Tensor,
    vector_mask: torch.Tensor,
    target_embeds: torch.Tensor | Sequence[torch.Tensor],
    target_lengths: torch.Tensor | Sequence[int] | None = None,
    scale: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Wav2Prompt's regression of adapter vectors onto the transcript's LLM input embeddings.

    Vector ``i`` of a row should be the embedding of the row's token ``i``; where the counts differ
    the row is cut to the shorter one. The targets are the frozen LLM's table, so they are detached.
    Mean over every valid (vector, dimension) element of the batch, divided by ``scale``: given the
    table's mean squared element, 1.0 is what zero vectors score whatever the LLM's embedding size,
    so a loss weight means the same across LLMs (raw MSE on a 0.05-std table is ~1e-2 and would
    vanish beside CE).
    """
    targets = _rows(target_embeds, target_lengths, "embedding_mse")
    if len(targets) != vectors.shape[0]:
        raise ValueError(f"embedding_mse: {vectors.shape[0]} vector rows but {len(targets)} target rows")
    total, count = vectors.new_zeros((), dtype=torch.float32), 0
    for row, target in enumerate(targets):
        valid = vectors[row][vector_mask[row].bool()]
        n = min(valid.shape[0], target.shape[0])
        diff = valid[:n].float() - target[:n].detach().to(valid.device).float()
        total = total + diff.pow(2).sum()
        count += diff.numel()
    if count == 0:
        raise ValueError("embedding_mse: no row has both a vector and a target token")
    return total / count / scale


def ctc_frames_needed(target_ids: Sequence[int]) -> int:
    """The fewest vectors a CTC alignment of ``target_ids`` takes: one per token, plus a blank
    between each pair of equal neighbours. With fewer, the loss is infinite (zeroed by the loss)."""
    repeats = sum(a == b for a, b in zip(target_ids, target_ids[1:], strict=False))
    return len(target_ids) + repeats


def ctc_on_embedding_matrix(
    vectors: torch.Tensor,
    vector_mask: torch.Tensor,
    embedding_matrix: torch.Tensor,
    target_ids: Sequence[Sequence[int]] | torch.Tensor,
    blank_id: int,
    target_lengths: torch.Tensor | Sequence[int] | None = None,
) -> torch.Tensor:
    """BLOOMZMMS's CTC, whose output layer is the frozen LLM's input-embedding matrix.

    Scoring each adapter vector against every token embedding (no bias, no new parameters) pushes
    the vectors towards the embeddings of the transcript's tokens, which is what the LLM reads.
    ``embedding_matrix`` is used as given (never copied), so it gets a gradient only if it asks for
    one. ``blank_id`` is a special token of the LLM (its pad token) that no transcript contains.
    The mask must be left-aligned: CTC reads the first ``mask.sum()`` vectors of each row.
    """
    logits = vectors.to(embedding_matrix.dtype) @ embedding_matrix.T  # (B, S, V)
    return masked_ctc(logits, vector_mask, target_ids, blank_id, target_lengths, "ctc")


def masked_ctc(
    logits: torch.Tensor,
    mask: torch.Tensor,
    target_ids: Sequence[Sequence[int]] | torch.Tensor,
    blank_id: int,
    target_lengths: torch.Tensor | Sequence[int] | None = None,
    name: str = "ctc",
) -> torch.Tensor:
    """CTC of (B, S, C) class logits over each row's first ``mask.sum()`` frames; mean over the batch
    of the per-token loss. A row that cannot be aligned (too few frames) counts zero."""
    lengths = mask.long().sum(dim=1)
    positions = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(mask.bool(), positions[None] < lengths[:, None]):
        raise ValueError(f"{name}: the mask must be left-aligned (valid frames first)")
    targets = [torch.as_tensor(t, dtype=torch.long) for t in _rows(target_ids, target_lengths, name)]
    if len(targets) != logits.shape[0]:
        raise ValueError(f"{name}: {logits.shape[0]} frame rows but {len(targets)} target rows")
    flat = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
    classes = logits.shape[-1]
    if bool((flat == blank_id).any()):
        raise ValueError(
            f"{name}: blank id {blank_id} appears in a target; the blank must be a special token"
        )
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= classes):
        raise ValueError(f"{name}: target ids must lie in [0, {classes})")
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (S, B, C)
    return F.ctc_loss(
        log_probs,
        flat.to(log_probs.device),
        lengths.to(log_probs.device),
        torch.tensor([len(t) for t in targets], dtype=torch.long, device=log_probs.device),
        blank=blank_id,
        reduction="mean",
        zero_infinity=True,
    )


def cif_quantity_loss(
    alphas: torch.Tensor, alpha_mask: torch.Tensor | None, target_lengths: torch.Tensor | Sequence[int]
) -> torch.Tensor:
    """CIF's quantity loss: the summed weights of a row should equal its number of tokens.

    That is what makes the CIF adapter fire once per transcript token. Mean over the batch of
    ``|Σ_t α_t − U|``. ``alpha_mask`` None: the weights are already zero on padding (the CIF adapter's).
    """
    weights = alphas.float() if alpha_mask is None else alphas.float() * alpha_mask.to(alphas.device).float()
    sums = weights.sum(dim=1)
    wanted = torch.as_tensor(target_lengths, dtype=torch.float32, device=alphas.device)
    return (sums - wanted).abs().mean()
