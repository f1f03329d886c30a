"""Experiment configs, one file each: ``get_config(arg) -> dict``; installed as ``fsnlu_jax.configs``.

Run one by name (``fsnlu fewshot --config fewshot:tiny``) or by file
(``--config configs/fewshot.py:tiny``); see README.md here.
"""
