"""Active learning: acquisition strategies and the selection loop."""
