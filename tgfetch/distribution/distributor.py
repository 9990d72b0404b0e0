"""TaskDistributor: the strategy registry, plus validation, escalation and comparison."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from tgfetch.distribution.base import LoadCalculator, TaskDistributionStrategy, file_overhead_seconds
from tgfetch.distribution.compare import comparison_rows, format_comparison
from tgfetch.distribution.plugins import FIXED_MODES, PluginSource, load_strategy, plugin_sources
from tgfetch.distribution.recommend import Recommendation, recommend_strategy
from tgfetch.distribution.strategies import (
    LoadBalancedStrategy,
    MediaGroupAwareStrategy,
    RangeBasedStrategy,
)
from tgfetch.distribution.validation import check_plan, measure_plan
from tgfetch.distribution.why import imbalance_reason
from tgfetch.errors import ConfigError, DistributionError, UsageError
from tgfetch.model import (
    ClientAssignment,
    CustomMetric,
    DistributionMode,
    LoadBalanceMetric,
    MessageCollection,
    MessageInfo,
    TaskDistributionResult,
)

__all__ = ["TaskDistributor"]

log = logging.getLogger("tgfetch.distribution")

_BUILT_IN: dict[str, type[TaskDistributionStrategy]] = {
    DistributionMode.RANGE_BASED.value: RangeBasedStrategy,
    DistributionMode.MEDIA_GROUP_AWARE.value: MediaGroupAwareStrategy,
    DistributionMode.LOAD_BALANCED.value: LoadBalancedStrategy,
}
_STRONGER = {
    DistributionMode.RANGE_BASED.value: DistributionMode.MEDIA_GROUP_AWARE.value,
    DistributionMode.MEDIA_GROUP_AWARE.value: DistributionMode.LOAD_BALANCED.value,
}


def _mode_name(mode: DistributionMode | str) -> str:
    return mode.value if isinstance(mode, DistributionMode) else str(mode).strip().lower()


def _as_collection(collection: MessageCollection | Iterable[MessageInfo]) -> MessageCollection:
    if isinstance(collection, MessageCollection):
        return collection
    return MessageCollection.from_messages(collection)


def _check_clients(client_names: Sequence[str]) -> list[str]:
    names = list(client_names)
    if not names:
        raise UsageError("no clients to distribute to: give at least one client name")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name:
            raise UsageError(f"client names must be non-empty strings, got {name!r}")
        if name in seen:
            raise UsageError(f"client name {name!r} is listed twice; client names must be unique")
        seen.add(name)
    return names


def _unknown_mode(name: str) -> str:
    """Return why a mode has no strategy."""
    if name != DistributionMode.CUSTOM.value:
        return f"unknown distribution mode {name!r}"
    return (
        "no strategy is registered for 'custom': set CUSTOM_STRATEGY=module:Class, install a "
        "tgfetch.strategies plugin named custom, or call TaskDistributor.register_strategy"
    )


def _note_default_mode(settings: Any, registered: Iterable[str], name: str) -> None:
    """Say once when a registered strategy (or CUSTOM_STRATEGY) is left unused because no mode was chosen."""
    fields_set: set[str] = getattr(settings, "model_fields_set", set())
    extra = [DistributionMode.CUSTOM.value] if getattr(settings, "custom_strategy", None) else []
    unused = sorted({n for n in [*registered, *extra] if n != name and n not in FIXED_MODES})
    if unused and "task_distribution_mode" not in fields_set:
        log.info(
            "using %s (the default TASK_DISTRIBUTION_MODE), not %s: pass mode=%r or set TASK_DISTRIBUTION_MODE=%s",
            name,
            ", ".join(unused),
            unused[0],
            unused[0],
        )


def _log_outcome(result: TaskDistributionResult, rec: Recommendation | None, *, auto: bool, explain: bool) -> None:
    """Log what the plan used and why, each line once: INFO when news, DEBUG otherwise."""
    if result.metrics.albums_split:
        split = result.metrics.albums_split
        log.info("%s split %d album(s) across clients: %s", result.strategy, len(split), ", ".join(split[:10]))
    if rec is None:
        return
    result.info["recommendation"] = {"mode": rec.mode.value, "reason": rec.reason}
    if auto:
        if explain:
            log.info("auto: using %s (%s)", rec.mode.value, rec.reason)
        return
    level = logging.DEBUG if rec.mode.value == result.strategy else logging.INFO
    log.log(level, "recommended strategy: %s (%s); using %s", rec.mode.value, rec.reason, result.strategy)


@dataclass(frozen=True)
class PlanOptions:
    """The run options handed to strategies (as attributes, by `configure`) and to plan checks."""

    load_calculator: LoadCalculator | None = None
    client_speeds: Mapping[str, float] | None = None
    scanned_by: Mapping[int, str] | None = None
    file_overhead: float | None = None

    def __post_init__(self) -> None:
        try:
            file_overhead_seconds(self.file_overhead)
        except (TypeError, ValueError):
            raise UsageError(
                f"file_overhead must be a finite number of seconds >= 0 (or None), got {self.file_overhead!r}"
            ) from None

    def as_attributes(self) -> dict[str, object]:
        """The options by name, as `TaskDistributionStrategy.configure` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _normalize(out: Any, names: list[str], label: str) -> tuple[list[ClientAssignment], dict[str, Any]]:
    """Accept a result, a list of assignments or {client: groups}; order by client."""
    info: dict[str, Any] = {}
    if isinstance(out, TaskDistributionResult):
        info, items = dict(out.info), list(out.client_assignments)
    elif isinstance(out, list | tuple) and all(isinstance(a, ClientAssignment) for a in out):
        items = list(out)
    elif isinstance(out, Mapping):
        items = [v if isinstance(v, ClientAssignment) else ClientAssignment(str(k), list(v)) for k, v in out.items()]
    else:
        raise DistributionError(
            f"strategy {label!r} returned {type(out).__name__}; expected a TaskDistributionResult, "
            "a list of ClientAssignment, or a mapping of client name to groups"
        )
    by_name = {a.client_name: a for a in items}
    unknown = [a.client_name for a in items if a.client_name not in names]
    if unknown or len(by_name) != len(items):
        raise DistributionError(
            f"strategy {label!r} assigned to unknown or repeated clients {sorted(unknown) or ''}; "
            f"clients are {', '.join(names)}"
        )
    return [by_name.get(n) or ClientAssignment(n, []) for n in names], info


