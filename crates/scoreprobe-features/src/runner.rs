//! Runs a tract plan with a fixed batch size over many samples, batches in parallel (rayon).

use std::sync::Arc;

use ndarray::Array2;
use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{ensure, TractErrorContext};

/// Tract's error type (an `anyhow::Error`): this module only drives tract.
type Result<T> = TractResult<T>;

/// A compiled model taking `(batch, sample_shape…)` inputs and giving `(batch, out_dim…)`
/// outputs (every non-batch output axis is flattened into `out_dim`).
pub(crate) struct BatchedPlan {
    pub plan: Arc<TypedRunnableModel>,
    pub batch: usize,
    pub sample_shape: Vec<usize>,
    pub input_dt: DatumType,
    pub out_dim: usize,
    /// Names the model in error messages (its file).
    pub label: String,
}

impl BatchedPlan {
    /// Builds a plan from a typed model with a concrete input of batch `batch`.
    pub fn new(model: TypedModel, batch: usize, label: String) -> Result<Self> {
        let in_fact = model.input_fact(0)?.clone();
        let in_shape = in_fact
            .shape
            .as_concrete()
            .with_context(|| format!("{label}: model input shape is not concrete"))?
            .to_vec();
        ensure!(
            in_shape.first() == Some(&batch),
            "{label}: model input shape {in_shape:?} does not start with batch {batch}"
        );
        let out_fact = model.output_fact(0)?.clone();
        let out_shape = out_fact
            .shape
            .as_concrete()
            .with_context(|| format!("{label}: model output shape is not concrete"))?
            .to_vec();
        ensure!(
            out_shape.first() == Some(&batch),
            "{label}: model output shape {out_shape:?} does not start with batch {batch}"
        );
        let out_dim = out_shape[1..].iter().product();
        let plan = model.into_runnable().with_context(|| format!("{label}: cannot prepare the model"))?;
        Ok(BatchedPlan {
            plan,
            batch,
            sample_shape: in_shape[1..].to_vec(),
            input_dt: in_fact.datum_type,
            out_dim,
            label,
        })
    }

    /// Values per input sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Runs `n` samples; `fill(i, buf)` writes sample `i` into `buf` (`sample_len` values).
    /// The last batch is padded with zeros. Returns `(n, out_dim)`.
    pub fn run<T>(&self, n: usize, fill: impl Fn(usize, &mut [T]) -> Result<()> + Sync) -> Result<Array2<f64>>
    where
        T: Datum + Copy + Default,
    {
        let per = self.sample_len();
        let b = self.batch;
        let batches = n.div_ceil(b);
        let outs: Vec<Result<Vec<f32>>> = (0..batches)
            .into_par_iter()
            .map(|k| {
                let start = k * b;
                let m = b.min(n - start);
                let mut buf = vec![T::default(); b * per];
                for j in 0..m {
                    fill(start + j, &mut buf[j * per..(j + 1) * per])?;
                }
                let mut shape = vec![b];
                shape.extend_from_slice(&self.sample_shape);
                let mut t = Tensor::from_shape(&shape, &buf)?;
                if t.datum_type() != self.input_dt {
                    ensure!(
                        t.datum_type().size_of() == self.input_dt.size_of(),
                        "{}: input type {:?} expected, got {:?}",
                        self.label,
                        self.input_dt,
                        t.datum_type()
                    );
                    // SAFETY: same storage size (e.g. u8 → quantized u8): only the
                    // interpretation of the bytes changes.
                    unsafe { t.set_datum_type(self.input_dt) };
                }
                let out =
                    self.plan.run(tvec!(t.into())).with_context(|| format!("{}: inference failed", self.label))?;
                let o = out[0].cast_to::<f32>()?;
                let v = o.to_plain_array_view::<f32>()?;
                ensure!(
                    v.len() == b * self.out_dim,
                    "{}: output has {} values, expected {}",
                    self.label,
                    v.len(),
                    b * self.out_dim
                );
                Ok(v.iter().take(m * self.out_dim).copied().collect())
            })
            .collect();
        let mut flat = Vec::with_capacity(n * self.out_dim);
        for o in outs {
            flat.extend(o?.into_iter().map(f64::from));
        }
        Ok(Array2::from_shape_vec((n, self.out_dim), flat)?)
    }
}
