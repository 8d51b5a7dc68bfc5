//! `scoreprobe`: a thin command-line layer over the library crates (parse, call, print).

mod cmd;
mod io;
mod models;

use clap::{Parser, Subcommand};
use scoreprobe_core::options::{FrontEnd, OptionError};

#[derive(Parser)]
#[command(
    name = "scoreprobe",
    version,
    about = "How good is a diffusion checkpoint, really? Exact oracles, Hodge diagnostics, SIEM and reference metrics."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on an embedded default: train on ring8, perturb, run the study, check the claims.
    Demo(cmd::demo::Args),
    /// Train a score network with denoising score matching, writing a checkpoint sweep.
    Train(cmd::train::Args),
    /// The training monitor on a run's saved checkpoints (as `train --monitor` records it).
    Monitor(cmd::monitor::Args),
    /// Every metric on a set of models; rank correlations, costs, figures and a report.
    Study(cmd::study::Args),
    /// Rebuild a study's report.md and report.html from its records (no metric is recomputed).
    Report(cmd::report::Args),
    /// Checkpoint files: `slim` writes sampling-only copies (for archiving or sharing a sweep).
    Checkpoint(cmd::checkpoint::Args),
    /// Combine replicate studies (same models and settings, distinct seeds): means ± SE, Spearman CIs.
    Replicates(cmd::replicates::Args),
    /// Draw samples from a problem spec's model with a chosen sampler.
    Sample(cmd::sample::Args),
    /// Exact generated law q₀ (Gaussian targets with affine-score models): moments, KL, W2.
    Exact(cmd::exact::Args),
    /// The impossibility family: solenoidal errors of growing λ leave the generated law unchanged.
    Family(cmd::family::Args),
    /// Reference metrics between two sample/feature sets (FD, KID, W2, PRDC).
    Metrics(cmd::metrics::Args),
    /// SIEM: quadratic variation of the score error along the model's own trajectories, over a step window.
    Siem(cmd::siem::Args),
    /// Helmholtz–Hodge split of the score error per time: L² error, gradient part, solenoidal energy.
    Hodge(cmd::hodge::Args),
    /// Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler, next to the exact KL.
    Bounds(cmd::bounds::Args),
    /// Merge the state files of a sharded run (`--shard I/K --state-out PATH`): prints what the unsharded run prints.
    Merge(cmd::merge::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Monitor(a) => cmd::monitor::run(a),
        Command::Study(a) => cmd::study::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Checkpoint(a) => cmd::checkpoint::run(a),
        Command::Replicates(a) => cmd::replicates::run(a),
        Command::Sample(a) => cmd::sample::run(a),
        Command::Exact(a) => cmd::exact::run(a),
        Command::Family(a) => cmd::family::run(a),
        Command::Metrics(a) => cmd::metrics::run(a),
        Command::Siem(a) => cmd::siem::run(a),
        Command::Hodge(a) => cmd::hodge::run(a),
        Command::Bounds(a) => cmd::bounds::run(a),
        Command::Merge(a) => cmd::merge::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", report(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, joined by ": ". Library errors state their cause in their own
/// message (so one `to_string()` is self-contained) and also return it from `source()` (so callers
/// can downcast it); a cause whose text is already shown is therefore not repeated. An option
/// error names its field as the options struct does (`bandwidth_rule`): here it is a flag.
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    match e.chain().find_map(|c| OptionError::find(c)) {
        Some(o) => o.respell(&text, FrontEnd::Cli),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;
    use scoreprobe_core::options::{option_specs, FrontEnd, OptionSpec};

    /// Each run's options, read from its struct.
    fn runs() -> Vec<(&'static str, Vec<OptionSpec>)> {
        vec![
            ("sample", option_specs::<scoreprobe_core::sampler::SampleOptions>().unwrap()),
            ("siem", option_specs::<scoreprobe_siem::SiemOptions>().unwrap()),
            ("hodge", option_specs::<scoreprobe_hodge::HodgeOptions>().unwrap()),
            ("bounds", option_specs::<scoreprobe_hodge::BoundsOptions>().unwrap()),
            ("metrics", option_specs::<scoreprobe_metrics::MetricsOptions>().unwrap()),
        ]
    }

    /// `--help`'s entry of each flag: its first line (`--flag <FLAG>`) and the `[default: …]` shown.
    fn help_defaults(help: &str) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = vec![];
        for line in help.lines().map(str::trim) {
            if let Some(flag) = line.strip_prefix("--").map(|l| l.split_whitespace().next().unwrap_or("")) {
                out.push((format!("--{flag}"), None));
            } else if let (Some(d), Some(last)) = (line.strip_prefix("[default: "), out.last_mut()) {
                last.1 = Some(d.trim_end_matches(']').to_string());
            }
        }
        out
    }

    /// The struct's default as `--help` shows it (none for an absent value or a false switch).
    fn shown(default: &serde_json::Value) -> Option<String> {
        match default {
            serde_json::Value::Null | serde_json::Value::Bool(false) => None,
            serde_json::Value::String(s) => Some(s.clone()),
            // a list as clap shows a comma-delimited default: `fd`
            serde_json::Value::Array(items) => Some(
                items.iter().map(|v| v.as_str().map_or(v.to_string(), str::to_string)).collect::<Vec<_>>().join(","),
            ),
            other => Some(other.to_string()),
        }
    }

    fn same(help: &Option<String>, want: &Option<String>) -> bool {
        match (help, want) {
            // numbers: clap prints 8.0 as "8"
            (Some(h), Some(w)) => h == w || matches!((h.parse::<f64>(), w.parse::<f64>()), (Ok(a), Ok(b)) if a == b),
            (h, w) => h == w,
        }
    }

    /// The Must-show check on the CLI's side: every option of a run's struct is a flag of its
    /// subcommand's `--help`, with the struct's default (Python's side: python/tests/test_options.py).
    #[test]
    fn every_run_s_help_shows_its_struct_s_options_and_defaults() {
        let mut cli = Cli::command();
        for (run, specs) in runs() {
            let help = cli.find_subcommand_mut(run).unwrap().render_long_help().to_string();
            let flags = help_defaults(&help);
            for spec in &specs {
                let flag = FrontEnd::Cli.spell(&spec.name);
                let entry = flags.iter().find(|(f, _)| *f == flag);
                let (_, default) = entry.unwrap_or_else(|| panic!("{run}: {flag} is not in --help"));
                assert!(
                    same(default, &shown(&spec.default)),
                    "{run} {flag}: help {default:?}, struct {:?}",
                    spec.default
                );
            }
        }
        // the check fails on a default that differs
        assert!(!same(&Some("8".into()), &shown(&serde_json::json!(8.5))));
    }

    #[test]
    fn an_option_error_is_spelled_as_a_flag() {
        let e = scoreprobe_core::OptionError::new("bandwidth_rule", "no");
        let err = anyhow::Error::new(scoreprobe_siem::SiemError::from(e)).context("spec.json");
        assert_eq!(super::report(&err), "spec.json: --bandwidth-rule: no");
    }
}
