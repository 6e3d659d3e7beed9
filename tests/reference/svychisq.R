# Every statistic of R's svychisq (F, Chisq, Wald, adjWald, lincom, saddlepoint) on a cluster, a
# stratified, a raked and a domain design (issue 19 items 2 and 6). Run from the project root
# with R 4.2, Debian's r-cran-survey and CompQuadForm (not packaged by Debian: install its CRAN
# source with `R CMD INSTALL`; without it R silently replaces "lincom" by the saddlepoint):
#
#   Rscript tests/reference/svychisq.R
#
# Writes tests/reference/svychisq.csv: design, rows, cols, statistic, value, ndf, ddf, p_value.
source("tests/reference/api_data.R")
stopifnot(requireNamespace("CompQuadForm", quietly = TRUE))
apistrat$band <- cut(apistrat$api00, c(0, 600, 750, 1000), labels = c("low", "mid", "high"))
apistrat$band[apistrat$enroll > 1500] <- NA
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
raked <- rake(dclus1, list(~sch.wide, ~comp.imp), list(margin("sch.wide"), margin("comp.imp")),
              control = list(maxit = 1000, epsilon = 1e-12))
cases <- list(
  list("api_clus1", ~stype + sch.wide, dclus1),
  list("api_strat", ~stype + comp.imp, dstrat),
  list("clus_rake2", ~stype + comp.imp, raked),
  list("strat_domain", ~band + stype, subset(dstrat, !is.na(band))))
rows <- list()
for (k in cases) {
  vars <- all.vars(k[[2]])
  for (s in c("F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint")) {
    x <- svychisq(k[[2]], k[[3]], statistic = s)
    p <- unname(x$parameter)
    rows[[length(rows) + 1]] <- data.frame(design = k[[1]], rows = vars[1], cols = vars[2], statistic = s,
      value = fmt(unname(x$statistic)), ndf = fmt(if (length(p) >= 1) p[1] else NA),
      ddf = fmt(if (length(p) > 1) p[2] else NA), p_value = fmt(x$p.value))
  }
}
write.csv(do.call(rbind, rows), "tests/reference/svychisq.csv", row.names = FALSE)
cat("wrote tests/reference/svychisq.csv\n")
