"""The render worker: the warm-up (`call`) and the render loop (`submit`) run on one thread, in order."""

from __future__ import annotations

import threading

import pytest

from vj.engine.render_worker import RenderWorker


def test_calls_and_jobs_share_one_thread_and_errors_reach_the_caller() -> None:
    worker = RenderWorker("render-test")
    warmed = worker.call(threading.get_ident)
    seen: list[int] = []
    assert worker.submit(lambda: seen.append(threading.get_ident())).wait(timeout=30)
    assert seen == [warmed] and warmed != threading.get_ident()
    with pytest.raises(ValueError, match="bad shape"):
        worker.call(lambda: (_ for _ in ()).throw(ValueError("bad shape")))
    assert worker.call(threading.get_ident) == warmed  # the thread outlived the error
    worker.close()


def test_a_job_after_close_runs_on_a_new_thread() -> None:
    worker = RenderWorker("render-test")
    first = worker.call(threading.current_thread)
    worker.close()
    ran = threading.Event()
    assert worker.submit(ran.set).wait(timeout=30) and ran.is_set()
    assert worker.call(threading.current_thread) is not first  # (idents may be reused; threads are not)
    worker.close()
