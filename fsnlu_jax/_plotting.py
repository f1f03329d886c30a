"""Optional plots: matplotlib (the ``plot`` extra) with a headless backend, or nothing."""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)


def pyplot(what: str):
  """``matplotlib.pyplot`` on the Agg backend, or None (logged) when not installed.

  Args:
    what: the plot a caller would have drawn, for the log line.
  """
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")  # jobs run headless
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    _log.info("matplotlib not installed (extra 'plot'): no %s written", what)
    return None
  return plt
