//! `report.html` of a small study: every section present, every figure with data points, nothing
//! that could reach the network; `report::rebuild` (`scoreprobe report`) gives the same report from
//! the records alone, refuses bad input naming the file, and writes nothing when it does.

mod common;

use common::{fonts, small_study, SECTIONS};
use scoreprobe_study::{report, StudyError};

/// The `<figure class="fig" ...>...</figure>` blocks of a page.
fn figures(html: &str) -> Vec<&str> {
    html.split("<figure id=\"fig-").skip(1).map(|f| &f[..f.find("</figure>").expect("closed figure")]).collect()
}

/// Structural checks of a page: sections, figures with data, nothing outside the page.
fn check_page(html: &str, sections: &[&str]) {
    for s in sections {
        assert!(html.contains(&format!("data-section=\"{s}\"")), "section {s} missing");
    }
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("http://") && !lower.contains("https://"), "the page names a URL");
    for (i, _) in lower.match_indices("src=") {
        assert!(lower[i..].starts_with("src=\"data:"), "a src outside the page: {}", &html[i..i + 60]);
    }
    assert!(!lower.contains("<link") && !lower.contains("@import") && !lower.contains("url("));
    let figs = figures(html);
    assert!(!figs.is_empty());
    for f in &figs {
        let marks: usize = f.split("data-marks=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().parse().unwrap();
        assert!(marks > 0, "a figure without data: {}", &f[..80]);
        assert_eq!(f.matches("<title>").count(), marks, "one hover value per data mark");
        assert!(f.contains("<svg"), "figures are inline SVG");
    }
}

#[test]
fn the_page_of_a_small_study_has_every_section_and_every_figure_has_data() {
    if !fonts() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = small_study(dir.path());
    assert!(summary.claims.iter().any(|c| c.id == 1));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    check_page(&html, SECTIONS);
    // every metric along training, two heat maps (all models, checkpoints), both cost charts,
    // the monitor, the scatter plots and the SIEM profiles
    let figs = figures(&html);
    for id in [
        "step-siem\"",
        "step-w2\"",
        "agreement-all\"",
        "agreement-checkpoint\"",
        "cost-seconds\"",
        "monitor\"",
        "siem-profiles\"",
    ] {
        assert!(figs.iter().any(|f| f.starts_with(id)), "figure {id} missing");
    }
    // the monitor's values (0.5/k at steps 100k) rank the shrinking errors like the exact KL
    assert!(html.contains("exact_kl ρ = 1.00 (4 checkpoints)"), "the monitor's title lacks its agreement");
    // 4 checkpoints: 4 hover points on each along-training figure
    let step_w2 = figs.iter().find(|f| f.starts_with("step-w2\"")).unwrap();
    assert!(step_w2.contains("data-marks=\"4\""));
    assert!(html.contains("data:image/png;base64,") && html.contains("samples of ckpt-400"));
    // the claims with their verdicts, the paired differences with z, the provenance
    assert!(html.contains("class=\"verdict "));
    assert!(html.contains("<th>z</th>") && html.contains("ckpt-300</td><td>ckpt-400"));
    for s in
        ["scoreprobe</dt>", "seed</dt><dd>0</dd>", "n · w2</dt><dd>64 generated samples", "test functions · siem</dt>"]
    {
        assert!(html.contains(s), "provenance lacks {s}");
    }
    // report.md links the same figures, as PNG files written beside it
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("(figures/step-siem.png)") && dir.path().join("figures/step-siem.png").is_file());
    assert!(md.contains("[report.html](report.html)"));
}

#[test]
fn rebuilding_from_the_records_gives_the_same_report_and_bad_input_writes_nothing() {
    if !fonts() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_study(d);
    let read = |name: &str| std::fs::read_to_string(d.join(name)).unwrap();
    let (md, corr, html) = (read("report.md"), read("correlations.json"), read("report.html"));
    // nothing is recomputed: the cache goes, the same report comes back
    std::fs::remove_dir_all(d.join("cache")).unwrap();
    std::fs::remove_file(d.join("report.md")).unwrap();
    let rebuilt = report::rebuild(d).unwrap();
    assert!(rebuilt.summary.is_some() && rebuilt.written.iter().any(|p| p.ends_with("report.html")));
    assert_eq!(read("report.md"), md);
    assert_eq!(read("correlations.json"), corr);
    let page = read("report.html");
    check_page(&page, SECTIONS);
    let without_origin =
        |h: &str| h.lines().filter(|l| !l.contains("<dt>this page</dt>")).collect::<Vec<_>>().join("\n");
    assert_eq!(without_origin(&page), without_origin(&html));
    assert!(
        page.contains("rebuilt from the study&#x27;s records") || page.contains("rebuilt from the study's records")
    );

    // a truncated metrics.json: named, and nothing written
    let json = read("metrics.json");
    std::fs::write(d.join("metrics.json"), &json[..json.len() / 2]).unwrap();
    std::fs::remove_file(d.join("report.html")).unwrap();
    let e = report::rebuild(d).unwrap_err();
    assert!(matches!(e, StudyError::Input { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("metrics.json: truncated"), "{text}");
    assert!(!d.join("report.html").exists(), "nothing is written on bad input");
    std::fs::write(d.join("metrics.json"), &json).unwrap();

    // a sample grid that is not a PNG, a monitor line that is not JSON: named
    std::fs::write(d.join("samples/ckpt-100.png"), b"GIF89a").unwrap();
    let text = report::rebuild(d).unwrap_err().to_string();
    assert!(text.contains("samples/ckpt-100.png: not a PNG file"), "{text}");
    std::fs::remove_file(d.join("samples/ckpt-100.png")).unwrap();
    std::fs::write(d.join("monitor.jsonl"), "{\"step\": 1, \"value\": 2}\nnot json\n").unwrap();
    let text = report::rebuild(d).unwrap_err().to_string();
    assert!(text.contains("monitor.jsonl: line 2"), "{text}");
    assert!(!d.join("report.html").exists());
}

#[test]
fn a_folder_that_is_not_a_study_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = report::rebuild(dir.path()).unwrap_err().to_string();
    assert!(text.contains("is not a study folder: no metrics.json"), "{text}");
    let text = report::rebuild(&dir.path().join("absent")).unwrap_err().to_string();
    assert!(text.contains("absent is not a study folder: no such folder"), "{text}");
    std::fs::create_dir(dir.path().join("cache")).unwrap();
    let text = report::rebuild(dir.path()).unwrap_err().to_string();
    assert!(text.contains("did not finish"), "{text}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing written");
}

#[test]
fn a_study_of_an_earlier_version_gets_its_page_from_metrics_csv() {
    if !fonts() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_study(d);
    for f in ["metrics.json", "provenance.json", "report.html"] {
        std::fs::remove_file(d.join(f)).unwrap();
    }
    let rebuilt = report::rebuild(d).unwrap();
    assert!(rebuilt.summary.is_none());
    assert_eq!(rebuilt.written, vec![d.join("report.html")]);
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    check_page(&html, SECTIONS);
    assert!(html.contains("scoreprobe study --models m.json"), "the command, read from report.md");
    // a truncated metrics.csv is named with its line
    let csv = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    std::fs::write(d.join("metrics.csv"), &csv[..csv.len() - 40]).unwrap();
    let text = report::rebuild(d).unwrap_err().to_string();
    assert!(text.contains("metrics.csv: line 6:") && text.contains("truncated"), "{text}");
}
