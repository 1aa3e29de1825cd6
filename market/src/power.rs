//! Measured power curves of physical hosts: watts drawn at each tenth of CPU
//! utilisation, from the SPECpower_ssj2008 results the CloudSim experiments
//! use, linearly interpolated in between.
//!
//! Pure data and arithmetic, so the trace replay (`bourse::replay`), the
//! lower bound and any future pricing policy read one table instead of
//! copying numbers.

use thiserror::Error;

/// A utilisation outside 0..=1 has no defined draw.
#[derive(Debug, Error, PartialEq)]
#[error("utilisation {0} is outside 0..=1")]
pub struct UtilisationOutOfRange(pub f64);

/// Watts at 0 %, 10 %, ..., 100 % CPU utilisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerCurve {
    /// The measured draw at each tenth of utilisation, idle first.
    pub watts: [f64; 11],
}

impl PowerCurve {
    /// HP ProLiant ML110 G4 (Xeon 3040, 2 x 1860 MHz), SPECpower 2008.
    pub const HP_ML110_G4: PowerCurve = PowerCurve {
        watts: [
            86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0,
        ],
    };

    /// HP ProLiant ML110 G5 (Xeon 3075, 2 x 2660 MHz), SPECpower 2008.
    pub const HP_ML110_G5: PowerCurve = PowerCurve {
        watts: [
            93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0,
        ],
    };

    /// The draw at `utilisation` (0..=1), interpolated linearly between the
    /// two measured tenths around it.
    pub fn watts_at(&self, utilisation: f64) -> Result<f64, UtilisationOutOfRange> {
        if !(0.0..=1.0).contains(&utilisation) {
            return Err(UtilisationOutOfRange(utilisation));
        }
        let tenths = utilisation * 10.0;
        // floor of a value in 0..=10: the cast cannot truncate anything else.
        let below = tenths.floor() as usize;
        if below >= 10 {
            return Ok(self.watts[10]);
        }
        let step = self.watts[below + 1] - self.watts[below];
        Ok(self.watts[below] + step * (tenths - below as f64))
    }

    /// The draw at full load: the most a host of this model can use.
    pub fn peak(&self) -> f64 {
        self.watts[10]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_points_are_returned_exactly() {
        let g4 = PowerCurve::HP_ML110_G4;
        assert_eq!(g4.watts_at(0.0), Ok(86.0));
        assert_eq!(g4.watts_at(1.0), Ok(117.0));
        assert_eq!(PowerCurve::HP_ML110_G5.watts_at(0.5), Ok(116.0));
    }

    #[test]
    fn between_points_the_draw_is_linear() {
        let g5 = PowerCurve::HP_ML110_G5;
        let w = g5.watts_at(0.25).unwrap_or(f64::NAN);
        assert!((w - 103.0).abs() < 1e-9, "{w}");
        let w = PowerCurve::HP_ML110_G4.watts_at(0.95).unwrap_or(f64::NAN);
        assert!((w - 115.5).abs() < 1e-9, "{w}");
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(PowerCurve::HP_ML110_G4.watts_at(1.2).is_err());
        assert!(PowerCurve::HP_ML110_G4.watts_at(-0.1).is_err());
    }
}
