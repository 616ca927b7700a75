"""The probe cache: an unchanged corpus is decoded once; a touched or changed file is handled right."""

from __future__ import annotations

import os

from components.config import ValidateParams

PARAMS = ValidateParams()


def test_a_second_run_probes_nothing_and_reports_the_same(corpus) -> None:
    corpus.write(corpus.clean_rows())
    first = corpus.validate(PARAMS)
    results = (corpus.out / "results.json").read_bytes()
    assert (first.probe.files, first.probe.hashed, first.probe.decoded) == (8, 8, 8)
    second = corpus.validate(PARAMS)
    assert (second.probe.files, second.probe.hashed, second.probe.decoded) == (8, 0, 0)
    assert second.probe.cached == 8
    assert (corpus.out / "results.json").read_bytes() == results
    assert second.success


def test_a_warm_cache_never_calls_the_decoder(corpus, monkeypatch) -> None:
    from components.validation import probe

    corpus.write(corpus.clean_rows())
    corpus.validate(PARAMS)
    calls: list[str] = []
    real = probe.decode_facts
    monkeypatch.setattr(probe, "decode_facts", lambda path: calls.append(path) or real(path))
    corpus.validate(PARAMS)
    assert calls == []


def test_a_touched_file_is_hashed_but_not_decoded(corpus) -> None:
    """Same bytes, new mtime (e.g. after ``dvc checkout``): the content hash finds the cached facts."""
    corpus.write(corpus.clean_rows())
    corpus.validate(PARAMS)
    wav = corpus.root / "audio/ok1.wav"
    info = wav.stat()
    os.utime(wav, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    again = corpus.validate(PARAMS)
    assert (again.probe.hashed, again.probe.decoded) == (1, 0)


def test_a_changed_file_is_decoded_again_and_judged_anew(corpus) -> None:
    corpus.write(corpus.clean_rows())
    assert corpus.validate(PARAMS).success
    corpus.wav("ok1", 1.0, rate=4000)  # now below validate.min_sample_rate
    again = corpus.validate(PARAMS)
    assert (again.probe.hashed, again.probe.decoded) == (1, 1)
    assert "ok1" in again.ids_by_rule()["audio_sample_rate"]


def test_an_unreadable_cache_is_started_afresh(corpus) -> None:
    from components.validation.probe_cache import CACHE_FILE

    corpus.write(corpus.clean_rows())
    corpus.cache.mkdir(parents=True)
    (corpus.cache / CACHE_FILE).write_bytes(b"not a database" * 100)
    first = corpus.validate(PARAMS)
    assert first.success and first.probe.decoded == 8
    assert corpus.validate(PARAMS).probe.decoded == 0


def test_a_cache_of_another_probe_version_is_not_reused(corpus, monkeypatch) -> None:
    from components.validation import probe_cache

    corpus.write(corpus.clean_rows())
    corpus.validate(PARAMS)
    monkeypatch.setattr(probe_cache, "PROBE_VERSION", "next")
    assert corpus.validate(PARAMS).probe.decoded == 8


def test_without_a_cache_folder_nothing_is_written(corpus) -> None:
    corpus.write(corpus.clean_rows())
    assert corpus.validate(PARAMS, cache_dir=None).success
    assert corpus.validate(PARAMS, cache_dir=None).probe.decoded == 8
    assert not corpus.cache.exists()


def test_files_named_twice_are_probed_once(corpus) -> None:
    rows = corpus.clean_rows()
    rows.append(corpus.row("again", "train", 1.0, audio=rows[1]["audio"]))
    corpus.write(rows)
    outcome = corpus.validate(PARAMS)
    assert outcome.probe.files == 8
    assert outcome.ids_by_rule() == {"audio_unique": ["again"]}


def test_many_files_are_measured_in_worker_processes_in_order_and_few_in_this_one(tmp_path) -> None:
    import numpy as np
    import soundfile as sf

    from components.validation import probe

    paths = []
    for i in range(2 * probe.MIN_FILES_PER_WORKER + 3):
        path = tmp_path / f"{i}.wav"
        sf.write(path, np.full(800 + i, 0.01 * (i % 7 + 1), dtype=np.float32), 16000)
        paths.append(str(path))
    pools: list[int] = []

    def counted_pool(workers: int):
        pools.append(workers)
        return probe.process_pool(workers)

    in_workers = probe.measure_files(paths, {}, 2, counted_pool)
    assert pools == [2]
    assert in_workers == probe.measure_files(paths, {}, 1)  # same facts, same order
    assert [facts.duration_s for _, facts, _ in in_workers] == [(800 + i) / 16000 for i in range(len(paths))]
    probe.measure_files(paths[: probe.MIN_FILES_PER_WORKER], {}, 2, counted_pool)
    assert pools == [2]  # too few files to share: measured here
