"""Data validation for the ``validate`` stage, one job per module.

``manifests`` reads the rows (a bad byte flags its row), ``probe`` measures the audio in a pool with
``audio_facts`` and the ``probe_cache``, ``derived`` adds cross-row columns (leakage, duplicates),
``suite`` holds the great-expectations rules, ``quarantine`` drops rows that fail only warnings,
``report`` runs it all and writes the report, ``render`` turns the summary into a table or markdown.
"""
