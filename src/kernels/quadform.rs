//! Tail probabilities of linear combinations of chi-squares, as R's `survey::pFsum` computes them
//! for `svychisq(statistic = "lincom")` and `"saddlepoint"`: P(Σ λ_j χ²_1 / (χ²_d / d) > x).
//!
//! `lincom` is Davies' (1980, AS 155) numerical inversion of the characteristic function, a
//! line-by-line translation of CompQuadForm's `qfc.cpp` (which R calls through
//! `CompQuadForm::davies`), so that its results are R's to rounding; `saddlepoint` is Kuonen's
//! (1999) saddlepoint approximation as `survey:::saddle`, with R's `uniroot` (Brent's zeroin at
//! tol 1e-8) for the saddle point.

/// CompQuadForm's π (a truncated literal; kept so the integration grid is R's).
#[allow(clippy::approx_constant)]
const PI: f64 = 3.14159265358979;
/// log(2) / 8, as CompQuadForm rounds it.
const LOG28: f64 = 0.0866;

fn exp1(x: f64) -> f64 {
    if x < -50.0 {
        0.0
    } else {
        x.exp()
    }
}

/// ln(1 + x) when `first`, else ln(1 + x) − x, accurate for small x.
fn log1(x: f64, first: bool) -> f64 {
    // |x| > 0.1 (or not a number: the series below would never settle on NaN).
    if x.is_nan() || x.abs() > 0.1 {
        if first {
            (1.0 + x).ln()
        } else {
            (1.0 + x).ln() - x
        }
    } else {
        let mut y = x / (2.0 + x);
        let mut term = 2.0 * y * y * y;
        let mut k = 3.0;
        let mut s = if first { 2.0 } else { -x } * y;
        y *= y;
        let mut s1 = s + term / k;
        while s1 != s {
            k += 2.0;
            term *= y;
            s = s1;
            s1 = s + term / k;
        }
        s
    }
}

/// Davies' algorithm ran out of terms (CompQuadForm's ifault 4).
struct TooManyTerms;

/// The state of one Davies integration (CompQuadForm's file-level statics).
struct Davies<'a> {
    lb: &'a [f64],
    n: &'a [i64],
    sigsq: f64,
    lmax: f64,
    lmin: f64,
    mean: f64,
    c: f64,
    intl: f64,
    ersm: f64,
    count: usize,
    lim: usize,
    th: Vec<usize>,
    ndtsrt: bool,
    fail: bool,
}

