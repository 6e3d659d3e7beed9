# Reference cases supplyrisk adds to tests/reference/api (the API reference values): a stratified design raked on three
# margins, a cluster design raked on two, and partial post-stratification. Run from the project
# root with R 4.2 and Debian's r-cran-survey:
#
#   Rscript tests/reference/cases.R
#
# Writes tests/reference/<scenario>.csv (estimates, same columns as tests/reference/api/expected),
# tests/reference/<scenario>_weights.csv (snum, weight) and tests/reference/targets.csv
# (variable, level, count: the population margins used). tests/it/reference.rs reads them.
suppressMessages(library(survey))
options(digits = 17)
dir <- "tests/reference/api/data"
out <- "tests/reference"
apistrat <- read.csv(file.path(dir, "apistrat.csv"))
apiclus1 <- read.csv(file.path(dir, "apiclus1.csv"))
apipop <- read.csv(file.path(dir, "apipop.csv"))
for (v in c("stype", "sch.wide", "comp.imp", "dnum")) {
  apistrat[[v]] <- factor(apistrat[[v]]); apiclus1[[v]] <- factor(apiclus1[[v]]); apipop[[v]] <- factor(apipop[[v]])
}
margin <- function(v) { t <- table(apipop[[v]]); d <- data.frame(names(t), as.numeric(t)); names(d) <- c(v, "Freq"); d }
targets <- do.call(rbind, lapply(c("stype", "sch.wide", "comp.imp"), function(v) {
  m <- margin(v); data.frame(variable = v, level = m[[1]], count = m$Freq)
}))
district <- margin("dnum")
targets <- rbind(targets, data.frame(variable = "dnum", level = district$dnum, count = district$Freq))
write.csv(targets, file.path(out, "targets.csv"), row.names = FALSE)

fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(x, digits = 17, format = "g")))
rows <- function(scenario, design) {
  r <- list()
  add <- function(stat, var, sv, sval, est, se, n, ws, deff) {
    est <- as.numeric(est); se <- as.numeric(se); deff <- as.numeric(deff)
    ci <- est + c(-1, 1) * qnorm(0.975) * se
    r[[length(r) + 1]] <<- data.frame(scenario = scenario, statistic = stat, variable = var, segment_var = sv,
      segment_value = sval, estimate = fmt(est), se = fmt(se), ci_low = fmt(ci[1]), ci_high = fmt(ci[2]),
      n = n, weight_sum = fmt(ws), deff = fmt(deff))
  }
  w <- weights(design)
  m <- svymean(~api00, design, deff = TRUE)
  add("mean", "api00", "all", "", coef(m), SE(m), nrow(design), sum(w), deff(m))
  t <- svytotal(~enroll, design, deff = TRUE)
  add("total", "enroll", "all", "", coef(t), SE(t), nrow(design), sum(w), deff(t))
  b <- svyby(~api00, ~stype, design, svymean, deff = TRUE)
  for (i in seq_len(nrow(b))) {
    lev <- as.character(b$stype[i])
    add("mean", "api00", "stype", lev, b$api00[i], b$se[i], sum(design$variables$stype == lev & w > 0),
        sum(w[design$variables$stype == lev]), b$DEff.api00[i])
  }
  add("degf", "", "all", "", degf(design), NA, NA, NA, NA)
  write.csv(do.call(rbind, r), file.path(out, paste0(scenario, ".csv")), row.names = FALSE, quote = TRUE)
  write.csv(data.frame(respondent_id = design$variables$snum, weight = fmt(w)),
            file.path(out, paste0(scenario, "_weights.csv")), row.names = FALSE, quote = FALSE)
}

tight <- list(maxit = 1000, epsilon = 1e-12)

# 1. Stratified design raked on three margins (the stratum variable among them).
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
rows("case_strat_rake3", rake(dstrat, list(~stype, ~sch.wide, ~comp.imp),
     list(margin("stype"), margin("sch.wide"), margin("comp.imp")), control = tight))

