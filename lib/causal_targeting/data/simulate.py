"""Ground-truth simulator: a randomized experiment and a customer base with known effects.

Three scenarios, one per decision type (``retention``, ``rewards``, ``spend_threshold``), each a
frozen :class:`Scenario` in :data:`SCENARIOS`. The numpy/pandas core (:func:`simulate_block`,
:func:`customer_block`) turns customer ids and a seed into rows; the Spark edge
(:func:`simulate`, :func:`write_simulation`) only spreads ``spark.range`` ids over partitions and
calls the core in ``mapInPandas``.

Randomness is counter-based: every random number is ``splitmix64`` of (seed, stream name,
customer id), mapped to a uniform in (0, 1). A row therefore depends on its id and the seed only,
never on how ids are split into blocks or partitions, and a block is generated with vectorized
integer arithmetic (no per-row Python).

Rows carry, besides the features (and in the experiment the assigned ``treatment``, its design
probability ``propensity`` and the realized outcomes), the truth of every arm a:

- ``true_mu__{outcome}__{a}`` = E[Y(a) | x], a closed-form function of the observed features x;
- ``true_tau__{outcome}__{a}`` = true_mu a − true_mu control, for every non-control arm.

Realized outcomes use common random numbers across arms: a customer's draws are the same
whichever arm they get, so the potential outcomes of one customer are coupled and changing the
assignment probabilities changes only ``treatment`` (and what is realized), never the features
or the truth.

The experiment's customers have ids ``0 .. rows−1``; the customer base has ids
``CUSTOMER_ID_OFFSET + (0 .. customers_rows−1)``: disjoint samples of the same population.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

from causal_targeting.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

FeatureKind = Literal["numeric", "categorical"]
OutcomeKind = Literal["binary", "continuous"]
Means = dict[str, dict[str, np.ndarray]]
_V = TypeVar("_V")

CUSTOMER_ID_OFFSET = 10**12
ROWS_PER_PARTITION = 1_000_000

# ---------------------------------------------------------------------------------------------
# Counter-based random numbers
# ---------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


class Draws:
    """Random numbers keyed by (seed, stream name, id): uniform, normal, log-normal.

    ``uniform(stream)[i] = ((mix(id_i·φ + k) >> 11) + ½) / 2⁵³`` with
    ``k = mix(seed·φ + crc32(stream))``, φ the golden-ratio increment and ``mix`` the finalizer of
    splitmix64 (so each stream is a splitmix64 sequence indexed by id, started at a key of its
    own): each id gets its own number in (0, 1), independent of the other ids in the block.
    """

    def __init__(self, ids: np.ndarray, seed: int) -> None:
        self._ids = np.asarray(ids).astype(np.uint64)
        self._seed = np.uint64(seed)

    def uniform(self, stream: str) -> np.ndarray:
        """Uniform(0, 1) numbers, one per id, for the named stream."""
        with np.errstate(over="ignore"):
            key = _mix64(np.array([self._seed * _GOLDEN + np.uint64(zlib.crc32(stream.encode()))]))
            bits = _mix64(self._ids * _GOLDEN + key)
        return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, stream: str) -> np.ndarray:
        """Standard normal numbers, ``Φ⁻¹(uniform)``."""
        return ndtri(self.uniform(stream))

    def unit_lognormal(self, stream: str, sigma: float) -> np.ndarray:
        """Log-normal numbers with mean 1: ``exp(σZ − σ²/2)``."""
        return np.exp(sigma * self.normal(stream) - sigma**2 / 2)


# ---------------------------------------------------------------------------------------------
# The customer population
# ---------------------------------------------------------------------------------------------

FEATURES: Mapping[str, FeatureKind] = MappingProxyType(
    {
        "tenure_months": "numeric",
        "recency_days": "numeric",
        "frequency_12m": "numeric",
        "avg_order_value": "numeric",
        "monetary_12m": "numeric",
        "discount_share": "numeric",
        "email_open_rate": "numeric",
        "channel": "categorical",
        "region": "categorical",
        "loyalty_tier": "categorical",
    }
)
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)
REGION_PROBS = (0.30, 0.25, 0.25, 0.20)
EMAIL_MISSING_SHARE = 0.12
REGION_MISSING_SHARE = 0.03


def _categorical(codes: np.ndarray, labels: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Labels of ``codes`` as an object array, None where ``missing``."""
    values = labels[codes]
    if missing is not None:
        values[missing] = None
    return values


