"""Teaching via data: a LINGUIST teacher writes labelled utterances for a new intent.

The teacher:

* :mod:`~fsnlu_jax.teach.format`: the prompt and the bracketed output format,
  with named errors;
* :mod:`~fsnlu_jax.teach.grammar`: prompts as the decoder's grammar arrays
  (:func:`fsnlu_jax.decoding.annotation_constraint`), pieces back to examples;
* :mod:`~fsnlu_jax.teach.instructions`: the teacher's training pairs;
* :mod:`~fsnlu_jax.teach.job`: ``fsnlu teach`` (the warm-started encoder-decoder
  trained through :func:`fsnlu_jax.train.train`);
* :mod:`~fsnlu_jax.teach.teacher`: a trained teacher, constrained sampling;
* :mod:`~fsnlu_jax.teach.prompts`: generation prompts for a new intent
  (LINGUIST, example extrapolation, label names alone).

Its evaluation:

* :mod:`~fsnlu_jax.teach.protocol`: the 10-shot novel-intent protocol
  (:func:`novel_intent_split`), the datasets' splits and target intents;
* :mod:`~fsnlu_jax.teach.augment`: the baselines' data (upsampling,
  slot-catalogue resampling);
* :mod:`~fsnlu_jax.teach.generated`: where a generating system writes its
  utterances (:func:`generated_path`) and strict reading back;
* :mod:`~fsnlu_jax.teach.filters`: de-duplication and the round-trip filter;
* :mod:`~fsnlu_jax.teach.student`: the multitask bi-LSTM student, trained
  through :mod:`fsnlu_jax.transfer`, and its target-intent scores.

``benchmarks/teach_generate.py`` and ``benchmarks/teaching.py`` run the protocol.

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
"""

from fsnlu_jax.teach.augment import (resample_slots, slot_catalogue, slot_catalogue_resample,
                                     upsample)
from fsnlu_jax.teach.config import SamplingConfig, TeachConfig, TeachDataConfig, TeachTrainConfig
from fsnlu_jax.teach.filters import (RoundTripFilter, cached_embed, deduplicate, encoder_embed,
                                     normalise, well_formed)
from fsnlu_jax.teach.format import (Annotated, FormatError, Prompt, SlotRequest, parse_output,
                                    render_example, render_prompt)
from fsnlu_jax.teach.generated import (GeneratedDataError, generated_path, read_generated,
                                       write_generated)
from fsnlu_jax.teach.grammar import UnwritableValueError, writable, writable_requests
from fsnlu_jax.teach.instructions import InstructionConfig, build_instructions
from fsnlu_jax.teach.job import run_teach
from fsnlu_jax.teach.prompts import MODES, generation_prompts
from fsnlu_jax.teach.protocol import (DATASETS, SHOTS, NovelIntentSplit, ProtocolSplits,
                                      novel_intent_split, protocol_splits, target_intents,
                                      validation_without)
from fsnlu_jax.teach.student import Student, StudentConfig, score, train_student
from fsnlu_jax.teach.teacher import Generated, GenerationStats, Teacher, sampling_config
