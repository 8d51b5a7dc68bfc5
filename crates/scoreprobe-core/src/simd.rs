//! The one SIMD dispatch of the workspace (the nn crate's CPU engine and the metrics' assignment
//! solver): [`simd_dispatch!`](crate::simd_dispatch) compiles an `#[inline(always)]` body for
//! AVX-512 and for AVX2 + FMA, and each call runs the copy of [`level`].
//!
//! The level is the best the processor has, or the one `SCOREPROBE_SIMD=scalar|avx2|avx512` asks
//! for (capped at what the processor has), read once; tests force one with [`force`]. The bodies
//! are plain loops without reassociation, so every level gives the same bits; the env var exists to
//! test that, and to run the portable path on a machine that has wider registers.

use std::sync::atomic::{AtomicU8, Ordering};

/// A SIMD level, from the portable baseline up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The target's baseline (SSE2 on x86-64): what the compiler vectorises without extra features.
    Scalar = 1,
    /// AVX2 + FMA (x86-64-v3).
    Avx2 = 2,
    /// AVX-512 F/BW/VL with AVX2 + FMA (x86-64-v4).
    Avx512 = 3,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Scalar, Level::Avx2, Level::Avx512];

    /// The name `SCOREPROBE_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s.trim().to_ascii_lowercase())
    }

    fn from_u8(v: u8) -> Level {
        match v {
            3 => Level::Avx512,
            2 => Level::Avx2,
            _ => Level::Scalar,
        }
    }
}

/// The best level the processor supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}

/// 0 until the first call resolves it.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level every dispatched call runs (one relaxed load after the first call).
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => resolve(),
        v => Level::from_u8(v),
    }
}

#[cold]
fn resolve() -> Level {
    let best = detected();
    let asked = std::env::var("SCOREPROBE_SIMD").ok().and_then(|s| Level::parse(&s));
    let l = asked.map_or(best, |a| a.min(best));
    LEVEL.store(l as u8, Ordering::Relaxed);
    l
}

/// Makes every later call run `l`; `false` (and no change) when the processor lacks it. For the
/// parity tests: the level is process-wide.
pub fn force(l: Level) -> bool {
    if l > detected() {
        return false;
    }
    LEVEL.store(l as u8, Ordering::Relaxed);
    true
}

/// `$vis fn $name(args) -> ret` running `$body` (an `#[inline(always)]` function of the same
/// signature) compiled for the current [`level`](crate::simd::level), so that LLVM vectorises its
/// loops with the registers of that level.
///
/// The second form, `… => body, avx512 + "feature" => body512`, also compiles `body512` (an
/// `#[inline(always)] unsafe fn` of the same signature written with `std::arch` intrinsics) with
/// the AVX-512 features plus `feature` (e.g. `"avx512vnni"`), and runs it at the AVX-512 level
/// when the processor has `feature`; `body` runs everywhere else (AVX-512 without `feature`
/// included). `body512` must give the same bits as `body`.
/// The third form, `… => body, avx512 => body512`, is the second with no feature beyond the
/// AVX-512 level's.
#[macro_export]
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident,
        avx512 => $body512:ident) => {
        $crate::simd_dispatch!(
            $(#[$m])* $vis fn $name($($arg: $ty),*) $(-> $ret)? => $body, avx512 + "avx512f" => $body512
        );
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident,
        avx512 + $feat:tt => $body512:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[target_feature(enable = $feat)]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4x($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: this copy has every feature `body512` needs; its caller checked them.
                    #[allow(unused_unsafe)]
                    unsafe { $body512($($arg),*) }
                }
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                match $crate::simd::level() {
                    // SAFETY: the AVX-512 level was detected, and `feature` is detected here.
                    $crate::simd::Level::Avx512 if std::arch::is_x86_feature_detected!($feat) => {
                        return unsafe { v4x($($arg),*) }
                    }
                    // SAFETY: `level` never exceeds what the processor was detected to support.
                    $crate::simd::Level::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Level::Avx2 => return unsafe { v3($($arg),*) },
                    $crate::simd::Level::Scalar => {}
                }
            }
            $body($($arg),*)
        }
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                match $crate::simd::level() {
                    // SAFETY: `level` never exceeds what the processor was detected to support.
                    $crate::simd::Level::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Level::Avx2 => return unsafe { v3($($arg),*) },
                    $crate::simd::Level::Scalar => {}
                }
            }
            $body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_level_never_exceeds_the_processor() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse(" AVX2 "), Some(Level::Avx2));
        assert_eq!(Level::parse("sse"), None);
        assert!(level() <= detected());
        assert!(force(Level::Scalar));
        assert_eq!(level(), Level::Scalar);
        assert!(force(detected()));
    }
}