impl Davies<'_> {
    fn counter(&mut self) -> Result<(), TooManyTerms> {
        self.count += 1;
        if self.count > self.lim {
            Err(TooManyTerms)
        } else {
            Ok(())
        }
    }

    fn order(&mut self) {
        let r = self.lb.len();
        self.th = vec![0; r];
        for j in 0..r {
            let lj = self.lb[j].abs();
            let mut k = j as isize - 1;
            while k >= 0 {
                if lj > self.lb[self.th[k as usize]].abs() {
                    self.th[k as usize + 1] = self.th[k as usize];
                    k -= 1;
                } else {
                    break;
                }
            }
            self.th[(k + 1) as usize] = j;
        }
        self.ndtsrt = false;
    }

    /// Bound on the tail probability from the mgf; the cutoff point in `cx`.
    fn errbd(&mut self, u: f64, cx: &mut f64) -> Result<f64, TooManyTerms> {
        self.counter()?;
        let mut xconst = u * self.sigsq;
        let mut sum1 = u * xconst;
        let u = 2.0 * u;
        for j in (0..self.lb.len()).rev() {
            let (nj, lj) = (self.n[j] as f64, self.lb[j]);
            let x = u * lj;
            let y = 1.0 - x;
            xconst += lj * nj / y;
            sum1 += nj * (x * x / y + log1(-x, false));
        }
        *cx = xconst;
        Ok(exp1(-0.5 * sum1))
    }

    fn ctff(&mut self, accx: f64, upn: &mut f64) -> Result<f64, TooManyTerms> {
        let mut u2 = *upn;
        let mut u1 = 0.0;
        let mut c1 = self.mean;
        let mut c2 = 0.0;
        let rb = 2.0 * if u2 > 0.0 { self.lmax } else { self.lmin };
        let mut u = u2 / (1.0 + u2 * rb);
        while self.errbd(u, &mut c2)? > accx {
            u1 = u2;
            c1 = c2;
            u2 *= 2.0;
            u = u2 / (1.0 + u2 * rb);
        }
        u = (c1 - self.mean) / (c2 - self.mean);
        while u < 0.9 {
            u = (u1 + u2) / 2.0;
            let mut xconst = 0.0;
            if self.errbd(u / (1.0 + u * rb), &mut xconst)? > accx {
                u1 = u;
                c1 = xconst;
            } else {
                u2 = u;
                c2 = xconst;
            }
            u = (c1 - self.mean) / (c2 - self.mean);
        }
        *upn = u2;
        Ok(c2)
    }

    /// Bound on the integration error from truncating at `u`.
    fn truncation(&mut self, u: f64, tausq: f64) -> Result<f64, TooManyTerms> {
        self.counter()?;
        let (mut prod2, mut prod3, mut s) = (0.0, 0.0, 0i64);
        let sum2 = (self.sigsq + tausq) * u * u;
        let mut prod1 = 2.0 * sum2;
        let u = 2.0 * u;
        for j in 0..self.lb.len() {
            let (lj, nj) = (self.lb[j], self.n[j]);
            let x = (u * lj) * (u * lj);
            if x > 1.0 {
                prod2 += nj as f64 * x.ln();
                prod3 += nj as f64 * log1(x, true);
                s += nj;
            } else {
                prod1 += nj as f64 * log1(x, true);
            }
        }
        prod2 += prod1;
        prod3 += prod1;
        let x = exp1(-0.25 * prod2) / PI;
        let y = exp1(-0.25 * prod3) / PI;
        let mut err1 = if s == 0 { 1.0 } else { x * 2.0 / s as f64 };
        let err2 = if prod3 > 1.0 { 2.5 * y } else { 1.0 };
        if err2 < err1 {
            err1 = err2;
        }
        let x = 0.5 * sum2;
        let err2 = if x <= y { 1.0 } else { y / x };
        Ok(if err1 < err2 { err1 } else { err2 })
    }

    fn findu(&mut self, utx: &mut f64, accx: f64) -> Result<(), TooManyTerms> {
        const DIVIS: [f64; 4] = [2.0, 1.4, 1.2, 1.1];
        let mut ut = *utx;
        let mut u = ut / 4.0;
        if self.truncation(u, 0.0)? > accx {
            u = ut;
            while self.truncation(u, 0.0)? > accx {
                ut *= 4.0;
                u = ut;
            }
        } else {
            ut = u;
            u /= 4.0;
            while self.truncation(u, 0.0)? <= accx {
                ut = u;
                u /= 4.0;
            }
        }
        for d in DIVIS {
            u = ut / d;
            if self.truncation(u, 0.0)? <= accx {
                ut = u;
            }
        }
        *utx = ut;
        Ok(())
    }

    fn integrate(&mut self, nterm: i64, interv: f64, tausq: f64, mainx: bool) {
        let inpi = interv / PI;
        for k in (0..=nterm).rev() {
            let u = (k as f64 + 0.5) * interv;
            let mut sum1 = -2.0 * u * self.c;
            let mut sum2 = sum1.abs();
            let mut sum3 = -0.5 * self.sigsq * u * u;
            for j in (0..self.lb.len()).rev() {
                let nj = self.n[j] as f64;
                let x = 2.0 * self.lb[j] * u;
                let y = x * x;
                sum3 -= 0.25 * nj * log1(y, true);
                let z = nj * x.atan();
                sum1 += z;
                sum2 += z.abs();
            }
            let mut x = inpi * exp1(sum3) / u;
            if !mainx {
                x *= 1.0 - exp1(-0.5 * tausq * u * u);
            }
            self.intl += (0.5 * sum1).sin() * x;
            self.ersm += 0.5 * sum2 * x;
        }
    }

    /// Coefficient of τ² in the error of the convergence factor exp(−τ²u²/2) at `x`.
    fn cfe(&mut self, x: f64) -> Result<f64, TooManyTerms> {
        self.counter()?;
        if self.ndtsrt {
            self.order();
        }
        let mut axl = x.abs();
        let sxl = if x > 0.0 { 1.0 } else { -1.0 };
        let mut sum1 = 0.0;
        for j in (0..self.lb.len()).rev() {
            let t = self.th[j];
            if self.lb[t] * sxl > 0.0 {
                let lj = self.lb[t].abs();
                let axl1 = axl - lj * self.n[t] as f64;
                let axl2 = lj / LOG28;
                if axl1 > axl2 {
                    axl = axl1;
                } else {
                    if axl > axl2 {
                        axl = axl2;
                    }
                    sum1 = (axl - axl1) / lj;
                    for k in (0..j).rev() {
                        sum1 += self.n[self.th[k]] as f64;
                    }
                    break;
                }
            }
        }
        if sum1 > 100.0 {
            self.fail = true;
            Ok(1.0)
        } else {
            Ok(2f64.powf(sum1 / 4.0) / (PI * axl * axl))
        }
    }
}

