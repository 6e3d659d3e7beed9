# R's rake() stopping rule with its defaults (issue 19 item 3): control = list(maxit = 10,
# epsilon = 1) — stop when no cell of the joint table of the raking variables moved by 1 or more
# in the last pass — and a relative epsilon (< 1: a share of the total sampling weight).
# Run from the project root with R 4.2 and Debian's r-cran-survey:
#
#   Rscript tests/reference/rake_stop.R
#
# Writes tests/reference/rake_stop_<scenario>_weights.csv (snum, weight) and
# tests/reference/rake_stop.csv (scenario, mean and SE of api00 overall and by stype).
# Margins: tests/reference/targets.csv (written by cases.R from apipop).
source("tests/reference/api_data.R")
out <- "tests/reference"
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
rows <- list()
one <- function(scenario, design) {
  w <- weights(design)
  write.csv(data.frame(snum = design$variables$snum, weight = fmt(w)),
            file.path(out, paste0("rake_stop_", scenario, "_weights.csv")), row.names = FALSE, quote = FALSE)
  m <- svymean(~api00, design)
  b <- svyby(~api00, ~stype, design, svymean)
  rows[[length(rows) + 1]] <<- data.frame(scenario = scenario, segment = c("all", as.character(b$stype)),
    estimate = fmt(c(coef(m), b$api00)), se = fmt(c(SE(m), b$se)))
}
# R's defaults (maxit = 10, epsilon = 1), three margins on the stratified design.
one("strat_default", rake(dstrat, list(~stype, ~sch.wide, ~comp.imp),
                          list(margin("stype"), margin("sch.wide"), margin("comp.imp"))))
# R's defaults, two margins on the cluster design.
one("clus_default", rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp"))))
# A relative epsilon: 1e-3 of the total sampling weight (6194 × 1e-3 ≈ 6.2 schools).
one("clus_relative", rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")),
                          control = list(maxit = 10, epsilon = 1e-3)))
# A limit of passes that stops raking before the rule holds (R warns; the weights are the last pass's).
one("strat_maxit1", suppressWarnings(rake(dstrat, list(~stype, ~sch.wide, ~comp.imp),
                          list(margin("stype"), margin("sch.wide"), margin("comp.imp")),
                          control = list(maxit = 1, epsilon = 1e-9))))
write.csv(do.call(rbind, rows), file.path(out, "rake_stop.csv"), row.names = FALSE)
cat("wrote", out, "\n")
