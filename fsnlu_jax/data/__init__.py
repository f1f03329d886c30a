"""Host-side data: builders, the example schema, vocabularies, arrays, episodes, trees.

Nothing here imports JAX: data is prepared with NumPy and handed to jitted code
as static-shape arrays.
"""

from fsnlu_jax.data.defects import DefectLog, MalformedRowError
from fsnlu_jax.data.loading import get_builder, load, prepare, read_split
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.parses import ParseExample
from fsnlu_jax.data.trees import Tree, TreeSyntaxError, parse_tree
from fsnlu_jax.data.tokenize import tokenize, tokenize_with_offsets
from fsnlu_jax.data.arrays import (DEFAULT_BUCKETS, EncodedSplit, EncodeStats, bucket_for,
                                   encode_buckets, encode_split, pad_batch, unbucket)
from fsnlu_jax.data.vocab import IGNORE_INDEX, PAD_ID, UNK_ID, LabelVocab, Vocab