/// P(Σ λ_j χ²_{n_j} < c) by Davies' method (central chi-squares, no normal term), with at most
/// `lim` terms and error `acc`; the fault code as CompQuadForm's (0 fine, 1 accuracy not
/// reached, 2 round-off possibly significant, 3 invalid, 4 integration parameters not found).
pub fn davies_cdf(lb: &[f64], n: &[i64], c: f64, lim: usize, acc: f64) -> (f64, u8) {
    let mut d = Davies {
        lb,
        n,
        sigsq: 0.0,
        lmax: 0.0,
        lmin: 0.0,
        mean: 0.0,
        c,
        intl: 0.0,
        ersm: 0.0,
        count: 0,
        lim,
        th: Vec::new(),
        ndtsrt: true,
        fail: false,
    };
    qfc(&mut d, acc).unwrap_or((-1.0, 4))
}

fn qfc(d: &mut Davies<'_>, acc: f64) -> Result<(f64, u8), TooManyTerms> {
    const RATS: [f64; 4] = [1.0, 2.0, 4.0, 8.0];
    let mut acc1 = acc;
    let mut xlim = d.lim as f64;
    let mut sd = d.sigsq;
    for j in 0..d.lb.len() {
        let (nj, lj) = (d.n[j], d.lb[j]);
        if nj < 0 {
            return Ok((-1.0, 3));
        }
        sd += lj * lj * (2 * nj) as f64;
        d.mean += lj * nj as f64;
        if d.lmax < lj {
            d.lmax = lj;
        } else if d.lmin > lj {
            d.lmin = lj;
        }
    }
    if sd == 0.0 {
        return Ok((if d.c > 0.0 { 1.0 } else { 0.0 }, 0));
    }
    if d.lmin == 0.0 && d.lmax == 0.0 {
        return Ok((-1.0, 3));
    }
    sd = sd.sqrt();
    let almx = if d.lmax < -d.lmin { -d.lmin } else { d.lmax };
    let mut utx = 16.0 / sd;
    let mut up = 4.5 / sd;
    let mut un = -up;
    d.findu(&mut utx, 0.5 * acc1)?;
    if d.c != 0.0 && almx > 0.07 * sd {
        let tausq = 0.25 * acc1 / d.cfe(d.c)?;
        if d.fail {
            d.fail = false;
        } else if d.truncation(utx, tausq)? < 0.2 * acc1 {
            d.sigsq += tausq;
            d.findu(&mut utx, 0.25 * acc1)?;
        }
    }
    acc1 *= 0.5;
    let (intv, xnt) = loop {
        let d1 = d.ctff(acc1, &mut up)? - d.c;
        if d1 < 0.0 {
            return Ok((1.0, 0));
        }
        let d2 = d.c - d.ctff(acc1, &mut un)?;
        if d2 < 0.0 {
            return Ok((0.0, 0));
        }
        let intv = 2.0 * PI / if d1 > d2 { d1 } else { d2 };
        let xnt = utx / intv;
        let xntm = 3.0 / acc1.sqrt();
        if xnt > xntm * 1.5 {
            if xntm > xlim {
                return Ok((-1.0, 1));
            }
            let ntm = (xntm + 0.5).floor() as i64;
            let intv1 = utx / ntm as f64;
            let x = 2.0 * PI / intv1;
            if x <= d.c.abs() {
                break (intv, xnt);
            }
            let tausq = 0.33 * acc1 / (1.1 * (d.cfe(d.c - x)? + d.cfe(d.c + x)?));
            if d.fail {
                break (intv, xnt);
            }
            acc1 *= 0.67;
            d.integrate(ntm, intv1, tausq, false);
            xlim -= xntm;
            d.sigsq += tausq;
            d.findu(&mut utx, 0.25 * acc1)?;
            acc1 *= 0.75;
        } else {
            break (intv, xnt);
        }
    };
    if xnt > xlim {
        return Ok((-1.0, 1));
    }
    let nt = (xnt + 0.5).floor() as i64;
    d.integrate(nt, intv, 0.0, true);
    let qfval = 0.5 - d.intl;
    let up = d.ersm;
    let x = up + acc / 10.0;
    let mut fault = 0;
    for r in RATS {
        if r * x == r * up {
            fault = 2;
        }
    }
    Ok((qfval, fault))
}

