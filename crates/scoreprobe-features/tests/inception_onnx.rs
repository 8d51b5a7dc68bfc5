//! The `inception:PATH` loading path, on small ONNX graphs built here in pure Rust (tract's
//! ONNX protobuf types, encoded with prost): no Inception weights and no Python needed.

use std::path::Path;

use ndarray::{Array4, Axis};
use prost::Message;
use scoreprobe_data::ImageSet;
use scoreprobe_features::{extractor_from_name, preprocess, FeatureExtractor, Inception, InceptionInput};
use tract_onnx::pb;

const W: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.5, 0.5], [-1.0, 0.25, 3.0]];
const B: [f32; 4] = [0.0, 0.1, -0.2, 1.0];

fn dim(d: Option<i64>) -> pb::tensor_shape_proto::Dimension {
    use pb::tensor_shape_proto::dimension::Value;
    pb::tensor_shape_proto::Dimension {
        value: Some(match d {
            Some(v) => Value::DimValue(v),
            None => Value::DimParam("N".into()),
        }),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: dims.iter().map(|&d| dim(d)).collect() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tensor_f32(name: &str, dims: &[i64], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn tensor_i64(name: &str, data: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// x (batch×3×299×299) → Conv 1×1 (W, B) → GlobalAveragePool → flatten → y (batch×4).
/// `batch = None` makes the batch axis symbolic and flattens with Flatten; `Some(1)` mimics
/// exports with a hard-coded batch (Reshape to [1, 4]).
fn write_model(path: &Path, batch: Option<i64>) {
    let mut nodes = vec![node("Conv", &["x", "w", "b"], "c"), node("GlobalAveragePool", &["c"], "g")];
    let mut init =
        vec![tensor_f32("w", &[4, 3, 1, 1], W.iter().flatten().copied().collect()), tensor_f32("b", &[4], B.to_vec())];
    match batch {
        None => {
            let mut f = node("Flatten", &["g"], "y");
            f.attribute.push(pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            });
            nodes.push(f);
        }
        Some(b) => {
            init.push(tensor_i64("shape", vec![b, 4]));
            nodes.push(node("Reshape", &["g", "shape"], "y"));
        }
    }
    let graph = pb::GraphProto {
        name: "tiny-inception".into(),
        node: nodes,
        initializer: init,
        input: vec![value_info("x", &[batch, Some(3), Some(299), Some(299)])],
        output: vec![value_info("y", &[batch, Some(4)])],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "scoreprobe-test".into(),
        graph: Some(graph),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

/// Small test images: gray 5×7 ramps and noise-like patterns, N images.
fn images(n: usize, c: usize) -> ImageSet {
    let a =
        Array4::from_shape_fn((n, c, 5, 7), |(i, ch, y, x)| ((i * 37 + ch * 11 + y * 7 + x * 3) % 17) as f32 / 16.0);
    ImageSet { images: a, labels: None }
}

/// What the tiny model must output: W · mean(preprocessed channels) + B.
fn expected(set: &ImageSet, input: InceptionInput) -> Vec<[f64; 4]> {
    set.images
        .axis_iter(Axis(0))
        .map(|img| {
            let rgb = preprocess::gray_to_rgb(img);
            let r = preprocess::resize_chw(rgb.view(), 299, 299);
            let m: Vec<f64> = r
                .axis_iter(Axis(0))
                .map(|p| {
                    p.iter()
                        .map(|&v| match input {
                            InceptionInput::MinusOneToOne => 2.0 * v as f64 - 1.0,
                            InceptionInput::ZeroToOne => v as f64,
                            InceptionInput::Bytes => 255.0 * v as f64,
                        })
                        .sum::<f64>()
                        / (299.0 * 299.0)
                })
                .collect();
            let mut out = [0.0; 4];
            for k in 0..4 {
                out[k] = B[k] as f64 + (0..3).map(|c| W[k][c] as f64 * m[c]).sum::<f64>();
            }
            out
        })
        .collect()
}

fn assert_features(f: &ndarray::Array2<f64>, want: &[[f64; 4]], scale: f64) {
    assert_eq!(f.dim(), (want.len(), 4));
    for (row, w) in f.rows().into_iter().zip(want) {
        for k in 0..4 {
            assert!((row[k] - w[k]).abs() <= 1e-4 * scale, "got {row} want {w:?}");
        }
    }
}

#[test]
fn symbolic_batch_model_runs_batched_with_each_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.onnx");
    write_model(&p, None);
    // 19 images: two full batches of 8 and a padded one
    let set = images(19, 3);
    for (input, scale) in
        [(InceptionInput::MinusOneToOne, 1.0), (InceptionInput::ZeroToOne, 1.0), (InceptionInput::Bytes, 255.0)]
    {
        let inc = Inception::from_path(&p, input).unwrap();
        assert_eq!(inc.batch(), 8);
        assert_eq!(inc.dim(), 4);
        assert_features(&inc.extract(&set).unwrap(), &expected(&set, input), scale);
    }
    // by name, and grayscale input replicated to RGB
    let ex = extractor_from_name(&format!("inception:{}", p.display()), None).unwrap();
    assert!(ex.name().starts_with("inception:"));
    let gray = images(3, 1);
    assert_features(&ex.extract(&gray).unwrap(), &expected(&gray, InceptionInput::MinusOneToOne), 1.0);
}

#[test]
fn fixed_batch_model_falls_back_to_batch_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fixed.onnx");
    write_model(&p, Some(1));
    let inc = Inception::from_path(&p, InceptionInput::ZeroToOne).unwrap();
    assert_eq!(inc.batch(), 1);
    let set = images(3, 3);
    assert_features(&inc.extract(&set).unwrap(), &expected(&set, InceptionInput::ZeroToOne), 1.0);
}

#[test]
fn bad_inception_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.onnx");
    let e = format!("{:#}", extractor_from_name(&format!("inception:{}", missing.display()), None).err().unwrap());
    assert!(e.contains("nope.onnx"), "{e}");
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"definitely not protobuf \x00\x01\x02").unwrap();
    let e = format!("{:#}", Inception::from_path(&junk, InceptionInput::MinusOneToOne).err().unwrap());
    assert!(e.contains("junk.onnx"), "{e}");
    let e = format!("{:#}", extractor_from_name("inception", None).err().unwrap());
    assert!(e.contains("inception:PATH"), "{e}");
}
