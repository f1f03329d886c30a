"""Active learning for a new domain (Majority-CRF): lands with its issue.

The layout it will take (``../shared/DESIGN.md``): the committee of linear
classifiers as one vmapped model over hashed n-gram features, the majority
filter, re-ranking by committee score and CRF confidence, the simulation, and
its job, all trained through :func:`fsnlu_jax.train.train`; the CRF's
confidence from :mod:`fsnlu_jax.kernels`.
"""
