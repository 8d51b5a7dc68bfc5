//! The claims of SPEC §9, each checked on a study's numbers by one small function with its rule
//! in plain sight (the thresholds below), and each with unit tests on hand-made records.

use super::columns::{find, fmt_rho, mean_cost};
use crate::cache::ModelResults;
use crate::correlate::{PairCorrelation, Subset};
use crate::metric::MetricId;
use crate::models::{ModelEntry, ModelGroup};
use crate::runner::StudyResults;
use crate::settings::StudySettings;
use scoreprobe_core::window::Window;
use serde::{Serialize, Serializer};
use std::fmt;

/// Claims 1 and 2: SIEM ranks models like the reference at least this well (Seo 2026: 0.89 with FID).
pub const SPEARMAN_MIN: f64 = 0.89;
/// Claim 2: the high-noise window costs at most this share of the full window's NFE.
pub const NFE_RATIO_MAX: f64 = 0.12;
/// Claim 4: tolerance of the bound ordering, in standard errors (plus the quadrature errors).
pub const BOUND_TOLERANCE_SE: f64 = 3.0;
/// Claim 4: absolute slack of exact KL ≤ marginal bound (round-off of the moment ODEs).
pub const EXACT_KL_SLACK: f64 = 1e-6;
/// Claim 5: W2 of a solenoidal model may exceed the exact model's (its n-sample floor) by this factor.
pub const W2_FLOOR_FACTOR: f64 = 1.5;
/// Claims 1 and 2 correlate across checkpoints when a study has at least this many, else across all.
const MIN_CHECKPOINTS: usize = 3;

/// One claim of SPEC §9, checked on this study's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    pub id: u8,
    pub statement: String,
    pub status: ClaimStatus,
    pub evidence: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimStatus {
    Pass,
    Fail,
    /// The study lacks what the claim needs.
    NotApplicable,
}

impl ClaimStatus {
    fn of(pass: bool) -> Self {
        if pass {
            ClaimStatus::Pass
        } else {
            ClaimStatus::Fail
        }
    }
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ClaimStatus::Pass => "pass",
            ClaimStatus::Fail => "fail",
            ClaimStatus::NotApplicable => "n/a",
        })
    }
}

/// Written as `pass`, `fail` or `n/a`.
impl Serialize for ClaimStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn na(id: u8, statement: String, why: &str) -> Claim {
    Claim { id, statement, status: ClaimStatus::NotApplicable, evidence: why.into() }
}

/// A SIEM error field with its full-window and windowed metrics.
struct Source {
    full: MetricId,
    window: MetricId,
    name: &'static str,
}

/// SIEM's error fields in order of preference: the oracle where an exact score exists, else the
/// critic, else the classifier (a data-set reference); the claims test the first that was run.
const SOURCES: [Source; 3] = [
    Source { full: MetricId::Siem, window: MetricId::SiemWindow, name: "oracle" },
    Source { full: MetricId::SiemCritic, window: MetricId::SiemCriticWindow, name: "critic" },
    Source { full: MetricId::SiemClassifier, window: MetricId::SiemClassifierWindow, name: "classifier" },
];

/// What claims 1 and 2 compare: which models, against which reference.
struct SiemContext<'a> {
    rows: &'a [(ModelEntry, ModelResults)],
    corr: &'a [PairCorrelation],
    /// The trained checkpoints when there are enough of them, else every model.
    trained: Subset,
    /// The most exact reference SIEM was correlated with (exact KL, else W2, else FD).
    quality: MetricId,
}

impl<'a> SiemContext<'a> {
    fn new(rows: &'a [(ModelEntry, ModelResults)], corr: &'a [PairCorrelation]) -> Self {
        let checkpoints = rows.iter().filter(|(e, _)| e.group == ModelGroup::Checkpoint).count();
        let trained = if checkpoints >= MIN_CHECKPOINTS { Subset::Group(ModelGroup::Checkpoint) } else { Subset::All };
        let has = |cheap: MetricId, r: MetricId| {
            corr.iter().any(|p| p.reference == r && p.cheap == cheap && p.subset == trained && p.n >= 3)
        };
        let quality = [MetricId::ExactKl, MetricId::W2, MetricId::Fd]
            .into_iter()
            .find(|&r| SOURCES.iter().any(|s| has(s.full, r) || has(s.window, r)))
            .unwrap_or(MetricId::W2);
        Self { rows, corr, trained, quality }
    }

