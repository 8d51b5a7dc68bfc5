//! A training monitor's files as a resumed monitor reads them: the input is `monitor.jsonl`, then
//! (after the first NUL byte, if any) `monitor-state.json`. The records go through the resume
//! (against the settings of the first record, and of the seed), the next evaluation is paired
//! with the resumed influence terms, and the study report's reader takes the same lines. A record
//! that parses must write back and parse to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoreprobe_siem::monitor::{
    complete_lines, influence_se, paired_difference, parse_records, parse_state, resume, MonitorKey, MonitorRecord,
    MonitorState,
};

fuzz_target!(|data: &[u8]| {
    let (jsonl, state) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    // the study report reads the file as it is
    let path = scoreprobe_fuzz::scratch(jsonl, "jsonl");
    if let Ok(points) = scoreprobe_study::report::read_monitor(&path) {
        assert!(points.windows(2).all(|w| w[0].step.total_cmp(&w[1].step).is_le()), "points in step order");
    }
    // a resuming monitor drops a partial last line first
    let keep = complete_lines(jsonl);
    assert!(keep <= jsonl.len() && (keep == 0 || jsonl[keep - 1] == b'\n'));
    let Ok(text) = std::str::from_utf8(&jsonl[..keep]) else { return };
    let Ok(records) = parse_records(text) else { return };
    for r in &records {
        let line = serde_json::to_string(r).expect("a record serialises");
        let back: MonitorRecord = serde_json::from_str(&line).expect("a written record parses");
        assert_eq!(&back, r, "a record does not survive a write and a read");
    }
    let state = match state.map(parse_state) {
        None => MonitorState::new(),
        Some(Ok(s)) => s,
        Some(Err(_)) => return,
    };
    let mut keys =
        vec![MonitorKey { metric: "siem-projection", window: "980..999", n: 16, seed: 0, test_fn: "gaussian" }];
    if let Some(r) = records.first() {
        keys.push(MonitorKey { metric: &r.metric, window: &r.window, n: r.n, seed: r.seed, test_fn: &r.test_fn });
    }
    for key in keys {
        let Ok(resumed) = resume(&records, &state, &key) else { continue };
        if let Some((step, value)) = resumed.best {
            assert!(records.iter().any(|r| r.step == step && r.value.to_bits() == value.to_bits()));
        }
        let Some((value, psi)) = resumed.previous else { continue };
        // the next evaluation, on the same draws: paired with the previous one
        let next: Vec<f64> = psi.iter().rev().map(|v| v * 0.5).collect();
        let _ = influence_se(&next);
        if let Ok(p) = paired_difference(value * 0.5, &next, value, &psi) {
            assert!(p.z.is_none() || p.se > 0.0);
        }
    }
});
