"""Teaching via data (LINGUIST-style generation, CLASP): lands with its issue.

The layout it will take (``../shared/DESIGN.md``): the prompt format and its
parser, the output grammar as a :mod:`fsnlu_jax.decoding` constraint on the
beam search, the teacher (an encoder-decoder from :mod:`fsnlu_jax.models`),
the student, and the job, all trained through :func:`fsnlu_jax.train.train`.
"""
