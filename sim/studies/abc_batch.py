"""A pyABC sampler that evaluates proposals in batches.

pyABC's samplers call one ``simulate_one()`` per particle: draw a proposal, simulate
it, accept or reject it. Our simulations are far cheaper in batches (one engine call
runs many parameter sets on a trial's world), so :class:`BatchSampler` splits that
call in two: it draws a batch of proposals with pyABC's own proposal function, has
them all simulated by one ``evaluate_batch`` call, then hands each result to pyABC's
own acceptance step (:func:`pyabc.inference_util.evaluate_proposal`) through
:class:`PrimedModel`, in proposal order. Distances, acceptance and importance weights
are pyABC's; only the order of work changes.

Proposals are drawn from numpy's global random state (as pyABC does) and so are the
simulation seeds, one per proposal, after the batch's proposals: the particles of a
generation depend on that state and the batch sizes only, and batch sizes depend
only on acceptances seen so far, so a seeded generation is reproducible whatever
the number of worker processes ``evaluate_batch`` uses.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pyabc
from pyabc.inference_util.inference_util import (
    _simulate_one,
    _simulate_one_from_prior,
    evaluate_proposal,
    generate_valid_proposal,
)

__all__ = ["BatchSampler", "DefensiveTransition", "FlooredQuantileEpsilon", "PrimedModel"]

EvaluateBatch = Callable[[list[dict[str, float]], list[int]], list[dict[str, float]]]


class PrimedModel(pyabc.Model):
    """A pyABC model whose next results were computed in a batch beforehand."""

    def __init__(self) -> None:
        super().__init__(name="recovery-pathways")
        self._queue: deque[tuple[dict[str, float], dict[str, float]]] = deque()

    def prime(self, parameters: dict[str, float], result: dict[str, float]) -> None:
        """Queue the summary statistics computed for ``parameters``."""
        self._queue.append((dict(parameters), result))

    def sample(self, pars: Any) -> dict[str, float]:
        """The queued result for ``pars`` (which must be the next queued proposal)."""
        parameters, result = self._queue.popleft()
        if dict(pars) != parameters:  # a programming error: results and proposals misaligned
            raise RuntimeError("batched results were consumed out of proposal order")
        return result


class BatchSampler(pyabc.sampler.Sampler):
    """Draw proposals in batches, simulate each batch at once, accept in order.

    Args:
        evaluate_batch: ``(parameter sets, seeds) -> summary statistics``, one per set.
        min_batch, max_batch: Bounds on proposals per batch. The first batch of a
            generation is sized to 95% of the acceptances needed over ``first_rate``
            (the previous generation's acceptance rate); top-ups to what is still
            needed over the rate seen so far, plus 10%.
    """

    def __init__(
        self,
        evaluate_batch: EvaluateBatch,
        *,
        min_batch: int = 64,
        max_batch: int = 4096,
        first_rate: float = 0.5,
    ) -> None:
        super().__init__()
        self.evaluate_batch = evaluate_batch
        self.min_batch, self.max_batch, self.first_rate = min_batch, max_batch, first_rate
        self.batches: list[int] = []
        self.simulated = 0

    def sample_until_n_accepted(
        self,
        n: int,
        simulate_one: Any,
        t: int,
        *,
        max_eval: float = np.inf,
        all_accepted: bool = False,
        ana_vars: Any = None,
    ) -> Any:
        """At least ``n`` accepted particles (pyABC's contract), simulated in batches."""
        kw = simulate_one.keywords
        model = kw["models"][0]
        if not isinstance(model, PrimedModel):  # pragma: no cover -- a programming error
            raise TypeError("BatchSampler needs the ABCSMC model to be a PrimedModel")
        sample = self._create_empty_sample()
        simulated = considered = accepted = 0
        while accepted < n and considered < max_eval:
            if considered:  # top up: the acceptances still needed at the rate seen so far
                wanted = 1.1 * (n - accepted) / max(accepted / considered, 0.01)
            else:  # first batch: a little under the expected need, so little is wasted
                wanted = 0.95 * n / max(self.first_rate, 0.01)
            size = int(min(self.max_batch, max(self.min_batch, math.ceil(wanted))))
            proposals = [self._propose(simulate_one.func, kw) for _ in range(size)]
            seeds = [int(s) for s in np.random.randint(2**31, size=size)]  # noqa: NPY002
            results = self.evaluate_batch([dict(theta) for _, theta in proposals], seeds)
            self.batches.append(size)
            simulated += size
            for (m, theta), result in zip(proposals, results, strict=True):
                if accepted >= n:  # the surplus of the last batch: simulated, never used
                    break
                model.prime(theta, result)
                particle = self._accept(simulate_one.func, kw, m, theta)
                sample.append(particle)
                considered += 1
                accepted += bool(particle.accepted)
        self.nr_evaluations_ = considered  # pyABC's acceptance rate: accepted / considered
        self.simulated = simulated
        if accepted < n:
            sample.ok = False
        return sample

    @staticmethod
    def _propose(func: Any, kw: dict[str, Any]) -> tuple[int, Any]:
        if func is _simulate_one_from_prior:
            m = int(kw["model_prior"].rvs())
            return m, kw["parameter_priors"][m].rvs()
        return generate_valid_proposal(
            t=kw["t"],
            m=kw["m"],
            p=kw["p"],
            model_prior=kw["model_prior"],
            parameter_priors=kw["parameter_priors"],
            model_perturbation_kernel=kw["model_perturbation_kernel"],
            transitions=kw["transitions"],
        )

    @staticmethod
    def _accept(func: Any, kw: dict[str, Any], m: int, theta: Any) -> Any:
        from pyabc.population import Particle

        if func is _simulate_one_from_prior:  # a calibration sample: all accepted
            result = kw["models"][m].summary_statistics(0, theta, kw["summary_statistics"])
            return Particle(
                m=m,
                parameter=theta,
                weight=1.0,
                sum_stat=result.sum_stat,
                distance=np.inf,
                accepted=True,
                proposal_id=0,
                preliminary=False,
            )
        if func is not _simulate_one or not kw["evaluate"]:  # pragma: no cover
            raise RuntimeError("BatchSampler supports pyABC's standard ABC-SMC only")
        return evaluate_proposal(
            m,
            theta,
            t=kw["t"],
            models=kw["models"],
            summary_statistics=kw["summary_statistics"],
            distance_function=kw["distance_function"],
            eps=kw["eps"],
            acceptor=kw["acceptor"],
            x_0=kw["x_0"],
            weight_function=kw["weight_function"],
            proposal_id=kw["proposal_id"],
        )


class DefensiveTransition(pyabc.MultivariateNormalTransition):
    """pyABC's Gaussian kernel proposal with a wide defensive component.

    A proposal is the previous population's kernel density estimate, except that with
    probability ``wide_share`` the perturbation's covariance is ``wide_scale`` times
    larger. The density used in the importance weights is the same mixture, so a
    particle accepted in the tail of the kernel estimate gets a weight at most about
    ``1 / wide_share`` times larger than with the wide kernel alone, instead of an
    unbounded one: one lucky outlier cannot take most of the weight and collapse the
    effective sample size (defensive importance sampling, Hesterberg 1995,
    Technometrics 37:185-94).
    """

    def __init__(self, wide_share: float = 0.1, wide_scale: float = 9.0) -> None:
        super().__init__()
        self.wide_share, self.wide_scale = wide_share, wide_scale

    def fit(self, X: Any, w: np.ndarray) -> None:
        """Fit the kernel estimate and its wide component to the weighted population."""
        from scipy import stats

        super().fit(X, w)
        self.wide = stats.multivariate_normal(cov=self.cov * self.wide_scale, allow_singular=True)

    def rvs_single(self) -> Any:
        """One proposal: a resampled particle, perturbed narrowly or (rarely) widely."""
        from pyabc.parameters import Parameter

        index = np.random.choice(self._range, p=self.w, replace=True)  # noqa: NPY002
        wide = np.random.uniform() < self.wide_share  # noqa: NPY002
        covariance = self.cov * (self.wide_scale if wide else 1.0)
        step = np.random.multivariate_normal(np.zeros(self.cov.shape[0]), covariance)  # noqa: NPY002
        return Parameter(self.X.iloc[index] + step)

    def _pdf_single(self, x: np.ndarray) -> float:
        offsets = x - self._X_arr
        density = (1 - self.wide_share) * self.normal.pdf(offsets) + self.wide_share * (
            self.wide.pdf(offsets)
        )
        return float((density * self.w).sum())


class FlooredQuantileEpsilon(pyabc.QuantileEpsilon):
    """pyABC's weighted-median epsilon, never below the final tolerance ``final``.

    The first generation (``first``) samples the prior (epsilon = infinity); each later
    one uses the weighted median of the previous generation's distances, or ``final``
    if that is larger -- or if the median is at most ``snap`` (a fraction) above it,
    so that no generation is spent a hair above the final tolerance.
    """

    def __init__(self, final: float, *, first: bool, snap: float = 0.0) -> None:
        super().__init__(initial_epsilon=math.inf if first else "from_sample", alpha=0.5)
        self.final = final
        self.snap = snap

    def __call__(self, t: int) -> float:
        """The tolerance of generation ``t``."""
        epsilon = super().__call__(t)
        return self.final if epsilon <= self.final * (1.0 + self.snap) else epsilon
