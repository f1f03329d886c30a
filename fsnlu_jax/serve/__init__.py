"""Using a trained model on new text: predictors loaded once, ``fsnlu predict``, ``fsnlu serve``.

>>> # from fsnlu_jax import serve
>>> # predictor = serve.load_predictor("runs/pre")       # once: restore, vocabularies
>>> # predictor.predict(["wake me up at 7 am", "turn off the lights"])

* :class:`MultitaskPredictor`: intent, top-k intent scores and slot spans from
  a multitask workdir (pretrain / finetune / scratch, a selection run's
  models, a few-shot run's ``encoder/``), jitted once per length bucket;
* :class:`RewritePredictor`: rewrite candidates (personal and global trie),
  their scores and the threshold that decided, from a rewriting workdir;
* :class:`ClassifierPredictor`: intent and top-k intent scores (no slots)
  from a ``fsnlu fewshot-classifier`` checkpoint;
* :func:`load_predictor`: the right one for a workdir;
* :func:`predict_lines`: ``fsnlu predict`` (text or JSON lines in, JSON lines out);
* :mod:`fsnlu_jax.serve.server`: ``fsnlu serve``, HTTP with request batching
  (the ``serve`` extra: Starlette and uvicorn; imported only there).
"""

from fsnlu_jax.serve.errors import InputError
from fsnlu_jax.serve.multitask import ROW_BUCKETS, MultitaskPredictor, compiled_shapes
from fsnlu_jax.serve.rewriting import RewritePredictor
from fsnlu_jax.serve.classifier import ClassifierPredictor
from fsnlu_jax.serve.loading import Predictor, load_predictor
from fsnlu_jax.serve.lines import predict_lines
