"""Training and evaluation: the corpus record format, fitting every channel's tables and the
calibration stages, cross-fitted figures, probe ordering, and the artifact export.

Needs the ``train`` extra (scipy; scikit-learn for the lexical channel). Inference
(``provenance.classifier``) never imports this package.
"""
