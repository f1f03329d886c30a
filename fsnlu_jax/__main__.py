"""The ``fsnlu`` command (also ``python -m fsnlu_jax``): host malloc first, then the CLI.

:func:`fsnlu_jax.host_malloc.tune_host_malloc` must run before NumPy and JAX
start their threads, so this entry point imports nothing else until it has.
"""

from __future__ import annotations

import sys

from fsnlu_jax import host_malloc


def main(argv: list[str] | None = None) -> int:
  host_malloc.tune_host_malloc()
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top  (after the malloc settings)
  return cli.main(argv)


if __name__ == "__main__":
  sys.exit(main())
