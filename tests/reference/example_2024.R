# The supplier-survey shape against R: the bundled example round, as supplyrisk cleaned, scored
# and weighted it, estimated again by R's survey package. Run from the project root after
#
#   cargo run -- run surveys/example-2024          # writes output/example-2024/data/clean.csv
#   Rscript tests/reference/example_2024.R         # writes tests/reference/example_2024.csv
#
# Design: strata = subsector with fpc from population.csv, base weights as supplyrisk computed
# them, post-stratified on subsector × size. Estimates: the risk index overall, by subsector and
# by the subsector × size cross (domains); CSF domain maturity means with organizations (and
# whole cells) lacking the domain score; a Likert-derived proportion whose "Don't know" answers
# leave the denominator (C1 = complete); a multi-select option (C3 = clearinghouse). Proportion
# CIs: svyciprop(method = "logit") on the subsector's degf, which counts its organizations that
# did not answer too (svyby's convention). The spec's model of the risk index on subsector and
# size (svyglm, confint), as metrics.csv exports it.
suppressMessages(library(survey))
options(digits = 17)
d <- read.csv("output/example-2024/data/clean.csv", stringsAsFactors = FALSE)
pop <- read.csv("surveys/example-2024/population.csv", stringsAsFactors = FALSE)
d$N_h <- ave(d$subsector, d$subsector, FUN = function(s) sum(pop$count[pop$subsector == s[1]]))
d$N_h <- as.numeric(d$N_h)
d$cell <- paste(d$subsector, d$size, sep = ":")
des <- svydesign(ids = ~1, strata = ~subsector, fpc = ~N_h, weights = ~base_weight, data = d)
pop$cell <- paste(pop$subsector, pop$size, sep = ":")
des <- postStratify(des, ~cell, data.frame(cell = pop$cell, Freq = pop$count))
fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(as.numeric(x), digits = 17, format = "g")))
out <- list()
add <- function(metric, level, sv, sval, est, se, lo, hi) {
  row <- c(metric, level, sv, as.character(sval), fmt(unname(est)), fmt(unname(se)), fmt(unname(lo)), fmt(unname(hi)))
  names(row) <- c("metric_id", "level", "segment_var", "segment_value", "estimate", "se", "ci_low", "ci_high")
  out[[length(out) + 1]] <<- as.data.frame(as.list(row), stringsAsFactors = FALSE)
}
# Risk index means.
m <- svymean(~risk_index, des, na.rm = TRUE)
ci <- confint(m)
add("SCRM.RISK.01", "", "all", "", coef(m), SE(m), ci[1], ci[2])
for (by in c("subsector", "cell")) {
  b <- svyby(~risk_index, as.formula(paste0("~", by)), des, svymean, na.rm = TRUE)
  ci <- confint(b)
  for (i in seq_len(nrow(b))) {
    add("SCRM.RISK.01", "", ifelse(by == "cell", "subsector:size", by), b[i, 1], b$risk_index[i], b$se[i], ci[i, 1], ci[i, 2])
  }
}
# CSF domain maturity means where some organizations have no score for the domain (too few of
# its items answered): GV.SC-08..10 miss 8–19 organizations, and in some subsector × size cells
# every organization (R's svyby, na.rm = TRUE: rows without a score keep the design).
for (k in c("08", "09", "10")) {
  v <- paste0("maturity.GV.SC.", k)
  f <- as.formula(paste0("~", v))
  m <- svymean(f, des, na.rm = TRUE)
  ci <- confint(m)
  add(paste0("SCRM.DOM.", k), "", "all", "", coef(m), SE(m), ci[1], ci[2])
  for (by in c("subsector", "cell")) {
    b <- svyby(f, as.formula(paste0("~", by)), des, svymean, na.rm = TRUE)
    ci <- confint(b)
    for (i in seq_len(nrow(b))) {
      add(paste0("SCRM.DOM.", k), "", ifelse(by == "cell", "subsector:size", by), b[i, 1], b[[v]][i], b$se[i], ci[i, 1], ci[i, 2])
    }
  }
}
# Proportions: C1 = complete among C1 answered (skipped and "dk" are missing); C3 =
# clearinghouse among C3 answered. As svyby(~y, ~subsector, des, svyciprop, na.rm = TRUE) does
# it: the subset is the subsector, and its df (degf) counts every organization of it, answered
# or not.
des <- update(des, c1_complete = ifelse(is.na(C1) | C1 == "" | C1 == "dk", NA, as.numeric(C1 == "complete")))
for (spec in list(list("SCRM.INV.01", "complete", ~I(c1_complete == 1), ~c1_complete),
                  list("SCRM.CAT.01", "clearinghouse", ~I(C3.clearinghouse == 1), ~C3.clearinghouse))) {
  p <- svyciprop(spec[[3]], des, method = "logit", na.rm = TRUE)
  ci <- attr(p, "ci")
  se <- SE(svymean(spec[[4]], des, na.rm = TRUE))[1]
  add(spec[[1]], spec[[2]], "all", "", coef(p), se, ci[1], ci[2])
  for (s in sort(unique(d$subsector))) {
    sub <- subset(des, subsector == s)
    p <- svyciprop(spec[[3]], sub, method = "logit", na.rm = TRUE)
    ci <- attr(p, "ci")
    se <- SE(svymean(spec[[4]], sub, na.rm = TRUE))[1]
    add(spec[[1]], spec[[2]], "subsector", s, coef(p), se, ci[1], ci[2])
  }
}
# The spec's model MODEL.RISK.01 (clearinghouse metric SCRM.MODEL.01): svyglm of the risk index
# on subsector and size, references direct patient care and large; confint (Wald, t on the
# residual df). Levels as metrics.csv names them: `(Intercept)`, `subsector=plb`, …
des <- update(des, subsector_f = relevel(factor(subsector), ref = "dpc"),
              size_f = relevel(factor(size), ref = "large"))
fit <- svyglm(risk_index ~ subsector_f + size_f, des)
ci <- confint(fit)
terms <- sub("^size_f", "size=", sub("^subsector_f", "subsector=", names(coef(fit))))
for (i in seq_along(terms)) {
  add("SCRM.MODEL.01", terms[i], "all", "", coef(fit)[i], SE(fit)[i], ci[i, 1], ci[i, 2])
}
write.csv(do.call(rbind, out), "tests/reference/example_2024.csv", row.names = FALSE)
cat("wrote tests/reference/example_2024.csv\n")
