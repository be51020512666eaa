"""Synthetic shops: realistic, deliberately messy data with a known ground truth.

:func:`generate_shop` writes a CRM export, a catalogue, a clickstream, orders and a
ready ``segmint.yaml``, plus ``truth/`` files that say who is who and which rows were
spoiled on purpose, so ingestion, identity resolution and segmentation can be tested
against known answers.
"""

from __future__ import annotations

from segmint.generate._shop import GeneratedShop, generate_shop

__all__ = ["GeneratedShop", "generate_shop"]
