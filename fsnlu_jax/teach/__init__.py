"""Teaching via data: a LINGUIST teacher writes labelled utterances for a new intent.

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

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
"""

from fsnlu_jax.teach.config import (SamplingConfig, TeachConfig, TeachDataConfig,
                                    TeacherModelConfig, TeachOptimConfig, TeachTrainConfig)
from fsnlu_jax.teach.format import (Annotated, FormatError, Prompt, SlotRequest, parse_output,
                                    render_example, render_prompt)
from fsnlu_jax.teach.instructions import InstructionConfig, build_instructions
from fsnlu_jax.teach.job import run_teach
from fsnlu_jax.teach.prompts import MODES, generation_prompts
from fsnlu_jax.teach.teacher import Generated, GenerationStats, Teacher, sampling_config
