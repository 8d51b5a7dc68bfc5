//! A score model that remembers its answers. Estimators that run under common random numbers ask
//! a model the same questions: the projection-form SIEMs (radial K = 8, radial at the origin, the
//! quadratic family, each on the full grid and on its high-noise window) all score the same
//! forward-noised draws at the same times, so on an image network five of every six evaluations
//! repeat one already made. The answer is returned bit for bit as the model gave it.
//!
//! Keys are (t, rows, a 128-bit hash of the batch's values); a hash collision between two
//! different batches has probability ~2⁻¹²⁸ per pair. Answers are stored as f32 when that is
//! lossless (a network's f32 output widened to f64), else as f64, until the byte budget is spent;
//! after that, new answers are computed and not stored.

use super::{ModelError, ScoreModel};
use ndarray::{Array2, ArrayView2};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

enum Stored {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Stored {
    fn of(s: &Array2<f64>) -> Self {
        let narrow: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        if narrow.iter().zip(s.iter()).all(|(&n, &v)| f64::from(n) == v) {
            Stored::F32(narrow)
        } else {
            Stored::F64(s.iter().copied().collect())
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Stored::F32(v) => v.len() * 4,
            Stored::F64(v) => v.len() * 8,
        }
    }

    fn to_array(&self, shape: (usize, usize)) -> Array2<f64> {
        let values = match self {
            Stored::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Stored::F64(v) => v.clone(),
        };
        Array2::from_shape_vec(shape, values).expect("stored with this shape")
    }
}

type Key = (u64, usize, usize, u64, u64);

#[derive(Default)]
struct Store {
    entries: HashMap<Key, Stored>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// How often a [`Memoized`] model answered from memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: usize,
}

pub struct Memoized {
    inner: Box<dyn ScoreModel>,
    budget_bytes: usize,
    store: Mutex<Store>,
}

impl Memoized {
    /// Remembers up to `budget_bytes` of answers of `inner`.
    pub fn new(inner: Box<dyn ScoreModel>, budget_bytes: usize) -> Self {
        Self { inner, budget_bytes, store: Mutex::new(Store::default()) }
    }

    pub fn stats(&self) -> MemoStats {
        let s = self.store.lock().unwrap_or_else(|e| e.into_inner());
        MemoStats { hits: s.hits, misses: s.misses, bytes: s.bytes }
    }

    fn key(x: &ArrayView2<f64>, t: f64) -> Key {
        // two independent 64-bit hashes of the values (SipHash with different leading words)
        let (mut a, mut b) = (DefaultHasher::new(), DefaultHasher::new());
        0x5eed_0001u64.hash(&mut a);
        0x5eed_0002u64.hash(&mut b);
        for v in x.iter() {
            a.write_u64(v.to_bits());
            b.write_u64(v.to_bits());
        }
        (t.to_bits(), x.nrows(), x.ncols(), a.finish(), b.finish())
    }
}

impl ScoreModel for Memoized {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        let key = Self::key(&x, t);
        {
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(found) = store.entries.get(&key) {
                let answer = found.to_array(x.dim());
                store.hits += 1;
                return Ok(answer);
            }
        }
        // evaluated outside the lock: the model may use every thread
        let s = self.inner.score(x, t)?;
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.misses += 1;
        let stored = Stored::of(&s);
        if s.dim() == x.dim() && store.bytes + stored.bytes() <= self.budget_bytes {
            store.bytes += stored.bytes();
            store.entries.insert(key, stored);
        }
        Ok(s)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// s(x, t) = t·x + 0.1 (f64 values that are not all f32-exact), counting its calls.
    struct Counting(Arc<AtomicUsize>);
    impl ScoreModel for Counting {
        fn dim(&self) -> usize {
            2
        }
        fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(x.mapv(|v| t * v + 0.1))
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[test]
    fn repeated_questions_are_answered_from_memory_bit_for_bit() {
        let calls = Arc::new(AtomicUsize::new(0));
        let m = Memoized::new(Box::new(Counting(calls.clone())), 1 << 20);
        let x = array![[1.0, 2.0], [3.0, -4.0]];
        let first = m.score(x.view(), 0.3).unwrap();
        let again = m.score(x.view(), 0.3).unwrap();
        assert_eq!(first, again);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // another time, another batch: computed
        m.score(x.view(), 0.4).unwrap();
        m.score(array![[1.0, 2.0], [3.0, -4.000001]].view(), 0.3).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(m.stats(), MemoStats { hits: 1, misses: 3, bytes: 3 * 4 * 8 });
    }

    #[test]
    fn f32_answers_take_half_the_memory_and_the_budget_is_kept() {
        let calls = Arc::new(AtomicUsize::new(0));
        // x + 0.1 is not f32-exact: one answer takes 4 × 8 bytes, the whole budget
        let m = Memoized::new(Box::new(Counting(calls.clone())), 32);
        let x = array![[1.0, 2.0], [3.0, 4.0]];
        m.score(x.view(), 1.0).unwrap();
        m.score(x.view(), 2.0).unwrap();
        m.score(x.view(), 2.0).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "the answer past the budget was kept");
        assert_eq!(m.stats().bytes, 32);
        let exact = Stored::of(&array![[0.5, 2.0]]);
        assert!(matches!(exact, Stored::F32(_)) && exact.bytes() == 8);
    }
}
