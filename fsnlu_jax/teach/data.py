"""The teacher's data: instruction pairs from the configured corpora, as word-piece arrays.

Sources are the encoder's input (``[CLS] prompt [SEP]``); targets are the
annotated utterance's pieces, fed as ``[CLS] pieces`` and predicted as
``pieces [SEP]``. A batch is padded to the smallest source bucket that holds its
longest prompt, so the train step compiles once per bucket.

Shapes: ``N`` pairs, ``B`` batch, ``Ls`` source length (a bucket), ``Lt`` target length.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data import loading
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.seq2seq_arrays import pack_pairs, padded_batch
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.teach.config import TeachDataConfig
from fsnlu_jax.teach.instructions import Instruction, InstructionStats, build_instructions

_log = logging.getLogger(__name__)
SOURCE_BUCKETS = (64, 96, 128, 160, 256, 512)
TARGET_BUCKETS = (24, 40, 64, 128)
BATCH_KEYS = ("src_ids", "src_mask", "tgt_in", "tgt_out", "tgt_mask")


@dataclasses.dataclass(frozen=True, eq=False)
class TeacherData:
  """Instruction pairs by split and their arrays.

  Attributes:
    pairs: split -> the :class:`Instruction` of each array row.
    arrays: split -> ``src_ids [N, Ls_max]``, ``src_len [N]``, ``tgt_in``,
      ``tgt_out [N, Lt]`` int32, ``tgt_mask [N, Lt]`` bool.
    stats: what was counted on the way (examples per dataset, excluded intents,
      pairs not made and why, targets too long).
  """

  pairs: dict[str, list[Instruction]]
  arrays: dict[str, dict[str, np.ndarray]]
  stats: dict


def load_examples(config: TeachDataConfig, *, data_dir=None, cache_dir=None
                  ) -> tuple[list[Example], dict]:
  """Every split of every configured dataset, the excluded intents removed (counted)."""
  excluded = set(config.exclude_intents)
  out, counts = [], {}
  for name in config.datasets:
    splits = loading.load(name, data_dir=data_dir, cache_dir=cache_dir)
    examples = [e for split in sorted(splits) for e in splits[split]]
    kept = [e for e in examples if e.intent not in excluded]
    counts[name] = dict(examples=len(examples), excluded=len(examples) - len(kept))
    if config.max_per_dataset is not None and len(kept) > config.max_per_dataset:
      keep = np.sort(np.random.default_rng(13).permutation(len(kept))[:config.max_per_dataset])
      counts[name]["not_sampled"] = len(kept) - len(keep)
      kept = [kept[i] for i in keep]
    out += kept
  if not out:
    raise ValueError(f"no teacher data left in {config.datasets} after excluding "
                     f"{sorted(excluded)}")
  return out, counts


def encode_pairs(pairs: Sequence[Instruction], tokenizer: SubwordTokenizer, *, max_source_len: int,
                 max_target_len: int, bos_id: int, eos_id: int, pad_id: int
                 ) -> tuple[dict[str, np.ndarray], list[Instruction], int]:
  """Arrays of the pairs whose target fits; ``(arrays, kept pairs, dropped)``.

  A target longer than ``max_target_len`` pieces (EOS included) is dropped, not
  cut: a cut target would teach the teacher to stop mid-span.
  """
  sources = tokenizer.encode([p.source for p in pairs])
  kept, src, tgt = [], [], []
  for pair, (ids, _) in zip(pairs, sources):
    target = tokenizer.pieces(pair.target)
    if len(target) + 1 > max_target_len or len(ids) > max_source_len:
      continue
    kept.append(pair)
    src.append(ids)
    tgt.append(target)
  arrays = pack_pairs(src, tgt, max_source_len=max_source_len, max_target_len=max_target_len,
                      bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
  return arrays, kept, len(pairs) - len(kept)


def build_teacher_data(config: TeachDataConfig, tokenizer: SubwordTokenizer, *, seed: int,
                       bos_id: int, eos_id: int, pad_id: int, data_dir=None,
                       cache_dir=None) -> TeacherData:
  """Pairs from ``config.datasets`` (targets excluded), split train / validation (seeded)."""
  examples, counts = load_examples(config, data_dir=data_dir, cache_dir=cache_dir)
  fits = lambda source: len(tokenizer.pieces(source)) + 2 <= config.max_source_len
  pairs, made = build_instructions(examples, config.instructions(), seed=seed, fits=fits)
  order = np.random.default_rng([seed, 11]).permutation(len(pairs))
  n_val = min(config.validation_pairs, len(pairs) // 10)
  splits = dict(validation=[pairs[i] for i in order[:n_val]],
                train=[pairs[i] for i in order[n_val:]])
  if config.max_pairs is not None:
    splits["train"] = splits["train"][:config.max_pairs]
  arrays, kept, dropped = {}, {}, {}
  for split, items in splits.items():
    arrays[split], kept[split], dropped[split] = encode_pairs(
        items, tokenizer, max_source_len=config.max_source_len,
        max_target_len=config.max_target_len, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
    if not kept[split]:
      raise ValueError(f"the teacher's {split} split is empty")
  stats = dict(datasets=counts, instructions=_stats_dict(made),
               target_too_long=dropped, pairs={s: len(p) for s, p in kept.items()})
  _log.info("teacher data: %s", stats)
  return TeacherData(kept, arrays, stats)


def _stats_dict(stats: InstructionStats) -> dict:
  out = dataclasses.asdict(stats)
  out["intents"] = len(out.pop("per_intent"))
  return out


def batch(arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int
          ) -> dict[str, np.ndarray]:
  """Rows as a ``[B, ...]`` batch cut to the teacher's buckets
  (:func:`fsnlu_jax.data.seq2seq_arrays.padded_batch`)."""
  return padded_batch(arrays, rows, batch_size, source_buckets=SOURCE_BUCKETS,
                      target_buckets=TARGET_BUCKETS)
