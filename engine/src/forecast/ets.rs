//! Exponential smoothing with additive errors and no season (ETS `ANN`, `AAN` and `AAdN`),
//! the model behind `ets` and behind MSTL's trend, chosen by AICc (Hyndman et al., *Forecasting
//! with Exponential Smoothing*, 2008).
//!
//! Written here instead of calling augurs' ETS because of cost: `auto` spent about 90% of its
//! time in augurs' likelihood, which takes a logarithm at every step (for a multiplicative-error
//! term it then discards) and forecasts three steps ahead at every step. Here the likelihood is
//! a few multiplications per point. The model, starting values, parameter bounds, optimiser
//! and AICc follow augurs (itself a port of R's `forecast::ets`), so the fitted models agree
//! with it. Forecasts differ after the first step for a damped trend: augurs (like R and
//! statsforecast before their 2026 fixes) weights the slope by `2 phi` at step 2 where
//! `phi + phi^2` is right. See docs/ARCHITECTURE.md, "Forecasting".

use crate::error::{EngineError, Result};

/// The trend of an ETS model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trend {
    /// Level only (`ANN`, simple exponential smoothing).
    None,
    /// Level and slope (`AAN`, Holt's linear method).
    Additive,
    /// Level and a slope that fades by `phi` per step (`AAdN`).
    Damped,
}

/// The order augurs' AutoETS tries them in; on equal AICc the first wins.
const CANDIDATES: [Trend; 3] = [Trend::None, Trend::Damped, Trend::Additive];

/// Smoothing parameters (`beta` is 0 and `phi` 1 where the trend does not use them).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Params {
    alpha: f64,
    beta: f64,
    phi: f64,
}

// Bounds of the usual parameter space (R's and augurs' defaults).
const ALPHA: (f64, f64) = (1e-4, 0.9999);
const BETA_LOW: f64 = 1e-4;
const PHI: (f64, f64) = (0.8, 0.98);
/// Starting alpha; beta starts below it and, as in R, is bounded by it.
const ALPHA_START: f64 = ALPHA.0 + 0.2 * (ALPHA.1 - ALPHA.0);

impl Trend {
    /// Initial states plus optimised parameters, the `k` of the AICc.
    fn parameters(self) -> usize {
        match self {
            Trend::None => 2,
            Trend::Additive => 4,
            Trend::Damped => 5,
        }
    }

    /// Splits an optimiser vector `[alpha, beta?, phi?, level, slope?]`.
    fn unpack(self, x: &[f64]) -> (Params, f64, f64) {
        match self {
            Trend::None => (Params { alpha: x[0], beta: 0.0, phi: 1.0 }, x[1], 0.0),
            Trend::Additive => (Params { alpha: x[0], beta: x[1], phi: 1.0 }, x[2], x[3]),
            Trend::Damped => (Params { alpha: x[0], beta: x[1], phi: x[2] }, x[3], x[4]),
        }
    }

    /// Starting point and box bounds of the optimiser vector for series `y`.
    fn start(self, y: &[f64]) -> (Vec<f64>, Vec<(f64, f64)>) {
        let head = &y[..y.len().min(10)];
        let beta_bounds = (BETA_LOW, ALPHA.1.min(ALPHA_START));
        let beta = beta_bounds.0 + 0.1 * (beta_bounds.1 - beta_bounds.0);
        let phi = PHI.0 + 0.99 * (PHI.1 - PHI.0);
        let free = (f64::NEG_INFINITY, f64::INFINITY);
        if self == Trend::None {
            let level = head.iter().sum::<f64>() / head.len() as f64;
            return (vec![ALPHA_START, level], vec![ALPHA, free]);
        }
        let (mut level, mut slope) = rough_start(y);
        if (level + slope).abs() < 1e-8 {
            level *= 1.0 + 1e-3;
            slope *= 1.0 + 1e-3;
        }
        if self == Trend::Damped {
            (vec![ALPHA_START, beta, phi, level, slope], vec![ALPHA, beta_bounds, PHI, free, free])
        } else {
            (vec![ALPHA_START, beta, level, slope], vec![ALPHA, beta_bounds, free, free])
        }
    }
}

