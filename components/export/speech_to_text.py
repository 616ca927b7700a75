"""Speech → text on onnxruntime and ``tokenizers`` alone: what serves an exported model without torch.

Nothing here imports torch or transformers (a test checks it in a fresh interpreter). The directory an
export writes holds the graphs (``speech_path.onnx``, ``embed_tokens.onnx``, ``decoder_prefill.onnx``,
``decoder_step.onnx``), ``tokenizer.json``, ``runtime.json`` (prompt layout, stop tokens, feature
settings) and, for Whisper encoders, ``mel_filters.npy``. Decoding is greedy, one clip at a time, as
:meth:`components.modeling.prompted_llm.PromptedLLM.generate` decodes: stop on the LLM's end tokens,
the repetition penalty of its generation config applied to the tokens generated so far.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from components.export.onnx_runtime import open_session

SPEECH_FILE = "speech_path.onnx"
RUNTIME_FILE = "runtime.json"
TOKENIZER_FILE = "tokenizer.json"
MEL_FILTERS_FILE = "mel_filters.npy"


class RuntimeInputError(ValueError):
    """Audio or an instruction the exported model cannot take; the message names the limit."""


def log_mel(waveform: np.ndarray, mel_filters: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Whisper's log-mel (n_mels, frames) of a mono float waveform, in numpy: centred frames (reflect
    padding), a periodic Hann window, power spectrum, mel projection floored at 1e-10, log10, clamped to
    8 below its maximum and scaled by ``(x + 4) / 4``; the last frame dropped and the rest cut to one
    frame per hop, as :func:`components.modeling.encoder.encoder_features` gives (OpenAI Whisper,
    ``audio.log_mel_spectrogram``)."""
    padded = np.pad(waveform.astype(np.float64), n_fft // 2, mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2  # (frames, n_fft // 2 + 1)
    mel = np.maximum(1e-10, power @ mel_filters)  # (frames, n_mels)
    spec = np.log10(mel).T[:, :-1]
    spec = np.maximum(spec, spec.max() - 8.0)
    spec = (spec + 4.0) / 4.0
    return spec[:, : max(1, len(waveform) // hop_length)].astype(np.float32)


def normalised_waveform(waveform: np.ndarray, normalize: bool) -> np.ndarray:
    """The wav2vec2 family's input (1, samples): zero mean, unit variance where the extractor normalises."""
    wave = waveform.astype(np.float32)
    if normalize:
        wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    return wave[None, :]


@dataclass(frozen=True)
class PromptParts:
    """The prompt around the instruction and the speech: ``before + instruction + between`` is the
    prefix, ``after`` the suffix; ``bos_id`` is prepended to a prefix that does not start with it."""

    before: str
    between: str
    after: str
    bos_id: int | None


class SpeechToText:
    """An exported speech-LLM, run with onnxruntime: features → speech embeddings → greedy decoding.

    ``threads``: each session's intra-op threads (default: :func:`components.compute.thread_count`)."""

    def __init__(
        self, directory: str | Path, provider: str = "CPUExecutionProvider", threads: int | None = None
    ) -> None:
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        config_path = self.directory / RUNTIME_FILE
        if not config_path.is_file():
            raise RuntimeInputError(f"{self.directory}: no {RUNTIME_FILE}; not a directory `export` wrote")
        self.config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
        files = self.config["files"]
        self.speech = open_session(self.directory / files["speech_path"], provider, threads)
        self.embed = open_session(self.directory / files["embed"], provider, threads)
        self.prefill = open_session(self.directory / files["prefill"], provider, threads)
        self.step = open_session(self.directory / files["step"], provider, threads)
        self.past_inputs = [i.name for i in self.step.get_inputs()][3:]
        self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        self.prompt = PromptParts(**self.config["prompt"])
        features = self.config["features"]
        self.mel_filters = (
            np.load(self.directory / features["mel_filters"]) if features["kind"] == "log_mel" else None
        )

    @property
    def provider(self) -> str:
        """The execution provider onnxruntime activated, read back from the session."""
        return self.prefill.get_providers()[0]

    @property
    def sampling_rate(self) -> int:
        return int(self.config["features"]["sampling_rate"])

    def features(self, waveform: np.ndarray) -> np.ndarray:
        """The encoder's input (C, T) for a mono waveform at :attr:`sampling_rate`.

        Raises:
            RuntimeInputError: the clip is shorter or longer than the encoder reads.
        """
        seconds = len(waveform) / self.sampling_rate
        low, high = self.config["min_seconds"], self.config["max_seconds"]
        if seconds < low or seconds > high:
            raise RuntimeInputError(
                f"{seconds:.3f} s of audio; the encoder reads {low:g} to {high:g} s (cut or pad it)"
            )
        settings = self.config["features"]
        if settings["kind"] == "log_mel":
            return log_mel(waveform, self.mel_filters, settings["n_fft"], settings["hop_length"])
        return normalised_waveform(waveform, settings["normalize"])

    def speech_embeds(self, features: np.ndarray) -> np.ndarray:
        """Speech embeddings (S, H) of one clip's features (C, T), trimmed to its true length."""
        mask = np.ones((1, features.shape[1]), dtype=np.int64)
        embeds, out_mask = self.speech.run(None, {"features": features[None], "feature_mask": mask})
        return embeds[0, : int(out_mask[0].sum())]

    def prompt_ids(self, instruction: str) -> tuple[list[int], list[int]]:
        """Token ids before and after the speech, as :func:`components.modeling.prompts.prompt_ids`."""
        parts = self.prompt
        prefix = self.tokenizer.encode(
            parts.before + instruction + parts.between, add_special_tokens=False
        ).ids
        if parts.bos_id is not None and (not prefix or prefix[0] != parts.bos_id):
            prefix = [parts.bos_id, *prefix]
        suffix = self.tokenizer.encode(parts.after, add_special_tokens=False).ids
        return prefix, suffix

    def token_embeds(self, ids: list[int]) -> np.ndarray:
        return self.embed.run(None, {"input_ids": np.asarray([ids], dtype=np.int64)})[0][0]

    def generate(self, instruction: str, speech: np.ndarray, max_new_tokens: int) -> str:
        """Greedy text for ``instruction`` over speech embeddings (S, H).

        Raises:
            RuntimeInputError: the prompt and the new tokens do not fit the LLM's context.
        """
        prefix, suffix = self.prompt_ids(instruction)
        context = len(prefix) + len(speech) + len(suffix)
        if context + max_new_tokens > self.config["max_positions"]:
            raise RuntimeInputError(
                f"the prompt takes {context} positions and {max_new_tokens} new tokens would pass the"
                f" LLM's context of {self.config['max_positions']}"
            )
        embeds = np.concatenate([self.token_embeds(prefix), speech, self.token_embeds(suffix)])[None]
        mask = np.zeros((1, 1, context, context), dtype=np.float32)
        mask[0, 0][np.triu_indices(context, 1)] = np.finfo(np.float32).min
        outputs = self.prefill.run(
            None,
            {
                "inputs_embeds": embeds.astype(np.float32),
                "position_ids": np.arange(context, dtype=np.int64)[None],
                "mask": mask,
            },
        )
        stops, penalty = set(self.config["stop_ids"]), self.config["repetition_penalty"]
        generated: list[int] = []
        while True:
            logits, past = outputs[0][0], outputs[1:]
            if penalty != 1.0 and generated:
                seen = np.unique(generated)
                scores = logits[seen]
                logits[seen] = np.where(scores < 0, scores * penalty, scores / penalty)
            token = int(np.argmax(logits))
            if token in stops:
                break
            generated.append(token)
            if len(generated) == max_new_tokens:
                break
            position = context + len(generated) - 1
            feeds = {
                "inputs_embeds": self.token_embeds([token])[None],
                "position_ids": np.asarray([[position]], dtype=np.int64),
                "mask": np.zeros((1, 1, 1, position + 1), dtype=np.float32),
            }
            feeds |= dict(zip(self.past_inputs, past, strict=True))
            outputs = self.step.run(None, feeds)
        return self.tokenizer.decode(generated, skip_special_tokens=True).strip()

    def answer(self, waveform: np.ndarray, instruction: str, max_new_tokens: int) -> str:
        """The model's answer to ``instruction`` about a mono waveform at :attr:`sampling_rate`."""
        return self.generate(instruction, self.speech_embeds(self.features(waveform)), max_new_tokens)


def load_wave(path: str | Path, sampling_rate: int) -> np.ndarray:
    """A file as a mono float32 waveform at ``sampling_rate`` (down-mixed; resampled with scipy's
    polyphase filter where the file has another rate, so only clips at the model's own rate give the
    PyTorch path's exact features).

    Raises:
        RuntimeInputError: the file does not decode or holds samples that are not finite.
    """
    from components.data.audio import AudioError, decode_audio  # soundfile and numpy only, no torch

    try:
        data, rate = decode_audio(path)
    except AudioError as exc:
        raise RuntimeInputError(str(exc)) from None
    wave = data.mean(axis=1)
    if rate != sampling_rate:
        from math import gcd

        from scipy.signal import resample_poly

        common = gcd(rate, sampling_rate)
        wave = resample_poly(wave, sampling_rate // common, rate // common).astype(np.float32)
    return wave