class TaskDistributor:
    """Plan which client downloads which groups, with the configured strategy.

    Strategies: the built-in ones, those given to `register_strategy`, then the
    plugins (CUSTOM_STRATEGY as `custom`, installed `tgfetch.strategies` entry
    points), imported only when their mode is asked for or every mode is listed.
    """

    def __init__(self, settings: Any | None = None) -> None:
        if settings is None:
            from tgfetch.config import Settings

            settings = Settings()
        self.settings = settings
        self._registry: dict[str, type[TaskDistributionStrategy]] = dict(_BUILT_IN)
        self._registered: dict[str, type[TaskDistributionStrategy]] = {}
        self._plugins: dict[str, PluginSource] | None = None

    @property
    def strategy_names(self) -> list[str]:
        """Return every name `distribute(mode=...)` accepts (plugins included, none imported)."""
        plugins = [n for n in self._plugin_sources() if n not in self._registry]
        return [*self._registry, *plugins, DistributionMode.AUTO.value]

    def with_settings(self, settings: Any) -> TaskDistributor:
        """Return a distributor with other settings and the strategies registered on this one."""
        other = TaskDistributor(settings)
        for name, cls in self._registered.items():
            other.register_strategy(name, cls)
        return other

    def register_strategy(self, mode: DistributionMode | str, strategy_cls: type[TaskDistributionStrategy]) -> None:
        """Register (or replace) the strategy used for a mode name."""
        name = _mode_name(mode)
        if name == DistributionMode.AUTO.value or not name:
            raise UsageError("'auto' picks among the registered strategies; register under another name")
        if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, TaskDistributionStrategy)):
            raise UsageError(f"{strategy_cls!r} is not a TaskDistributionStrategy subclass")
        self._registry[name] = self._registered[name] = strategy_cls

    def strategy_class(self, mode: DistributionMode | str) -> type[TaskDistributionStrategy]:
        """Return the class of a mode (importing its plugin once); the error lists the valid names."""
        name = _mode_name(mode)
        if name not in self._registry:
            source = None if name in FIXED_MODES else self._plugin_sources().get(name)
            if source is None:
                raise UsageError(f"{_unknown_mode(name)}; valid modes: {', '.join(self.strategy_names)}")
            self._registry[name] = load_strategy(source)
        return self._registry[name]

    def _plugin_sources(self) -> dict[str, PluginSource]:
        """Return the plugins by mode name, read once (entry points and CUSTOM_STRATEGY; none imported)."""
        if self._plugins is None:
            self._plugins = plugin_sources(getattr(self.settings, "custom_strategy", None))
        return self._plugins

    def recommend(
        self,
        collection: MessageCollection | Iterable[MessageInfo],
        client_names: Sequence[str],
        client_speeds: Mapping[str, float] | None = None,
    ) -> tuple[DistributionMode, str]:
        """Return the strategy that suits the data and the reason."""
        rec = recommend_strategy(_as_collection(collection), _check_clients(client_names), client_speeds)
        return rec.mode, rec.reason

    async def distribute(
        self,
        collection: MessageCollection | Iterable[MessageInfo],
        client_names: Sequence[str],
        *,
        mode: DistributionMode | str | None = None,
        metric: LoadBalanceMetric | str | None = None,
        load_calculator: LoadCalculator | None = None,
        client_speeds: Mapping[str, float] | None = None,
        scanned_by: Mapping[int, str] | None = None,
        file_overhead: float | None = None,
    ) -> TaskDistributionResult:
        """Plan with `mode` (None: the settings' TASK_DISTRIBUTION_MODE); validate, escalate, compare.

        `load_calculator` replaces the metric (the result's metric is then
        ``custom``); `file_overhead` is the per-file cost in seconds of
        ``estimated_time`` (for example the learned one); None keeps
        ``FILE_OVERHEAD_SECONDS``.
        """
        coll, names = self._inputs(collection, client_names)
        name = _mode_name(mode if mode is not None else self.settings.task_distribution_mode)
        chosen = self._metric(metric)
        auto = name == DistributionMode.AUTO.value
        if not auto:
            self.strategy_class(name)
        if mode is None:
            _note_default_mode(self.settings, self._registered, name)
        rec = self._recommendation(coll, names, client_speeds, name)
        if auto and rec is not None:
            name = rec.mode.value
            if rec.metric is not None and not self._metric_is_explicit(metric):
                chosen = rec.metric
        opts = PlanOptions(load_calculator, client_speeds, scanned_by, file_overhead)
        result = await self._escalate(await self._run(name, coll, names, chosen, opts), coll, names, chosen, opts)
        _log_outcome(result, rec, auto=auto, explain=self.settings.auto_strategy_recommendation)
        if self.settings.enable_strategy_comparison:
            result.info["comparison"] = await self._comparison_rows(coll, names, chosen, opts)
        return result

    async def _comparison_rows(
        self, coll: MessageCollection, names: list[str], metric: LoadBalanceMetric, opts: PlanOptions
    ) -> list[dict[str, Any]]:
        """Plan with every strategy for ENABLE_STRATEGY_COMPARISON; the caller shows the rows."""
        results = await self._compare(coll, names, metric, opts)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("strategy comparison:\n%s", format_comparison(results))
        return comparison_rows(results)

    async def compare(
        self,
        collection: MessageCollection | Iterable[MessageInfo],
        client_names: Sequence[str],
        *,
        metric: LoadBalanceMetric | str | None = None,
        load_calculator: LoadCalculator | None = None,
        client_speeds: Mapping[str, float] | None = None,
        scanned_by: Mapping[int, str] | None = None,
        file_overhead: float | None = None,
    ) -> list[TaskDistributionResult]:
        """Plan with every registered strategy; return one result each."""
        coll, names = self._inputs(collection, client_names)
        opts = PlanOptions(load_calculator, client_speeds, scanned_by, file_overhead)
        return await self._compare(coll, names, self._metric(metric), opts)

    def _inputs(
        self, collection: MessageCollection | Iterable[MessageInfo], client_names: Sequence[str]
    ) -> tuple[MessageCollection, list[str]]:
        names = _check_clients(client_names)
        coll = _as_collection(collection)
        if not coll.groups:
            raise UsageError("nothing to distribute: the message collection is empty")
        return coll, names

    def _metric(self, metric: LoadBalanceMetric | str | None) -> LoadBalanceMetric:
        value = metric if metric is not None else self.settings.load_balance_metric
        try:
            return LoadBalanceMetric(value)
        except ValueError:
            raise UsageError(
                f"unknown load balance metric {value!r}; valid metrics: {', '.join(LoadBalanceMetric.names())}"
            ) from None

    def _metric_is_explicit(self, metric: object) -> bool:
        fields_set: set[str] = getattr(self.settings, "model_fields_set", set())
        return metric is not None or "load_balance_metric" in fields_set

    def _recommendation(
        self, coll: MessageCollection, names: list[str], speeds: Mapping[str, float] | None, mode: str
    ) -> Recommendation | None:
        if mode != DistributionMode.AUTO.value and not self.settings.auto_strategy_recommendation:
            return None
        return recommend_strategy(coll, names, speeds)

    async def _run(
        self,
        name: str,
        coll: MessageCollection,
        names: list[str],
        metric: LoadBalanceMetric,
        opts: PlanOptions,
    ) -> TaskDistributionResult:
        strategy = self.strategy_class(name)()
        strategy.configure(metric=metric, settings=self.settings, **opts.as_attributes())
        cpu, wall = time.process_time(), time.perf_counter()
        out = await strategy.distribute_tasks(coll, list(names))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assignments, info = _normalize(out, names, name)
        info["strategy_info"] = strategy.get_strategy_info()
        info["wall_seconds"] = wall
        return self._judge(strategy, name, assignments, info, coll, metric, opts, cpu)

    def _judge(
        self,
        strategy: TaskDistributionStrategy,
        name: str,
        assignments: list[ClientAssignment],
        info: dict[str, Any],
        coll: MessageCollection,
        metric: LoadBalanceMetric,
        opts: PlanOptions,
        cpu: float,
    ) -> TaskDistributionResult:
        start = time.process_time()
        full = bool(self.settings.enable_distribution_validation)
        check = check_plan(assignments, coll, [a.client_name for a in assignments], full)
        may_split = bool(getattr(strategy, "splits_albums", False))
        hard = check.errors + ([] if may_split else check.split_messages())
        if full and hard:
            raise DistributionError(f"strategy {name!r} produced an invalid plan: " + "; ".join(hard))
        metrics = measure_plan(
            assignments,
            coll,
            metric,
            opts.client_speeds,
            opts.load_calculator,
            file_overhead=opts.file_overhead,
        )
        metrics.albums_split = check.albums_split
        metrics.validation_errors = check.errors + check.split_messages()
        metrics.planning_seconds = cpu
        info["validation_seconds"] = time.process_time() - start
        if opts.load_calculator is not None:
            info["load_calculator"] = getattr(opts.load_calculator, "__qualname__", repr(opts.load_calculator))
        used = CustomMetric.CUSTOM if opts.load_calculator is not None else metric
        return TaskDistributionResult(assignments, name, used, metrics, info)

    async def _escalate(
        self,
        result: TaskDistributionResult,
        coll: MessageCollection,
        names: list[str],
        metric: LoadBalanceMetric,
        opts: PlanOptions,
    ) -> TaskDistributionResult:
        limit = float(self.settings.max_imbalance_ratio)
        tried = [result.strategy]
        while result.metrics.imbalance > limit + 1e-12 and tried[-1] in _STRONGER:
            nxt = _STRONGER[tried[-1]]
            tried.append(nxt)
            log.debug(
                "imbalance %.3f > MAX_IMBALANCE_RATIO %.3f with %s: trying %s",
                result.metrics.imbalance,
                limit,
                tried[-2],
                nxt,
            )
            candidate = await self._run(nxt, coll, names, metric, opts)
            if candidate.metrics.imbalance <= result.metrics.imbalance:
                candidate.info["escalated_from"] = tried[:-1]
                result = candidate
        if result.metrics.imbalance > limit + 1e-12:
            why = imbalance_reason(
                result, coll, metric, opts.client_speeds, opts.load_calculator, opts.file_overhead
            )
            msg = (
                f"imbalance {result.metrics.imbalance:.3f} exceeds MAX_IMBALANCE_RATIO {limit:.3f} "
                f"(strategies tried: {', '.join(tried)}): {why}"
            )
            result.metrics.warnings.append(msg)
            log.debug("%s", msg)  # the plan report prints its warnings: shown once, there
        return result

    async def _compare(
        self,
        coll: MessageCollection,
        names: list[str],
        metric: LoadBalanceMetric,
        opts: PlanOptions,
    ) -> list[TaskDistributionResult]:
        results = []
        for name in self.strategy_names[:-1]:  # every mode but auto
            try:
                self.strategy_class(name)
                results.append(await self._run(name, coll, names, metric, opts))
            except (ConfigError, DistributionError) as exc:
                log.warning("comparison: %s", exc)
        return results
