"""Batch upscaling on Ray Data: a callable class for ``Dataset.map_batches`` that loads the
model once per actor, the pipeline around it, and the runner ``superres upscale --ray`` uses.

Ray is imported here only inside the functions that use it (``pip install 'superres[ray]'``),
so ``import superres`` and the local command never import it. What a batch holds and what
comes back is :mod:`superres.cluster.ray_rows`; every row gets an ``error`` column, so one
bad image never fails its batch or the job. docs/ray.md has the how-to and the measured
scaling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from superres.cluster.ray_rows import ModelSpec, RowWork, upscale_batch
from superres.engine.options import UpscaleOptions
from superres.errors import SuperresError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ray.data

    from superres.batch import PlannedJob
    from superres.cluster.ray_urls import RemoteJob

__all__ = ["Upscaler", "connect", "upscale_dataset", "upscale_files"]


class Upscaler:
    """Upscales a batch of rows (``bytes``, ``image``, or ``source`` and ``target``
    columns: :mod:`superres.cluster.ray_rows`) for ``map_batches``; one instance per Ray
    actor, so the model loads once per actor.

    ``model``, ``scale``, ``device``, ``precision``, ``strength``: what
    :func:`superres.load_model` takes (``"auto"``: per image, as ``superres upscale``);
    ``ext``: the format of encoded results; ``threads``: torch's CPU threads in this actor
    (give the actor's ``num_cpus``; None leaves torch's default, which counts every core of
    the node); ``options`` and the :class:`superres.api.Conveniences` (``tile=256``,
    ``outscale=2``, ``quality=90``, ...): as for :func:`superres.upscale`.
    """

    def __init__(
        self,
        *,
        model: str = "default",
        scale: int | None = None,
        device: str = "cpu",
        precision: str = "auto",
        strength: float | None = None,
        ext: str | None = None,
        threads: int | None = None,
        options: UpscaleOptions | None = None,
        **conveniences: Any,
    ) -> None:
        from superres.api import _with_conveniences

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.work = RowWork(_with_conveniences(options, conveniences), ext)
        spec = ModelSpec(str(model), scale, device, precision, strength)
        self.choose = spec.chooser(self.work.options.max_pixels)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        return upscale_batch(self.choose, self.work, batch)


def upscale_dataset(
    dataset: ray.data.Dataset,
    *,
    model: str = "default",
    scale: int | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    batch_size: int = 4,
    concurrency: int | tuple[int, int] | None = None,
    **upscaler: Any,
) -> ray.data.Dataset:
    """``dataset`` mapped through :class:`Upscaler` actors, lazily (Ray runs it when the
    result is consumed or written). Each actor holds ``num_cpus`` CPUs (torch gets as many
    threads) and ``num_gpus`` GPUs (then ``device`` defaults to ``cuda``); ``batch_size``
    rows go to an actor at a time; ``concurrency`` actors run (a (min, max) pair lets Ray
    scale between them; None: as many as the cluster's CPUs, or GPUs, hold). The other
    keywords go to :class:`Upscaler`."""
    import ray.data

    upscaler.setdefault("device", "cuda" if num_gpus else "cpu")
    upscaler.setdefault("threads", max(1, int(num_cpus)))
    if concurrency is None:
        concurrency = _actors_that_fit(num_cpus, num_gpus)
    low, high = (concurrency, concurrency) if isinstance(concurrency, int) else concurrency
    return dataset.map_batches(
        Upscaler,
        fn_constructor_kwargs={"model": model, "scale": scale, **upscaler},
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high),
    )


def _actors_that_fit(num_cpus: float, num_gpus: float) -> int:
    """How many actors of ``num_cpus`` CPUs and ``num_gpus`` GPUs the cluster holds now."""
    import ray

    total = ray.cluster_resources()
    fits = [total.get("CPU", 0) // num_cpus] if num_cpus else []
    fits += [total.get("GPU", 0) // num_gpus] if num_gpus else []
    return max(1, int(min(fits, default=1)))


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one ``ray start`` made on this
    node; ``local``: start one here for this run; ``ray://HOST:10001``: Ray Client;
    ``HOST:6379``); nothing if this process is already connected. SuperresError if Ray is
    not installed or the cluster cannot be reached."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise SuperresError("--ray needs Ray: pip install 'superres[ray]'") from None
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    except Exception as exc:  # Ray's ConnectionError, ValueError for a bad address, ...
        raise SuperresError(
            f"cannot join the Ray cluster: {str(exc).splitlines()[0][:200]}", address
        ) from None


def upscale_files(
    jobs: Sequence[PlannedJob | RemoteJob],
    *,
    spec: ModelSpec,
    options: UpscaleOptions,
    **resources: Any,
) -> Iterator[tuple[str, str]]:
    """Run planned jobs of :mod:`superres.batch` on the connected Ray cluster, each as
    ``superres upscale`` runs it, its output written atomically by the worker to the file
    system the driver planned on (shared by every node), or uploaded to its URL
    (:class:`superres.cluster.ray_urls.RemoteJob`); yields ``(source, error)`` as jobs
    finish, in no set order (error "" when it worked). ``resources``: ``num_cpus``,
    ``num_gpus``, ``batch_size``, ``concurrency`` of :func:`upscale_dataset`."""
    import ray.data

    rows = [
        {
            "source": str(job.source),
            "target": str(job.target),
            "overwrites_input": job.overwrites_input,
            "replaces_other": job.replaces_other,
        }
        for job in jobs
    ]
    if not rows:
        return
    if resources.get("concurrency") is None:  # no more actors than there are batches
        batches = -(-len(rows) // resources.get("batch_size", 4))
        fits = _actors_that_fit(resources.get("num_cpus", 1), resources.get("num_gpus", 0))
        resources["concurrency"] = max(1, min(fits, batches))
    model = {"model": spec.model, "scale": spec.scale, "precision": spec.precision, "strength": spec.strength}
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    upscaled = upscale_dataset(dataset, **model, device=spec.device, options=options, **resources)
    for row in upscaled.select_columns(["source", "error"]).iter_rows():
        yield str(row["source"]), str(row["error"])
