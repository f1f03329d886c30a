"""Integrated-gradients attributions for intent and slot outputs, and their rendering."""