    fn rho(&self, cheap: MetricId) -> Option<&'a PairCorrelation> {
        find(self.corr, cheap, self.quality, self.trained)
    }

    /// NFE of a source's window over its full window (score calls per trajectory, auxiliary
    /// networks' fitting draws included), when both ran.
    fn nfe_ratio(&self, s: &Source) -> Option<f64> {
        let w = mean_cost(self.rows, s.window).and_then(|c| c.mean_nfe);
        let f = mean_cost(self.rows, s.full).and_then(|c| c.mean_nfe);
        w.zip(f).map(|(w, f)| w / f)
    }

    /// The other sources' correlations, for the evidence column.
    fn others(&self, windowed: bool, chosen: MetricId) -> Vec<String> {
        SOURCES
            .iter()
            .filter_map(|s| {
                let m = if windowed { s.window } else { s.full };
                if m == chosen {
                    return None;
                }
                let p = self.rho(m)?;
                let ratio = match self.nfe_ratio(s) {
                    Some(r) if windowed => format!(", NFE ratio {r:.3}"),
                    _ => String::new(),
                };
                Some(format!("{} source: {}{ratio}", s.name, fmt_rho(p)))
            })
            .collect()
    }
}

/// Checks SPEC §9's claims on a study's records and correlations.
pub fn claims(results: &StudyResults, corr: &[PairCorrelation], settings: &StudySettings) -> Vec<Claim> {
    let siem = SiemContext::new(&results.rows, corr);
    vec![
        siem_ranks_like_the_reference(&siem),
        high_noise_window_suffices(&siem, settings.high_noise_window()),
        gradient_beats_l2(corr),
        bounds_are_ordered(&results.rows),
        solenoidal_family_is_invisible(&results.rows),
    ]
}

/// (1) SIEM on the full window ranks models like the reference: Spearman ≥ [`SPEARMAN_MIN`].
fn siem_ranks_like_the_reference(c: &SiemContext) -> Claim {
    let statement = |src: &str| {
        format!(
            "SIEM ({src} error field) vs {}: Spearman ≥ 0.89 across {} models (Seo 2026 reports 0.89 with FID)",
            c.quality, c.trained
        )
    };
    let Some((s, p)) = SOURCES.iter().find_map(|s| Some((s, c.rho(s.full)?))) else {
        return na(1, statement("any"), "no full-window SIEM or the reference is missing");
    };
    let mut evidence = vec![fmt_rho(p)];
    if s.full == MetricId::Siem {
        evidence.push(format!("multi-centre: {}", c.rho(MetricId::SiemMc).map_or("n/a".into(), fmt_rho)));
    }
    evidence.extend(c.others(false, s.full));
    Claim {
        id: 1,
        statement: statement(s.name),
        status: ClaimStatus::of(p.spearman.value >= SPEARMAN_MIN),
        evidence: evidence.join("; "),
    }
}

/// (2) SIEM on the high-noise window keeps Spearman ≥ [`SPEARMAN_MIN`] at ≤ [`NFE_RATIO_MAX`] of
/// the full window's NFE.
fn high_noise_window_suffices(c: &SiemContext, w: Window) -> Claim {
    let statement = |src: &str| {
        format!(
            "SIEM ({src} error field) on the high-noise window {w} keeps Spearman ≥ 0.89 with {} at ≤ 12% of the full NFE",
            c.quality
        )
    };
    let Some((s, p)) = SOURCES.iter().find_map(|s| Some((s, c.rho(s.window)?))) else {
        return na(2, statement("any"), "no windowed SIEM or the reference is missing");
    };
    let ratio = c.nfe_ratio(s);
    let mut evidence =
        vec![fmt_rho(p), ratio.map_or("NFE ratio n/a (full window not run)".into(), |r| format!("NFE ratio {r:.3}"))];
    evidence.extend(c.others(true, s.window));
    Claim {
        id: 2,
        statement: statement(s.name),
        status: ClaimStatus::of(p.spearman.value >= SPEARMAN_MIN && ratio.is_some_and(|r| r <= NFE_RATIO_MAX)),
        evidence: evidence.join("; "),
    }
}

