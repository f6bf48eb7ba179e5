"""Faithful re-implementations of the peers' algorithms, used as benchmark baselines.

Our own code, written from the published algorithms and their defaults (OFA's
tutorial ``LatencyTable``, ``EvolutionFinder`` and ``AccuracyPredictor`` in
mit-han-lab/once-for-all), so that a ratio named after a peer measures
against what that peer actually does.
"""
