"""A real HTTP server on localhost for tests: uvicorn in a thread, on a free port."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from typing import Any, Iterator

import uvicorn

from fsnlu_jax.serve import server


@contextlib.contextmanager
def serving(predictor, limits: server.Limits = server.Limits()) -> Iterator[tuple[str, int]]:
  """``(host, port)`` of ``predictor`` served until the block ends."""
  sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  sock.bind(("127.0.0.1", 0))
  config = uvicorn.Config(server.make_app(predictor, limits), log_level="warning",
                          access_log=False, lifespan="on")
  instance = uvicorn.Server(config)
  thread = threading.Thread(target=instance.run, kwargs=dict(sockets=[sock]), daemon=True)
  thread.start()
  deadline = time.monotonic() + 60
  while not instance.started:
    assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
    time.sleep(0.02)
  try:
    yield sock.getsockname()
  finally:
    instance.should_exit = True
    thread.join(30)
    sock.close()


def request(address: tuple[str, int], method: str, path: str, body: Any = None, *,
            raw: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, Any]:
  """``(status, parsed JSON body)`` of one request on a new connection."""
  conn = http.client.HTTPConnection(*address, timeout=60)
  try:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                   **(headers or {})})
    response = conn.getresponse()
    return response.status, json.loads(response.read())
  finally:
    conn.close()
