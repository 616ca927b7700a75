"""Pretrained checkpoints in the formats people have on disk: fetched, converted once, cached."""
