"""Active learning for a new domain: Majority-CRF and its baselines.

A committee of linear binary classifiers (target domain vs the rest), one per
loss, over hashed word 1-3-grams, trained as one vmapped model
(:mod:`~fsnlu_jax.active.committee`); strategies that rank the pool behind one
interface (:mod:`~fsnlu_jax.active.strategies`); the batch step with
de-duplication and diversity (:mod:`~fsnlu_jax.active.batch`); the target
domain's light intent-and-CRF model (:mod:`~fsnlu_jax.active.tagger`); the
simulation protocol (:mod:`~fsnlu_jax.active.simulation`); and the annotation
loop a team runs (:mod:`~fsnlu_jax.active.annotation`). The kernels
(gather-and-sum scoring, losses, filters, acquisition scores, CRF
confidences) are in :mod:`fsnlu_jax.kernels`.

References:
  Peshterliev, Kearney, Jagannatha, Kiss, Matsoukas, "Active Learning for New
  Domains in Natural Language Understanding", NAACL 2019 (industry track).
"""

from fsnlu_jax.active.annotation import AnnotationError
from fsnlu_jax.active.batch import BatchConfig, BatchReport, normalise, select_batch
from fsnlu_jax.active.committee import (Committee, CommitteeConfig, committee_scores,
                                        train_committee)
from fsnlu_jax.active.features import HashedRows, compact, expand, hash_ngrams, hash_tokens
from fsnlu_jax.active.simulation import (SimulationConfig, as_negative, evaluate, label_space,
                                         pool_view, simulate)
from fsnlu_jax.active.strategies import STRATEGIES, PoolView, get_strategy
from fsnlu_jax.active.tagger import (OTHER, Predictions, Tagger, TaggerConfig, decode, predict,
                                     train_tagger)
from fsnlu_jax.active.loop import LoopState, import_batch, select
