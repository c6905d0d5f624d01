"""Training and evaluation: the corpus record format, fitting every channel's tables and the
calibration stages, cross-fitted figures, probe ordering, and the artifact export.

Fitting needs the ``train`` extra (scipy; scikit-learn for the lexical channel);
``records.py`` (the record format ``collect`` writes) needs nothing beyond the runtime.
Inference (``provenance.classifier``) never imports this package.
"""