def customer_features(draws: Draws) -> pd.DataFrame:
    """The features of each customer, from a latent engagement e ~ N(0, 1) (not a column).

    - tenure_months = clip(round(exp(3 + 0.9·Z₁)), 1, 240)
    - frequency_12m = floor(Exp(1) · exp(1.2 + 0.6·e)) orders in the last 12 months
    - recency_days = clip(ceil(Exp(1) · 365 / (frequency + 1)), 1, 730)
    - avg_order_value = round(exp(3.7 + 0.35·Z₂), 2)
    - monetary_12m = frequency · avg_order_value
    - discount_share = expit(−1 + 1.2·Z₃ − 0.3·e): share of orders bought on discount
    - email_open_rate = expit(−1 + 0.8·e + 0.7·Z₄), null for the 12% without e-mail consent
    - channel = app if 0.5·e + Z₅ > 0.6, store if < −0.7, else web
    - region ∈ north/south/east/west (0.30/0.25/0.25/0.20), null for 3%
    - loyalty_tier = gold if tenure ≥ 36 and frequency ≥ 6, silver if tenure ≥ 24 or
      frequency ≥ 6, else none
    """
    engagement = draws.normal("engagement")
    tenure = np.clip(np.round(np.exp(3.0 + 0.9 * draws.normal("tenure"))), 1, 240)
    frequency = np.floor(-np.log(draws.uniform("frequency")) * np.exp(1.2 + 0.6 * engagement))
    recency = np.clip(np.ceil(-np.log(draws.uniform("recency")) * 365 / (frequency + 1)), 1, 730)
    order_value = np.round(np.exp(3.7 + 0.35 * draws.normal("order_value")), 2)
    discount = expit(-1.0 + 1.2 * draws.normal("discount") - 0.3 * engagement)
    open_rate = expit(-1.0 + 0.8 * engagement + 0.7 * draws.normal("open_rate"))
    open_rate[draws.uniform("email_consent") < EMAIL_MISSING_SHARE] = np.nan
    channel_score = 0.5 * engagement + draws.normal("channel")
    channel_code = np.where(channel_score > 0.6, 1, np.where(channel_score < -0.7, 2, 0))
    region_code = np.searchsorted(np.cumsum(REGION_PROBS)[:-1], draws.uniform("region"))
    tier_code = np.where(
        (tenure >= 36) & (frequency >= 6), 2, np.where((tenure >= 24) | (frequency >= 6), 1, 0)
    )
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "recency_days": recency,
            "frequency_12m": frequency,
            "avg_order_value": order_value,
            "monetary_12m": np.round(frequency * order_value, 2),
            "discount_share": discount,
            "email_open_rate": open_rate,
            "channel": _categorical(channel_code, np.array(["web", "app", "store"], object), None),
            "region": _categorical(
                region_code, REGIONS, draws.uniform("region_missing") < REGION_MISSING_SHARE
            ),
            "loyalty_tier": _categorical(
                tier_code, np.array(["none", "silver", "gold"], object), None
            ),
        }
    )


def _recency_score(x: pd.DataFrame) -> np.ndarray:
    """r = log(1 + recency_days) / log(366): 0 for a purchase yesterday, 1 for a year ago."""
    return np.log1p(x["recency_days"].to_numpy()) / math.log(366.0)


def _frequency_score(x: pd.DataFrame) -> np.ndarray:
    """f = log(1 + frequency_12m)."""
    return np.log1p(x["frequency_12m"].to_numpy())


def _is(x: pd.DataFrame, column: str, value: str) -> np.ndarray:
    """1.0 where the categorical ``column`` equals ``value``, else 0.0 (nulls give 0.0)."""
    return (x[column].to_numpy() == value).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Response surfaces
# ---------------------------------------------------------------------------------------------


