"""Batch prediction and evaluation over datasets: one engine, two front doors.

* :mod:`.engine` runs rows through a callable with N workers and mini-batches, retries failed
  calls, writes results **in input order** into a resumable output (:mod:`.journal`), reports
  progress and a summary (:mod:`.progress`).
* :mod:`.processor` is ``seldon-batch-processor`` (flag- and env-compatible with Seldon Core 1.x):
  rows go to a deployment over REST or gRPC (:mod:`.clients`), or to a model class in process.
* :mod:`.evaluation` is ``seldon-evaluate``: Starwhale-style ``predict`` → results table →
  ``evaluate`` over JSON Lines / CSV datasets, with a built-in classification report (:mod:`.report`).
"""
