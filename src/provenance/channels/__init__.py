"""Feature extractors: pure functions of a transcript, one module per signal."""
