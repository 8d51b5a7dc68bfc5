//! Figures (plotters), each written as PNG and SVG: cheap metric vs reference (Spearman ρ in the
//! title), metric vs training step, SIEM per-step profiles.
//!
//! Text layout needs a TrueType font (also for SVG, to measure labels): the DejaVu Sans of Debian's
//! `fonts-dejavu-core` is registered at first use, or `$SCOREPROBE_FONT`. Without one no figure is
//! drawn and the caller is told why, so a study never fails for want of a font.

use crate::error::StudyError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a font for the bitmap backend once; false when none is available.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let env = std::env::var("SCOREPROBE_FONT").ok();
        let path =
            env.iter().map(String::as_str).chain(FONT_CANDIDATES.iter().copied()).find(|p| Path::new(p).is_file());
        let Some(bytes) = path.and_then(|p| std::fs::read(p).ok()) else { return false };
        // plotters keeps a 'static reference to the font data
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

/// A named series of (x, y) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Figure<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
    /// Scatter (points) or lines with points.
    pub lines: bool,
    pub log_y: bool,
}

/// Why figures cannot be drawn, if they cannot.
pub fn unavailable() -> Option<String> {
    (!font_ready()).then(|| {
        "figures skipped: no TrueType font found (install Debian's fonts-dejavu-core or set SCOREPROBE_FONT)".into()
    })
}

/// Writes `stem.svg` and `stem.png`; returns the files written.
pub fn save(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>, StudyError> {
    let failed = |message: String| StudyError::Figure { title: fig.title.to_string(), message };
    if let Some(why) = unavailable() {
        return Err(failed(why));
    }
    let mut written = vec![];
    let svg = stem.with_extension("svg");
    {
        let root = SVGBackend::new(&svg, (720, 480)).into_drawing_area();
        draw(fig, &root)?;
        root.present().map_err(|e| failed(format!("cannot write {}: {e}", svg.display())))?;
    }
    written.push(svg);
    if font_ready() {
        let png = stem.with_extension("png");
        {
            let root = BitMapBackend::new(&png, (720, 480)).into_drawing_area();
            draw(fig, &root)?;
            root.present().map_err(|e| failed(format!("cannot write {}: {e}", png.display())))?;
        }
        written.push(png);
    }
    Ok(written)
}

fn bounds(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        let v = if log { v.log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9 * (1.0 + hi.abs()));
    (lo - pad, hi + pad)
}

fn draw<DB: DrawingBackend>(fig: &Figure, root: &DrawingArea<DB, Shift>) -> Result<(), StudyError>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| StudyError::Figure {
        title: fig.title.to_string(),
        message: format!("plot '{}': {e:?}", fig.title),
    };
    root.fill(&WHITE).map_err(err)?;
    let (x0, x1) = bounds(fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)), false);
    let (y0, y1) = bounds(fig.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)), fig.log_y);
    let mut chart = ChartBuilder::on(root)
        .caption(fig.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let y_desc = if fig.log_y { format!("log10 {}", fig.y_label) } else { fig.y_label.to_string() };
    chart.configure_mesh().x_desc(fig.x_label).y_desc(y_desc).draw().map_err(err)?;
    let log_y = fig.log_y;
    let map = move |&(x, y): &(f64, f64)| (x, if log_y { y.log10() } else { y });
    for (i, s) in fig.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> =
            s.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0)).map(map).collect();
        if fig.lines {
            chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2))).map_err(err)?;
        }
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
    }
    if fig.series.len() > 1 {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png_when_a_font_exists() {
        if let Some(why) = unavailable() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must install fonts-dejavu-core: {why}");
            eprintln!("skipped: {why}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let series = [Series { label: "a".into(), points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 0.5)] }];
        let fig = Figure { title: "ρ = 0.5", x_label: "x", y_label: "y", series: &series, lines: true, log_y: true };
        let files = save(&fig, &dir.path().join("fig")).unwrap();
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.contains("<svg") && svg.contains("ρ = 0.5"));
        assert_eq!(files.len(), 2);
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
