"""``fsnlu serve``: a trained model behind HTTP (Starlette on uvicorn), with request batching.

Routes:

* ``GET /health``: ``{"status": "ok", "model": {...}, "batches": {...}, "limits": {...}}``;
* ``POST /predict``: ``{"text": "..."}`` -> ``{"prediction": {...}}``, or
  ``{"texts": ["...", ...]}`` -> ``{"predictions": [...]}`` (a rewriting
  model also takes ``"previous"`` and ``"user"``, per request or per item:
  ``{"texts": [{"text": ..., "user": 3}]}``). An answer is the predictor's
  (:class:`~fsnlu_jax.serve.MultitaskPredictor`,
  :class:`~fsnlu_jax.serve.RewritePredictor`).

Every refusal is JSON, ``{"error": {"code", "message", "status"}}``: 400 a
body that is not UTF-8 JSON; 413 a body, a text or a batch over
:class:`Limits`; 422 a wrong type, a missing or unknown field, a text without
words, an unknown user; 404 / 405 another route or method; 503 overloaded;
500 (logged) a failure of ours. No request can stop the server: the handler
catches everything, and the model runs on its own thread.

Requests are batched by :class:`~fsnlu_jax.serve.batching.Batcher`.

Needs the ``serve`` extra (``pip install 'fsnlu_jax[serve]'``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fsnlu_jax.serve.batching import Batcher
from fsnlu_jax.serve.errors import InputError

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Limits:
  """What one request may hold (over a limit: 413).

  Attributes:
    max_chars: characters of one text (and of a rewrite's previous turn).
    max_batch: texts in one ``{"texts": [...]}`` request.
    max_body_bytes: bytes of one request body.
    max_wait_ms: how long a request waits for others to batch with.
    max_pending_rows: texts waiting for the model before new requests get 503.
  """

  max_chars: int = 1000
  max_batch: int = 64
  max_body_bytes: int = 1 << 20
  max_wait_ms: float = 5.0
  max_pending_rows: int = 8192


def _error(error: InputError) -> JSONResponse:
  return JSONResponse({"error": error.as_dict()}, status_code=error.status)


def _no_constant(name: str):
  raise InputError("malformed_json", f"{name} is not JSON", status=400)


def _json(body: bytes) -> Any:
  try:
    return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
  except UnicodeDecodeError as e:
    raise InputError("not_utf8", f"the body is not UTF-8: byte {e.start}", status=400) from None
  except json.JSONDecodeError as e:
    raise InputError("malformed_json", f"the body is not JSON: {e.msg} at line {e.lineno} "
                     f"column {e.colno}", status=400) from None
  except RecursionError:
    raise InputError("malformed_json", "the body is nested too deeply", status=400) from None


async def _body(request: Request, limit: int) -> bytes:
  """The body, refused (413) once it passes ``limit`` bytes.

  An oversized body is still read (and dropped) up to ``_DRAIN_FACTOR`` times
  the limit, so the client, still sending, gets the answer on a connection
  that stays usable; past that the connection is closed after the answer.
  """
  declared = request.headers.get("content-length", "")
  parts, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > _DRAIN_FACTOR * limit:
      break
    if size <= limit and not (declared.isdigit() and int(declared) > limit):
      parts.append(chunk)
  if size > limit:
    shown = declared if declared.isdigit() else f"more than {limit}"
    raise InputError("body_too_large", f"the body has {shown} bytes; the limit is {limit}",
                     status=413)
  return b"".join(parts)


_DRAIN_FACTOR = 16


def _items(payload: Any, limits: Limits) -> tuple[bool, list[tuple[str, Any]]]:
  """``(single, [(where, item)])`` from a request body (module docs for its shape)."""
  if not isinstance(payload, dict):
    raise InputError("wrong_type", "the body must be a JSON object: {\"text\": \"...\"} or "
                     f"{{\"texts\": [...]}}, got a JSON {type(payload).__name__}")
  if "texts" in payload:
    if len(payload) > 1:
      raise InputError("unknown_field", "a batch is {\"texts\": [...]} alone; per-item fields "
                       f"go inside its items, got also {sorted(set(payload) - {'texts'})}")
    texts = payload["texts"]
    if not isinstance(texts, list):
      raise InputError("wrong_type", f"texts must be a list, got {type(texts).__name__}")
    if not texts:
      raise InputError("empty_batch", "texts is empty")
    if len(texts) > limits.max_batch:
      raise InputError("batch_too_large", f"texts has {len(texts)} items; the limit is "
                       f"{limits.max_batch}", status=413)
    items = [(f"texts[{i}]", t) for i, t in enumerate(texts)]
    single = False
  elif "text" in payload:
    items, single = [("text", payload)], True
  else:
    raise InputError("missing_field", "the body must have \"text\" (one request) or "
                     f"\"texts\" (a batch); it has {sorted(payload)[:10]}")
  for where, item in items:
    fields = item if isinstance(item, dict) else {"text": item}
    for name in ("text", "previous"):
      value = fields.get(name)
      if isinstance(value, str) and len(value) > limits.max_chars:
        raise InputError("text_too_long", f"{where}: {name} has {len(value)} characters; the "
                         f"limit is {limits.max_chars}", status=413)
  return single, items


def make_app(predictor, limits: Limits = Limits()) -> Starlette:
  """The ASGI app serving ``predictor`` (module docs); run it with uvicorn."""
  batcher = Batcher(predictor.predict, max_wait_s=limits.max_wait_ms / 1e3,
                    max_rows=limits.max_batch, max_pending_rows=limits.max_pending_rows)

  async def health(_: Request) -> JSONResponse:
    return JSONResponse(dict(status="ok", model=predictor.info(), batches=batcher.stats,
                             pending_rows=batcher.pending_rows,
                             limits=dataclasses.asdict(limits)))

  async def predict(request: Request) -> JSONResponse:
    try:
      single, items = _items(_json(await _body(request, limits.max_body_bytes)), limits)
      parsed = [predictor.parse(item, where) for where, item in items]
      answers = await batcher.submit(parsed)
      return JSONResponse({"prediction": answers[0]} if single else {"predictions": answers})
    except InputError as error:
      return _error(error)
    except Exception:  # pylint: disable=broad-except
      _log.exception("POST /predict failed")
      return _error(InputError("internal_error", "the server failed on this request (logged)",
                               status=500))

  async def http_error(_: Request, error: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return _error(InputError(code, f"{error.detail}: routes are GET /health and POST /predict",
                             status=error.status_code))

  @contextlib.asynccontextmanager
  async def lifespan(_):
    await batcher.start()
    try:
      yield
    finally:
      await batcher.stop()

  return Starlette(routes=[Route("/health", health, methods=["GET"]),
                           Route("/predict", predict, methods=["POST"])],
                   exception_handlers={HTTPException: http_error}, lifespan=lifespan)


def run(predictor, *, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(),
        log_level: str = "warning", sockets=None) -> None:
  """Serves ``predictor`` until interrupted (uvicorn; ``sockets``: already-bound ones)."""
  import uvicorn  # pylint: disable=g-import-not-at-top

  config = uvicorn.Config(make_app(predictor, limits), host=host, port=port,
                          log_level=log_level, access_log=False, lifespan="on")
  server = uvicorn.Server(config)
  server.run(sockets=sockets)
