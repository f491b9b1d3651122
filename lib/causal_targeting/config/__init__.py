"""Typed configuration: YAML files, an ``inherit`` chain, and ``--set a.b=value`` overrides.

A config file may name a parent with ``inherit: other.yaml`` (relative to the file); the child's
keys are merged over the parent's, mapping by mapping. Overrides are parsed as YAML scalars, so
``--set spark.shuffle_partitions=4`` gives an int and ``--set data.propensity=null`` gives None.
Every section forbids unknown keys; a bad key or type raises :class:`ConfigError` naming the key.

Modules: ``base`` (kinds, limits, the ``Section`` base), ``data`` (the data contract's column
mapping), ``sections`` (every other section and ``Config``), ``files`` (reading, merging,
overrides, validation errors).
"""

from causal_targeting.config.base import (
    NAME_MAX,
    TEXT_MAX,
    Direction,
    FeatureKind,
    Name,
    OutcomeKind,
    Section,
    TableFormat,
)
from causal_targeting.config.data import DataConfig, OutcomeSpec, TableSource
from causal_targeting.config.files import (
    LOCAL_FORMATS,
    apply_overrides,
    check_local_inputs,
    field_paths,
    is_local_path,
    load_config,
    load_raw,
    merge,
    nearest_key,
    parse_override,
    validate,
)
from causal_targeting.config.sections import (
    AllocationConfig,
    CoarsenConfig,
    Config,
    DoNoHarmConfig,
    EvaluateConfig,
    GuardrailConfig,
    IngestConfig,
    OutputsConfig,
    ScoreConfig,
    SegmentConfig,
    SelfPacedConfig,
    SimulateConfig,
    SparkConfig,
    TrackingConfig,
    TrainConfig,
    VariableCostConfig,
    not_negative,
)

__all__ = [
    "LOCAL_FORMATS",
    "NAME_MAX",
    "TEXT_MAX",
    "AllocationConfig",
    "CoarsenConfig",
    "Config",
    "DataConfig",
    "Direction",
    "DoNoHarmConfig",
    "EvaluateConfig",
    "FeatureKind",
    "GuardrailConfig",
    "IngestConfig",
    "Name",
    "OutcomeKind",
    "OutcomeSpec",
    "OutputsConfig",
    "ScoreConfig",
    "Section",
    "SegmentConfig",
    "SelfPacedConfig",
    "SimulateConfig",
    "SparkConfig",
    "TableFormat",
    "TableSource",
    "TrackingConfig",
    "TrainConfig",
    "VariableCostConfig",
    "apply_overrides",
    "check_local_inputs",
    "field_paths",
    "is_local_path",
    "load_config",
    "load_raw",
    "merge",
    "nearest_key",
    "not_negative",
    "parse_override",
    "validate",
]
