"""Data validation for the ``validate`` stage: audio probe, great-expectations suite, report."""