# 2. Cluster design raked on two margins.
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
rows("case_clus_rake2", rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")), control = tight))

# 3. Partial post-stratification of the stratified sample on district: most of the population's
#    districts have no sampled school and are ignored.
rows("case_partial_poststrat", postStratify(dstrat, ~dnum, district, partial = TRUE))
cat("wrote", out, "\n")

# 4. A segment against the rest: the coefficient of a segment indicator in svyglm is the
#    difference of the two domain means, with its linearized SE — on the stratified design and on
#    the raked cluster design (calibrated: the SE keeps the calibration residuals).
contrast <- function(design_name, design) {
  design <- update(design, isE = as.numeric(stype == "E"))
  m <- svyglm(api00 ~ isE, design = design)
  data.frame(design = design_name, variable = "api00", segment = "stype=E",
             estimate = fmt(coef(m)[["isE"]]), se = fmt(SE(m)[["isE"]]))
}
con <- rbind(contrast("api_strat", dstrat),
             contrast("case_clus_rake2", rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")), control = tight)))
write.csv(con, file.path(out, "case_contrast.csv"), row.names = FALSE)

# 5. Replicate-weight variance: JK1 on the cluster design (with fpc), JKn on the stratified design
#    (with fpc), and JK1 replicates each raked on sch.wide and comp.imp (rake() of a svrepdesign).
reprows <- function(scenario, design) {
  r <- list()
  add <- function(stat, var, sv, sval, est, se) {
    r[[length(r) + 1]] <<- data.frame(scenario = scenario, statistic = stat, variable = var, segment_var = sv,
      segment_value = sval, estimate = fmt(as.numeric(est)), se = fmt(as.numeric(se)),
      ci_low = "", ci_high = "", n = "", weight_sum = "", deff = "")
  }
  m <- svymean(~api00, design); add("mean", "api00", "all", "", coef(m), SE(m))
  t <- svytotal(~enroll, design); add("total", "enroll", "all", "", coef(t), SE(t))
  b <- svyby(~api00, ~stype, design, svymean)
  for (i in seq_len(nrow(b))) add("mean", "api00", "stype", as.character(b$stype[i]), b$api00[i], b$se[i])
  write.csv(do.call(rbind, r), file.path(out, paste0(scenario, ".csv")), row.names = FALSE)
}
reprows("case_jk1", as.svrepdesign(dclus1, type = "JK1", compress = FALSE))
reprows("case_jkn", as.svrepdesign(dstrat, type = "JKn", compress = FALSE))
rep1 <- as.svrepdesign(dclus1, type = "JK1", compress = FALSE)
reprows("case_jk1_rake", rake(rep1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")), control = tight))

# 6. Ratio estimator: svyratio(~api00, ~api99) overall and by stype, stratified and raked cluster designs.
ratios <- function(design_name, design) {
  r <- svyratio(~api00, ~api99, design)
  b <- svyby(~api00, ~stype, design, denominator = ~api99, FUN = svyratio)
  rbind(data.frame(design = design_name, segment = "all", estimate = fmt(coef(r)), se = fmt(SE(r))),
        data.frame(design = design_name, segment = as.character(b$stype), estimate = fmt(b[[2]]), se = fmt(b[[3]])))
}
write.csv(rbind(ratios("api_strat", dstrat),
                ratios("case_clus_rake2", rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")), control = tight))),
          file.path(out, "case_ratio.csv"), row.names = FALSE)

# 7. Rao–Scott tests on a domain: api00 in three bands (missing for schools with enroll > 1500),
#    by stype, on subset(dstrat, !is.na(band)) — the form supplyrisk's tier × segment test uses
#    when some respondents have no risk tier.
apistrat$band <- cut(apistrat$api00, c(0, 600, 750, 1000), labels = c("low", "mid", "high"))
apistrat$band[apistrat$enroll > 1500] <- NA
dstrat_b <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dsub <- subset(dstrat_b, !is.na(band))
tests <- lapply(c("F", "Chisq", "Wald", "adjWald"), function(s) {
  x <- svychisq(~band + stype, dsub, statistic = s)
  data.frame(statistic = s, value = fmt(unname(x$statistic)), ndf = fmt(unname(x$parameter[1])),
             ddf = fmt(if (length(x$parameter) > 1) unname(x$parameter[2]) else NA), p_value = fmt(x$p.value))
})
write.csv(do.call(rbind, tests), file.path(out, "case_chisq_domain.csv"), row.names = FALSE)