/// A first guess of the initial level and slope: a straight line through the first ten
/// points (times 1, 2, ...).
fn rough_start(y: &[f64]) -> (f64, f64) {
    let head = &y[..y.len().min(10)];
    let n = head.len() as f64;
    let t_mean = (n + 1.0) / 2.0;
    let y_mean = head.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in head.iter().enumerate() {
        let dt = (i + 1) as f64 - t_mean;
        sxy += dt * (v - y_mean);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (y_mean - slope * t_mean, slope)
}

/// One step of the model in forecast/slope form: with `f` the one-step forecast and `b` the
/// slope, `f' = keep f + (c y + phi^2 b)` and `b' = (phi b + beta y) - beta f`, where
/// `c = alpha + phi beta` and `keep = 1 - c` ([`filter`] runs it, two points at a time).
#[derive(Debug, Clone, Copy)]
struct Recursion {
    keep: f64,
    c: f64,
    phi: f64,
    phi2: f64,
    beta: f64,
}

impl Recursion {
    fn new(Params { alpha, beta, phi }: Params) -> Self {
        let c = alpha + phi * beta;
        Recursion { keep: 1.0 - c, c, phi, phi2: phi * phi, beta }
    }

    /// The forecast and slope after `value`.
    #[inline(always)]
    fn step(&self, f: f64, b: f64, value: f64) -> (f64, f64) {
        (self.keep * f + (self.c * value + self.phi2 * b), (self.phi * b + self.beta * value) - self.beta * f)
    }
}

/// The initial level and slope that minimise the sum of squared one-step errors under `p`,
/// and that sum: `(sse, level, slope)`.
///
/// With additive errors each one-step error is linear in the initial state, so the best state
/// is a least-squares solution: one loop runs three recursions (the errors from a first guess
/// `rough`, and their responses to a unit change of level and of slope). Used where the
/// parameters are given ([`Ets::refit`]). The fit itself searches the state with the
/// parameters, as R does: solving it there made M4 Hourly worse (MASE 0.867 -> 0.874).
fn best_start(p: Params, trend: Trend, rough: (f64, f64), y: &[f64]) -> (f64, f64, f64) {
    let r = Recursion::new(p);
    // (forecast, slope) of the guess, of a unit level and of a unit slope; the unit responses
    // are the recursion without data.
    let (mut fa, mut ba) = (rough.0 + p.phi * rough.1, rough.1);
    let (mut fl, mut bl) = (1.0, 0.0);
    let (mut fs, mut bs) = (p.phi, 1.0);
    let (mut aa, mut au, mut av, mut uu, mut uv, mut vv) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &value in y {
        // Errors: the guess's, and how they move per unit of level and of slope.
        let (a, u, v) = (value - fa, -fl, -fs);
        aa += a * a;
        au += a * u;
        av += a * v;
        uu += u * u;
        uv += u * v;
        vv += v * v;
        (fa, ba) = r.step(fa, ba, value);
        (fl, bl) = r.step(fl, bl, 0.0);
        (fs, bs) = r.step(fs, bs, 0.0);
    }
    let level_only = |rough_slope: f64| {
        let dl = if uu > 0.0 { -au / uu } else { 0.0 };
        (aa + dl * au, rough.0 + dl, rough_slope)
    };
    if trend == Trend::None {
        return level_only(0.0);
    }
    let det = uu * vv - uv * uv;
    if det.is_nan() || det <= 1e-12 * uu * vv {
        return level_only(rough.1);
    }
    let dl = (uv * av - vv * au) / det;
    let db = (uv * au - uu * av) / det;
    (aa + dl * au + db * av, rough.0 + dl, rough.1 + db)
}

/// Runs the model over `y` from `level` and `slope`, handing each one-step error to `each`;
/// returns the final level and slope.
///
/// The error-correction form `e = y - f; b' = phi b + beta e; f' = f + alpha e + phi b'` (with
/// `f` the one-step forecast, `b` the slope) is rearranged as the linear [`Recursion`], so the
/// loop's dependency chain is short. `--bin m4`, Hourly, ms per series: 12.4 written as
/// level and slope updates, 6.0 in this form; two points at a time then took 5.4 to 4.0.
/// Without a trend `beta` is 0 and the slope stays 0.
#[inline(always)]
fn filter(p: Params, level: f64, slope: f64, y: &[f64], mut each: impl FnMut(f64)) -> (f64, f64) {
    let r = Recursion::new(p);
    let Recursion { keep, c, phi, phi2, beta } = r;
    // Two steps at once, (f, b) -> A^2 (f, b) + A k y0 + k y1 with A = [[keep, phi2], [-beta,
    // phi]] and k = (c, beta): the chain from one pair to the next is then one multiplication
    // and two additions for two points (the forecast between them is off the chain).
    let (m11, m12) = (keep * keep - phi2 * beta, phi2 * (keep + phi));
    let (m21, m22) = (-beta * (keep + phi), phi * phi - phi2 * beta);
    let (g1, g2) = (keep * c + phi2 * beta, beta * (phi - c));
    let (mut f, mut b) = (level + phi * slope, slope);
    let mut pairs = y.chunks_exact(2);
    for pair in &mut pairs {
        let (y0, y1) = (pair[0], pair[1]);
        each(y0 - f);
        // The forecast half of `r.step(f, b, y0)`, written out: the call cost 3% of `--bin m4`.
        let between = keep * f + (c * y0 + phi2 * b);
        each(y1 - between);
        let next = (m11 * f + m12 * b) + (g1 * y0 + c * y1);
        b = (m21 * f + m22 * b) + (g2 * y0 + beta * y1);
        f = next;
    }
    for &value in pairs.remainder() {
        each(value - f);
        (f, b) = r.step(f, b, value);
    }
    // f = level + phi b: the level after the last point.
    (f - phi * b, b)
}

/// Twice the negative log-likelihood up to a constant: `n ln(SSE)`.
fn likelihood(sse: f64, n: usize) -> f64 {
    n as f64 * if sse > 0.0 { sse.ln() } else { (sse + 1e-8).ln() }
}

/// A fitted ETS model: its parameters and its state after the last point.
#[derive(Debug, Clone)]
pub(crate) struct Ets {
    trend: Trend,
    params: Params,
    level: f64,
    slope: f64,
    /// Sum of squared one-step errors over the data seen.
    sse: f64,
    /// Points seen.
    n: usize,
    /// The optimiser's solution (parameters, then initial state), where a refit can start.
    found: Vec<f64>,
}

impl Ets {
    /// Fits one trend by maximum likelihood; `None` when the series is too short for it.
    fn fit(y: &[f64], trend: Trend, from: Option<&[f64]>) -> Option<Ets> {
        if y.len() <= trend.parameters() + 2 {
            return None;
        }
        let (start, bounds) = trend.start(y);
        let start = from.map_or(start, <[f64]>::to_vec);
        let best = nelder_mead(start, &bounds, |x| {
            let (params, level, slope) = trend.unpack(x);
            let lik = likelihood(Ets::run(trend, params, level, slope, y).sse, y.len());
            if lik.is_nan() {
                f64::INFINITY
            } else {
                lik
            }
        });
        let (params, level, slope) = trend.unpack(&best);
        Some(Ets { found: best, ..Ets::run(trend, params, level, slope, y) })
    }

    /// The same trend fitted to `y` (a longer series with the same start), its search starting
    /// where this model's ended.
    pub(crate) fn refit_from(&self, y: &[f64]) -> Result<Ets> {
        Ets::fit(y, self.trend, Some(&self.found))
            .ok_or_else(|| EngineError::ModelFailed { model: "ets", reason: "series too short".into() })
    }

    /// The model with these parameters after running over `y` from `level` and `slope`.
    fn run(trend: Trend, params: Params, level: f64, slope: f64, y: &[f64]) -> Ets {
        let mut sse = 0.0;
        let (level, slope) = filter(params, level, slope, y, |e| sse += e * e);
        Ets { trend, params, level, slope, sse, n: y.len(), found: Vec::new() }
    }

    /// This model's trend and parameters on another series, from its own best initial state.
    pub(crate) fn refit(&self, y: &[f64]) -> Result<Ets> {
        if y.len() <= self.trend.parameters() + 2 || y.iter().any(|v| !v.is_finite()) {
            return Err(EngineError::ModelFailed { model: "ets", reason: "too short or non-finite series".into() });
        }
        let rough = if self.trend == Trend::None { (rough_start(y).0, 0.0) } else { rough_start(y) };
        let (_, level, slope) = best_start(self.params, self.trend, rough, y);
        Ok(Ets::run(self.trend, self.params, level, slope, y))
    }

    /// The trend with the lowest AICc, as augurs' `AutoETS` with the spec `AZN`.
    pub(crate) fn auto(y: &[f64]) -> Result<Ets> {
        if let Some(position) = y.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::ModelFailed { model: "ets", reason: format!("non-finite value at {position}") });
        }
        if y.len() < 7 {
            return Err(EngineError::ModelFailed { model: "ets", reason: "needs at least 7 points".into() });
        }
        CANDIDATES
            .iter()
            .filter_map(|&trend| Ets::fit(y, trend, None))
            .map(|model| (model.aicc(), model))
            .filter(|(aicc, _)| !aicc.is_nan())
            .reduce(|best, next| if next.0 < best.0 { next } else { best })
            .map(|(_, model)| model)
            .ok_or_else(|| EngineError::ModelFailed { model: "ets", reason: "no trend could be fitted".into() })
    }

    fn aicc(&self) -> f64 {
        let (n, k) = (self.n as f64, self.trend.parameters() as f64 + 1.0);
        let aic = likelihood(self.sse, self.n) + 2.0 * self.trend.parameters() as f64;
        aic + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    }

    /// Point forecasts and a `level` interval for the next `horizon` steps (the closed-form
    /// forecast variances of the three models, Hyndman et al. 2008, table 6.1).
    pub(crate) fn forecast(&self, horizon: usize, level: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let Params { alpha, beta, phi } = self.params;
        let variance = self.sse / (self.n - self.trend.parameters() - 2) as f64;
        let z = distrs::Normal::ppf(0.5 + level / 2.0, 0.0, 1.0);
        let (mut point, mut lower, mut upper) =
            (Vec::with_capacity(horizon), Vec::with_capacity(horizon), Vec::with_capacity(horizon));
        // phi + phi^2 + ... + phi^h, the slope's accumulated weight after h steps.
        let (mut power, mut weight) = (1.0, 0.0);
        for h in 1..=horizon {
            power *= phi;
            weight += power;
            let s = h as f64;
            let factor = match self.trend {
                Trend::None => 1.0 + (s - 1.0) * alpha * alpha,
                Trend::Additive => {
                    1.0 + (s - 1.0) * (alpha * alpha + alpha * beta * s + beta * beta * s * (2.0 * s - 1.0) / 6.0)
                }
                Trend::Damped => {
                    let one_minus = 1.0 - phi;
                    1.0 + alpha * alpha * (s - 1.0)
                        + beta * phi * s / (one_minus * one_minus) * (2.0 * alpha * one_minus + beta * phi)
                        - beta * phi * (1.0 - power) / (one_minus * one_minus * (1.0 - phi * phi))
                            * (2.0 * alpha * (1.0 - phi * phi) + beta * phi * (1.0 + 2.0 * phi - power))
                }
            };
            let p = if self.trend == Trend::None { self.level } else { self.level + weight * self.slope };
            let half = z * (factor * variance).sqrt();
            point.push(p);
            lower.push(p - half);
            upper.push(p + half);
        }
        (point, lower, upper)
    }
}

