"""Dataset builders, one module per dataset; :data:`BUILDERS` names them.

Importing this package registers every builder with TFDS, so
``tfds.builder("clinc150", source_dir=...)`` works as well as
:func:`fsnlu_jax.data.get_builder`.
"""

from fsnlu_jax.data.builders._base import (DATA_DIR_ENV, DataNotFoundError, NLUBuilder,
                                          check_reachable, resolve_source_dir)
from fsnlu_jax.data.builders.banking77 import Banking77
from fsnlu_jax.data.builders.clinc150 import Clinc150
from fsnlu_jax.data.builders.hwu64 import Hwu64
from fsnlu_jax.data.builders.slurp import Slurp
from fsnlu_jax.data.builders.snips import Snips
from fsnlu_jax.data.builders.span_extraction import SpanExtraction
from fsnlu_jax.data.builders.synthetic import Synthetic

# NAME (as typed at the CLI) -> builder class. A config is chosen with
# "NAME/CONFIG" (e.g. "hwu64/crossval"); without one, the builder's default.
BUILDERS: dict[str, type[NLUBuilder]] = {
    "clinc150": Clinc150,
    "banking77": Banking77,
    "hwu64": Hwu64,
    "slurp": Slurp,
    "snips": Snips,
    "span_extraction": SpanExtraction,
    "synthetic": Synthetic,
}
