"""Typed config: files, inherit chains, --set overrides, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from causal_targeting.config import check_local_inputs, load_config, validate
from causal_targeting.errors import ConfigError


def test_local_config_is_the_hillstrom_embedded_default(root: Path) -> None:
    cfg = load_config(root / "conf" / "local.yaml")
    assert cfg.spark.master == "local[2]"
    assert cfg.tracking.uri == "sqlite:///work/mlflow.db"
    assert cfg.outputs.root == "work"
    assert cfg.data.control == "No E-Mail"
    assert cfg.data.arms == ["Mens E-Mail", "Womens E-Mail"]
    assert cfg.data.outcomes == {"visit": "binary", "conversion": "binary", "spend": "continuous"}
    assert cfg.data.features["zip_code"] == "categorical"


def test_overrides_are_typed_and_nested(root: Path) -> None:
    cfg = load_config(
        root / "conf" / "local.yaml",
        ["spark.shuffle_partitions=3", "seed=7", "data.propensity=null", "ingest.alpha=0.1"],
    )
    assert cfg.spark.shuffle_partitions == 3
    assert cfg.seed == 7
    assert cfg.data.propensity is None
    assert cfg.ingest.alpha == pytest.approx(0.1)


def test_a_mapping_override_replaces_the_mapping_and_a_dotted_one_sets_one_key(
    root: Path,
) -> None:
    """Hillstrom values conversion at $35: `--set allocation.weights={spend: 0.3}` values
    spend instead (merged, it valued both: an order counted twice); a dotted key adds one."""
    conf = root / "conf" / "local.yaml"
    assert load_config(conf, ["allocation.weights={spend: 0.3}"]).allocation.weights == {
        "spend": 0.3
    }
    assert load_config(conf, ["allocation.weights.spend=0.3"]).allocation.weights == {
        "conversion": 35.0,
        "spend": 0.3,
    }
    features = load_config(conf, ["data.features={recency: numeric}"]).data.features
    assert features == {"recency": "numeric"}


def test_the_evaluated_rows_follow_the_holdout_fraction(root: Path) -> None:
    default = load_config(root / "conf" / "local.yaml")
    held_out = load_config(root / "conf" / "local.yaml", ["train.holdout_fraction=0.2"])
    assert default.train.evaluated_rows == "out-of-fold"
    assert held_out.train.evaluated_rows == "holdout"
    assert default.train.tune_rows == 50_000
    with pytest.raises(ConfigError, match="tune_rows"):
        load_config(root / "conf" / "local.yaml", ["train.tune_rows=5"])


def test_unknown_key_names_the_key(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"'spark\.shufle_partitions' is not a known setting"):
        load_config(root / "conf" / "local.yaml", ["spark.shufle_partitions=3"])


def test_wrong_type_names_key_and_expectation(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"'spark\.shuffle_partitions'.*integer") as err:
        load_config(root / "conf" / "local.yaml", ["spark.shuffle_partitions=many"])
    assert "\n" not in str(err.value)


def test_unknown_key_in_a_file(tmp_path: Path, root: Path) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text(f"inherit: {root / 'conf' / 'local.yaml'}\ningest:\n  max_rows: 3\n")
    with pytest.raises(ConfigError, match=r"'ingest\.max_rows'"):
        load_config(conf)


def test_child_file_overrides_parent(tmp_path: Path, root: Path) -> None:
    conf = tmp_path / "child.yaml"
    conf.write_text(f"inherit: {root / 'conf' / 'local.yaml'}\nspark:\n  driver_memory: 1g\n")
    cfg = load_config(conf)
    assert cfg.spark.driver_memory == "1g"
    assert cfg.spark.master == "local[2]"


def test_missing_file_and_bad_override_are_config_errors(tmp_path: Path, root: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_config(root / "conf" / "local.yaml", ["seed"])


def test_control_listed_as_arm_is_refused(root: Path) -> None:
    with pytest.raises(ConfigError, match="control 'No E-Mail' is also listed in arms"):
        load_config(root / "conf" / "local.yaml", ['data.arms=["No E-Mail"]'])


def test_out_of_range_value_is_refused(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"'ingest\.max_quarantine_share'"):
        load_config(root / "conf" / "local.yaml", ["ingest.max_quarantine_share=2"])


def test_an_inherit_cycle_is_one_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("inherit: b.yaml\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("inherit: a.yaml\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"inherits itself .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_config(tmp_path / "a.yaml")


def test_a_file_inheriting_itself_is_one_config_error(tmp_path: Path) -> None:
    (tmp_path / "self.yaml").write_text("inherit: self.yaml\n")
    with pytest.raises(ConfigError, match=r"'.*self\.yaml' inherits itself"):
        load_config(tmp_path / "self.yaml")


@pytest.mark.parametrize("content", [b"seed: \xff\xfe 1\n", bytes(range(256))])
def test_a_non_utf8_or_binary_config_is_one_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"'.*bad\.yaml' is not UTF-8 text") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("allocation.fixed_cost=-1", r"'allocation\.fixed_cost': a cost per contact is -1"),
        ("allocation.fixed_cost={'Mens E-Mail': -0.5}", r"for arm 'Mens E-Mail' is -0\.5"),
        (
            "allocation.variable_costs=[{column: 'mu__visit__{arm}', rate: -2}]",
            r"'allocation\.variable_costs\.0\.rate': a rate is -2",
        ),
        (
            "allocation.guardrails=[{name: cap, kind: contacts, limit: -5}]",
            r"'allocation\.guardrails\.0': guardrail 'cap' \(contacts\) has a negative limit -5",
        ),
        ("name=" + "n" * 101, r"'name': string should have at most 100 characters"),
        ("tracking.model_name=" + "m" * 101, r"'tracking\.model_name': .*at most 100"),
        ("data.control=" + "c" * 4001, r"'data\.control': string should have at most 4000"),
    ],
)
def test_negative_costs_limits_and_long_strings_name_the_key(
    root: Path, override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(root / "conf" / "local.yaml", [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "allocation.fixed_cost={Mens E-Mail: 1.0, womens e-mail: 2.0}",
            r"allocation\.fixed_cost is given per arm but names 'womens e-mail', not in "
            r"data\.arms; give one entry for each of data\.arms \('Mens E-Mail', 'Womens E-Mail'\)",
        ),
        (
            "allocation.fixed_cost={Mens E-Mail: 1.0}",
            r"allocation\.fixed_cost is given per arm but has no entry for 'Womens E-Mail'",
        ),
        (
            "allocation.variable_costs=[{column: 'mu__visit__{arm}', rate: {Mens E-Mail: 1}}]",
            r"allocation\.variable_costs\.0\.rate is given per arm but has no entry for 'Womens",
        ),
        (
            "allocation.guardrails=[{name: cap, kind: offer_cap, arm: Mens Email, limit: 5}]",
            r"guardrail 'cap' names arm 'Mens Email', not in data\.arms",
        ),
    ],
)
def test_per_arm_settings_name_exactly_the_configured_arms(
    root: Path, override: str, message: str
) -> None:
    """A misspelt arm in a per-arm cost was ignored (its arm then raised only after training)."""
    with pytest.raises(ConfigError, match=message):
        load_config(root / "conf" / "local.yaml", [override])
    cost = "allocation.fixed_cost={Mens E-Mail: 1.0, Womens E-Mail: 2.0, No E-Mail: 0.0}"
    assert load_config(root / "conf" / "local.yaml", [cost]).allocation.fixed_cost["No E-Mail"] == 0


def test_a_negative_revenue_floor_bounds_a_loss(root: Path) -> None:
    floor = "allocation.guardrails=[{name: rev, kind: revenue_floor, outcome: spend, limit: -50}]"
    cfg = load_config(root / "conf" / "local.yaml", [floor])
    assert cfg.allocation.guardrails[0].limit == -50


@pytest.mark.parametrize(
    "override", ["data.features={'a`b': numeric}", "data.control=No`Mail", "data.treatment=se`g"]
)
def test_a_backtick_in_a_configured_name_is_refused(root: Path, override: str) -> None:
    with pytest.raises(ConfigError, match=r"config key 'data': data\.\w+ names '.*`.*'.*backtick"):
        load_config(root / "conf" / "local.yaml", [override])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("data.features={spend.90d: numeric}", r"data\.features names 'spend\.90d'"),
        ("data.arms=['10.5% off']", r"data\.arms names '10\.5% off'"),
        ("data.outcomes={net.revenue: continuous}", r"data\.outcomes names 'net\.revenue'"),
    ],
)
def test_a_dot_in_a_configured_name_is_refused_with_a_name_without_it(
    root: Path, override: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=named + r", which holds a dot .* \(e\.g\. '[^.]*', in"):
        load_config(root / "conf" / "local.yaml", [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.features={recency: numeric, visit: numeric}",
            r"column 'visit' is named by both data\.features and data\.outcomes; a column has one",
        ),
        (
            "data.features={recency: numeric, segment: categorical}",
            r"column 'segment' is named by both data\.treatment and data\.features",
        ),
        (
            "data.features={recency: numeric, fold: numeric}",
            r"data\.features names 'fold', a name the pipeline gives a column of its own; rename",
        ),
        (
            "data.outcomes={treatment: binary}",
            r"data\.outcomes names 'treatment', a name the pipeline gives a column of its own",
        ),
        (
            "data.cluster=recency",
            r"column 'recency' is named by both data\.features and data\.cluster",
        ),
    ],
)
def test_a_column_in_two_roles_or_named_like_the_pipelines_own_is_refused(
    root: Path, override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(root / "conf" / "local.yaml", [override])


def test_cluster_id_is_the_pipelines_own_name_only_when_a_cluster_column_is_set(
    root: Path,
) -> None:
    features = "data.features={recency: numeric, cluster_id: categorical}"
    assert "cluster_id" in load_config(root / "conf" / "local.yaml", [features]).data.features
    with pytest.raises(ConfigError, match=r"data\.features names 'cluster_id', a name the "
                       r"pipeline gives a column of its own"):
        load_config(root / "conf" / "local.yaml", [features, "data.cluster=household"])


def test_unknown_key_suggests_the_nearest_known_key(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"'ingest\.alpah' is not a known setting; did you mean "
                       r"ingest\.alpha\?"):
        load_config(root / "conf" / "local.yaml", ["ingest.alpah=0.1"])


def test_unknown_key_inside_a_list_suggests_the_field(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"did you mean allocation\.guardrails\.limit\?"):
        load_config(
            root / "conf" / "local.yaml",
            ["allocation.guardrails=[{name: b, kind: budget, limt: 5}]"],
        )


def test_missing_local_input_names_the_key(root: Path, tmp_path: Path) -> None:
    cfg = load_config(root / "conf" / "local.yaml", [f"data.experiment.path={tmp_path}/no.csv"])
    with pytest.raises(ConfigError, match=r"data\.experiment\.path '.*no\.csv' does not exist"):
        check_local_inputs(cfg)


@pytest.mark.parametrize("path", ["s3a://bucket/x.parquet", "dbfs:/x.parquet"])
def test_remote_inputs_are_left_to_spark(root: Path, path: str) -> None:
    check_local_inputs(load_config(root / "conf" / "local.yaml", [f"data.experiment.path={path}"]))


def test_local_input_globs_and_file_uris_are_checked(root: Path, tmp_path: Path) -> None:
    (tmp_path / "part-0.csv").write_text("a\n1\n")
    for path in (f"{tmp_path}/part-*.csv", f"file://{tmp_path}/part-0.csv"):
        check_local_inputs(
            load_config(root / "conf" / "local.yaml", [f"data.experiment.path={path}"])
        )


def _data(**outcomes: object) -> dict[str, object]:
    return {
        "data": {
            "experiment": {"path": "x"},
            "control": " ctl ",
            "arms": ["a "],
            "features": {"f": "numeric"},
            "outcomes": outcomes,
        }
    }


def test_long_outcome_form_splits_into_kinds_labels_and_directions() -> None:
    cfg = validate(
        _data(voted={"kind": "binary", "positive": "Yes"},
              churn={"kind": "binary", "direction": "lower"}, spend="continuous")
    )
    assert cfg.data.outcomes == {"voted": "binary", "churn": "binary", "spend": "continuous"}
    assert cfg.data.positive_labels == {"voted": "Yes"}
    assert cfg.data.sign("churn") == -1.0 and cfg.data.sign("spend") == 1.0
    assert (cfg.data.control, cfg.data.arms) == ("ctl", ["a"])


def test_direction_on_an_unknown_outcome_names_the_key() -> None:
    raw = _data(spend="continuous")
    raw["data"]["directions"] = {"churn": "lower"}  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"data\.directions names outcome\(s\) churn"):
        validate(raw)


def test_positive_label_on_a_continuous_outcome_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"data\.outcomes\.spend has a positive label"):
        validate(_data(spend={"kind": "continuous", "positive": "Yes"}))


def test_lower_direction_flips_the_value_weight_and_do_no_harm() -> None:
    from causal_targeting.decision import allocation_problem

    raw = _data(churn={"kind": "binary", "direction": "lower"})
    raw["allocation"] = {"weights": {"churn": 50.0}, "do_no_harm": {"outcome": "churn"}}
    value_model, _, rule = allocation_problem(validate(raw))
    assert value_model.weights == {"churn": -50.0}
    assert rule is not None and rule.sign == -1.0


def test_yaml_reads_on_yes_and_no_as_words_not_booleans(tmp_path: Path, root: Path) -> None:
    """YAML 1.1 (PyYAML's default) reads on/off/yes/no as booleans: the documented
    ``do_no_harm: {on: value}`` would be the key True, an arm named ``no`` would be False."""
    conf = tmp_path / "user.yaml"
    conf.write_text(
        f"inherit: {root / 'conf' / 'local.yaml'}\n"
        "allocation:\n"
        "  do_no_harm: {on: value}\n"
        "  safeguard: FALSE\n"
        "train:\n"
        "  promote: yes\n"
    )
    cfg = load_config(conf, ["data.control=no", "data.arms=[on, 'off']", "evaluate.alpha=0.1"])
    assert cfg.allocation.do_no_harm is not None and cfg.allocation.do_no_harm.on == "value"
    assert cfg.allocation.safeguard is False
    assert cfg.train.promote is True  # a boolean setting written 'yes' is still true
    assert cfg.data.control == "no" and cfg.data.arms == ["on", "off"]


def test_booleans_where_labels_are_expected_read_as_sparks_text_of_a_boolean(
    tmp_path: Path, root: Path
) -> None:
    """A boolean treatment column's labels are 'true' and 'false' (Spark's text of a boolean):
    ``control: false`` and ``arms: [True]`` read as those (before, 'input should be a valid
    string (got False)'), and a boolean setting written ``true`` is still true."""
    conf = tmp_path / "user.yaml"
    conf.write_text(
        f"inherit: {root / 'conf' / 'local.yaml'}\n"
        "data: {control: false, arms: [True]}\n"
        "allocation: {weights: {visit: 1.0}, fixed_cost: {true: 0.25}, safeguard: FALSE}\n"
        "train: {promote: true}\n"
    )
    cfg = load_config(conf, ["spark.extra={spark.sql.ansi.enabled: true}"])
    assert cfg.data.control == "false" and cfg.data.arms == ["true"]
    assert cfg.allocation.fixed_cost == {"true": 0.25}
    assert cfg.train.promote is True and cfg.allocation.safeguard is False
    assert cfg.spark.extra == {"spark.sql.ansi.enabled": "true"}


def test_numbers_where_labels_are_expected_read_as_their_text(root: Path) -> None:
    """A 0/1 treatment or outcome column's labels can be written unquoted: the tables' values
    are compared as text, so 0 is the label '0' (before, 'input should be a valid string')."""
    cfg = load_config(
        root / "conf" / "local.yaml",
        [
            "data.control=0",
            "data.arms=[1, 2]",
            "data.outcomes.visit={kind: binary, positive: 1}",
            "allocation.fixed_cost={1: 0.5, 2: 0.75}",
        ],
    )
    assert cfg.data.control == "0" and cfg.data.arms == ["1", "2"]
    assert cfg.data.positive_labels == {"visit": "1"}
    assert cfg.allocation.fixed_cost == {"1": 0.5, "2": 0.75}
    with pytest.raises(ConfigError, match=r"'spark\.shuffle_partitions'.*integer"):
        load_config(root / "conf" / "local.yaml", ["spark.shuffle_partitions=many"])


def test_whole_number_labels_with_a_decimal_point_read_as_the_integers_text(root: Path) -> None:
    """``control: 0.0`` is the label '0', as a fractional treatment column's 0.0 is read (before,
    refused for the dot in '0.0'); a fractional label keeps its dot, and its refusal."""
    cfg = load_config(root / "conf" / "local.yaml", ["data.control=0.0", "data.arms=[1.0, 2]"])
    assert cfg.data.control == "0" and cfg.data.arms == ["1", "2"]
    with pytest.raises(ConfigError, match=r"data\.arms names '2\.5', which holds a dot"):
        load_config(root / "conf" / "local.yaml", ["data.control=0", "data.arms=[2.5]"])


@pytest.mark.parametrize("key", ["propensity", "weight", "cluster"])
def test_a_number_where_a_column_is_named_is_refused(root: Path, key: str) -> None:
    """``propensity: 0.85`` is a value where a column's name is expected (before, refused for
    the dot of '0.85' with a fix to rename a column); the propensity's error names the key that
    takes a known design probability."""
    with pytest.raises(ConfigError) as error:
        load_config(root / "conf" / "local.yaml", [f"data.{key}=0.85"])
    message = str(error.value)
    assert f"data.{key} names a column of the experiment table, not a value (got 0.85" in message
    assert ("data.design_propensity: 0.85" in message) == (key == "propensity")
    quoted = load_config(root / "conf" / "local.yaml", [f"data.{key}='7'"])
    assert getattr(quoted.data, key) == "7"


def test_a_list_of_features_is_told_to_be_a_mapping(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"'data\.features'.*map each column to its kind, e\.g\."):
        load_config(root / "conf" / "local.yaml", ["data.features=[age, region]"])


def test_run_refuses_empty_weights_before_any_stage(root: Path, tmp_path: Path) -> None:
    """`run` needs the value model to allocate: without allocation.weights it stops before
    ingest (the session is not touched, nothing is written), not after training."""
    from causal_targeting import pipeline

    cfg = load_config(root / "conf" / "local.yaml", [f"outputs.root={tmp_path / 'w'}"])
    cfg.allocation.weights.clear()
    with pytest.raises(ConfigError, match=r"allocation\.weights is empty"):
        pipeline.run(cfg, spark=object())  # type: ignore[arg-type]  # any use fails
    assert not (tmp_path / "w").exists()
