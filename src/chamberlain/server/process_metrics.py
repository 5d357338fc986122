"""``/metrics`` of several serving processes (``chamberlain.processes``): any one answers for all.

A scrape reaches whichever process accepted the connection, so each process also serves its own
metrics on a Unix socket in the supervisor's private folder (mode 0700: only this user can connect;
it sends its metrics and closes, reading nothing), and the one scraped adds up its siblings': counters,
histograms and most gauges are summed; a few gauges say something of the whole only as a maximum (any
process's policies stale, any process the sequencer) or a minimum (the log up only if up everywhere).
``chamberlain_serving_processes`` says how many answered; one that did not within
:data:`SIBLING_TIMEOUT` is left out (it is starting again, say) rather than failing the scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from chamberlain.server.metrics import Metrics
    from chamberlain.server.processes import Place

SIBLING_TIMEOUT = 1.0
MAX_SIBLING_BYTES = 4 << 20  # a sibling's metrics at most (they are tens of KiB)
_MAXIMUM = frozenset({"chamberlain_policy_stale", "chamberlain_audit_sequencer"})
_MINIMUM = frozenset({"chamberlain_audit_log_up"})


async def serve_own(place: Place, metrics: Metrics) -> asyncio.AbstractServer:
    """Serve this process's metrics on its Unix socket (for its siblings' scrapes)."""
    path = place.metrics_socket(place.index)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by this slot's previous process

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(metrics.render())
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_unix_server(answer, path)


async def _sibling(path: str) -> str | None:
    try:
        async with asyncio.timeout(SIBLING_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(path)
            chunks: list[bytes] = []
            size = 0
            try:
                while chunk := await reader.read(65536):
                    size += len(chunk)
                    if size > MAX_SIBLING_BYTES:
                        return None
                    chunks.append(chunk)
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    return b"".join(chunks).decode()


async def render_all(place: Place, metrics: Metrics) -> bytes:
    """This process's metrics added to its siblings' (those that answered), in the text format."""
    others = [place.metrics_socket(i) for i in range(place.count) if i != place.index]
    texts = [metrics.render().decode()]
    texts += [t for t in await asyncio.gather(*(_sibling(p) for p in others)) if t is not None]
    registry = CollectorRegistry()
    registry.register(_Merged(merge(texts), len(texts)))
    return generate_latest(registry)


def merge(texts: Iterable[str]) -> list[Metric]:
    """The metric families of several processes' exposition texts, added up (see the module docstring)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            combine = _combiner(family.name)
            samples = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                old = samples.get(key)
                pick = min if sample.name.endswith("_created") else combine
                samples[key] = sample.value if old is None else pick(old, sample.value)
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


def _combiner(name: str) -> Any:
    if name in _MAXIMUM:
        return max
    if name in _MINIMUM:
        return min
    return lambda a, b: a + b


class _Merged:
    def __init__(self, families: list[Metric], answered: int):
        self.families = families
        self.answered = answered

    def collect(self) -> Iterator[Metric]:
        yield from self.families
        count = Metric(
            "chamberlain_serving_processes", "Serving processes whose metrics this answer adds up.", "gauge"
        )
        count.add_sample("chamberlain_serving_processes", {}, self.answered)
        yield count
