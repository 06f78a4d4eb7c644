//! Arithmetic over samples: percentiles, rates and splitting work over tasks.

use std::time::Duration;

use serde::Serialize;

/// The median and the 99th percentile of a set of latencies.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    /// Median, in µs.
    pub(crate) p50_us: f64,
    /// 99th percentile, in µs.
    pub(crate) p99_us: f64,
}

impl Latency {
    /// The percentiles of `samples`, in µs (sorted in place).
    pub(super) fn of_micros(samples: &mut [f64]) -> Self {
        samples.sort_unstable_by(f64::total_cmp);
        Self {
            p50_us: percentile(samples, 0.50),
            p99_us: percentile(samples, 0.99),
        }
    }

    /// The percentiles of `samples`.
    pub(super) fn of_durations(samples: &[Duration]) -> Self {
        let mut micros: Vec<f64> = samples
            .iter()
            .map(|sample| sample.as_secs_f64() * 1e6)
            .collect();
        Self::of_micros(&mut micros)
    }
}

/// The median of `values` (sorted in place); 0 when it is empty.
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    percentile(values, 0.50)
}

/// `count` events in `elapsed`, per second.
pub(super) fn per_second(count: usize, elapsed: Duration) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let count = count as f64;
    count / elapsed.as_secs_f64()
}

/// Splits `total` calls over `parts` tasks as evenly as possible.
pub(super) fn split(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    (0..parts).map(move |part| total / parts + usize::from(part < total % parts))
}

/// The nearest-rank percentile of `sorted`; 0 when it is empty.
fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "sample counts are small and the rank is clamped to the slice"
    )]
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_spreads_the_remainder() {
        assert_eq!(split(5, 2).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(split(4, 1).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let latency = Latency::of_durations(&samples);
        assert!((latency.p50_us - 50.0).abs() < 1e-6);
        assert!((latency.p99_us - 99.0).abs() < 1e-6);
    }

    #[test]
    fn no_samples_give_zero() {
        let latency = Latency::of_micros(&mut []);
        assert!(latency.p50_us.abs() < f64::EPSILON && latency.p99_us.abs() < f64::EPSILON);
    }

    #[test]
    fn median_takes_the_middle() {
        assert!((median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn rates_are_per_second() {
        assert!((per_second(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-6);
    }
}
