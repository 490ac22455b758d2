"""A Firemoon-compatible HTTP server: demo mode's backend and the ground every test runs on.

It speaks the documented contract of `POST /api/v1/kling/kling-2-1-master` (see
`shared/reference/firemoon-kling-api.md`): Bearer authentication, validation naming every
invalid field, the documented error bodies, `X-RateLimit-*` headers with a per-key window,
a credit balance at `GET /api/credits/balance`, realistic latency, and real H.264 videos
(`kling.render`) served under `/videos/` with HTTP Range support so browsers can seek.
Faults can be injected at start (`SimulatorConfig`) so the studio's error handling can be
shown and tested.

The parts: `config` (how it behaves), `account` (rate windows and credits), `validation`
(what a request asks for), `videos` (the rendered files), `app` (the contract as a
Starlette application) and `server` (`Simulator`: uvicorn serving the application, and
the process's shared simulators).
"""

from .config import SimulatorConfig
from .server import Simulator, main_simulator, shared_simulator
from .videos import video_name

__all__ = ["Simulator", "SimulatorConfig", "main_simulator", "shared_simulator", "video_name"]
