# Design-based regression (issue 19 items 5 and 6): R's svyglm, linear and logistic
# (quasibinomial), on the stratified and cluster API designs, a raked cluster design, a
# design where a predictor is missing for some schools, and replicate designs (JK1 on the
# cluster design, plain and raked; JKn on the stratified design); with confint (Wald, t on the residual
# df) and regTermTest (Wald F) for the school type. Run from the project root with R 4.2 and
# Debian's r-cran-survey:
#
#   Rscript tests/reference/svyglm.R
#
# Writes tests/reference/svyglm.csv: model, term, estimate, se, ci_low, ci_high, df_residual;
# and tests/reference/svyglm_terms.csv: model, term, F, ndf, ddf, p_value.
source("tests/reference/api_data.R")
# Predictors from the bundled extracts: api99 and enroll (numeric), stype (factor, reference E);
# the logistic responses are sch.wide == "Yes" and comp.imp (a factor: Yes = 1).
apistrat$wide <- as.numeric(apistrat$sch.wide == "Yes"); apiclus1$wide <- as.numeric(apiclus1$sch.wide == "Yes")
apistrat$api99_gap <- ifelse(apistrat$enroll > 1500, NA, apistrat$api99)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
raked <- rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")),
              control = list(maxit = 1000, epsilon = 1e-12))
rclus1 <- as.svrepdesign(dclus1, type = "JK1", compress = FALSE)
rstrat <- as.svrepdesign(dstrat, type = "JKn", compress = FALSE)
rraked <- rake(rclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")),
               control = list(maxit = 1000, epsilon = 1e-12))
fits <- list(
  linear_strat = svyglm(api00 ~ api99 + enroll + stype, dstrat),
  linear_clus1 = svyglm(api00 ~ api99 + enroll + stype, dclus1),
  linear_raked = svyglm(api00 ~ api99 + enroll + stype, raked),
  linear_strat_missing = svyglm(api00 ~ api99_gap + enroll + stype, dstrat),
  logistic_strat = svyglm(wide ~ api99 + stype, dstrat, family = quasibinomial),
  logistic_clus1 = svyglm(wide ~ api99 + stype, dclus1, family = quasibinomial),
  logistic_raked = svyglm(comp.imp ~ api00 + stype, raked, family = quasibinomial),
  # Replicate designs (svyglm.svyrep.design: refitted in every replicate from the full fit).
  linear_clus1_jk1 = svyglm(api00 ~ api99 + enroll + stype, rclus1),
  logistic_clus1_jk1 = svyglm(wide ~ api99 + stype, rclus1, family = quasibinomial),
  linear_strat_jkn = svyglm(api00 ~ api99 + enroll + stype, rstrat),
  logistic_clus1_jk1_raked = svyglm(comp.imp ~ api00 + stype, rraked, family = quasibinomial))
coefs <- list(); terms <- list()
for (name in names(fits)) {
  m <- fits[[name]]
  ci <- confint(m)
  coefs[[name]] <- data.frame(model = name, term = names(coef(m)), estimate = fmt(coef(m)), se = fmt(SE(m)),
    ci_low = fmt(ci[, 1]), ci_high = fmt(ci[, 2]), df_residual = fmt(m$df.residual))
  t <- regTermTest(m, ~stype, method = "Wald")
  terms[[name]] <- data.frame(model = name, term = "stype", F = fmt(as.numeric(t$Ftest)), ndf = fmt(t$df),
    ddf = fmt(t$ddf), p_value = fmt(as.numeric(t$p)))
}
write.csv(do.call(rbind, coefs), "tests/reference/svyglm.csv", row.names = FALSE)
write.csv(do.call(rbind, terms), "tests/reference/svyglm_terms.csv", row.names = FALSE)
cat("wrote tests/reference/svyglm.csv and svyglm_terms.csv\n")
