//! Prints the nodes of an ONNX or TFLite model as tract sees them (name, op, output facts).
//!
//! `cargo run --release -p scoreprobe-features --example inspect_model -- PATH`
use tract_onnx::prelude::*;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: inspect_model PATH.onnx|PATH.tflite"))?;
    if path.ends_with(".tflite") {
        let mut model = tract_tflite::tflite().model_for_path(&path)?;
        if std::env::args().nth(2).as_deref() == Some("--optimized") {
            model =
                if std::env::args().nth(3).is_some() { model.into_decluttered()? } else { model.into_optimized()? };
        }
        for n in model.nodes() {
            println!(
                "{:4} {:40} {:20} {:?}",
                n.id,
                n.name,
                n.op.name(),
                n.outputs.iter().map(|o| format!("{:?}", o.fact)).collect::<Vec<_>>()
            );
        }
        println!("inputs {:?} outputs {:?}", model.input_outlets()?, model.output_outlets()?);
    } else {
        let model = tract_onnx::onnx().model_for_path(&path)?;
        for n in model.nodes() {
            println!(
                "{:4} {:40} {:20} inputs {:?} {:?}",
                n.id,
                n.name,
                n.op.name(),
                n.inputs,
                n.outputs.iter().map(|o| format!("{:?}", o.fact)).collect::<Vec<_>>()
            );
        }
        println!("inputs {:?} outputs {:?}", model.input_outlets()?, model.output_outlets()?);
    }
    Ok(())
}
