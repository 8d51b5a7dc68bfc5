//! `report.html` in a real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`)
//! loads the page of a small study from a file with every host name unresolvable, and
//! - the rendered DOM has every section, the page's script ran (it marks `<html class="js">` and
//!   adds the series toggles), and every figure has its data marks;
//! - Chromium's network log records no request other than the page's own file (and data: URIs);
//! - a screenshot of the page is not blank (many colours, a good share of non-white pixels).
//!
//! Skipped, saying so, where no Chromium is installed (`$SCOREPROBE_CHROMIUM` names one elsewhere).

mod common;

use common::{fonts, small_study, SECTIONS};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SCOREPROBE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `args`, killing it after two minutes; returns stdout.
fn run(browser: &Path, profile: &Path, page: &Path, args: &[String]) -> String {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-pings",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("chromium starts");
    let id = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    while !waiter.is_finished() {
        if start.elapsed() > Duration::from_secs(120) {
            // only the browser this test started
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = waiter.join().unwrap().expect("chromium ran");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The URLs of the requests the page made (Chromium's network log: the jobs whose network
/// isolation key is the file's; the browser's own background requests have other keys).
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).expect("chromium wrote its network log");
    let log: serde_json::Value = serde_json::from_str(&text).expect("a complete network log");
    let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    assert!(start_job.is_u64(), "the network log names its event types");
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| &e["type"] == start_job)
        .map(|e| &e["params"])
        .filter(|p| p["network_isolation_key"].as_str().is_some_and(|k| k.starts_with("file://")))
        .filter_map(|p| p["url"].as_str().map(String::from))
        .filter(|u| !u.starts_with("file:") && !u.starts_with("data:"))
        .collect()
}

/// A copy of the page that records, into `<body data-violations data-resources>`, every request
/// the Content-Security-Policy blocked and every resource the page loaded.
fn probe(page: &Path, extra_body: &str) -> PathBuf {
    const PROBE: &str = "<script>var v=[];document.addEventListener('securitypolicyviolation',function(e){v.push(e.blockedURI)});\
addEventListener('load',function(){document.body.setAttribute('data-violations',JSON.stringify(v));\
document.body.setAttribute('data-resources',JSON.stringify(performance.getEntriesByType('resource').map(function(r){return r.name})))});</script>";
    let html = std::fs::read_to_string(page).unwrap();
    let html =
        html.replacen("<head>", &format!("<head>{PROBE}"), 1).replacen("<main>", &format!("<main>{extra_body}"), 1);
    let out = page.with_file_name("probe.html");
    std::fs::write(&out, html).unwrap();
    out
}

fn attr<'a>(dom: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    let i = dom.find(&key).unwrap_or_else(|| panic!("no {name} in the DOM")) + key.len();
    &dom[i..i + dom[i..].find('"').unwrap()]
}

#[test]
fn the_page_renders_in_headless_chromium_without_any_request() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no Chromium found (install Debian's `chromium`, or set SCOREPROBE_CHROMIUM)");
        return;
    };
    if !fonts() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study");
    small_study(&study);
    let page = study.join("report.html");
    let profile = dir.path().join("profile");
    let net_log = dir.path().join("net-log.json");

    // the DOM after scripts ran
    let dump = |page: &Path| {
        run(&browser, &profile, page, &["--dump-dom".into(), format!("--log-net-log={}", net_log.display())])
    };
    let dom = dump(&probe(&page, ""));
    assert!(dom.contains("<html lang=\"en\" class=\"js\">"), "the page's script did not run");
    for s in SECTIONS {
        assert!(dom.contains(&format!("data-section=\"{s}\"")), "section {s} missing from the DOM");
    }
    let figures: Vec<&str> =
        dom.split("<figure id=\"fig-").skip(1).map(|f| &f[..f.find("</figure>").unwrap()]).collect();
    assert!(figures.len() >= 8, "{} figures", figures.len());
    for f in &figures {
        let marks = f.matches("<title>").count();
        assert!(marks > 0 && f.contains("<svg"), "a figure without data in the DOM: {}", &f[..60]);
    }
    assert!(dom.contains("<button type=\"button\" class=\"tog\""), "the scatter figures have series toggles");
    assert!(dom.contains("src=\"data:image/png;base64,"));

    // no request left the page, none was even attempted (and blocked by the page's policy)
    assert_eq!(page_requests(&net_log), Vec::<String>::new());
    assert_eq!(attr(&dom, "data-violations"), "[]");
    assert_eq!(attr(&dom, "data-resources"), "[]");
    // the checks can fail: the same page with one image from a CDN is caught by the policy, and
    // without the policy the request shows in the network log
    let dom = dump(&probe(&page, "<img src=\"https://cdn.example.org/x.png\">"));
    assert!(attr(&dom, "data-violations").contains("cdn.example.org"), "the probe sees a blocked request");
    let no_csp = std::fs::read_to_string(&page).unwrap().replacen(
        "<meta http-equiv=\"Content-Security-Policy\"",
        "<meta name=\"x\"",
        1,
    );
    std::fs::write(page.with_file_name("no-csp.html"), no_csp).unwrap();
    dump(&probe(&page.with_file_name("no-csp.html"), "<img src=\"https://cdn.example.org/x.png\">"));
    assert_eq!(page_requests(&net_log), vec!["https://cdn.example.org/x.png".to_string()]);

    // a screenshot that is not blank
    let shot = dir.path().join("shot.png");
    run(&browser, &profile, &page, &[format!("--screenshot={}", shot.display()), "--window-size=1280,2200".into()]);
    let img = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    let inked = img.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count() as f64 / img.pixels().len() as f64;
    assert!(colours.len() > 50, "{} colours: blank?", colours.len());
    assert!(inked > 0.02, "only {:.1}% of the pixels are not near-white", 100.0 * inked);
}
