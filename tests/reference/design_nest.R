# Two real designs supplyrisk once read silently wrong (issue 15), as R's survey computes them.
# 1. NHANES (the subsample bundled with R's survey package, data(nhanes)): PSUs numbered 1–2
#    within each of 15 strata, so svydesign needs nest = TRUE.
# 2. apiclus1: the cluster (district) code dnum is a number; it must be read as a PSU label.
# 3. apistrat with the FPC from a variable (fpc = ~fpc), as design.fpc_variable reads it.
# Writes tests/reference/nhanes.csv (the columns the test uses) and design_nest.csv.
# Run from the project root: Rscript tests/reference/design_nest.R   (R 4.2, survey 4.1)
library(survey)
data(nhanes)
data(api)
out <- "tests/reference"
write.csv(nhanes[, c("SDMVPSU", "SDMVSTRA", "WTMEC2YR", "HI_CHOL")], file.path(out, "nhanes.csv"),
          row.names = FALSE, na = "")
d <- svydesign(id = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~WTMEC2YR, nest = TRUE, data = nhanes)
m <- svymean(~HI_CHOL, d, na.rm = TRUE)
c1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
a <- svymean(~api00, c1)
# The FPC from a variable (fpc = ~fpc): population schools per stratum of apistrat.
s1 <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
b <- svymean(~api00, s1)
res <- data.frame(
  case = c("nhanes_nest", "apiclus1_numeric_psu", "apistrat_fpc_variable"),
  estimate = c(coef(m)[[1]], coef(a)[[1]], coef(b)[[1]]),
  se = c(SE(m)[[1]], SE(a)[[1]], SE(b)[[1]]),
  degf = c(degf(d), degf(c1), degf(s1))
)
res$estimate <- sprintf("%.17g", res$estimate)
res$se <- sprintf("%.17g", res$se)
write.csv(res, file.path(out, "design_nest.csv"), row.names = FALSE, quote = FALSE)
print(res, digits = 17)
