"""The exact reference: the allocation LP relaxation solved by HiGHS (highspy).

    maximize   sum_ik v_ik x_ik
    subject to sum_k x_ik <= 1 (each customer i),  sum_ik a_jik x_ik <= b_j (each row j),
               0 <= x_ik <= 1, only for available options (finite v_ik).

Used by the tests and the benchmark to check the distributed solver, and by the repair step on
the few marginal customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from causal_targeting.allocation.problem import OptionBlock


@dataclass(frozen=True)
class LPSolution:
    """objective: LP optimum; x: (n, K) solution; prices: (J,) row duals >= 0 (the value of one
    more unit of b_j); status: HiGHS model status text ("Optimal", "Infeasible", ...)."""

    objective: float
    x: np.ndarray
    prices: np.ndarray
    status: str

    @property
    def optimal(self) -> bool:
        return self.status == "Optimal"

    @property
    def found(self) -> bool:
        """A solution is available (optimal, or a MIP's incumbent at the time limit)."""
        return bool(np.isfinite(self.objective))


def constraint_matrix(block: OptionBlock, columns: np.ndarray) -> sp.csc_matrix:
    """(n + J, m) matrix of the LP over the flat option indices ``columns`` (i * K + k)."""
    n, k = block.values.shape
    rows_j = block.usage.shape[0]
    customer = columns // k
    m = len(columns)
    guard = block.usage.reshape(rows_j, n * k)[:, columns]
    data = np.concatenate([np.ones(m), guard.ravel()])
    row = np.concatenate([customer, np.repeat(n + np.arange(rows_j), m)])
    col = np.concatenate([np.arange(m), np.tile(np.arange(m), rows_j)])
    keep = data != 0
    return sp.csc_matrix((data[keep], (row[keep], col[keep])), shape=(n + rows_j, m))


def quiet_highs() -> highspy._core._Highs:
    """A HiGHS solver that prints nothing on stdout.

    ``highspy.Highs()`` enables its Python callbacks in its constructor, which writes HiGHS's
    banner ("Running HiGHS ...") before any option can be set; the bare solver it extends has
    the same methods used here and stays silent once ``output_flag`` is off.
    """
    highs = highspy._core._Highs()
    highs.setOptionValue("output_flag", False)
    return highs


def solve_lp(
    block: OptionBlock,
    limits: np.ndarray,
    solver: str | None = None,
    time_limit: float = 3600.0,
    integral: bool = False,
    mip_abs_gap: float = 1e-6,
    mip_rel_gap: float = 1e-4,
) -> LPSolution:
    """Solve the LP relaxation of the allocation exactly with HiGHS (``integral``: the 0/1
    problem itself, by HiGHS's branch and cut; meant for small blocks).

    solver: HiGHS ``solver`` option ("choose", "simplex", "ipx", "hipo", ...; the interior point
    solvers cross over to a basis, so a solution is a vertex: at most J customers fractional).
    Default: "ipx" for the LP (on the marginal sets of a 10M-customer allocation, 156,450
    customers x 3 offers and 4 guardrails, 2.1 s against the dual simplex's 26.7 s, the same
    vertex), "choose" for the 0/1 problem (HiGHS ignores integrality under an LP solver).
    A MIP stopped by the time limit with a feasible solution returns it (status "Time limit
    reached") with no prices; a MIP stops at the absolute gap ``mip_abs_gap`` or the relative gap
    ``mip_rel_gap`` (HiGHS's default 1e-4; 0 for the exact optimum).
    """
    n, k = block.values.shape
    columns = np.flatnonzero(np.isfinite(block.values.ravel()))
    if len(columns) == 0:  # HiGHS calls a model without columns "Empty": x = 0 is the only point
        status = "Optimal" if (np.asarray(limits) >= 0).all() else "Infeasible"
        return LPSolution(0.0 if status == "Optimal" else float("nan"), np.zeros((n, k)),
                          np.zeros(len(limits)), status)
    matrix = constraint_matrix(block, columns)
    lp = highspy.HighsLp()
    lp.num_col_ = len(columns)
    lp.num_row_ = matrix.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = block.values.ravel()[columns]
    lp.col_lower_ = np.zeros(len(columns))
    lp.col_upper_ = np.ones(len(columns))
    lp.row_lower_ = np.full(matrix.shape[0], -highspy.kHighsInf)
    lp.row_upper_ = np.r_[np.ones(n), limits]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_ = len(columns)
    lp.a_matrix_.num_row_ = matrix.shape[0]
    if integral:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(columns)
    highs = quiet_highs()
    highs.setOptionValue("solver", solver or ("choose" if integral else "ipx"))
    highs.setOptionValue("time_limit", time_limit)
    highs.setOptionValue("mip_abs_gap", mip_abs_gap)
    highs.setOptionValue("mip_rel_gap", mip_rel_gap)
    highs.passModel(lp)
    highs.run()
    status = highs.modelStatusToString(highs.getModelStatus())
    x = np.zeros(n * k)
    prices = np.zeros(len(limits))
    objective = float("nan")
    found = status == "Optimal" or (integral and highs.getInfo().primal_solution_status == 2)
    if found:
        solution = highs.getSolution()
        x[columns] = np.clip(np.asarray(solution.col_value), 0.0, 1.0)
        objective = float(highs.getInfo().objective_function_value)
        if not integral:
            prices = np.abs(np.asarray(solution.row_dual)[n:])
    return LPSolution(objective, x.reshape(n, k), prices, status)