/// (3) The gradient error ranks all models (solenoidal ones included) strictly better than the L²
/// error, against the most exact reference it was correlated with.
fn gradient_beats_l2(corr: &[PairCorrelation]) -> Claim {
    let q = [MetricId::ExactKl, MetricId::W2, MetricId::Fd, MetricId::Kid]
        .into_iter()
        .find(|&r| find(corr, MetricId::Gradient, r, Subset::All).is_some())
        .unwrap_or(MetricId::W2);
    let statement = format!(
        "the gradient error correlates with {q} better than the L² error (all models, solenoidal perturbations included)"
    );
    match (find(corr, MetricId::Gradient, q, Subset::All), find(corr, MetricId::L2, q, Subset::All)) {
        (Some(g), Some(l)) => Claim {
            id: 3,
            statement,
            status: ClaimStatus::of(g.spearman.value > l.spearman.value),
            evidence: format!("gradient {}; L² {}", fmt_rho(g), fmt_rho(l)),
        },
        _ => na(3, statement, "gradient or l2 missing"),
    }
}

/// (4) On every model, marginal ≤ Girsanov and exact KL ≤ marginal, up to
/// [`BOUND_TOLERANCE_SE`] standard errors plus the quadrature errors.
fn bounds_are_ordered(rows: &[(ModelEntry, ModelResults)]) -> Claim {
    let statement = "marginal bound ≤ Girsanov bound on every model, and both ≥ the exact KL where known (tolerance: 3 SE + quadrature error)";
    let mut checked = 0;
    let mut violations = vec![];
    for (e, r) in rows {
        let (Some(m), Some(g)) = (r.get(MetricId::Marginal), r.get(MetricId::Girsanov)) else { continue };
        checked += 1;
        let (quad_m, quad_g) = m.details.bounds().map_or((0.0, 0.0), |b| (b.marginal_quad_err, b.girsanov_quad_err));
        let (se_m, se_g) = (m.se.unwrap_or(0.0), g.se.unwrap_or(0.0));
        if m.value > g.value + BOUND_TOLERANCE_SE * (se_m + se_g) + quad_m + quad_g {
            violations.push(format!("{}: marginal {:.4} > girsanov {:.4}", e.name, m.value, g.value));
        }
        if let Some(k) = r.get(MetricId::ExactKl) {
            if k.value > m.value + BOUND_TOLERANCE_SE * se_m + quad_m + EXACT_KL_SLACK {
                violations.push(format!("{}: exact KL {:.4} > marginal {:.4}", e.name, k.value, m.value));
            }
        }
    }
    if checked == 0 {
        return na(4, statement.into(), "no bounds computed");
    }
    Claim {
        id: 4,
        statement: statement.into(),
        status: ClaimStatus::of(violations.is_empty()),
        evidence: if violations.is_empty() { format!("holds on all {checked} models") } else { violations.join("; ") },
    }
}

