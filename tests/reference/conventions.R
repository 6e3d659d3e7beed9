# R's conventions for a proportion's interval and degrees of freedom on real designs (issue 19
# item 0), as `svyby(~y, ~domain, design, svyciprop, method = ..., na.rm = TRUE)` computes them:
# the domain is `design[domain, ]` (svyby's subset) and its df is `degf()` of that subset —
# the PSUs of the domain's rows whether or not they answered the item (svyciprop takes
# `df = degf(design)` before any answer is dropped); for a replicate design `degf()` is the rank
# of the domain's replicate weights − 1 (`qr(weights(design, "analysis"), tol = 1e-5)$rank −
# 1`). `logit` fits `svyglm(y ~ 1, family = quasibinomial)` (on a replicate design: refitted in
# every replicate); `xlogit` is the delta-method interval on the logit scale; `beta` is
# Korn–Graubard with n = nrow() of the subset (the domain's rows for an uncalibrated or a
# replicate design, every row for a calibrated one).
#
# Designs: NHANES (R's bundled subsample: PSUs within strata, weights; HI_CHOL has 284 missing
# answers) plain and post-stratified on race; `hospital` (stratified, fpc); apiclus1 under JK1
# with fpc, plain and raked on sch.wide and comp.imp; apistrat under JKn with fpc, by a domain
# (comp.imp) that crosses the strata.
#
#   Rscript tests/reference/conventions.R
#
# Writes tests/reference/conventions/{nhanes,hospital}.csv (the data; nhanes with R's
# post-stratified weights as ps_weight) and
# tests/reference/conventions/proportions.csv (case, domain, method, estimate, se, ci_low,
# ci_high, df, nrow).
source("tests/reference/api_data.R")
out <- "tests/reference/conventions"
data(nhanes)
data(hospital)
rows <- list()
proportions <- function(case, design, y, by = NULL) {
  v <- design$variables
  domains <- list(list("all", NULL))
  if (!is.null(by)) for (l in sort(unique(v[[by]]))) domains[[length(domains) + 1]] <- list(paste0(by, "=", l), v[[by]] == l)
  f <- as.formula(paste0("~", y))
  for (d in domains) {
    sub <- if (is.null(d[[2]])) design else design[d[[2]], ]
    se <- SE(svymean(f, sub, na.rm = TRUE))[1]
    for (m in c("logit", "xlogit", "beta", "mean")) {
      p <- svyciprop(as.formula(paste0("~I(", y, " == 1)")), sub, method = m, na.rm = TRUE)
      ci <- attr(p, "ci")
      rows[[length(rows) + 1]] <<- data.frame(case = case, domain = d[[1]], method = m,
        estimate = fmt(coef(p)), se = fmt(se), ci_low = fmt(ci[1]), ci_high = fmt(ci[2]),
        df = fmt(degf(sub)), nrow = nrow(sub))
    }
  }
}
# NHANES: nest = TRUE (PSUs numbered 1, 2 within each stratum).
dn <- svydesign(id = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~WTMEC2YR, nest = TRUE, data = nhanes)
proportions("nhanes", dn, "HI_CHOL", "race")
race_totals <- svytotal(~factor(race), dn)
dn_ps <- postStratify(dn, ~race, data.frame(race = 1:4, Freq = as.vector(coef(race_totals)) * c(1.05, 0.96, 1.02, 1.1)))
proportions("nhanes_poststratified", dn_ps, "HI_CHOL", "race")
nhanes$ps_weight <- weights(dn_ps)
write.csv(nhanes, file.path(out, "nhanes.csv"), row.names = FALSE, na = "")
write.csv(hospital, file.path(out, "hospital.csv"), row.names = FALSE)
# hospital: 15 hospitals in 3 strata with their population counts.
hospital$big <- as.numeric(hospital$births > 1000)
dh <- svydesign(id = ~1, strata = ~oblevel, weights = ~weighta, fpc = ~tothosp, data = hospital)
proportions("hospital", dh, "big", "oblevel")
# apiclus1 under JK1 (with the fpc), plain and raked.
for (d in c("apiclus1", "apistrat")) {
  x <- get(d); x$sch_wide <- as.numeric(x$sch.wide == "Yes"); assign(d, x)
}
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
rclus1 <- as.svrepdesign(dclus1, type = "JK1", compress = FALSE)
proportions("apiclus1_jk1", rclus1, "sch_wide", "stype")
tight <- list(maxit = 1000, epsilon = 1e-12)
rraked <- rake(rclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")), control = tight)
proportions("apiclus1_jk1_raked", rraked, "sch_wide", "stype")
# apistrat under JKn (with the fpc), by comp.imp, which crosses the strata.
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
rstrat <- as.svrepdesign(dstrat, type = "JKn", compress = FALSE)
proportions("apistrat_jkn", rstrat, "sch_wide", "comp.imp")
write.csv(do.call(rbind, rows), file.path(out, "proportions.csv"), row.names = FALSE)
cat("wrote", length(rows), "rows\n")
