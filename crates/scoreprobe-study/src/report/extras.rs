//! What a study folder may hold beside the records: sample grids (`samples/<model>.png`, shown per
//! checkpoint) and a training monitor's curve (`monitor.jsonl`, one `{"step", "value", "se"}` per
//! line, and `"metric"` where a monitor records several: the first one's curve is drawn; the
//! schema of `sp.Monitor` and `scoreprobe train --monitor`, docs/monitor.md). Both are optional; one that is present but unreadable is an error naming it.

use super::figures::MonitorPoint;
use super::html::SampleGrid;
use super::view::View;
use crate::error::StudyError;
use std::path::Path;

pub(super) struct Extras {
    pub samples: Vec<SampleGrid>,
    pub monitor: Vec<MonitorPoint>,
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

pub(super) fn read(dir: &Path, view: &View) -> Result<Extras, StudyError> {
    Ok(Extras { samples: samples(dir, view)?, monitor: monitor(&dir.join("monitor.jsonl"))? })
}

/// `samples/<model>.png` of every model that has one, in the study's order.
fn samples(dir: &Path, view: &View) -> Result<Vec<SampleGrid>, StudyError> {
    let mut out = vec![];
    for r in &view.rows {
        let path = dir.join("samples").join(format!("{}.png", r.name));
        if !path.is_file() {
            continue;
        }
        let png = std::fs::read(&path).map_err(|e| StudyError::Input { path: path.clone(), message: e.to_string() })?;
        if !png.starts_with(PNG_MAGIC) {
            return Err(StudyError::Input { path, message: "not a PNG file".into() });
        }
        out.push(SampleGrid { model: r.name.clone(), png });
    }
    Ok(out)
}

/// The monitor's points (`monitor.jsonl` at `path`), sorted by step, of the first metric; none
/// when the file is absent.
pub fn monitor(path: &Path) -> Result<Vec<MonitorPoint>, StudyError> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = super::view::read(path)?;
    let mut points = vec![];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let p: MonitorPoint = serde_json::from_str(line).map_err(|e| StudyError::Input {
            path: path.to_path_buf(),
            message: format!("line {}: expected {{\"step\", \"value\", \"se\"}}: {e}", i + 1),
        })?;
        points.push(p);
    }
    let first = points.first().and_then(|p| p.metric.clone());
    points.retain(|p| p.metric == first);
    points.sort_by(|a, b| a.step.total_cmp(&b.step));
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_read_in_step_order_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("monitor.jsonl");
        assert!(monitor(&p).unwrap().is_empty());
        std::fs::write(&p, "{\"step\": 20, \"value\": 0.5, \"se\": 0.1}\n\n{\"step\": 10, \"value\": 1.5}\n").unwrap();
        let m = monitor(&p).unwrap();
        assert_eq!(
            m,
            vec![
                MonitorPoint { step: 10.0, value: 1.5, se: None, metric: None, diff_se: None },
                MonitorPoint { step: 20.0, value: 0.5, se: Some(0.1), metric: None, diff_se: None }
            ]
        );
        // several metrics: the first one's curve
        std::fs::write(
            &p,
            "{\"step\": 1, \"metric\": \"a\", \"value\": 1}\n{\"step\": 1, \"metric\": \"b\", \"value\": 9}\n\
             {\"step\": 2, \"metric\": \"a\", \"value\": 2, \"se\": null}\n",
        )
        .unwrap();
        let m = monitor(&p).unwrap();
        assert_eq!(m.iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(), vec![(1.0, 1.0), (2.0, 2.0)]);
        std::fs::write(&p, "{\"step\": 20, \"value\": 0.5}\n{\"step\": 30, \"val").unwrap();
        let e = monitor(&p).unwrap_err().to_string();
        assert!(e.contains("monitor.jsonl: line 2:"), "{e}");
    }
}
