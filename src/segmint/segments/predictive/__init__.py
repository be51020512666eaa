"""Predictive segments: classifiers that place every customer (or session) by where they
are going — purchase intent, churn, buyer stage — evaluated honestly and kept in the
model registry.

:func:`train_model` builds a point-in-time training set, searches, evaluates against
baselines and explains; :func:`score_model` writes scores into the warehouse, where rules
read them with ``score("name")`` and predictive segments are made from them.
docs/predictive.md is the user guide.
"""

from __future__ import annotations

from segmint.segments.predictive._dataset import TrainingSet, build_training_set, snapshot_times
from segmint.segments.predictive._evaluate import choose_threshold, evaluate, headline
from segmint.segments.predictive._model import PredictiveModel
from segmint.segments.predictive._registry import registry_for
from segmint.segments.predictive._report import write_model_report
from segmint.segments.predictive._score import SCORES, ScoreRun, score_model
from segmint.segments.predictive._train import TrainResult, train_and_register, train_model

__all__ = [
    "SCORES",
    "PredictiveModel",
    "ScoreRun",
    "TrainResult",
    "TrainingSet",
    "build_training_set",
    "choose_threshold",
    "evaluate",
    "headline",
    "registry_for",
    "score_model",
    "snapshot_times",
    "train_and_register",
    "train_model",
    "write_model_report",
]