class Response(Protocol):
    """A scenario's outcome model: true conditional means and realized outcomes."""

    def means(self, x: pd.DataFrame) -> Means:
        """E[Y(a) | x] as ``{outcome: {arm: array}}`` for every arm, control included."""
        ...

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        """The outcomes of each row under its arm (``arm`` holds arm names)."""
        ...


def _pick(per_arm: Mapping[str, np.ndarray | float], arm: np.ndarray) -> np.ndarray:
    """Row i's value of ``per_arm[arm[i]]`` (values are arrays over rows, or scalars)."""
    codes, names = pd.factorize(arm)
    picked = np.empty(len(arm), dtype=np.float64)
    for code, name in enumerate(names):
        rows = codes == code
        values = per_arm[name]
        picked[rows] = values[rows] if isinstance(values, np.ndarray) else values
    return picked


@dataclass(frozen=True)
class RetentionResponse:
    """One retention message against none; a share of customers is harmed by the message.

    With r the recency score, f the frequency score, o the e-mail open rate (0.15 when null):

    - retention probability: p_a(x) = expit(η(x) + δ(x)·1[a = message]) with
      η = 0.2 + 0.7·f − 2.2·r + 0.25·log(tenure/12) + 0.3·1[gold]
    - effect on the logit: δ(x) = 1.6·(r − 0.40) + 0.8·discount_share − 0.9·(1 − r)·1[store]
      − 0.6·(1 − o); negative for recent, full-price, store or non-reading customers, whom the
      message reminds to leave (the "sleeping dogs", about a quarter of the population)
    - revenue if retained: m(x) = 1.5·avg_order_value·(1 + f), the same under both arms
    - retained(a) = 1[U < p_a], revenue(a) = retained(a)·m(x)·L with L log-normal of mean 1
      (σ = 0.6), so E[retained(a)|x] = p_a and E[revenue(a)|x] = p_a·m.
    """

    control: str
    message: str
    revenue_sigma: float = 0.6

    def _retention_probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        r, f = _recency_score(x), _frequency_score(x)
        opened = x["email_open_rate"].fillna(0.15).to_numpy()
        base = (
            0.2
            + 0.7 * f
            - 2.2 * r
            + 0.25 * np.log(x["tenure_months"].to_numpy() / 12.0)
            + 0.3 * _is(x, "loyalty_tier", "gold")
        )
        effect = (
            1.6 * (r - 0.40)
            + 0.8 * x["discount_share"].to_numpy()
            - 0.9 * (1 - r) * _is(x, "channel", "store")
            - 0.6 * (1 - opened)
        )
        return {self.control: expit(base), self.message: expit(base + effect)}

    def _revenue_if_retained(self, x: pd.DataFrame) -> np.ndarray:
        return 1.5 * x["avg_order_value"].to_numpy() * (1 + _frequency_score(x))

    def means(self, x: pd.DataFrame) -> Means:
        retained = self._retention_probabilities(x)
        value = self._revenue_if_retained(x)
        return {
            "retained": retained,
            "revenue": {arm: p * value for arm, p in retained.items()},
        }

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        probability = _pick(self._retention_probabilities(x), arm)
        retained = (draws.uniform("retained") < probability).astype(np.float64)
        amount = self._revenue_if_retained(x) * draws.unit_lognormal("revenue", self.revenue_sigma)
        return {"retained": retained, "revenue": retained * amount}