/// (5) Along the solenoidal family (≥ 2 models, by λ) the L² error grows strictly while W2 to the
/// target stays within [`W2_FLOOR_FACTOR`] of the exact model's.
fn solenoidal_family_is_invisible(rows: &[(ModelEntry, ModelResults)]) -> Claim {
    let statement =
        "solenoidal family: the L² error grows with λ while W2 to the target stays at the level of the exact model";
    let mut sol: Vec<&(ModelEntry, ModelResults)> =
        rows.iter().filter(|(e, _)| e.group == ModelGroup::Solenoidal).collect();
    sol.sort_by(|a, b| a.0.step.partial_cmp(&b.0.step).unwrap_or(std::cmp::Ordering::Equal));
    let exact_w2 =
        rows.iter().find(|(e, _)| e.group == ModelGroup::Exact).and_then(|(_, r)| r.get(MetricId::W2)).map(|r| r.value);
    let (true, Some(w0)) = (sol.len() >= 2, exact_w2) else {
        return na(5, statement.into(), "needs ≥ 2 solenoidal models and the exact model");
    };
    let l2: Vec<f64> = sol.iter().filter_map(|(_, r)| r.get(MetricId::L2).map(|m| m.value)).collect();
    let w2: Vec<f64> = sol.iter().filter_map(|(_, r)| r.get(MetricId::W2).map(|m| m.value)).collect();
    let grows = l2.len() == sol.len() && l2.windows(2).all(|p| p[1] > p[0]);
    // W2 between n-sample sets has a floor set by the sample size; the exact model measures it
    let flat = w2.len() == sol.len() && w2.iter().all(|w| *w <= W2_FLOOR_FACTOR * w0);
    let round = |v: &[f64]| v.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>();
    Claim {
        id: 5,
        statement: statement.into(),
        status: ClaimStatus::of(grows && flat),
        evidence: format!(
            "λ = {:?}: L² = {:?}; W2 = {:?} vs exact model {:.4} (allowed ≤ 1.5×)",
            sol.iter().map(|(e, _)| e.step.unwrap_or(f64::NAN)).collect::<Vec<_>>(),
            round(&l2),
            round(&w2),
            w0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Interval;
    use crate::metric::{BoundsDetails, SampleDetails};
    use crate::models::ModelSource;
    use crate::record::{Details, Record};
    use scoreprobe_core::spec::ModelSpec;
    use ClaimStatus::{Fail, NotApplicable, Pass};
    use MetricId::*;

    fn entry(name: &str, group: ModelGroup, step: f64) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            group,
            step: Some(step),
            source: ModelSource::Synthetic { model: ModelSpec::Exact },
        }
    }

    fn rec(value: f64, se: Option<f64>, nfe: Option<f64>) -> Record {
        Record { value, se, nfe, seconds: 0.0, details: Details::Sample(SampleDetails::default()) }
    }

    fn bound(value: f64, se: f64, quad_m: f64, quad_g: f64) -> Record {
        let details = Details::Bounds(BoundsDetails {
            estimator: "grid".into(),
            prior_kl: 0.0,
            t_min: 1e-3,
            quadrature: "simpson".into(),
            girsanov_quad_err: quad_g,
            marginal_quad_err: quad_m,
            exact_kl: None,
        });
        Record { value, se: Some(se), nfe: None, seconds: 0.0, details }
    }

    fn row(e: ModelEntry, metrics: Vec<(MetricId, Record)>) -> (ModelEntry, ModelResults) {
        (e, ModelResults { fingerprint: String::new(), metrics: metrics.into_iter().collect() })
    }

    fn rho(cheap: MetricId, reference: MetricId, subset: Subset, value: f64) -> PairCorrelation {
        let i = || Interval { value, ci_low: value - 0.1, ci_high: value + 0.1 };
        PairCorrelation { cheap, reference, subset, n: 6, spearman: i(), kendall: i(), pearson: i() }
    }

    /// Three checkpoints whose full and windowed oracle SIEM cost 100 and `window_nfe` calls.
    fn checkpoints(window_nfe: f64) -> Vec<(ModelEntry, ModelResults)> {
        (0..3)
            .map(|i| {
                row(
                    entry(&format!("ckpt-{i}"), ModelGroup::Checkpoint, i as f64),
                    vec![(Siem, rec(1.0, None, Some(100.0))), (SiemWindow, rec(1.0, None, Some(window_nfe)))],
                )
            })
            .collect()
    }

    const CKPT: Subset = Subset::Group(ModelGroup::Checkpoint);

    fn claim1(rows: &[(ModelEntry, ModelResults)], corr: &[PairCorrelation]) -> Claim {
        siem_ranks_like_the_reference(&SiemContext::new(rows, corr))
    }

    fn claim2(rows: &[(ModelEntry, ModelResults)], corr: &[PairCorrelation]) -> Claim {
        high_noise_window_suffices(&SiemContext::new(rows, corr), Window { lo: 90, hi: 99 })
    }

    #[test]
    fn claim1_passes_at_the_threshold_and_fails_just_below() {
        let rows = checkpoints(10.0);
        let c = claim1(&rows, &[rho(Siem, W2, CKPT, 0.89)]);
        assert_eq!(c.status, Pass, "{c:?}");
        assert!(c.statement.contains("(oracle error field) vs w2") && c.statement.contains("across checkpoint models"));
        assert_eq!(claim1(&rows, &[rho(Siem, W2, CKPT, 0.889)]).status, Fail);
        // correlations over all models do not count when the study has ≥ 3 checkpoints
        assert_eq!(claim1(&rows, &[rho(Siem, W2, Subset::All, 0.95)]).status, NotApplicable);
        assert_eq!(claim1(&rows, &[]).status, NotApplicable);
    }

    #[test]
    fn claim1_prefers_the_oracle_then_the_critic_and_the_most_exact_reference() {
        let rows = checkpoints(10.0);
        // critic and classifier only: the critic is tested, the classifier shown beside it
        let corr = [rho(SiemClassifier, W2, CKPT, 0.95), rho(SiemCritic, W2, CKPT, 0.5)];
        let c = claim1(&rows, &corr);
        assert_eq!(c.status, Fail);
        assert!(c.statement.contains("critic error field"), "{c:?}");
        assert!(c.evidence.contains("classifier source: ρ = 0.950"), "{c:?}");
        // exact KL wins over W2 as the reference
        let corr = [rho(Siem, W2, CKPT, 0.2), rho(Siem, ExactKl, CKPT, 0.9)];
        let c = claim1(&rows, &corr);
        assert_eq!(c.status, Pass);
        assert!(c.statement.contains("vs exact_kl") && c.evidence.contains("multi-centre: n/a"), "{c:?}");
        // with fewer than 3 checkpoints, correlations over all models are used
        let c = claim1(&rows[..2], &[rho(Siem, W2, Subset::All, 0.9)]);
        assert_eq!(c.status, Pass);
        assert!(c.statement.contains("across all models"), "{c:?}");
    }

    #[test]
    fn claim2_needs_the_correlation_and_at_most_12_percent_of_the_nfe() {
        let corr = [rho(SiemWindow, W2, CKPT, 0.89)];
        let c = claim2(&checkpoints(12.0), &corr);
        assert_eq!(c.status, Pass, "{c:?}");
        assert!(c.evidence.contains("NFE ratio 0.120") && c.statement.contains("window 90..99"), "{c:?}");
        assert_eq!(claim2(&checkpoints(12.1), &corr).status, Fail);
        assert_eq!(claim2(&checkpoints(12.0), &[rho(SiemWindow, W2, CKPT, 0.889)]).status, Fail);
        // without the full window the ratio is unknown: not a pass
        let rows: Vec<_> = checkpoints(12.0)
            .into_iter()
            .map(|(e, mut r)| {
                r.metrics.remove(&Siem);
                (e, r)
            })
            .collect();
        let c = claim2(&rows, &corr);
        assert_eq!(c.status, Fail);
        assert!(c.evidence.contains("NFE ratio n/a"), "{c:?}");
        assert_eq!(claim2(&checkpoints(12.0), &[rho(Siem, W2, CKPT, 0.95)]).status, NotApplicable);
    }

    #[test]
    fn claim3_needs_the_gradient_strictly_better_than_l2() {
        let all = Subset::All;
        let c = gradient_beats_l2(&[rho(Gradient, W2, all, 0.8), rho(L2, W2, all, 0.79)]);
        assert_eq!(c.status, Pass, "{c:?}");
        assert_eq!(gradient_beats_l2(&[rho(Gradient, W2, all, 0.8), rho(L2, W2, all, 0.8)]).status, Fail);
        // exact KL is preferred over W2
        let corr = [rho(Gradient, W2, all, 0.1), rho(L2, W2, all, 0.9), rho(Gradient, ExactKl, all, 0.9)];
        let c = gradient_beats_l2(&[corr[0].clone(), corr[1].clone(), corr[2].clone(), rho(L2, ExactKl, all, 0.2)]);
        assert_eq!(c.status, Pass);
        assert!(c.statement.contains("with exact_kl"), "{c:?}");
        // only the all-models subset counts
        let c = gradient_beats_l2(&[rho(Gradient, W2, CKPT, 0.8), rho(L2, W2, CKPT, 0.1)]);
        assert_eq!(c.status, NotApplicable);
        assert_eq!(gradient_beats_l2(&[rho(Gradient, W2, all, 0.8)]).status, NotApplicable);
    }

    /// One model with the marginal and Girsanov bounds (SE 0.01 each, quadrature errors 0.001
    /// and 0.002): tolerance 3·0.02 + 0.003 = 0.063.
    fn bounds_row(marginal: f64, girsanov: f64, exact_kl: Option<f64>) -> (ModelEntry, ModelResults) {
        let mut m =
            vec![(Marginal, bound(marginal, 0.01, 0.001, 0.002)), (Girsanov, bound(girsanov, 0.01, 0.001, 0.002))];
        if let Some(k) = exact_kl {
            m.push((ExactKl, rec(k, None, None)));
        }
        row(entry("m", ModelGroup::Affine, 1.0), m)
    }

    #[test]
    fn claim4_allows_three_standard_errors_plus_quadrature_error() {
        // 0.062 above: inside 3 SE (0.06) only with the quadrature errors (0.003)
        assert_eq!(bounds_are_ordered(&[bounds_row(1.062, 1.0, None)]).status, Pass);
        let c = bounds_are_ordered(&[bounds_row(1.064, 1.0, None)]);
        assert_eq!(c.status, Fail);
        assert_eq!(c.evidence, "m: marginal 1.0640 > girsanov 1.0000");
        // exact KL ≤ marginal + 3·0.01 + 0.001 (+ 1e-6)
        assert_eq!(bounds_are_ordered(&[bounds_row(1.0, 1.1, Some(1.03))]).status, Pass);
        let c = bounds_are_ordered(&[bounds_row(1.0, 1.1, Some(1.0315))]);
        assert_eq!(c.status, Fail);
        assert!(c.evidence.contains("exact KL 1.0315 > marginal 1.0000"), "{c:?}");
        let c = bounds_are_ordered(&[bounds_row(1.0, 1.1, None), bounds_row(1.0, 1.1, None)]);
        assert_eq!((c.status, c.evidence.as_str()), (Pass, "holds on all 2 models"));
        assert_eq!(bounds_are_ordered(&[row(entry("m", ModelGroup::Exact, 0.0), vec![])]).status, NotApplicable);
    }

    /// The exact model with W2 = 0.1 and solenoidal models with the given (λ, L², W2).
    fn family(members: &[(f64, f64, f64)]) -> Vec<(ModelEntry, ModelResults)> {
        let mut rows = vec![row(entry("exact", ModelGroup::Exact, 0.0), vec![(W2, rec(0.1, None, None))])];
        for &(lambda, l2, w2) in members {
            rows.push(row(
                entry(&format!("sol-{lambda}"), ModelGroup::Solenoidal, lambda),
                vec![(L2, rec(l2, None, None)), (W2, rec(w2, None, None))],
            ));
        }
        rows
    }

    #[test]
    fn claim5_needs_l2_strictly_growing_in_lambda_and_w2_within_the_floor() {
        // listed out of order: the claim sorts by λ
        let c = solenoidal_family_is_invisible(&family(&[(2.0, 4.0, 0.15), (1.0, 1.0, 0.12)]));
        assert_eq!(c.status, Pass, "{c:?}");
        assert_eq!(
            c.evidence,
            "λ = [1.0, 2.0]: L² = [1.0, 4.0]; W2 = [0.12, 0.15] vs exact model 0.1000 (allowed ≤ 1.5×)"
        );
        assert_eq!(solenoidal_family_is_invisible(&family(&[(1.0, 1.0, 0.12), (2.0, 4.0, 0.151)])).status, Fail);
        assert_eq!(solenoidal_family_is_invisible(&family(&[(1.0, 1.0, 0.12), (2.0, 1.0, 0.12)])).status, Fail);
        assert_eq!(solenoidal_family_is_invisible(&family(&[(1.0, 1.0, 0.12)])).status, NotApplicable);
        let no_exact = family(&[(1.0, 1.0, 0.12), (2.0, 4.0, 0.12)])[1..].to_vec();
        assert_eq!(solenoidal_family_is_invisible(&no_exact).status, NotApplicable);
    }

    #[test]
    fn statuses_are_written_as_before() {
        assert_eq!(serde_json::to_value(Pass).unwrap(), "pass");
        assert_eq!(serde_json::to_value(NotApplicable).unwrap(), "n/a");
        assert_eq!(format!("[{:>4}]", NotApplicable), "[ n/a]");
    }
}
