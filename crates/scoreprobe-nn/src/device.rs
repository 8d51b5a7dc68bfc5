//! Compute device selection: the CPU unless a caller asks for another.
//!
//! The networks run on candle's CPU backend (with the fused kernels of [`crate::cpu`]) by
//! default. Built with the `cuda` feature (candle's CUDA backend; needs a CUDA toolkit at build
//! time, not built in CI and untested here), [`select_device`] opens a GPU; every fused CPU path
//! then steps aside for candle's own ops, which run on the device.

use std::str::FromStr;

/// Where the networks run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    /// CUDA device with this ordinal (the `cuda` feature).
    Cuda(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device '{0}'; expected cpu, cuda or cuda:N")]
    Unknown(String),
    #[error("device cuda:{0}: this build has no CUDA support (build scoreprobe-nn with --features cuda)")]
    NoCuda(usize),
    #[error("device cuda:{index}: {source}")]
    Cuda {
        index: usize,
        #[source]
        source: candle_core::Error,
    },
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, DeviceError> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_string())),
        }
    }
}

/// Opens the chosen device.
pub fn select_device(choice: DeviceChoice) -> Result<candle_core::Device, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(candle_core::Device::Cpu),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => {
            candle_core::Device::new_cuda(index).map_err(|source| DeviceError::Cuda { index, source })
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(index) => Err(DeviceError::NoCuda(index)),
    }
}

/// The default compute device: the CPU (also in builds with the `cuda` feature; a GPU is used
/// only when chosen with [`select_device`]).
pub fn default_device() -> candle_core::Device {
    candle_core::Device::Cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_parse_and_the_default_is_the_cpu() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(3));
        assert!(matches!("gpu".parse::<DeviceChoice>(), Err(DeviceError::Unknown(_))));
        assert!(matches!("cuda:x".parse::<DeviceChoice>(), Err(DeviceError::Unknown(_))));
        assert!(default_device().is_cpu());
        assert!(select_device(DeviceChoice::Cpu).unwrap().is_cpu());
        #[cfg(not(feature = "cuda"))]
        assert!(matches!(select_device(DeviceChoice::Cuda(0)), Err(DeviceError::NoCuda(0))));
    }
}