@dataclass(frozen=True)
class RewardsResponse:
    """Event rewards of several values; the appeal of a reward peaks at a personal value.

    Reward arm a pays v_a on redemption. With r, f the recency and frequency scores:

    - organic event purchase: η(x) = −1.0 + 0.5·f − 1.4·r + 0.3·1[app]
    - personal reference reward v*(x) = clip(0.15·avg_order_value·(1 + 2·discount_share), 3, 40)
    - appeal A(x) = 0.2 + 1.5·discount_share + 0.3·1[gold]
    - purchase probability p_a(x) = expit(η + A·exp(−ln²(v_a / v*) / (2·0.7²))), p_none = expit(η)
      — a bump in log reward value: for a customer with v* = 5 the 5 reward beats the 20 one,
      so the effect is not monotone in the reward's cost for everyone
    - basket at the event b_a(x) = avg_order_value·(1 + 0.2·f) + v_a (the reward is spent)
    - purchased(a) = 1[U < p_a]; redeemed(a) = purchased(a) for a reward arm, 0 under none;
      spend(a) = purchased(a)·b_a·L, L log-normal of mean 1 (σ = 0.5);
      E[redeemed(a)|x] = p_a (0 under none), E[spend(a)|x] = p_a·b_a.
    """

    control: str
    rewards: Mapping[str, float]
    width: float = 0.7
    spend_sigma: float = 0.5

    def _purchase_probabilities(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        r, f = _recency_score(x), _frequency_score(x)
        discount = x["discount_share"].to_numpy()
        base = -1.0 + 0.5 * f - 1.4 * r + 0.3 * _is(x, "channel", "app")
        reference = np.clip(0.15 * x["avg_order_value"].to_numpy() * (1 + 2 * discount), 3, 40)
        appeal = 0.2 + 1.5 * discount + 0.3 * _is(x, "loyalty_tier", "gold")
        probabilities = {self.control: expit(base)}
        for arm, value in self.rewards.items():
            bump = np.exp(-(np.log(value / reference) ** 2) / (2 * self.width**2))
            probabilities[arm] = expit(base + appeal * bump)
        return probabilities

    def _baskets(self, x: pd.DataFrame) -> dict[str, np.ndarray]:
        basket = x["avg_order_value"].to_numpy() * (1 + 0.2 * _frequency_score(x))
        rewards = {self.control: 0.0, **self.rewards}
        return {arm: basket + value for arm, value in rewards.items()}

    def means(self, x: pd.DataFrame) -> Means:
        purchase = self._purchase_probabilities(x)
        baskets = self._baskets(x)
        redeemed = {arm: p * (arm != self.control) for arm, p in purchase.items()}
        return {
            "redeemed": redeemed,
            "spend": {arm: p * baskets[arm] for arm, p in purchase.items()},
        }

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        probability = _pick(self._purchase_probabilities(x), arm)
        purchased = (draws.uniform("purchased") < probability).astype(np.float64)
        basket = _pick(self._baskets(x), arm) * draws.unit_lognormal("spend", self.spend_sigma)
        return {
            "redeemed": purchased * (arm != self.control),
            "spend": purchased * basket,
        }


@dataclass(frozen=True)
class SpendThresholdResponse:
    """Offers "spend X, get Y": a spend lift concave in X, the reward paid only if reached.

    Offer a has threshold X_a (reward Y_a); the control has X = 0. With r, f the recency and
    frequency scores:

    - purchase in the period: q(x) = expit(−0.3 + 0.6·f − 1.5·r), the same under every arm
    - spend if purchasing, no offer: m(x) = avg_order_value·(1 + 0.3·f)
    - saturation point c(x) = max(30, m·(0.6 + discount_share)); amplitude
      α(x) = 0.1 + 0.5·discount_share + 0.1·1[app]
    - spend multiplier M(X; x) = 1 + α·(1 − exp(−X/c) − λ·X/c), λ = 0.2: concave in X, M(0) = 1,
      rising to its peak at X = c·ln(1/λ) ≈ 1.6c, then falling as the threshold gets out of
      reach (below 1 past X ≈ 5c); c ≥ 30 keeps M ≥ 1 − 0.4·α ≥ 0.72 on the menu (X ≤ 210)
    - spend(a) = 1[U < q]·m·M(X_a)·L, L = exp(σZ − σ²/2) (σ = 0.5);
      redeemed(a) = 1[spend(a) ≥ X_a] (0 under none): the reward is paid only when reached;
      E[spend(a)|x] = q·m·M(X_a), E[redeemed(a)|x] = q·Φ((ln(m·M(X_a)/X_a) − σ²/2)/σ).
    """

    control: str
    thresholds: Mapping[str, float]
    decline: float = 0.2
    spend_sigma: float = 0.5

    def _purchase(self, x: pd.DataFrame) -> np.ndarray:
        return expit(-0.3 + 0.6 * _frequency_score(x) - 1.5 * _recency_score(x))

    def _spend_if_purchasing(self, x: pd.DataFrame) -> np.ndarray:
        return x["avg_order_value"].to_numpy() * (1 + 0.3 * _frequency_score(x))

    def _curve(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(c, α): each customer's saturation point and amplitude."""
        discount = x["discount_share"].to_numpy()
        saturation = np.maximum(30.0, self._spend_if_purchasing(x) * (0.6 + discount))
        amplitude = 0.1 + 0.5 * discount + 0.1 * _is(x, "channel", "app")
        return saturation, amplitude

    def multiplier(
        self, threshold: np.ndarray | float, saturation: np.ndarray, amplitude: np.ndarray
    ) -> np.ndarray:
        """M(X; x) = 1 + α·(1 − exp(−X/c) − λ·X/c), the offer's factor on the customer's spend."""
        ratio = threshold / saturation
        return 1 + amplitude * (1 - np.exp(-ratio) - self.decline * ratio)

    def means(self, x: pd.DataFrame) -> Means:
        purchase = self._purchase(x)
        spend = self._spend_if_purchasing(x)
        saturation, amplitude = self._curve(x)
        sigma = self.spend_sigma
        means: Means = {
            "redeemed": {self.control: np.zeros(len(x))},
            "spend": {self.control: purchase * spend},
        }
        for arm, threshold in self.thresholds.items():
            lifted = spend * self.multiplier(threshold, saturation, amplitude)
            z = (np.log(lifted / threshold) - sigma**2 / 2) / sigma
            means["redeemed"][arm] = purchase * ndtr(z)
            means["spend"][arm] = purchase * lifted
        return means

    def realize(self, x: pd.DataFrame, arm: np.ndarray, draws: Draws) -> dict[str, np.ndarray]:
        threshold = _pick({self.control: 0.0, **self.thresholds}, arm)
        purchased = draws.uniform("purchased") < self._purchase(x)
        spend = (
            purchased
            * self._spend_if_purchasing(x)
            * self.multiplier(threshold, *self._curve(x))
            * draws.unit_lognormal("spend", self.spend_sigma)
        )
        redeemed = (threshold > 0) & (spend >= threshold)
        return {"redeemed": redeemed.astype(np.float64), "spend": spend}


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmCost:
    """What an arm costs: a fixed cost per contact, and a reward paid when it is redeemed.

    ``threshold`` is the spend a customer must reach to earn the reward (spend_threshold only).
    The control arm costs nothing.
    """

    contact_cost: float = 0.0
    reward: float = 0.0
    threshold: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A simulated decision: arms, features, outcomes, costs, design and response model.

    ``assignment_probs`` is the default design (every arm, control included; unequal allowed).
    ``costs`` has every arm. ``margin`` is the gross margin on the continuous outcome (revenue or
    spend), so the expected incremental profit of arm a is
    margin·true_tau__{money}__a − reward_a·true_mu__redeemed__a − contact_cost_a
    (no reward term in retention). ``response`` gives the true means and the realized outcomes.
    """

    name: str
    description: str
    control: str
    arms: tuple[str, ...]
    features: Mapping[str, FeatureKind]
    outcomes: Mapping[str, OutcomeKind]
    costs: Mapping[str, ArmCost]
    assignment_probs: Mapping[str, float]
    margin: float
    response: Response

    @property
    def all_arms(self) -> tuple[str, ...]:
        """The control first, then the treatment arms."""
        return (self.control, *self.arms)


def _frozen(mapping: dict[str, _V]) -> Mapping[str, _V]:
    """A read-only view of ``mapping`` (the scenario specs are constants)."""
    return MappingProxyType(mapping)


def _retention() -> Scenario:
    control, message = "none", "retention_message"
    return Scenario(
        name="retention",
        description="one retention message vs none; some customers are harmed by the message",
        control=control,
        arms=(message,),
        features=FEATURES,
        outcomes=_frozen({"retained": "binary", "revenue": "continuous"}),
        costs=_frozen({control: ArmCost(), message: ArmCost(contact_cost=0.5)}),
        assignment_probs=_frozen({control: 0.3, message: 0.7}),
        margin=0.4,
        response=RetentionResponse(control=control, message=message),
    )


REWARD_VALUES = (5.0, 10.0, 20.0)


def _rewards() -> Scenario:
    control = "none"
    rewards = {f"reward_{int(v)}": v for v in REWARD_VALUES}
    return Scenario(
        name="rewards",
        description="event rewards of 5, 10 and 20 vs none; effects not monotone in cost",
        control=control,
        arms=tuple(rewards),
        features=FEATURES,
        outcomes=_frozen({"redeemed": "binary", "spend": "continuous"}),
        costs=_frozen(
            {
                control: ArmCost(),
                **{arm: ArmCost(contact_cost=0.25, reward=v) for arm, v in rewards.items()},
            }
        ),
        assignment_probs=_frozen({arm: 0.25 for arm in (control, *rewards)}),
        margin=0.4,
        response=RewardsResponse(control=control, rewards=_frozen(rewards)),
    )


THRESHOLDS = tuple(float(x) for x in range(20, 220, 10))
REWARD_SHARE = 0.1


def _spend_threshold() -> Scenario:
    control = "none"
    rewards = {x: round(REWARD_SHARE * x, 2) for x in THRESHOLDS}
    offers = {f"spend_{x:g}_get_{y:g}": x for x, y in rewards.items()}
    treated_share = 0.8 / len(offers)
    return Scenario(
        name="spend_threshold",
        description='a fine menu of 20 "spend X, get Y" offers (Y = X/10) vs none',
        control=control,
        arms=tuple(offers),
        features=FEATURES,
        outcomes=_frozen({"redeemed": "binary", "spend": "continuous"}),
        costs=_frozen(
            {
                control: ArmCost(),
                **{
                    arm: ArmCost(contact_cost=0.1, reward=rewards[x], threshold=x)
                    for arm, x in offers.items()
                },
            }
        ),
        assignment_probs=_frozen({control: 0.2, **{arm: treated_share for arm in offers}}),
        margin=0.4,
        response=SpendThresholdResponse(control=control, thresholds=_frozen(offers)),
    )


SCENARIOS: Mapping[str, Scenario] = _frozen(
    {s.name: s for s in (_retention(), _rewards(), _spend_threshold())}
)


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; an unknown name raises UserError listing the valid ones."""
    if name not in SCENARIOS:
        raise UserError(
            f"unknown simulation scenario '{name}'; choose one of: {', '.join(SCENARIOS)}"
        )
    return SCENARIOS[name]


# ---------------------------------------------------------------------------------------------
# The core: ids and a seed -> rows
# ---------------------------------------------------------------------------------------------


def mu_column(outcome: str, arm: str) -> str:
    """The ground-truth mean column of ``outcome`` under ``arm``."""
    return f"true_mu__{outcome}__{arm}"


def tau_column(outcome: str, arm: str) -> str:
    """The ground-truth effect column of ``arm`` against control on ``outcome``."""
    return f"true_tau__{outcome}__{arm}"


def truth_columns(spec: Scenario) -> list[str]:
    """The true_mu columns (every arm) then the true_tau columns (every non-control arm)."""
    mus = [mu_column(o, a) for o in spec.outcomes for a in spec.all_arms]
    return mus + [tau_column(o, a) for o in spec.outcomes for a in spec.arms]


def customer_columns(spec: Scenario) -> list[str]:
    """Columns of the simulated customer table, in order."""
    return ["customer_id", *spec.features, *truth_columns(spec)]


def experiment_columns(spec: Scenario) -> list[str]:
    """Columns of the simulated experiment table, in order."""
    return [
        "customer_id",
        *spec.features,
        "treatment",
        "propensity",
        *spec.outcomes,
        *truth_columns(spec),
    ]


def check_seed(seed: int) -> int:
    """Refuse a seed that is not an integer in [0, 2⁶⁴)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise UserError(f"simulation seed must be an integer in [0, 2^64), got {seed!r}")
    return int(seed)


def check_assignment_probs(
    spec: Scenario, assignment_probs: Mapping[str, float] | None
) -> dict[str, float]:
    """The design probabilities of every arm: the scenario's default, or a checked override.

    An override must name every arm of the scenario (control included) and nothing else, give
    each a probability > 0, and sum to 1 (within 1e-9); otherwise UserError.
    """
    if assignment_probs is None:
        return dict(spec.assignment_probs)
    probs = {str(arm): float(p) for arm, p in assignment_probs.items()}
    expected = set(spec.all_arms)
    if set(probs) != expected:
        unknown = sorted(set(probs) - expected)
        missing = sorted(expected - set(probs))
        raise UserError(
            f"assignment probabilities of scenario '{spec.name}' must name each arm once: "
            f"unknown {unknown}, missing {missing}; the arms are {', '.join(spec.all_arms)}"
        )
    bad = [arm for arm, p in probs.items() if not p > 0]
    if bad:
        raise UserError(
            f"assignment probability of arm(s) {', '.join(bad)} is not > 0; give every arm of "
            f"scenario '{spec.name}' a positive probability (drop an arm by using another design)"
        )
    total = math.fsum(probs.values())
    if abs(total - 1.0) > 1e-9:
        raise UserError(
            f"assignment probabilities of scenario '{spec.name}' sum to {total:.6g}, not 1; "
            "rescale them"
        )
    return {arm: probs[arm] for arm in spec.all_arms}


def _truth(spec: Scenario, means: Means) -> dict[str, np.ndarray]:
    """The true_mu and true_tau columns from ``{outcome: {arm: E[Y(arm)|x]}}``."""
    columns = {
        mu_column(outcome, arm): means[outcome][arm]
        for outcome in spec.outcomes
        for arm in spec.all_arms
    }
    for outcome in spec.outcomes:
        for arm in spec.arms:
            columns[tau_column(outcome, arm)] = means[outcome][arm] - means[outcome][spec.control]
    return columns


def _customer_rows(spec: Scenario, ids: np.ndarray, draws: Draws) -> tuple[pd.DataFrame, Means]:
    """customer_id + features, and the true means of every outcome under every arm."""
    features = customer_features(draws)
    features.insert(0, "customer_id", np.asarray(ids, dtype=np.int64))
    return features, spec.response.means(features)


def _frame(*parts: pd.DataFrame | dict[str, np.ndarray]) -> pd.DataFrame:
    """One DataFrame of the columns of ``parts``, in order (one copy, no block merging)."""
    columns: dict[str, np.ndarray] = {}
    for part in parts:
        columns.update(
            {name: part[name].to_numpy() for name in part.columns}
            if isinstance(part, pd.DataFrame)
            else part
        )
    return pd.DataFrame(columns)


def customer_block(spec: Scenario, ids: np.ndarray, seed: int) -> pd.DataFrame:
    """Rows of the customer table for ``ids``: customer_id, features and the truth columns.

    A row depends only on (id, seed): the same id gives the same features and truth in any block.
    """
    draws = Draws(ids, check_seed(seed))
    features, means = _customer_rows(spec, ids, draws)
    return _frame(features, _truth(spec, means))


def assign_arms(draws: Draws, probs: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Randomized assignment: arm k with probability probs[k], independently of x.

    Returns the arm names (object array) and each row's design probability (``propensity``).
    """
    arms = np.array(list(probs), dtype=object)
    p = np.array(list(probs.values()))
    edges = np.cumsum(p)[:-1]
    chosen = np.searchsorted(edges, draws.uniform("assignment"), side="right")
    return arms[chosen], p[chosen]


def simulate_block(
    spec: Scenario,
    ids: np.ndarray,
    seed: int,
    assignment_probs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rows of the randomized experiment for ``ids`` (columns: :func:`experiment_columns`).

    Each row: features x (:func:`customer_features`), ``treatment`` drawn with
    ``assignment_probs`` (default: the scenario's design) and its probability as ``propensity``,
    the outcomes realized under that arm (the scenario's ``response``), and the truth columns.
    A row depends only on (id, seed, assignment_probs), not on the block it is generated in.
    """
    probs = check_assignment_probs(spec, assignment_probs)
    draws = Draws(ids, check_seed(seed))
    features, means = _customer_rows(spec, ids, draws)
    treatment, propensity = assign_arms(draws, probs)
    outcomes = spec.response.realize(features, treatment, draws)
    design = {"treatment": treatment, "propensity": propensity, **outcomes}
    return _frame(features, design, _truth(spec, means))


# ---------------------------------------------------------------------------------------------
# The Spark edge
# ---------------------------------------------------------------------------------------------


def spark_schema(spec: Scenario, experiment: bool) -> StructType:
    """The explicit Spark schema of the experiment (``experiment=True``) or customer table."""
    from pyspark.sql import types as T

    kinds: dict[str, T.DataType] = {"customer_id": T.LongType(), "treatment": T.StringType()}
    for name, kind in spec.features.items():
        kinds[name] = T.StringType() if kind == "categorical" else T.DoubleType()
    columns = experiment_columns(spec) if experiment else customer_columns(spec)
    return T.StructType(
        [
            T.StructField(c, kinds.get(c, T.DoubleType()), nullable=c != "customer_id")
            for c in columns
        ]
    )


def check_rows(rows: int, what: str = "rows") -> int:
    """Refuse a row count that is not a positive integer."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows <= 0:
        raise UserError(f"simulation {what} must be a positive integer, got {rows!r}")
    return int(rows)


def default_partitions(spark: SparkSession, rows: int) -> int:
    """max(default parallelism, ⌈rows / 1M⌉): every core busy, partitions of ≤ 1M rows."""
    return max(spark.sparkContext.defaultParallelism, -(-rows // ROWS_PER_PARTITION))


def _blocks(
    spark: SparkSession,
    spec: Scenario,
    id_range: tuple[int, int],
    partitions: int | None,
    make_rows: Callable[[np.ndarray], pd.DataFrame],
    experiment: bool,
) -> DataFrame:
    """``spark.range`` of the ids, turned into rows by ``make_rows(ids)`` in mapInPandas.

    ``make_rows`` returns the columns in the order of :func:`spark_schema`.
    """
    first_id, rows = id_range
    n_partitions = default_partitions(spark, rows) if partitions is None else partitions
    if n_partitions < 1:
        raise UserError(f"simulation partitions must be >= 1, got {partitions!r}")

    def generate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield make_rows(batch["id"].to_numpy())

    ids = spark.range(first_id, first_id + rows, numPartitions=n_partitions)
    return ids.mapInPandas(generate, schema=spark_schema(spec, experiment))


def simulate(
    spark: SparkSession,
    scenario_name: str,
    rows: int,
    seed: int,
    partitions: int | None = None,
    assignment_probs: Mapping[str, float] | None = None,
    customers_rows: int | None = None,
) -> tuple[DataFrame, DataFrame]:
    """The simulated (experiment, customers) DataFrames of a scenario, lazily.

    The experiment has ``rows`` rows with ids 0 .. rows−1; the customer base has
    ``customers_rows`` rows (default ``rows``) with ids ``CUSTOMER_ID_OFFSET + (0 ..)``.
    The rows do not depend on ``partitions`` (default :func:`default_partitions`).
    """
    spec = scenario(scenario_name)
    rows = check_rows(rows)
    n_customers = check_rows(rows if customers_rows is None else customers_rows, "customers_rows")
    seed = check_seed(seed)
    probs = check_assignment_probs(spec, assignment_probs)
    experiment = _blocks(
        spark,
        spec,
        (0, rows),
        partitions,
        lambda ids: simulate_block(spec, ids, seed, probs),
        experiment=True,
    )
    customers = _blocks(
        spark,
        spec,
        (CUSTOMER_ID_OFFSET, n_customers),
        partitions,
        lambda ids: customer_block(spec, ids, seed),
        experiment=False,
    )
    return experiment, customers


def write_simulation(
    spark: SparkSession,
    scenario_name: str,
    rows: int,
    seed: int,
    out_dir: str,
    partitions: int | None = None,
    customers_rows: int | None = None,
    assignment_probs: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """Write ``experiment`` and ``customers`` as Parquet under ``out_dir`` (atomically).

    Returns ``{"experiment": path, "customers": path}``.
    """
    from causal_targeting.data.io import write_table

    experiment, customers = simulate(
        spark, scenario_name, rows, seed, partitions, assignment_probs, customers_rows
    )
    base = out_dir.rstrip("/")
    return {
        "experiment": write_table(experiment, f"{base}/experiment"),
        "customers": write_table(customers, f"{base}/customers"),
    }
