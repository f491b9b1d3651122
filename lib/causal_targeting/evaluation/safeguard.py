"""The policy-level safeguard: keep the targeted policy only when it beats every static one.

A static policy gives one arm to every eligible customer (or no offer to anyone); it needs no
model. On the scored experiment rows (out-of-fold or holdout), valued in the allocator's units
(:mod:`causal_targeting.evaluation.net_value`), let ``V(pi)`` be the doubly robust net value per
customer. The best static policy is the one of largest lower confidence bound,

    s* = argmax_s q_{1 - confidence}(V_b(static s)),

``V_b`` its bootstrap replicates: among static policies whose values are near each other, the
best measured one, not the luckiest of many noisy estimates (the pessimism of offline policy
selection; on a menu of many offers with heavy-tailed outcomes the largest point estimate is
often an offer measured with the most noise). With the paired bootstrap draws ``D_b`` of
``D = V(targeted) - V(static s*)`` (:mod:`causal_targeting.evaluation.paired`), the targeted
policy is kept only when its one-sided lower confidence bound is above zero:

    lower = q_{1 - confidence}(D_b) > 0,      p = (1 + #{D_b <= 0}) / (B + 1)  (one-sided)

otherwise the best static policy is used. Choosing ``s*`` on the same rows favours the static
side slightly, which errs towards the policy that needs no model.

Partial targeting, a second chance. The difference of two policies is measured on the rows where
they differ: if the targeted policy departs from ``s*`` on a share f of the rows with a mean gain
g there and noise sigma per row, ``D = f g`` with a standard error about ``sigma sqrt(f / n)``,
so its t-statistic grows as ``sqrt(f) g(f)``. When the model ranks customers at all, its
departures of largest predicted gain are worth most, and a policy that makes only those can be
shown better than ``s*`` where the whole targeted policy cannot (its marginal departures, of
small predicted gain, add noise and little value, or lose). With g_i the predicted gain of row
i's best option over the option ``s*`` gives it (:func:`departure_gains`), and for a share r of
the rows that depart (g_i > 0) the threshold c_r, their (1 − r) quantile of g_i, the partial
policy pi_r departs from ``s*`` only where g_i > c_r (the allocator solves the same problem with
c_r added to the value of staying with ``s*``). The whole targeted policy is judged first, as
above, and kept when it passes. When it does not, the shares r_1 < r_2 < ... (``partial_shares``)
are tested in that order against ``s*`` at the stricter level ``1 - (1 - confidence) / 2``,
stopping at the first that fails, and the last that passed is kept (a fixed-sequence test:
Maurer, Hothorn & Lehmacher, "Multiple comparisons in drug clinical trials and preclinical
assays: a-priori ordered hypotheses", 1995). The chance that some policy no better than ``s*``
is kept is then at most ``1.5 (1 - confidence)`` (the whole policy's 1 - confidence plus the
sequence's half of it), against 1 - confidence for the whole policy alone; the whole policy is
judged exactly as without the second chance. The thresholds are read from the model's
predictions alone, never from the outcomes, so each policy is fixed before the rows judge it.

When ``s*`` gives an offer, the decision also carries its own evidence against no offer to
anyone, the paired draws of ``G_b = V_b(static s*) - V_b(no offer)`` and their lower bound
over the m offers to everyone together at ``gain_confidence`` c (Bonferroni, as the learner
selection's),

    gain_low = q_{(1 - c) / m}(G_b),

and the offer is declined, no offer to anyone used instead (and the targeted policy then tested
against it), unless ``gain_low`` is above 0. Why: ``s*`` is the best measured of m offers, and
the best measured of many is partly the luckiest (the winner's curse; Andrews, Kitagawa and
McCloskey, "Inference on winners", 2024). If no offer pays, the largest of m independent
estimates is above 0 with probability 1 - 2^{-m} (98% for six), so choosing among the offers
and no offer by their estimates, the empirical success rule, gives an offer that does not pay
almost surely. With c = 0.5 (the default) one offer passes when the median of its gain's
draws, about its estimate, is above 0: the empirical success rule itself, which minimizes the
worst-case regret of a choice between two treatments measured with normal noise (Manski,
"Statistical treatment rules for heterogeneous populations", 2004; Hirano & Porter, "Asymptotics
for statistical treatment rules", 2009); and the best of m offers that do not pay passes with
probability at most m (0.5 / m) = 1/2, the chance of one, where the rule without the correction
lets it through with probability up to 1 - 2^{-m}. A larger c asks an offer to everyone for more
evidence (an asymmetric loss: Tetenov, "Statistical treatment choice based on asymmetric
minimax regret criteria", 2012), giving up real gains more often (``benchmarks/RESULTS.md``, "A
preference for no offer"); None (``static_gain_confidence: null``) uses ``s*`` as measured.

When a guardrail stops a static policy short of every eligible row (a cap on contacts, a
budget), which rows get its arm is a draw (a hash of the id breaks the tie); the policy is then
valued by its expectation over that draw, row i getting the arm with probability q_i (its share
of the rows it ties with). With G_i a row's DR gain of the arm over no offer and T the targeted
rows, the realized draw S gives D = mean_i G_i (1[i in T] - 1[i in S]) and the expectation
D = mean_i G_i (1[i in T] - q_i): the same value in expectation, without the variance of the
rows the draw took (about half of D's when T and S are unrelated and q the same for all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

from causal_targeting.evaluation.net_value import VALUE, with_net_value
from causal_targeting.evaluation.paired import difference_draws, tail_share
from causal_targeting.evaluation.policy_value import (
    arm_codes,
    bootstrap_clusters,
    estimator_inputs,
    paired_estimates,
    policy_array,
    stochastic_policy,
)
from causal_targeting.formats import signed
from causal_targeting.value import ValueModel, net_value_policy, values_frame

DR = 2  # column of the DR estimator in paired_estimates' output
TARGETED = "targeted"


@dataclass(frozen=True)
class SafeguardStep:
    """One partial policy of the second chance (module doc) against the best static policy.

    share: the share of the targeted policy's departures from the static policy it makes.
    threshold: the predicted gain over the static policy's option a row needs to depart.
    departing: the share of the scored rows it departs on.
    difference, ci_low, p_value: its DR value per customer minus the static policy's, the
        one-sided lower bound (at the decision's ``partial_confidence``), the one-sided p-value.
    """

    share: float
    threshold: float
    departing: float
    difference: float
    ci_low: float
    p_value: float


@dataclass(frozen=True)
class SafeguardDecision:
    """The safeguard's verdict on the scored rows.

    kind: "targeted" (keep the model's policy), "partial" (keep its departures from the best
        static policy of largest predicted gain, ``share`` of them: module doc) or "static"
        (use the best static policy).
    static_arm: the best static policy's arm (the control arm: no offer to anyone).
    difference: DR value per customer of the targeted policy minus the best static one.
    ci_low, ci_high: one-sided bounds at ``confidence`` (q_{1-c} and q_c of the draws).
    p_value: one-sided bootstrap p-value of "targeted is no better", (1 + #{D_b <= 0}) / (B + 1)
        (:func:`~causal_targeting.evaluation.paired.tail_share`).
    static_values: DR value per customer of each static policy, by arm.
    static_lower_bounds: its one-sided lower bound at ``confidence``, by arm (the best static
        policy is the one of largest bound).
    static_feasible: False when the best static policy does not meet the guardrails (targeting
        is then kept whatever the evidence).
    same_policy: True when the targeted policy gives every row the best static policy's arm
        (e.g. the model finds no customer worth an offer): there is no difference to test, and
        the allocation is the same either way.
    static_reach: the share of the scored rows the best static policy gives its arm when the
        guardrails stop it short of every eligible row (e.g. a binding cap on contacts), else
        None.
    static_gain, static_gain_low: DR value per customer of the offer the static policies
        measure best (that of ``static_arm``, or of ``declined``) minus no offer to anyone, and
        its one-sided lower bound at ``gain_confidence`` (else ``confidence``) over the
        ``offers_measured`` offers to everyone together (module doc); None when no offer is
        the best measured, or is not a candidate (it breaks a guardrail).
    offers_measured: the number of offers to everyone (static policies other than no offer)
        the best one was chosen among.
    steps: the partial policies tested when the whole targeted policy did not pass, in order,
        up to the first that failed (:class:`SafeguardStep`, their bounds at
        ``partial_confidence``); empty otherwise.
    partial_confidence: the one-sided confidence of the partial policies' bounds,
        ``1 - (1 - confidence) / 2`` (module doc).
    gain_confidence: the confidence an offer to everyone needs over no offer, or None (module
        doc).
    declined: the offer measured best, declined for no offer as its gain's lower bound is not
        above 0 at ``gain_confidence``; else None.
    """

    kind: Literal["targeted", "partial", "static"]
    static_arm: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    static_values: dict[str, float]
    static_lower_bounds: dict[str, float]
    static_feasible: bool = True
    same_policy: bool = False
    static_reach: float | None = None
    static_gain: float | None = None
    static_gain_low: float | None = None
    gain_confidence: float | None = None
    declined: str | None = None
    offers_measured: int = 1
    steps: tuple[SafeguardStep, ...] = ()
    partial_confidence: float | None = None

    @property
    def kept_step(self) -> SafeguardStep | None:
        """The partial policy kept ("partial": the last of the steps that passed), else None."""
        passed = [step for step in self.steps if step.ci_low > 0]
        return passed[-1] if self.kind == "partial" and passed else None

    @property
    def share(self) -> float:
        """The share of the targeted policy's departures the kept policy makes: 1 for
        "targeted", 0 for "static"."""
        kept = self.kept_step
        return kept.share if kept else float(self.kind == "targeted")

    @property
    def threshold(self) -> float:
        """The predicted gain a row needs to depart in the kept policy: 0 for "targeted", NaN
        for "static"."""
        kept = self.kept_step
        if kept is not None:
            return kept.threshold
        return 0.0 if self.kind == "targeted" else float("nan")

    def line(self, control: str) -> str:
        """The one line the allocate stage and the report print."""
        static = self.static_policy(control)
        evidence = (
            f"targeted minus best static ({static}): {signed(self.difference)} per customer, "
            f"{self.confidence:.0%} lower bound {signed(self.ci_low)}, "
            f"one-sided p {self.p_value:.3f}"
        )
        if not self.static_feasible:
            return f"Safeguard: targeting kept, no static policy meets the guardrails; {evidence}"
        if self.same_policy:
            return (
                f"Safeguard: the targeted policy is the best static policy ({static}) on every "
                f"scored row: nothing to compare, using it{self.gain_over_nothing()}"
            )
        if self.kind == "targeted":
            return f"Safeguard: targeting kept; {evidence}"
        kept = self.kept_step
        if kept is not None:
            return (
                f"Safeguard: targeting kept for its {kept.share:.0%} departures from the best "
                f"static policy ({static}) of largest predicted gain (above "
                f"{kept.threshold:.4g} per customer): {self.kept_evidence(kept)}; the whole "
                f"targeted policy is not shown better: {evidence}"
            )
        return (
            f"Safeguard: targeting NOT better than the best static policy, using it; {evidence}"
            f"{self.sequence()}{self.gain_over_nothing()}"
        )

    def kept_evidence(self, step: SafeguardStep) -> str:
        """The kept partial policy ``step`` minus the best static one, with its bound and
        p-value."""
        return (
            f"{signed(step.difference)} per customer, {self.partial_confidence:.0%} lower bound "
            f"{signed(step.ci_low)}, one-sided p {step.p_value:.3f}"
        )

    def sequence(self) -> str:
        """The clause on the partial policies tested after the whole one (empty without)."""
        if not self.steps:
            return ""
        bounds = ", ".join(f"{step.share:.0%} {signed(step.ci_low)}" for step in self.steps)
        return (
            f"; its departures of largest predicted gain alone, {self.partial_confidence:.0%} "
            f"lower bounds: {bounds}"
        )

    def gain_over_nothing(self) -> str:
        """The clause on the best static policy's own evidence against no offer to anyone
        (empty when it is no offer)."""
        if self.static_gain is None or self.static_gain_low is None:
            return ""
        confidence = self.gain_confidence or self.confidence
        together = (
            f" over the {self.offers_measured} offers together" if self.offers_measured > 1 else ""
        )
        evidence = (
            f"{signed(self.static_gain)} per customer, {confidence:.0%} lower bound "
            f"{signed(self.static_gain_low)}{together}"
        )
        if self.declined is not None:
            return (
                f"; the offer measured best, '{self.declined}' to every customer the guardrails "
                f"allow, is not shown better than no offer ({evidence}; "
                "allocation.static_gain_confidence), so no offer"
            )
        shown = "" if self.static_gain_low > 0 else " (not shown better than no offer)"
        return f"; it minus no offer to anyone: {evidence}{shown}"

    def static_policy(self, control: str) -> str:
        """The best static policy in words: whom it gives its arm."""
        if self.static_arm == control:
            return "no offer to anyone"
        if self.static_reach is None:
            return f"'{self.static_arm}' to every eligible customer"
        return (
            f"'{self.static_arm}' to {self.static_reach:.0%} of the customers, as many as the "
            "guardrails allow"
        )

    def to_dict(self) -> dict[str, object]:
        """The fields, and the kept policy's ``share`` and ``threshold``."""
        return {**asdict(self), "share": self.share, "threshold": self.threshold}


def eligible_rows(frame: pd.DataFrame, arm: str) -> np.ndarray:
    """The rows ``arm`` may be given: ``eligible__{arm}`` when present (null: not), else all."""
    column = f"eligible__{arm}"
    if column not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def static_policies(
    frame: pd.DataFrame, offers: Sequence[str], control: str
) -> dict[str, np.ndarray]:
    """Arm -> each single arm to every eligible row (``eligible__{arm}`` when present), and
    the control arm -> no offer to anyone."""
    policies = {control: np.full(len(frame), control, dtype=object)}
    for arm in offers:
        policies[arm] = np.where(eligible_rows(frame, arm), arm, control).astype(object)
    return policies


def departure_gains(
    frame: pd.DataFrame, value_model: ValueModel, offers: Sequence[str], control: str, arm: str
) -> np.ndarray:
    """Each row's predicted gain of departing from the static policy of ``arm``:
    ``g_i = max(0, max_k v_ik) - v_i(arm)``, the maximum over the offers k eligible for the
    row, ``v_i(arm)`` the predicted net value of the option the static policy gives the row
    (0 for no offer: the control arm, or ``arm`` not eligible). Never negative; > 0 where the
    row's best option is another."""
    values = values_frame(frame, value_model, offers).to_numpy(dtype=float)
    eligible = np.column_stack([eligible_rows(frame, k) for k in offers])
    best = np.maximum(np.where(eligible, values, -np.inf).max(axis=1), 0.0)
    if arm == control:
        return best
    column = list(offers).index(arm)
    stay = np.where(eligible[:, column], values[:, column], 0.0)
    return best - stay


def departure_threshold(gains: np.ndarray, share: float) -> float:
    """The threshold c_r of the partial policy that makes a ``share`` r of the departures (the
    rows of ``gains`` > 0): their (1 - r) quantile, so that the rows with g_i > c_r are the
    ``share`` of largest predicted gain (module doc); inf when no row departs."""
    departing = gains[gains > 0]
    return float(np.quantile(departing, 1.0 - share)) if len(departing) else float("inf")


def partial_policy(
    frame: pd.DataFrame,
    value_model: ValueModel,
    offers: Sequence[str],
    control: str,
    arm: str,
    threshold: float,
) -> np.ndarray:
    """The unconstrained partial policy: the net-value policy (:func:`net_value_policy`) on the
    rows whose departure gain (:func:`departure_gains`) is above ``threshold``, the static
    policy of ``arm`` on the others."""
    gains = departure_gains(frame, value_model, offers, control, arm)
    targeted = net_value_policy(frame, value_model, offers, control)
    static = static_policies(frame, offers, control)[arm]
    return np.where(gains > threshold, targeted, static)


def decide(
    frame: pd.DataFrame,
    value_model: ValueModel,
    offers: Sequence[str],
    control: str,
    *,
    confidence: float,
    seed: int,
    reps: int = 1000,
    targeted: np.ndarray | None = None,
    statics: Mapping[str, np.ndarray] | None = None,
    static_shares: Mapping[str, np.ndarray] | None = None,
    every_offer: Sequence[str] | None = None,
    gain_confidence: float | None = None,
    partial_shares: Sequence[float] = (),
    partial: Callable[[str, float], np.ndarray] | None = None,
) -> SafeguardDecision:
    """Compare the targeted policy with the best static one on the scored rows (module doc).

    Args:
        frame: scored experiment rows: ``treatment``, the outcomes, optional ``propensity``,
            ``mu__{outcome}__{arm}`` and ``tau__{outcome}__{arm}`` for every arm.
        value_model: the allocator's value model.
        offers: the offers the policies may give (the non-control arms, or a coarsened menu of
            them); control: the no-offer arm.
        confidence: one-sided confidence of the lower bound, in (0, 1).
        seed, reps: bootstrap seed and replicates.
        targeted: the targeted policy per row (arm names); default :func:`net_value_policy`.
        statics: static arm -> its policy per row (e.g. solved under the guardrails); default
            :func:`static_policies`.
        static_shares: static arm -> each row's probability of getting the arm from that
            policy over the draw of its tie-break (e.g. a cap on contacts gives a random share
            of the eligible rows the arm; :func:`~causal_targeting.decision.tie_shares`).
            The policy is then valued by that expectation (a stochastic policy): the same
            policy's value, without the bootstrap noise of which rows the draw took. Default:
            the drawn policy as it is.
        every_offer: every non-control arm of the rows' ``treatment`` (the experiment's arms,
            of which a coarsened menu ``offers`` keeps a few); default ``offers``.
        gain_confidence: None, or the one-sided confidence at which an offer to everyone must
            beat no offer to anyone, else no offer is used (module doc).
        partial_shares: the shares r_1 < r_2 < ... < 1 of the targeted policy's departures
            from the best static policy tested, in order, when the whole policy does not pass
            (module doc); empty: the whole policy alone.
        partial: ``(static arm, threshold) ->`` the partial policy per row (e.g. solved under
            the guardrails); default :func:`partial_policy`.

    Returns:
        The decision; ``kind`` is "targeted" exactly when ``ci_low > 0``, else "partial" when
        the first partial policy passes at ``partial_confidence``, else "static".
    """
    if targeted is None:
        targeted = net_value_policy(frame, value_model, offers, control)
    statics = dict(statics if statics is not None else static_policies(frame, offers, control))
    every_offer = list(every_offer if every_offer is not None else offers)
    valued = with_net_value(frame, value_model, every_offer, control)
    arms = [control, *every_offer]
    inputs = estimator_inputs(valued, outcome=VALUE, arms=arms, costs={})
    policies = {TARGETED: targeted, **{f"static:{a}": p for a, p in statics.items()}}
    codes = {k: arm_codes(v, arms, f"policy '{k}'") for k, v in policies.items()}
    valued_policies: dict[str, np.ndarray] = dict(codes)
    for arm, share in (static_shares or {}).items():
        if arm in statics:
            mixture = stochastic_policy({control: 1.0 - share, arm: share}, len(share))
            valued_policies[f"static:{arm}"] = policy_array(mixture, arms, f"policy 'static:{arm}'")
    point, boot = paired_estimates(
        valued_policies, *inputs, reps=reps, seed=seed, clusters=bootstrap_clusters(frame)
    )
    static_values = {arm: float(point[j + 1, DR]) for j, arm in enumerate(statics)}
    bounds = np.nanquantile(boot[:, 1:, DR], 1 - confidence, axis=0)
    static_bounds = dict(zip(statics, bounds.astype(float).tolist(), strict=True))
    best = max(static_bounds, key=static_bounds.__getitem__)
    column = {arm: j + 1 for j, arm in enumerate(statics)}
    gain = gain_low = declined = None
    measured = len(statics) - (control in statics)
    if best != control and control in statics:
        gains, gain_draws = difference_draws(point, boot, column[best], column[control])
        gain = float(gains[DR])
        tail = (1 - (gain_confidence or confidence)) / measured
        gain_low = float(np.nanquantile(gain_draws[:, DR], tail))
        if gain_confidence is not None and gain_low <= 0:
            declined, best = best, control
    diff, draws = difference_draws(point, boot, 0, column[best])
    d = draws[:, DR][~np.isnan(draws[:, DR])]
    low, high = np.quantile(d, [1 - confidence, confidence])
    reach = float(np.mean(statics[best] == best))
    eligible = float(np.mean(static_policies(frame, offers, control)[best] == best))
    same = bool(np.array_equal(codes[TARGETED], codes[f"static:{best}"]))
    partial_confidence = 1 - (1 - confidence) / 2
    steps: list[SafeguardStep] = []
    if low <= 0 and partial_shares and not same:
        build = partial or (
            lambda arm, c: partial_policy(frame, value_model, offers, control, arm, c)
        )
        gains = departure_gains(frame, value_model, offers, control, best)
        candidates = {}
        for share in partial_shares:
            threshold = departure_threshold(gains, share)
            made = build(best, threshold) if np.isfinite(threshold) else statics[best]
            candidates[share] = (threshold, arm_codes(made, arms, f"partial {share}"))
        steps = tested_sequence(
            partial_steps(
                candidates, codes[f"static:{best}"], valued_policies[f"static:{best}"], inputs,
                frame, confidence=partial_confidence, reps=reps, seed=seed,
            )
        )  # fmt: skip
    kind: Literal["targeted", "partial", "static"] = (
        "targeted" if low > 0 else "partial" if any(s.ci_low > 0 for s in steps) else "static"
    )
    return SafeguardDecision(
        kind=kind,
        static_arm=best,
        same_policy=same,
        difference=float(diff[DR]),
        ci_low=float(low),
        ci_high=float(high),
        p_value=tail_share(int(np.sum(d <= 0)), len(d)),
        confidence=confidence,
        static_values=static_values,
        static_lower_bounds=static_bounds,
        static_reach=reach if best != control and reach < eligible else None,
        static_gain=gain,
        static_gain_low=gain_low,
        gain_confidence=gain_confidence,
        declined=declined,
        offers_measured=measured,
        steps=tuple(steps),
        partial_confidence=partial_confidence if partial_shares else None,
    )


def partial_steps(
    candidates: Mapping[float, tuple[float, np.ndarray]],
    static: np.ndarray,
    valued_static: np.ndarray,
    inputs: tuple[np.ndarray, ...],
    frame: pd.DataFrame,
    *,
    confidence: float,
    reps: int,
    seed: int,
) -> list[SafeguardStep]:
    """Each partial policy of ``candidates`` (share -> its threshold and arm codes) against the
    static policy (arm codes ``static``; valued as ``valued_static``, its codes or its
    stochastic array), on the bootstrap draws of :func:`decide` (the same seed and rows: the
    same replicates)."""
    policies = {"static": valued_static, **{str(share): codes for share, (_, codes) in
                                            candidates.items()}}  # fmt: skip
    point, boot = paired_estimates(
        policies, *inputs, reps=reps, seed=seed, clusters=bootstrap_clusters(frame)
    )
    steps = []
    for j, (share, (threshold, codes)) in enumerate(candidates.items(), start=1):
        diff, draws = difference_draws(point, boot, j, 0)
        d = draws[:, DR][~np.isnan(draws[:, DR])]
        steps.append(
            SafeguardStep(
                share=float(share),
                threshold=threshold,
                departing=float(np.mean(codes != static)),
                difference=float(diff[DR]),
                ci_low=float(np.quantile(d, 1 - confidence)),
                p_value=tail_share(int(np.sum(d <= 0)), len(d)),
            )
        )
    return steps


def tested_sequence(steps: Sequence[SafeguardStep]) -> list[SafeguardStep]:
    """The steps a fixed-sequence test reaches: every one up to and including the first whose
    lower bound is not above 0 (module doc)."""
    reached = []
    for step in steps:
        reached.append(step)
        if step.ci_low <= 0:
            break
    return reached
