"""The one error a bad request raises: a code a program can test and a message a person can read."""

from __future__ import annotations


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
