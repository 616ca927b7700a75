"""Tiny wav2vec2-family checkpoints built from configs and saved the HF way, for tests that load by path."""

from __future__ import annotations

from pathlib import Path

SAMPLE_RATE = 16000


def save_tiny_wav2vec2(model_type: str, out_dir: Path, feat_extract_norm: str = "layer") -> str:
    """A tiny randomly initialised model of ``model_type`` plus its feature extractor, saved the HF way."""
    import torch
    from transformers import AutoConfig, AutoModel, Wav2Vec2FeatureExtractor

    layer_norm = feat_extract_norm == "layer"
    config = AutoConfig.for_model(
        model_type,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm=feat_extract_norm,
        do_stable_layer_norm=layer_norm,
        num_buckets=16,  # WavLM's relative position buckets
    )
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(
        sampling_rate=SAMPLE_RATE, do_normalize=True, return_attention_mask=layer_norm
    ).save_pretrained(out_dir)
    return str(out_dir)
