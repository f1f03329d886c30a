"""The embedded synthetic corpus: few-shot NLU data with no download.

About 24 domains and 119 intents of assistant requests, generated from
paraphrase templates and hand-written slot catalogues, deterministic in a seed
(:func:`generate_corpus`). Read it through the ``synthetic`` builder
(``fsnlu_jax.data.load("synthetic")``) to get the same validation and caching
as the real datasets.
"""

from fsnlu_jax.data.synthetic.catalogues import CATALOGUES, SLOT_VALUES, catalogue_of
from fsnlu_jax.data.synthetic.domains import DOMAINS
from fsnlu_jax.data.synthetic.generate import (DEFAULT_PER_INTENT, DROP_RATE, SPLITS,
                                               TYPO_RATE, TemplateSpaceError,
                                               check_templates, corpus_fingerprint,
                                               generate_corpus, intent_domains,
                                               intent_slot_types, template_space,
                                               vocabulary)
from fsnlu_jax.data.synthetic.spec import Domain, Intent
