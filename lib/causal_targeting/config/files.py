"""Config files: YAML, the ``inherit`` chain, ``--set`` overrides, errors that name the key."""

from __future__ import annotations

import difflib
import glob
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from causal_targeting.config.data import TableSource
from causal_targeting.config.sections import Config
from causal_targeting.errors import ConfigError


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only ``true`` and ``false`` (any of the three
    cases YAML allows) are booleans. YAML 1.1, PyYAML's default, also reads ``on``, ``off``,
    ``yes``, ``no``, ``y`` and ``n`` as booleans, so ``do_no_harm: {on: value}`` would be the key
    True and an arm named ``no`` the value False. A boolean is read as its text, ``"true"`` or
    ``"false"``: a boolean setting reads it as a boolean (as it reads ``yes``), and a label
    (``control: false``, ``arms: [true]``) is the text Spark gives a boolean treatment column."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
ConfigLoader.add_constructor(
    "tag:yaml.org,2002:bool",
    lambda loader, node: loader.construct_scalar(node).lower(),
)


def parse_yaml(text: str) -> Any:
    """The YAML document ``text`` as Python values (:class:`ConfigLoader`'s booleans)."""
    return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: plain data only


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"config file '{path}' cannot be read ({exc.strerror}); check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file '{path}' is not UTF-8 text (byte {exc.start}); "
            "save it as UTF-8 YAML, or check the path points at the config"
        ) from None
    try:
        loaded = parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"config file '{path}' is not valid YAML: {exc}".replace("\n", " ")
        ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file '{path}' must hold a mapping of keys, not {type(loaded).__name__}"
        )
    return loaded


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``over`` merged in: mappings recursively, everything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_raw(path: str | Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file and the chain of files it inherits from, merged parent first.

    ``chain`` holds the files already read below this one; a file met twice is a cycle.
    """
    path = Path(path)
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(
            f"config file '{path}' inherits itself ({cycle}); remove the 'inherit' that closes it"
        )
    raw = _read_yaml(path)
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"config file '{path}': 'inherit' must be a file name, not {parent!r}")
    return merge(load_raw(path.parent / parent, (*chain, resolved)), raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and its YAML-parsed value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not of the form key.path=value (e.g. seed=7)")
    try:
        parsed = parse_yaml(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return ``raw`` with each ``key.path=value`` override set: the value replaces the key's,
    a mapping too (``allocation.weights={spend: 0.3}`` leaves no other weight, where
    ``allocation.weights.spend=0.3`` sets one beside the others). Unlike an inherited file's
    mappings, which are merged (:func:`merge`), an override says the whole value."""
    result = dict(raw)
    for text in overrides:
        keys, value = parse_override(text)
        result = with_value(result, keys, value)
    return result


def with_value(raw: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    """``raw`` with ``value`` at the key path ``keys``, the mappings along it copied (created
    where missing or not mappings)."""
    head, *rest = keys
    if not rest:
        return {**raw, head: value}
    inner = raw.get(head)
    return {**raw, head: with_value(inner if isinstance(inner, dict) else {}, rest, value)}


def field_paths(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every dotted key of the config model (``ingest.alpha``, ``data.experiment.path``, ...);
    the items of a list of sections under the list's key (``allocation.guardrails.name``)."""
    paths = []
    for name, info in (model or Config).model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        for kind in (info.annotation, *get_args(info.annotation)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                paths += field_paths(kind, f"{path}.")
    return paths


def nearest_key(key: str) -> str | None:
    """The known config key closest in spelling to ``key`` (difflib), if any is close; list
    indices (``allocation.guardrails.0.nmae``) are left out of the comparison."""
    key = ".".join(part for part in key.split(".") if not part.isdigit())
    close = difflib.get_close_matches(key, field_paths(), n=1, cutoff=0.6)
    return close[0] if close else None


MAPPING_HINTS = {
    "data.features": "map each column to its kind, e.g. {age: numeric, region: categorical}",
    "data.outcomes": "map each outcome to its kind, e.g. {converted: binary, revenue: continuous}",
}
"""What to write instead of a list where the config wants a mapping of names to kinds."""


def describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        nearest = nearest_key(key)
        hint = f"did you mean {nearest}?" if nearest else "remove it or check its spelling"
        return f"config key '{key}' is not a known setting; {hint}"
    if kind == "missing":
        return (
            f"config key '{key}' is required and missing; set it in the config file or with --set"
        )
    if kind == "value_error":
        return f"config key '{key}': {error['msg'].removeprefix('Value error, ')}"
    got = repr(error.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    told = f"config key '{key}': {error['msg'][0].lower()}{error['msg'][1:]} (got {got})"
    if kind == "dict_type" and key in MAPPING_HINTS:
        return f"{told}; {MAPPING_HINTS[key]}"
    return told


def validate(raw: dict[str, Any]) -> Config:
    """Validate a raw mapping into a :class:`Config`; the first problem raises ConfigError."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe(exc.errors()[0])) from None


LOCAL_FORMATS = ("csv", "parquet")


def is_local_path(path: str) -> bool:
    """Whether ``path`` names the local file system: no URI scheme (``s3a:``, ``dbfs:``, ...),
    or ``file:``."""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):", path)
    return scheme is None or scheme.group(1) == "file"


def check_local_inputs(cfg: Config) -> None:
    """Raise ConfigError if data.experiment or data.customers is a local CSV or Parquet path
    (globs allowed) that matches nothing; remote, Delta and catalog sources are left to Spark."""
    for key in ("experiment", "customers"):
        source: TableSource | None = getattr(cfg.data, key)
        if source is None or source.format not in LOCAL_FORMATS or not is_local_path(source.path):
            continue
        local = re.sub(r"^file:(//)?", "", source.path)
        if not glob.glob(local):
            raise ConfigError(
                f"data.{key}.path '{source.path}' does not exist ({source.format}); fix the path "
                f"in the config or with --set data.{key}.path=..."
            )


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load a config file (with its ``inherit`` chain) and apply ``--set`` overrides."""
    return validate(apply_overrides(load_raw(path), overrides or []))
