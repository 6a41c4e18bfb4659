"""Confidence intervals behind prodgate's gates (SPEC §6, §10).

Pure numpy (scipy only where a function needs it, imported lazily); nothing
here knows about pytest, so the module is usable alone: arrays in, an
:class:`Interval` out. Every ``confidence`` is two-sided (0.95 leaves 2.5% in
each tail). No function returns a NaN bound; an unbounded side is ``-inf`` /
``inf``.

Methods an :class:`Interval` can name (its ``method``):

``wilson`` / ``clopper-pearson``
    Binomial intervals (equal to statsmodels' ``proportion_confint`` with
    ``method="wilson"`` / ``"beta"``). ``bootstrap_mean`` falls back to
    ``wilson`` on (Σx, n) when every value is 0 or 1 and there are no clusters.
``wilson-empty`` / ``clopper-pearson-empty``
    ``n == 0``: no observation, the interval is [0, 1] and the estimate 0.5.
``wilson-clusters``
    Clustered values that are all 0 or all 1: Wilson on (clusters, clusters)
    or (0, clusters), counting each cluster as one observation.
``constant``
    Every value (or every paired delta) is the same number: both bounds equal it.
``cluster-unbounded``
    Clustered, not constant, but a single cluster: no between-cluster
    variability can be estimated, so the interval is (-inf, inf).
``bca`` / ``bca-cluster``
    BCa bootstrap, resampling values (or whole clusters) with replacement,
    drawn exactly in bounded-memory blocks.
``bca-multinomial`` / ``bca-cluster-multinomial``
    The same exact BCa bootstrap, drawn as counts: when the data hold few
    distinct values (graded scores, paired 0/1 deltas), a resample is fully
    described by how often each distinct value (or cluster shape) is drawn, a
    multinomial vector, at a cost of resamples × distinct values.
``bca-cf-approx`` / ``bca-cluster-cf-approx``
    Used only when units × resamples exceeds 10⁸ (and there are at least 10,000
    units) and the data are too varied for the multinomial draw. The bootstrap
    distribution is still sampled, but each resample's draw counts of the 64
    most extreme units are exact (multinomial) while the sum over the other
    units, given how many of them were drawn, is a normal variate with a
    Cornish–Fisher skewness correction (bivariate, for the ratio of sums, with
    clusters). The BCa machinery (bias correction from the resamples,
    acceleration from the exact jackknife) is unchanged. Its bounds agree with
    the exact bootstrap's within 0.1 standard error (tested).
``betting`` / ``betting-cluster``
    Betting confidence bound of a mean in a known range (Waudby-Smith &
    Ramdas): graded scores, trials (one value per case: its mean), costs
    under a declared cap. Each side's error is at most ``(1 - confidence) / 2``
    at every n.
``betting-ratio``
    Betting bounds of a ratio of means, ``E[sum] / E[count]``: the mean cost per
    call when cases make different numbers of calls (under a declared cap).
    Each side's error is at most ``(1 - confidence) / 2`` at every n, given
    that no case makes more calls than the most any case made.
``quantile-cluster-betting``
    Bounds of a quantile of values in clusters (the calls of one case over its
    trials): the betting test of the share of values below a threshold, clusters
    as units. Each side's error is at most ``(1 - confidence) / 2`` at every n,
    measured by simulation.
``betting-lower``
    Lower betting bound of the mean of values known only to be ``>= 0``
    (costs with no declared cap), upper bound ``inf``: it can show a mean is
    above a budget, never that it is within one.
``mcnemar-exact`` / ``mcnemar-exact-margin``
    Exact paired test of 0/1 outcomes (conditional binomial on the discordant
    pairs), inverted into an interval of the accuracy change.
``quantile-order-statistic``
    Distribution-free order-statistic interval of a quantile (the one
    ``scipy.stats.quantile_test(...).confidence_interval`` gives).

Results depend only on the data (as a multiset: reordering values or renaming
clusters changes nothing), the seed, the number of resamples and the
confidence, never on internal block sizes.
"""

from pytest_prodgate.stats.bootstrap import (
    bootstrap_mean,
    cluster_codes,
    distinct_count,
    paired_delta,
)
from pytest_prodgate.stats.bounded import (
    betting_mean,
    betting_ratio,
    mcnemar_delta,
    nonnegative_lower,
)
from pytest_prodgate.stats.cluster_quantile import quantile_bounds_clustered
from pytest_prodgate.stats.intervals import (
    Interval,
    clopper_pearson,
    min_n_for_quantile,
    quantile_bounds,
    wilson,
    wilson_graded,
    z_one_sided,
    z_two_sided,
)
from pytest_prodgate.stats.samplesize import (
    n_to_resolve_mean,
    n_to_resolve_proportion,
    n_to_resolve_quantile,
)
from pytest_prodgate.stats.seeds import SeedLike, gate_seed

__all__ = [
    "Interval",
    "SeedLike",
    "betting_mean",
    "betting_ratio",
    "bootstrap_mean",
    "clopper_pearson",
    "cluster_codes",
    "distinct_count",
    "gate_seed",
    "mcnemar_delta",
    "min_n_for_quantile",
    "n_to_resolve_mean",
    "n_to_resolve_proportion",
    "n_to_resolve_quantile",
    "nonnegative_lower",
    "paired_delta",
    "quantile_bounds",
    "quantile_bounds_clustered",
    "wilson",
    "wilson_graded",
    "z_one_sided",
    "z_two_sided",
]
