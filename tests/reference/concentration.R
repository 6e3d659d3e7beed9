# Concentration (issue 10) against R: the Herfindahl–Hirschman index of weighted totals and the
# effective number of suppliers, with delta-method SEs from svycontrast (the same linearization
# supplyrisk uses). Stand-ins for "names supplier s": three indicators on apistrat, whose
# stratified design with FPC is the shared reference design. Run from the project root:
#
#   Rscript tests/reference/concentration.R      # writes tests/reference/concentration.csv
suppressMessages(library(survey))
options(digits = 17)
d <- read.csv("tests/reference/api/data/apistrat.csv")
d$s1 <- as.numeric(d$api00 > 700)
d$s2 <- as.numeric(d$api99 > 650)
d$s3 <- as.numeric(d$enroll > 500)
des <- svydesign(ids = ~1, strata = ~stype, fpc = ~fpc, weights = ~pw, data = d)
tot <- svytotal(~s1 + s2 + s3, des)
hhi <- svycontrast(tot, quote((s1^2 + s2^2 + s3^2) / (s1 + s2 + s3)^2))
eff <- svycontrast(tot, quote((s1 + s2 + s3)^2 / (s1^2 + s2^2 + s3^2)))
share1 <- svycontrast(tot, quote(s1 / (s1 + s2 + s3)))
fmt <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
out <- data.frame(
  statistic = c("hhi", "effective_number", "share_s1"),
  estimate = c(fmt(coef(hhi)), fmt(coef(eff)), fmt(coef(share1))),
  se = c(fmt(SE(hhi)), fmt(SE(eff)), fmt(SE(share1)))
)
write.csv(out, "tests/reference/concentration.csv", row.names = FALSE)
cat("wrote tests/reference/concentration.csv\n")
