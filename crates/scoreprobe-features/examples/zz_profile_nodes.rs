use std::time::Instant;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;
fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap();
    let model = tract_tflite::tflite().model_for_path(&path)?.into_optimized()?;
    let plan = model.into_runnable()?;
    let mut t = Tensor::from_shape(&[1usize, 224, 224, 3], &vec![100u8; 224 * 224 * 3])?;
    unsafe { t.set_datum_type(plan.model().input_fact(0)?.datum_type) };
    let mut times: Vec<(f64, String)> = vec![];
    let mut state = plan.spawn()?;
    let t0 = Instant::now();
    state.run_plan_with_eval(tvec!(t.into()), |ctx, st, node, inp| {
        let s = Instant::now();
        let r = eval(ctx, st, node, inp);
        times.push((
            s.elapsed().as_secs_f64(),
            format!("{} {} {:?}", node.id, node.op.name(), node.outputs[0].fact.shape),
        ));
        r
    })?;
    println!("total {:.3}", t0.elapsed().as_secs_f64());
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, n) in times.iter().take(15) {
        println!("{s:.4} {n}");
    }
    Ok(())
}
