"""The recipes' losses against hand computations, on small tensors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from components.modeling.target_logits import IGNORE_INDEX, TargetLogits, prediction_positions
from components.training.losses import (
    cif_quantity_loss,
    ctc_on_embedding_matrix,
    embedding_mse,
    kl_to_text_teacher,
    target_cross_entropy,
)

VOCAB = 7
EOS = 2
TARGETS = [[3, 4, 6, EOS], [5, EOS]]


def labels_for(prefixes: list[int], width: int, targets: list[list[int]] = TARGETS) -> torch.Tensor:
    """Right-padded labels: ``prefix`` ignored positions, then the target, then ignored padding."""
    labels = torch.full((len(prefixes), width), IGNORE_INDEX, dtype=torch.long)
    for row, (prefix, target) in enumerate(zip(prefixes, targets, strict=True)):
        labels[row, prefix : prefix + len(target)] = torch.tensor(target)
    return labels


def predicting(prefixes: list[int], targets: list[list[int]] = TARGETS) -> list[tuple[int, int]]:
    """(row, position) of each logit that predicts a label, written out by hand."""
    return [(row, p - 1 + j) for row, p in enumerate(prefixes) for j in range(len(targets[row]))]


def logits(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# -- cross-entropy and prediction positions ---------------------------------------------------------


def test_prediction_positions_are_the_positions_before_each_label() -> None:
    labels = labels_for([3, 1], width=8)
    want = torch.zeros(2, 8, dtype=torch.bool)
    for row, position in predicting([3, 1]):
        want[row, position] = True
    assert torch.equal(prediction_positions(labels), want)


def test_cross_entropy_is_the_mean_over_target_tokens_not_over_sequences() -> None:
    labels = labels_for([3, 1], width=8)
    scores = logits((2, 8, VOCAB), seed=0)
    per_token = {row: [] for row in range(2)}
    for row, position in predicting([3, 1]):
        token = labels[row, position + 1]
        per_token[row].append(-torch.log_softmax(scores[row, position], dim=-1)[token])
    terms = per_token[0] + per_token[1]
    hand = sum(terms) / len(terms)
    torch.testing.assert_close(target_cross_entropy(TargetLogits.gather(scores, labels)), hand)
    mean_of_means = (sum(per_token[0]) / len(per_token[0]) + sum(per_token[1]) / len(per_token[1])) / 2
    assert not torch.allclose(hand, mean_of_means)


def test_cross_entropy_refuses_a_batch_without_labels() -> None:
    with pytest.raises(ValueError, match="no labelled"):
        target_cross_entropy(TargetLogits.gather(logits((1, 4, VOCAB), 0), torch.full((1, 4), IGNORE_INDEX)))


# -- KL to the text teacher -------------------------------------------------------------------------

# The speech prefix is longer than the transcript prefix, and the paddings differ.
STUDENT_PREFIXES, STUDENT_WIDTH = [9, 6], 14
TEACHER_PREFIXES, TEACHER_WIDTH = [4, 5], 9
TEMPERATURE = 2.0


def kl(student, s_labels, teacher, t_labels, *args, **kwargs) -> torch.Tensor:
    """The KL on full logits, each view read at its own prediction positions."""
    return kl_to_text_teacher(
        TargetLogits.gather(student, s_labels), TargetLogits.gather(teacher, t_labels), *args, **kwargs
    )


def kl_pair(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    student = logits((2, STUDENT_WIDTH, VOCAB), seed)
    teacher = logits((2, TEACHER_WIDTH, VOCAB), seed + 100)
    return (
        student,
        labels_for(STUDENT_PREFIXES, STUDENT_WIDTH),
        teacher,
        labels_for(TEACHER_PREFIXES, TEACHER_WIDTH),
    )


def hand_kl(student: torch.Tensor, teacher: torch.Tensor, pairs: list[tuple[tuple, tuple]]) -> torch.Tensor:
    """T² Σ p_t (log p_t − log p_s) over the given (student index, teacher index) pairs, / their count
    (T² as Hinton et al. 2015 scale distillation, so gradients keep their size whatever T)."""
    total = torch.zeros(())
    for s, t in pairs:
        log_p_s = torch.log_softmax(student[s] / TEMPERATURE, dim=-1)
        log_p_t = torch.log_softmax(teacher[t] / TEMPERATURE, dim=-1)
        total = total + (log_p_t.exp() * (log_p_t - log_p_s)).sum()
    return TEMPERATURE**2 * total / len(pairs)


def test_kl_aligns_each_row_on_its_own_target_positions() -> None:
    student, s_labels, teacher, t_labels = kl_pair(seed=1)
    pairs = list(zip(predicting(STUDENT_PREFIXES), predicting(TEACHER_PREFIXES), strict=True))
    eot_pairs = [(s, t) for s, t in pairs if s_labels[s[0], s[1] + 1] == EOS]
    assert len(eot_pairs) == 2
    want = hand_kl(student, teacher, pairs) + 0.5 * hand_kl(student, teacher, eot_pairs)
    got = kl(student, s_labels, teacher, t_labels, temperature=TEMPERATURE, eot_weight=0.5, eot_token_id=EOS)
    torch.testing.assert_close(got, want)
    # without an eot id, each row's last label (EOS in the splice) marks the end of the turn
    got_default = kl(student, s_labels, teacher, t_labels, TEMPERATURE, eot_weight=0.5)
    torch.testing.assert_close(got_default, want)
    plain = kl(student, s_labels, teacher, t_labels, TEMPERATURE, eot_weight=0.0)
    torch.testing.assert_close(plain, hand_kl(student, teacher, pairs))


def test_kl_is_zero_when_aligned_logits_agree_although_absolute_positions_differ() -> None:
    student, s_labels, teacher, t_labels = kl_pair(seed=2)
    for s, t in zip(predicting(STUDENT_PREFIXES), predicting(TEACHER_PREFIXES), strict=True):
        teacher[t] = student[s]
    loss = kl(student, s_labels, teacher, t_labels, TEMPERATURE, eot_token_id=EOS)
    torch.testing.assert_close(loss, torch.zeros(()), atol=1e-7, rtol=0)

    # The pitfall: reading both sequences at the teacher's absolute positions gives a non-zero value.
    absolute = prediction_positions(t_labels)
    naive = F.kl_div(
        F.log_softmax(student[:, :TEACHER_WIDTH][absolute] / TEMPERATURE, dim=-1),
        F.softmax(teacher[absolute] / TEMPERATURE, dim=-1),
        reduction="batchmean",
    )
    assert naive > 1e-2


def test_kl_trains_the_student_only() -> None:
    student, s_labels, teacher, t_labels = kl_pair(seed=3)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    kl(student, s_labels, teacher, t_labels, TEMPERATURE).backward()
    assert teacher.grad is None
    used = prediction_positions(s_labels)
    assert student.grad[used].abs().sum(dim=-1).gt(0).all()
    assert student.grad[~used].eq(0).all()


def test_kl_refuses_rows_whose_targets_differ() -> None:
    student, s_labels, teacher, t_labels = kl_pair(seed=4)
    other = t_labels.clone()
    other[1, TEACHER_PREFIXES[1]] = 6
    with pytest.raises(ValueError, match="row 1 has different target tokens"):
        kl(student, s_labels, teacher, other)
    shorter = labels_for(TEACHER_PREFIXES, TEACHER_WIDTH, [TARGETS[0][1:], TARGETS[1]])
    with pytest.raises(ValueError, match="row 0 has 4 student target tokens but 3 teacher"):
        kl(student, s_labels, teacher, shorter)


# -- Wav2Prompt's embedding regression --------------------------------------------------------------


def test_embedding_mse_cuts_each_row_to_the_shorter_length() -> None:
    hidden = 3
    vectors = logits((2, 5, hidden), seed=5).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    targets = [logits((3, hidden), 6), logits((4, hidden), 7)]  # row 0: 4 vectors, 3 tokens; row 1: 2 vs 4
    hand = ((vectors[0, :3] - targets[0]).pow(2).sum() + (vectors[1, :2] - targets[1][:2]).pow(2).sum()) / (
        5 * hidden
    )
    got = embedding_mse(vectors, mask, targets)
    torch.testing.assert_close(got, hand)
    padded = torch.zeros(2, 4, hidden)
    padded[0, :3], padded[1, :4] = targets[0], targets[1]
    torch.testing.assert_close(embedding_mse(vectors, mask, padded, torch.tensor([3, 4])), hand)

    got.backward()
    assert vectors.grad[0, :3].ne(0).all() and vectors.grad[0, 3:].eq(0).all()
    assert vectors.grad[1, :2].ne(0).all() and vectors.grad[1, 2:].eq(0).all()


def test_embedding_mse_in_units_of_the_mean_square_does_not_depend_on_the_embedding_size() -> None:
    table = logits((11, 6), seed=8)
    mask = torch.ones(2, 4, dtype=torch.long)
    rows = torch.stack([table[[1, 4, 7, 2]], table[[3, 3, 9, 10]]])
    guess = logits((2, 4, 6), seed=9)
    scores = []
    for size in (0.01, 1.0, 30.0):
        mean_square = (rows * size).pow(2).mean()
        zero = embedding_mse(torch.zeros(2, 4, 6), mask, list(rows * size), scale=mean_square)
        torch.testing.assert_close(zero, torch.tensor(1.0))  # zero vectors score 1 at every size
        assert embedding_mse(rows * size, mask, list(rows * size), scale=mean_square).item() == 0.0
        scores.append(embedding_mse(guess * size, mask, list(rows * size), scale=mean_square))
    torch.testing.assert_close(scores[0], scores[1])
    torch.testing.assert_close(scores[2], scores[1])


# -- BLOOMZMMS's CTC on the embedding matrix --------------------------------------------------------

BLANK = 0  # the pad token of a tokenizer: never in a transcript
CTC_TARGETS = [[1, 3, 4], [2]]


def ctc_inputs(seed: int, requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    vectors = logits((2, 5, 4), seed).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    matrix = torch.nn.Parameter(logits((6, 4), seed + 1), requires_grad=requires_grad)
    return vectors, mask, matrix


def explicit_ctc(vectors, matrix, lengths, targets, blank) -> torch.Tensor:
    log_probs = torch.log_softmax(torch.einsum("bsh,vh->bsv", vectors, matrix), dim=-1).transpose(0, 1)
    return F.ctc_loss(
        log_probs,
        torch.tensor([t for row in targets for t in row]),
        torch.tensor(lengths),
        torch.tensor([len(row) for row in targets]),
        blank=blank,
        reduction="mean",
        zero_infinity=True,
    )


def brute_force_ctc(vectors, matrix, lengths, targets, blank) -> torch.Tensor:
    """−log Σ over every frame labelling that collapses to the target, / target length, batch mean."""
    losses = []
    for row, target in enumerate(targets):
        log_probs = torch.log_softmax(vectors[row, : lengths[row]] @ matrix.T, dim=-1)
        total = 0.0
        for path in itertools.product(range(matrix.shape[0]), repeat=lengths[row]):
            merged = [k for k, _ in itertools.groupby(path)]
            if [k for k in merged if k != blank] == target:
                total += math.exp(sum(float(log_probs[t, k]) for t, k in enumerate(path)))
        losses.append(-math.log(total) / len(target))
    return torch.tensor(sum(losses) / len(losses))


def test_ctc_output_layer_is_the_embedding_matrix() -> None:
    vectors, mask, matrix = ctc_inputs(seed=8)
    got = ctc_on_embedding_matrix(vectors, mask, matrix, CTC_TARGETS, blank_id=BLANK)
    torch.testing.assert_close(got, explicit_ctc(vectors, matrix, [5, 3], CTC_TARGETS, BLANK))
    short = [[3, 4], [2]]  # brute force over 6^4 paths for row 0
    torch.testing.assert_close(
        ctc_on_embedding_matrix(vectors[:, :4], mask[:, :4], matrix, short, blank_id=BLANK),
        brute_force_ctc(vectors.detach(), matrix.detach(), [4, 3], short, BLANK),
    )
    padded = torch.tensor([[1, 3, 4], [2, 9, 9]])
    from_padded = ctc_on_embedding_matrix(vectors, mask, matrix, padded, BLANK, target_lengths=[3, 1])
    torch.testing.assert_close(from_padded, got)
    with torch.no_grad():
        perturbed = torch.nn.Parameter(matrix + 0.5 * logits(matrix.shape, 9), requires_grad=False)
    assert not torch.allclose(ctc_on_embedding_matrix(vectors, mask, perturbed, CTC_TARGETS, BLANK), got)


def test_ctc_uses_the_matrix_itself_and_creates_no_parameters(monkeypatch) -> None:
    created = []
    original = torch.nn.Module.__init__

    def counting(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", counting)
    vectors, mask, frozen = ctc_inputs(seed=10)
    ctc_on_embedding_matrix(vectors, mask, frozen, CTC_TARGETS, BLANK).backward()
    assert frozen.grad is None and vectors.grad is not None and vectors.grad.abs().sum() > 0
    assert vectors.grad[1, 3:].eq(0).all(), "padded vectors get no gradient"

    vectors, mask, trainable = ctc_inputs(seed=10, requires_grad=True)
    ctc_on_embedding_matrix(vectors, mask, trainable, CTC_TARGETS, BLANK).backward()
    assert trainable.grad is not None and trainable.grad.abs().sum() > 0
    assert created == []


def test_ctc_respects_the_blank_id() -> None:
    vectors, mask, matrix = ctc_inputs(seed=11)
    with_five = ctc_on_embedding_matrix(vectors, mask, matrix, CTC_TARGETS, blank_id=5)
    torch.testing.assert_close(with_five, explicit_ctc(vectors, matrix, [5, 3], CTC_TARGETS, 5))
    assert not torch.allclose(with_five, ctc_on_embedding_matrix(vectors, mask, matrix, CTC_TARGETS, BLANK))
    with pytest.raises(ValueError, match="blank id 3 appears in a target"):
        ctc_on_embedding_matrix(vectors, mask, matrix, CTC_TARGETS, blank_id=3)


def test_ctc_refuses_a_mask_that_is_not_left_aligned() -> None:
    vectors, _, matrix = ctc_inputs(seed=12)
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    with pytest.raises(ValueError, match="left-aligned"):
        ctc_on_embedding_matrix(vectors, mask, matrix, CTC_TARGETS, BLANK)


# -- CIF quantity -----------------------------------------------------------------------------------


def test_quantity_loss_is_the_mean_gap_between_summed_weights_and_token_counts() -> None:
    alphas = torch.tensor([[0.5, 0.75, 1.0, 0.9], [0.25, 0.25, 0.5, 0.8]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    # row 0: 2.25 vs 3 tokens; row 1: 1.8 vs 1 token
    torch.testing.assert_close(cif_quantity_loss(alphas, mask, [3, 1]), torch.tensor((0.75 + 0.8) / 2))


@pytest.mark.parametrize(
    ("ids", "needed"), [([5, 9, 5, 5], 5), ([5, 6, 7], 3), ([5, 5], 3), ([5, 5, 5, 6, 6], 8), ([7, 8, 7], 3)]
)
def test_ctc_frames_needed_is_the_exact_boundary_between_a_finite_and_an_infinite_loss(ids, needed) -> None:
    from components.training.losses import ctc_frames_needed

    assert ctc_frames_needed(ids) == needed

    def loss(frames: int) -> float:
        log_probs = torch.randn(frames, 1, 10, generator=torch.Generator().manual_seed(0)).log_softmax(-1)
        target = torch.tensor([ids])
        return float(F.ctc_loss(log_probs, target, torch.tensor([frames]), torch.tensor([len(ids)]), blank=0))

    assert loss(needed) < float("inf")
    assert loss(needed - 1) == float("inf")
