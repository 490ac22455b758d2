"""Kling Studio core: plain Python, no Streamlit.

The Python API the CLI, the pages and the benchmarks use:

    from kling import KlingClient
    client = KlingClient()            # key and base URL from the settings
    result = client.generate(prompt="...", duration="5", aspect_ratio="16:9", seed=42)
    result.videos[0].url, result.seed, result.inference_s
"""

from .errors import (
    AccessDeniedError,
    AuthenticationError,
    ConnectionFailedError,
    GenerationFailedError,
    InsufficientCreditsError,
    InvalidRequestError,
    KlingError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
)
from .models import GenerationRequest, GenerationResult, RateLimit, Video
from .settings import Settings

__all__ = [
    "AccessDeniedError", "AuthenticationError", "ConnectionFailedError",
    "GenerationFailedError", "GenerationRequest", "GenerationResult",
    "InsufficientCreditsError", "InvalidRequestError", "KlingClient", "KlingError",
    "MalformedResponseError", "NotFoundError", "OutcomeUnknownError", "RateLimit",
    "RateLimitError", "ServerError", "Settings", "Video",
]


def __getattr__(name: str):
    # The client imports requests; load it on first use so `import kling` stays light.
    if name == "KlingClient":
        from .client import KlingClient

        return KlingClient
    raise AttributeError(name)
