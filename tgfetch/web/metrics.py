"""`/metrics` in the Prometheus text format: the dashboard's status as counters and gauges.

The registry is the dashboard's own (never prometheus_client's global one) and holds one collector,
which reads the status the scrape handler just took from the source: every scrape is the job now.
Every name here is documented in the README (a test holds the two lists together).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tgfetch.web.records import AccountView, ClusterView, Status

__all__ = ["ACCOUNT_METRICS", "CLUSTER_METRICS", "CLUSTER_METRIC_NAMES", "CONTENT_TYPE", "JOB_METRICS",
           "MACHINE_METRICS", "METRIC_NAMES", "StatusCollector", "metrics_registry"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# (exposed name, kind, help, AccountView field): one sample per account, label `account`.
ACCOUNT_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("tgfetch_account_files_total", "counter", "Files the account downloaded (every round of this process).",
     "files"),
    ("tgfetch_account_bytes_total", "counter", "Bytes the account downloaded.", "bytes"),
    ("tgfetch_account_speed_bytes_per_second", "gauge", "The account's measured speed while transferring.",
     "speed_bps"),
    ("tgfetch_account_planned_speed_bytes_per_second", "gauge", "The speed the scheduler plans the account with.",
     "est_speed_bps"),
    ("tgfetch_account_queue_files", "gauge", "Files queued for the account (not started).", "queue_files"),
    ("tgfetch_account_queue_bytes", "gauge", "Bytes queued for the account (not started).", "queue_bytes"),
    ("tgfetch_account_inflight_groups", "gauge", "Groups (albums or singles) the account is downloading.",
     "inflight_groups"),
    ("tgfetch_account_inflight_files", "gauge", "Files left in the groups the account is downloading.",
     "inflight_files"),
    ("tgfetch_account_inflight_bytes", "gauge", "Bytes left of the groups the account is downloading.",
     "inflight_bytes"),
    ("tgfetch_account_estimated_remaining_seconds", "gauge", "Seconds until the account's queue and groups in "
     "flight are done, as estimated now.", "est_remaining_s"),
    ("tgfetch_account_steals_in_total", "counter", "Groups the account took from others (steals, take-overs).",
     "stolen_in"),
    ("tgfetch_account_steals_out_total", "counter", "Groups others took from the account.", "stolen_out"),
    ("tgfetch_account_backups_total", "counter", "Backup copies the account raced for others' groups.", "backups"),
    ("tgfetch_account_takeovers_total", "counter", "Groups in flight the account took over from a slower one.",
     "takeovers"),
    ("tgfetch_account_handoffs_total", "counter", "Groups the account handed to others (a long FLOOD_WAIT, a lost "
     "session).", "handoffs"),
    ("tgfetch_account_errors_total", "counter", "File errors of the account (retried or given up).", "errors"),
    ("tgfetch_account_flood_waits_total", "counter", "FLOOD_WAITs Telegram gave the account.", "flood_waits"),
    ("tgfetch_account_flood_wait_seconds_total", "counter", "Seconds the account was held by FLOOD_WAITs.",
     "flood_wait_s"),
    ("tgfetch_account_flood_wait_remaining_seconds", "gauge", "Seconds left of the account's current FLOOD_WAIT.",
     "flood_wait_left_s"),
)
# (exposed name, kind, help, Status field or a derived figure)
JOB_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("tgfetch_job_round", "gauge", "Download rounds started (watch: one per poll with something new).", "round"),
    ("tgfetch_job_files_planned", "gauge", "Files of the current round, with those already on disk.",
     "files_planned"),
    ("tgfetch_job_files_done", "gauge", "Files of the current round on disk.", "files_done"),
    ("tgfetch_job_files_downloaded_total", "counter", "Files downloaded by this process.", "files_downloaded"),
    ("tgfetch_job_failures", "gauge", "Files of the current round given up (a rerun tries them again).",
     "failures"),
    ("tgfetch_job_bytes_planned", "gauge", "Bytes the current round had to fetch when it started.", "bytes_planned"),
    ("tgfetch_job_bytes_left", "gauge", "Bytes the current round has still to fetch.", "bytes_left"),
    ("tgfetch_job_progress_ratio", "gauge", "Share of the current round's bytes fetched (0 to 1).", "progress"),
    ("tgfetch_job_eta_seconds", "gauge", "Seconds until the last account is done, as estimated now.", "eta_s"),
    ("tgfetch_job_ideal_seconds", "gauge", "Seconds the bytes left take at the accounts' summed speed: the best "
     "finish any split could reach.", "ideal_s"),
    ("tgfetch_job_elapsed_seconds", "gauge", "Seconds since the dashboard started.", "elapsed_s"),
)
INFO_METRICS: tuple[tuple[str, str, str], ...] = (
    ("tgfetch_job_info", "gauge", "Always 1; the labels say what runs: job, phase, source, strategy."),
    ("tgfetch_account_up", "gauge", "1 while the account can download, 0 once it is dead."),
    ("tgfetch_api_calls_total", "counter", "Telegram API calls of the account, by method."),
)
# A cluster job only (`Status.cluster`): (exposed name, kind, help, ClusterView field), no label.
CLUSTER_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("tgfetch_cluster_groups_enqueued", "gauge", "Groups the cluster job enqueued.", "groups_total"),
    ("tgfetch_cluster_groups_done", "gauge", "Groups completed by the cluster's workers.", "groups_done"),
    ("tgfetch_cluster_groups_inflight", "gauge", "Groups delivered and not completed (held by a worker, or handed "
     "back and waiting to be claimed).", "groups_inflight"),
    ("tgfetch_cluster_groups_dead_lettered", "gauge", "Groups given up after too many deliveries (and not completed "
     "since).", "groups_dead"),
    ("tgfetch_cluster_groups_queued", "gauge", "Groups not delivered to any worker yet.", "groups_queued"),
)
# (exposed name, kind, help, MachineView field): one sample per machine, label `machine`.
MACHINE_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("tgfetch_machine_groups_done_total", "counter", "Groups the machine's accounts completed.", "groups_done"),
    ("tgfetch_machine_groups_inflight", "gauge", "Groups the machine's accounts hold now.", "groups_inflight"),
    ("tgfetch_machine_groups_dead_lettered", "gauge", "Dead-lettered groups planned for the machine's accounts.",
     "groups_dead"),
    ("tgfetch_machine_files_total", "counter", "Files the machine's accounts downloaded.", "files"),
    ("tgfetch_machine_bytes_total", "counter", "Bytes the machine's accounts downloaded.", "bytes"),
    ("tgfetch_machine_up", "gauge", "1 while one of the machine's accounts was seen within a few leases (or the "
     "job is done), else 0.", "up"),
)
CLUSTER_METRIC_NAMES = tuple(m[0] for m in (*CLUSTER_METRICS, *MACHINE_METRICS))
METRIC_NAMES = tuple(m[0] for m in (*ACCOUNT_METRICS, *JOB_METRICS, *INFO_METRICS)) + CLUSTER_METRIC_NAMES


def _family(name: str, kind: str, doc: str, labels: list[str]) -> CounterMetricFamily | GaugeMetricFamily:
    if kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
    return GaugeMetricFamily(name, doc, labels=labels)


def _job_figure(s: Status, field: str) -> float:
    if field == "progress":
        return 1.0 - s.bytes_left / s.bytes_planned if s.bytes_planned else (1.0 if s.files_done else 0.0)
    return float(getattr(s, field))


class StatusCollector(Collector):
    """The status taken at scrape time, as metric families."""

    def __init__(self, clean: Callable[[str], str] = str) -> None:
        self.clean = clean
        self.status: Status | None = None

    def collect(self) -> Iterator[Metric]:
        """Every family of METRIC_NAMES (none before the first status)."""
        s = self.status
        if s is None:
            return
        names = [self.clean(a.name) for a in s.accounts]
        for name, kind, doc, field in ACCOUNT_METRICS:
            fam = _family(name, kind, doc, ["account"])
            for label, a in zip(names, s.accounts, strict=True):
                fam.add_metric([label], float(getattr(a, field)))
            yield fam
        for name, kind, doc, field in JOB_METRICS:
            fam = _family(name, kind, doc, [])
            fam.add_metric([], _job_figure(s, field))
            yield fam
        yield from self._info(s, names)
        if s.cluster is not None:
            yield from self._cluster(s.cluster)

    def _info(self, s: Status, names: list[str]) -> Iterator[Metric]:
        info = GaugeMetricFamily("tgfetch_job_info", INFO_METRICS[0][2], labels=["job", "phase", "source", "strategy"])
        info.add_metric([self.clean(s.job), s.phase, s.source, self.clean(s.strategy)], 1.0)
        yield info
        up = GaugeMetricFamily("tgfetch_account_up", INFO_METRICS[1][2], labels=["account"])
        calls = CounterMetricFamily("tgfetch_api_calls", INFO_METRICS[2][2], labels=["account", "method"])
        for label, a in zip(names, s.accounts, strict=True):
            up.add_metric([label], 0.0 if _dead(a) else 1.0)
            for method, n in sorted(a.api_calls.items()):
                calls.add_metric([label, self.clean(method)], float(n))
        yield up
        yield calls


    def _cluster(self, c: ClusterView) -> Iterator[Metric]:
        for name, kind, doc, field in CLUSTER_METRICS:
            fam = _family(name, kind, doc, [])
            fam.add_metric([], float(getattr(c, field)))
            yield fam
        labels = [self.clean(m.name) for m in c.machines]
        for name, kind, doc, field in MACHINE_METRICS:
            fam = _family(name, kind, doc, ["machine"])
            for label, m in zip(labels, c.machines, strict=True):
                value = float(m.state != "gone") if field == "up" else float(getattr(m, field))
                fam.add_metric([label], value)
            yield fam


def _dead(a: AccountView) -> bool:
    return a.state.startswith("dead")


def metrics_registry(clean: Callable[[str], str] = str) -> tuple[CollectorRegistry, StatusCollector]:
    """The dashboard's own registry with its one collector."""
    registry = CollectorRegistry(auto_describe=False)
    collector = StatusCollector(clean)
    registry.register(collector)
    return registry, collector


def render(registry: CollectorRegistry, collector: StatusCollector, status: Status) -> bytes:
    """The scrape's text: `status` as every metric."""
    collector.status = status
    try:
        return generate_latest(registry)
    finally:
        collector.status = None
