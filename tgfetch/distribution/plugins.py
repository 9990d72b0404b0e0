"""Strategies from outside tgfetch: CUSTOM_STRATEGY and the `tgfetch.strategies` entry points.

Both name a ``module:Class`` (the class may be nested: ``module:Outer.Inner``).
`plugin_sources` only reads names (no import); `load_strategy` imports one and
checks it, turning every problem into one `ConfigError` line that names the
setting or entry point, the value and what is allowed.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from dataclasses import dataclass
from importlib.metadata import entry_points

from tgfetch.distribution.base import TaskDistributionStrategy
from tgfetch.errors import ConfigError
from tgfetch.model import STRATEGY_ENTRY_POINTS, DistributionMode

__all__ = ["FIXED_MODES", "IMPORT_PATH", "PluginSource", "load_strategy", "plugin_sources"]

log = logging.getLogger("tgfetch.distribution")

#: Modes no plugin can take: the built-in strategies and `auto`.
FIXED_MODES = frozenset(
    {
        DistributionMode.RANGE_BASED.value,
        DistributionMode.MEDIA_GROUP_AWARE.value,
        DistributionMode.LOAD_BALANCED.value,
        DistributionMode.AUTO.value,
    }
)
#: The shape of ``module:Class``: dotted Python names on both sides of one colon.
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_EXPECTED = "module:Class naming a TaskDistributionStrategy subclass (e.g. mypackage.strategies:MyStrategy)"


@dataclass(frozen=True)
class PluginSource:
    """Where a mode's strategy comes from: the setting or entry point (`origin`, `where`) and its value."""

    mode: str
    value: str
    origin: str
    where: str = ""

    def error(self, why: str) -> ConfigError:
        """Return the one-line error about this source."""
        why = " ".join(why.split())
        return ConfigError(f"{self.origin}={self.value!r}{self.where} is not allowed: {why}; expected {_EXPECTED}")


def _entry_point_sources() -> dict[str, PluginSource]:
    """Return the installed entry points by mode name (built-in names skipped, first one wins)."""
    out: dict[str, PluginSource] = {}
    for ep in entry_points(group=STRATEGY_ENTRY_POINTS):
        mode = ep.name.strip().lower()
        if not mode or mode in FIXED_MODES:
            log.debug("entry point %s = %s ignored: %r is a built-in mode", ep.name, ep.value, mode)
            continue
        dist = f", package {ep.dist.name}" if ep.dist is not None else ""
        source = PluginSource(mode, ep.value, f"entry point {ep.name}", f" (group {STRATEGY_ENTRY_POINTS}{dist})")
        if mode in out:
            log.warning("two plugins declare the mode %r: using %s%s", mode, out[mode].value, out[mode].where)
            continue
        out[mode] = source
    return out


def plugin_sources(custom_strategy: str | None) -> dict[str, PluginSource]:
    """Return the plugin strategies by mode name: entry points, and CUSTOM_STRATEGY as `custom`."""
    out = _entry_point_sources()
    if custom_strategy:
        out[DistributionMode.CUSTOM.value] = PluginSource(DistributionMode.CUSTOM.value, custom_strategy,
                                                          "CUSTOM_STRATEGY")
    return out


def _import(source: PluginSource) -> object:
    """Import the module and walk to the attribute a source names."""
    if not IMPORT_PATH.fullmatch(source.value.strip()):
        raise source.error("not of the form module:Class")
    module_name, _, attr = source.value.strip().partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise source.error(f"no module named {module_name!r} on the Python path") from None
        raise source.error(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure inside the plugin's module is its problem
        raise source.error(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise source.error(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def load_strategy(source: PluginSource) -> type[TaskDistributionStrategy]:
    """Import the class a source names and check it is a concrete TaskDistributionStrategy."""
    cls = _import(source)
    if not (isinstance(cls, type) and issubclass(cls, TaskDistributionStrategy)):
        kind = type(cls).__name__
        what = cls.__name__ if isinstance(cls, type) else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        raise source.error(f"{what} is not a TaskDistributionStrategy subclass")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise source.error(f"{cls.__name__} does not implement {missing}")
    log.debug("mode %r: %s.%s from %s", source.mode, cls.__module__, cls.__qualname__, source.origin)
    return cls
