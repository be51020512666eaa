"""Segments: the rule language, RFM tiers, clusters, and membership with its history."""
