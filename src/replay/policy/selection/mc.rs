//! Maximum correlation: the VM whose recent utilisation the host's other
//! VMs explain best, as it is the one most likely to peak when they do
//! (CloudSim's `PowerVmSelectionPolicyMaximumCorrelation`, after Verma et
//! al.). For each migratable VM, its history is regressed on the others'
//! (multiple linear regression with an intercept over the samples all of
//! them have); the VM with the largest coefficient of determination R²
//! goes.
//!
//! CloudSim's rules, kept: the regression needs more samples than VMs
//! (its library refuses zero degrees of freedom), and without them the
//! selection falls back to minimum migration time; a VM is chosen only if
//! its R² is above zero, else the first migratable VM goes. Where the
//! others' histories are linearly dependent (a VM idle at a constant
//! level, two VMs alike) this takes the least-squares fit over the
//! independent ones; CloudSim's library may return no number there.

use super::{Datacenter, migratable, mmt};

/// Below this share of its own length, what is left of a history once the
/// others are projected out is rounding, not a new direction.
const DEPENDENT: f64 = 1e-9;

/// The migratable VM of `host` best explained by the others.
pub fn select(dc: &Datacenter, host: usize) -> Option<usize> {
    let vms = migratable(dc, host);
    let samples = vms.iter().map(|&v| dc.vms[v].history.len()).min()?;
    // n - 1 regressors and an intercept need n + 1 samples or more.
    if samples <= vms.len() {
        return mmt::select(dc, host);
    }
    let rows: Vec<Vec<f64>> = vms
        .iter()
        .map(|&v| centred(dc.vms[v].history.iter().take(samples).copied()))
        .collect();
    // CloudSim starts from Double.MIN_VALUE, the least positive double.
    let mut most = f64::from_bits(1);
    let mut best = 0;
    for i in 0..rows.len() {
        let r2 = determination(&rows, i);
        if r2 > most {
            most = r2;
            best = i;
        }
    }
    vms.get(best).copied()
}

/// The values minus their mean: regressing centred data needs no
/// intercept column.
fn centred(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let values: Vec<f64> = values.collect();
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    values.iter().map(|x| x - mean).collect()
}

/// R² of row `i` regressed on every other row (all centred): one minus the
/// share of its variance the others' span leaves. NaN when row `i` is
/// constant (no variance to explain).
fn determination(rows: &[Vec<f64>], i: usize) -> f64 {
    let y = &rows[i];
    let total = dot(y, y);
    if total == 0.0 {
        return f64::NAN;
    }
    let basis = orthonormal_basis(
        rows.iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, r)| r),
    );
    let mut residual = y.clone();
    for b in &basis {
        subtract_projection(&mut residual, b);
    }
    1.0 - dot(&residual, &residual) / total
}

/// An orthonormal basis of the span of `columns` (modified Gram-Schmidt),
/// dependent columns dropped.
fn orthonormal_basis<'a>(columns: impl Iterator<Item = &'a Vec<f64>>) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for column in columns {
        let length = dot(column, column).sqrt();
        let mut q = column.clone();
        for b in &basis {
            subtract_projection(&mut q, b);
        }
        let left = dot(&q, &q).sqrt();
        if length == 0.0 || left <= DEPENDENT * length {
            continue;
        }
        q.iter_mut().for_each(|x| *x /= left);
        basis.push(q);
    }
    basis
}

/// `v` minus its projection on the unit vector `unit`.
fn subtract_projection(v: &mut [f64], unit: &[f64]) {
    let along = dot(v, unit);
    v.iter_mut().zip(unit).for_each(|(x, u)| *x -= along * u);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[&[f64]]) -> Vec<Vec<f64>> {
        data.iter().map(|r| centred(r.iter().copied())).collect()
    }

    #[test]
    fn a_sum_of_the_others_is_explained_fully() {
        let a = [0.1, 0.5, 0.2, 0.9, 0.4, 0.3];
        let b = [0.3, 0.1, 0.8, 0.2, 0.6, 0.1];
        let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let rows = rows(&[&a, &b, &sum]);
        assert!((determination(&rows, 2) - 1.0).abs() < 1e-12);
        // And each part by the sum and the other part.
        assert!((determination(&rows, 0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn r2_of_one_regressor_is_the_squared_correlation() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        // Pearson's r of x and y is 0.8.
        let rows = rows(&[&x, &y]);
        assert!((determination(&rows, 1) - 0.64).abs() < 1e-12);
        assert!((determination(&rows, 0) - 0.64).abs() < 1e-12);
    }

    #[test]
    fn dependent_regressors_and_constant_rows_are_handled() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let twice = [2.0, 4.0, 6.0, 8.0, 10.0];
        let flat = [0.5; 5];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        let rows = rows(&[&x, &twice, &flat, &y]);
        assert!((determination(&rows, 3) - 0.64).abs() < 1e-12);
        assert!(determination(&rows, 2).is_nan());
    }
}