/// Minimises `cost` from `start` within box `bounds` by Nelder-Mead with the
/// dimension-adaptive coefficients of Gao and Han (2012), clamping every trial point to the
/// box, stopping when the costs of the simplex agree to 1e-4 (population standard deviation)
/// or after 2,000 iterations: the optimiser of augurs and statsforecast. Written here because
/// the optimisers in crates (argmin) take no bounds.
fn nelder_mead(start: Vec<f64>, bounds: &[(f64, f64)], mut cost: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let clamp = |x: &mut [f64]| x.iter_mut().zip(bounds).for_each(|(v, &(lo, hi))| *v = v.clamp(lo, hi));
    let d = start.len();
    let n = d as f64;
    let (expand, contract, shrink) = (1.0 + 2.0 / n, 0.75 - 1.0 / (2.0 * n), 1.0 - 1.0 / n);
    let mut first = start;
    clamp(&mut first);
    let mut simplex = vec![first; d + 1];
    for (i, vertex) in simplex.iter_mut().take(d).enumerate() {
        vertex[i] = if vertex[i].abs() < 1e-8 { 1e-4 } else { vertex[i] * 1.05 };
        clamp(vertex);
    }
    let mut costs: Vec<f64> = simplex.iter().map(|x| cost(x)).collect();
    let mut order: Vec<usize> = (0..=d).collect();
    let mut centroid = vec![0.0; d];
    let towards = |from: &[f64], to: &[f64], t: f64| -> Vec<f64> {
        let mut x: Vec<f64> = from.iter().zip(to).map(|(a, b)| a + t * (b - a)).collect();
        clamp(&mut x);
        x
    };
    for _ in 0..2_000 {
        order.sort_by(|&a, &b| costs[a].total_cmp(&costs[b]));
        let (best, worst, second) = (order[0], order[d], order[d - 1]);
        let mean = costs.iter().sum::<f64>() / (d + 1) as f64;
        let spread = (costs.iter().map(|c| (c - mean) * (c - mean)).sum::<f64>() / (d + 1) as f64).sqrt();
        if spread < 1e-4 {
            break;
        }
        centroid.fill(0.0);
        for (_, vertex) in simplex.iter().enumerate().filter(|&(i, _)| i != worst) {
            centroid.iter_mut().zip(vertex).for_each(|(c, v)| *c += v);
        }
        centroid.iter_mut().for_each(|c| *c /= n);
        let reflected = towards(&centroid, &simplex[worst], -1.0);
        let f_reflected = cost(&reflected);
        let (candidate, f_candidate) = if f_reflected < costs[best] {
            let expanded = towards(&centroid, &reflected, expand);
            let f_expanded = cost(&expanded);
            if f_expanded < f_reflected {
                (expanded, f_expanded)
            } else {
                (reflected, f_reflected)
            }
        } else if f_reflected < costs[second] {
            (reflected, f_reflected)
        } else if f_reflected < costs[worst] {
            let outside = towards(&centroid, &reflected, contract);
            let f_outside = cost(&outside);
            if f_outside <= f_reflected {
                (outside, f_outside)
            } else {
                (Vec::new(), f64::NAN)
            }
        } else {
            let inside = towards(&centroid, &reflected, -contract);
            let f_inside = cost(&inside);
            if f_inside < costs[worst] {
                (inside, f_inside)
            } else {
                (Vec::new(), f64::NAN)
            }
        };
        if !candidate.is_empty() {
            simplex[worst] = candidate;
            costs[worst] = f_candidate;
            continue;
        }
        let anchor = simplex[best].clone();
        for i in (0..=d).filter(|&i| i != best) {
            simplex[i] = towards(&anchor, &simplex[i], shrink);
            costs[i] = cost(&simplex[i]);
        }
    }
    let best = (0..=d).min_by(|&a, &b| costs[a].total_cmp(&costs[b])).unwrap_or(0);
    simplex.swap_remove(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use augurs::ets::AutoETS;
    use augurs::{Fit, Predict};

    fn series(n: usize, slope: f64) -> Vec<f64> {
        let mut state = 7u64;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                100.0 + slope * i as f64 + 8.0 * noise + 5.0 * ((i as f64) / 9.0).sin()
            })
            .collect()
    }

    #[test]
    fn the_fit_agrees_with_augurs_autoets() {
        // augurs (like R's forecast before 2026) adds phi^(h-1) instead of phi^h to a damped
        // slope's weight after the first step, so only the first step and the fit are compared.
        for (n, slope) in [(30, 0.0), (200, 0.5), (700, -0.2), (12, 2.0)] {
            let y = series(n, slope);
            let ours = Ets::auto(&y).unwrap();
            let theirs = AutoETS::new(1, "AZN").unwrap().fit(&y).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
            assert!(close(ours.aicc(), theirs.model().aicc()), "n={n}: {} vs {}", ours.aicc(), theirs.model().aicc());
            let (point, lower, upper) = ours.forecast(1, 0.9);
            let expected = theirs.predict(1, 0.9).unwrap();
            let intervals = expected.intervals.unwrap();
            assert!(close(point[0], expected.point[0]), "n={n}: {} vs {}", point[0], expected.point[0]);
            assert!(close(lower[0], intervals.lower[0]) && close(upper[0], intervals.upper[0]), "n={n}");
        }
    }

    #[test]
    fn a_damped_slope_adds_phi_to_the_power_of_each_step() {
        let params = Params { alpha: 0.5, beta: 0.1, phi: 0.9 };
        let model = Ets { trend: Trend::Damped, params, level: 10.0, slope: 1.0, sse: 1.0, n: 20, found: Vec::new() };
        let (point, _, _) = model.forecast(3, 0.9);
        let expected = [10.0 + 0.9, 10.0 + 0.9 + 0.81, 10.0 + 0.9 + 0.81 + 0.729];
        assert!(point.iter().zip(expected).all(|(p, e)| (p - e).abs() < 1e-12), "{point:?}");
    }

    #[test]
    fn a_refit_starts_from_the_best_state_for_its_parameters() {
        for slope in [0.0, 0.4] {
            let y = series(300, slope);
            let fitted = Ets::auto(&y).unwrap();
            let refit = fitted.refit(&y).unwrap();
            assert_eq!((refit.trend, refit.params), (fitted.trend, fitted.params));
            assert!(refit.sse <= fitted.sse * (1.0 + 1e-9), "{} > {}", refit.sse, fitted.sse);
        }
    }

    #[test]
    fn a_trend_is_continued_and_a_flat_series_stays_flat() {
        let line: Vec<f64> = (0..50).map(|i| 10.0 + 2.0 * i as f64 + if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
        let (point, lower, upper) = Ets::auto(&line).unwrap().forecast(5, 0.9);
        assert!((point[4] - 118.0).abs() < 3.0, "{point:?}");
        assert!(lower.iter().zip(&point).zip(&upper).all(|((l, p), u)| l < p && p < u));
        let (flat, _, _) = Ets::auto(&[3.0; 20]).unwrap().forecast(3, 0.9);
        assert!(flat.iter().all(|v| (v - 3.0).abs() < 1e-6), "{flat:?}");
    }

    #[test]
    fn short_or_non_finite_series_are_refused() {
        assert!(Ets::auto(&[1.0, 2.0, 3.0]).is_err());
        assert!(Ets::auto(&[1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0, 7.0, 8.0]).is_err());
    }
}