/// The upper tail P(Σ a_j χ²_1 / (χ²_ddf / ddf) > x) as `survey::pFsum(method =
/// "integration")`: Davies at acc 1e-7, retried at 1e-5 when that fails; `ddf` truncated to an
/// integer as CompQuadForm's `as.integer(h)` does.
pub fn pfsum_integration(x: f64, a: &[f64], ddf: f64) -> f64 {
    if !(x.is_finite() && (1.0..1e9).contains(&ddf) && !a.is_empty())
        || a.iter().any(|v| !v.is_finite())
    {
        return f64::NAN;
    }
    let mut lb = a.to_vec();
    lb.push(-x / ddf);
    let mut n = vec![1; a.len()];
    n.push(ddf.trunc() as i64);
    let (res, fault) = davies_cdf(&lb, &n, 0.0, 10_000, 1e-7);
    let res = if fault == 0 || fault == 2 {
        res
    } else {
        davies_cdf(&lb, &n, 0.0, 10_000, 1e-5).0
    };
    1.0 - res
}

/// R's `uniroot` core (`R_zeroin2`, Brent's method) on [ax, bx] with f(ax) = fa, f(bx) = fb.
pub fn zeroin(
    mut f: impl FnMut(f64) -> f64,
    ax: f64,
    bx: f64,
    fa: f64,
    fb: f64,
    tol: f64,
    maxit: usize,
) -> f64 {
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa, fb);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    for _ in 0..=maxit {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return b;
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let qq = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qq * (qq - t1) - (b - a) * (t1 - 1.0));
                q = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < 0.75 * cb * q - (tol_act * q).abs() / 2.0 && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b);
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    b
}

/// `survey:::saddle(x, lambda)`: the saddlepoint approximation to P(Σ λ_j χ²_1 > x); `None`
/// where R returns NA (a saddle point within 1e-4 of zero, or no bracket).
pub fn saddle(x: f64, lambda: &[f64]) -> Option<f64> {
    let d = lambda.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if d.is_nan() || d <= 0.0 {
        return None;
    }
    let lambda: Vec<f64> = lambda.iter().map(|l| l / d).collect();
    let x = x / d;
    let k0 = |z: f64| -lambda.iter().map(|l| (1.0 - 2.0 * z * l).ln()).sum::<f64>() / 2.0;
    let kprime0 = |z: f64| lambda.iter().map(|l| l / (1.0 - 2.0 * z * l)).sum::<f64>();
    let kpprime0 = |z: f64| {
        2.0 * lambda
            .iter()
            .map(|l| l * l / (1.0 - 2.0 * z * l).powi(2))
            .sum::<f64>()
    };
    let total: f64 = lambda.iter().sum();
    let lmin = if lambda.iter().any(|l| *l < 0.0) {
        lambda
            .iter()
            .filter(|l| **l < 0.0)
            .map(|l| 1.0 / (2.0 * l))
            .fold(f64::NEG_INFINITY, f64::max)
            * 0.99999
    } else if x > total {
        -0.01
    } else {
        -(lambda.len() as f64) / (2.0 * x)
    };
    let lmax = lambda
        .iter()
        .filter(|l| **l > 0.0)
        .map(|l| 1.0 / (2.0 * l))
        .fold(f64::INFINITY, f64::min)
        * 0.99999;
    let g = |z: f64| kprime0(z) - x;
    let (fa, fb) = (g(lmin), g(lmax));
    if !(fa.is_finite() && fb.is_finite()) || fa * fb > 0.0 {
        return None;
    }
    let z = zeroin(g, lmin, lmax, fa, fb, 1e-8, 1000);
    let w = z.signum() * (2.0 * (z * x - k0(z))).sqrt();
    let v = z * kpprime0(z).sqrt();
    if z.abs() < 1e-4 {
        return None;
    }
    super::dist::pnorm_upper(w + (v / w).ln() / w)
}

