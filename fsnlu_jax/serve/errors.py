"""The one error a bad request raises: a code a program can test and a message a person can read."""

from __future__ import annotations

from typing import Any, Mapping


class InputError(ValueError):
  """A request the predictor cannot answer: wrong type, empty, too long, unknown user.

  Attributes:
    code: a short machine-readable name (``"wrong_type"``, ``"text_too_long"``, ...).
    status: the HTTP status ``fsnlu serve`` answers with (422 unless said).
  """

  def __init__(self, code: str, message: str, status: int = 422):
    super().__init__(message)
    self.code, self.status = code, status

  def as_dict(self) -> dict[str, object]:
    """``{"code", "message", "status"}``: the body of an error answer."""
    return dict(code=self.code, message=str(self), status=self.status)


def request_text(item: Any, where: str, model: str) -> str:
  """The text of a request that is a string or ``{"text": ...}`` (the multitask and
  classifier predictors' one field); raises :class:`InputError` naming ``where``."""
  if isinstance(item, Mapping):
    unknown = sorted(set(item) - {"text"})
    if unknown:
      raise InputError("unknown_field", f"{where}: unknown field(s) {unknown}; "
                       f"a {model} takes only 'text'")
    item = item.get("text")
  if not isinstance(item, str):
    raise InputError("wrong_type", f"{where}: text must be a string, got "
                     f"{type(item).__name__}")
  return item
