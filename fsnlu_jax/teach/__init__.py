"""Teaching via data: new intents taught by generated utterances (LINGUIST), and its protocol.

What is here (the parts that need no teacher):

* :mod:`~fsnlu_jax.teach.protocol`: the 10-shot novel-intent protocol
  (:func:`novel_intent_split`), the datasets' splits and target intents;
* :mod:`~fsnlu_jax.teach.augment`: the baselines' data (upsampling,
  slot-catalogue resampling);
* :mod:`~fsnlu_jax.teach.generated`: where a generating system writes its
  utterances (:func:`generated_path`) and strict reading back;
* :mod:`~fsnlu_jax.teach.filters`: de-duplication and the round-trip filter;
* :mod:`~fsnlu_jax.teach.student`: the multitask bi-LSTM student, trained
  through :mod:`fsnlu_jax.transfer`, and its target-intent scores.

``benchmarks/teaching.py`` runs the protocol.

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
"""

from fsnlu_jax.teach.augment import (resample_slots, slot_catalogue, slot_catalogue_resample,
                                     upsample)
from fsnlu_jax.teach.filters import (RoundTripFilter, cached_embed, deduplicate, encoder_embed,
                                     normalise)
from fsnlu_jax.teach.generated import (GeneratedDataError, generated_path, read_generated,
                                       write_generated)
from fsnlu_jax.teach.protocol import (DATASETS, SHOTS, NovelIntentSplit, ProtocolSplits,
                                      novel_intent_split, protocol_splits, target_intents,
                                      validation_without)
from fsnlu_jax.teach.student import Student, StudentConfig, score, train_student