/// The upper tail as `survey::pFsum(method = "saddlepoint")`: the saddlepoint approximation
/// of Σ a_j χ²_1 − (x/ddf) χ²_ddf > 0 (`ddf` copies, truncated as R's `rep`), falling back to
/// the Satterthwaite F where the saddlepoint is undefined.
pub fn pfsum_saddlepoint(x: f64, a: &[f64], ddf: f64) -> f64 {
    // The saddlepoint spreads −x/ddf over ⌊ddf⌋ terms: beyond 1e7 that is memory, not accuracy.
    if !(x.is_finite() && (1.0..1e7).contains(&ddf) && !a.is_empty())
        || a.iter().any(|v| !v.is_finite())
    {
        return f64::NAN;
    }
    let k = a.len() as f64;
    let tr = a.iter().sum::<f64>() / k;
    let tr2 = a.iter().map(|v| v * v).sum::<f64>() / k / (tr * tr);
    let (scale, ndf) = (tr * tr2, k / tr2);
    let sat = super::dist::pf_upper(x / ndf / scale, ndf, ddf).unwrap_or(f64::NAN);
    let mut lambda = a.to_vec();
    lambda.extend(std::iter::repeat_n(-x / ddf, ddf.trunc() as usize));
    saddle(0.0, &lambda).unwrap_or(sat)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R's `survey:::pFsum` on a two-term combination (values from R 4.2, survey 4.1.1 and
    /// CompQuadForm 1.4.3): Davies to rounding, the saddlepoint as R's.
    #[test]
    fn pfsum_matches_r_on_unequal_weights() {
        let a = [1.5, 0.7];
        let davies = pfsum_integration(6.0, &a, 30.0);
        assert!(
            (davies - 0.084_734_794_971_234_93).abs() < 1e-12,
            "{davies}"
        );
        let sad = pfsum_saddlepoint(6.0, &a, 30.0);
        assert!((sad - 0.08380503110827045).abs() < 1e-10, "{sad}");
    }

    /// Equal weights make Σ λ χ²_1 / (χ²_d / d) an F(k, d) scaled by λ: both methods agree with
    /// the F tail (the saddlepoint to its own accuracy).
    #[test]
    fn equal_weights_give_the_f_distribution() {
        let a = [2.0, 2.0, 2.0];
        let x = 9.0;
        let want = crate::kernels::dist::pf_upper(x / 2.0 / 3.0, 3.0, 40.0).unwrap();
        let davies = pfsum_integration(x, &a, 40.0);
        assert!((davies - want).abs() < 1e-7, "{davies} vs {want}");
        let sad = pfsum_saddlepoint(x, &a, 40.0);
        assert!((sad - want).abs() < 0.01 * want, "{sad} vs {want}");
    }

    #[test]
    fn zeroin_finds_a_root() {
        let r = zeroin(|x| x * x - 2.0, 0.0, 2.0, -2.0, 2.0, 1e-12, 1000);
        assert!((r - 2f64.sqrt()).abs() < 1e-11);
    }

    #[test]
    fn degenerate_input_is_nan_not_a_panic() {
        assert!(pfsum_integration(f64::NAN, &[1.0], 10.0).is_nan());
        assert!(pfsum_saddlepoint(1.0, &[], 10.0).is_nan());
        assert!(pfsum_saddlepoint(1.0, &[1.0], 0.5).is_nan());
        // A design-effect matrix that could not be decomposed gives NaN eigenvalues: no answer,
        // not an endless series.
        assert!(pfsum_integration(3.0, &[f64::NAN, 1.0], 50.0).is_nan());
        assert!(pfsum_saddlepoint(3.0, &[f64::NAN, 1.0], 50.0).is_nan());
        assert!(log1(f64::NAN, true).is_nan());
    }
}
