"""The settings of a ``superres serve`` process, and the rule that a server reachable from
other machines needs a token. No web framework is imported here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from superres.errors import SuperresError

TOKEN_VARIABLE = "SUPERRES_TOKEN"


@dataclass(frozen=True)
class ServeOptions:
    """What a server offers and how much it accepts.

    ``models``: the model names or weight-file paths offered (empty: ``auto`` and every
    shipped model); ``workers``: threads running jobs, so at most this many upscales at once;
    ``max_queued``: jobs waiting beyond those (more are refused with 429); ``max_kept``: jobs
    held at once, finished ones included (their results use disk); ``job_ttl_s``: a finished
    job's result is deleted this long after it finished; ``max_upload_bytes``: a larger
    request body is refused with 413; ``max_input_pixels`` / ``max_output_pixels``: larger
    images or results are refused with 413; ``token``: when set, every API call but health
    needs ``Authorization: Bearer TOKEN``; ``device``: where the models run."""

    models: tuple[str, ...] = ()
    workers: int = 1
    max_queued: int = 8
    max_kept: int = 64
    job_ttl_s: float = 600.0
    max_upload_bytes: int = 32 * 1024 * 1024
    max_input_pixels: int = 16_000_000
    max_output_pixels: int = 64_000_000
    token: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("workers", "max_queued", "max_kept", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise SuperresError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.job_ttl_s <= 0 or self.max_input_pixels < 1 or self.max_output_pixels < 1:
            raise SuperresError("job_ttl_s, max_input_pixels and max_output_pixels must be positive")
        if self.token is not None and not self.token.strip():
            raise SuperresError("the token is empty")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches only this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_binding(host: str, token: str | None) -> None:
    """SuperresError when ``host`` is reachable from other machines and no token is set."""
    if not is_loopback(host) and not token:
        raise SuperresError(
            f"refusing to serve on {host}, which other machines can reach, without a token:"
            f" give --token TOKEN or set {TOKEN_VARIABLE} (or serve on 127.0.0.1)"
        )
