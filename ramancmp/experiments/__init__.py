"""The book's protocol (the analogue of torchvision's ``references/``): how the methods are trained, evaluated,
compared and judged. The methods themselves (:mod:`ramancmp.models`, :mod:`ramancmp.training`,
:mod:`ramancmp.compression`, :mod:`ramancmp.metrics`) never import anything from here.

- :mod:`~ramancmp.experiments.executor` -- one interface for the parallel work: serial, local processes, Dask
- :mod:`~ramancmp.experiments.store` -- the trained-model store (train once, reuse everywhere)
- :mod:`~ramancmp.experiments.evaluation` -- one harness: model x task x split kind x repeats
- :mod:`~ramancmp.experiments.compression_study` -- distillation, channel conversion, features + LDA beside baselines
- :mod:`~ramancmp.experiments.deployment` -- int8, pruning, ONNX Runtime variants of one trained network
- :mod:`~ramancmp.experiments.bench` -- every model and variant side by side, in one run
- :mod:`~ramancmp.experiments.tables` -- THE row schema and its renderers
- :mod:`~ramancmp.experiments.claims` -- the paper's claims and the one place they are judged
- :mod:`~ramancmp.experiments.results` -- results files with provenance
- :mod:`~ramancmp.experiments.report` -- the README's generated results section
"""
