# Change between two rounds that share organizations (issue 19 items 4 and 6): a deterministic
# two-round panel (about 70% of each round's organizations answer in both, answers correlated
# through a stable organization trait), and R's estimate of each change on the combined design
# — both rounds' rows with their own weights, stacked, the organization as the PSU — as
# svyby(~y, ~round, design, svymean) + svycontrast(c(-1, 1)), overall and within a subsector,
# for a mean with missing answers and for a share; then the same rounds stratified by subsector
# and each post-stratified on size, combined as R would (strata kept, postStratify on the
# round-by-size cells). Run from the project root with R 4.2 and
# Debian's r-cran-survey:
#
#   Rscript tests/reference/panel.R
#
# Writes tests/reference/panel/rounds.csv (round, org, subsector, weight, y, high, size,
# ps_weight) and tests/reference/panel/changes.csv (design, variable, segment, estimate, se,
# se_independent, degf).
suppressMessages(library(survey))
set.seed(20261201)
N <- 400
pop <- data.frame(org = sprintf("ORG%04d", 1:N), subsector = sample(c("dpc", "plb", "hit"), N, TRUE),
                  theta = rnorm(N))
# Round A: 180 organizations; round B: 70% of A's plus new ones, 180 in all.
a_orgs <- sample(pop$org, 180)
b_orgs <- c(sample(a_orgs, 126), sample(setdiff(pop$org, a_orgs), 54))
round_rows <- function(label, orgs, shift) {
  d <- pop[match(orgs, pop$org), ]
  d$round <- label
  d$y <- round(50 + 10 * d$theta + shift + rnorm(nrow(d), 0, 4), 2)
  d$y[sample(nrow(d), 9)] <- NA                         # some skipped the item
  d$high <- as.numeric(!is.na(d$y) & d$y > 55)
  counts <- table(pop$subsector); got <- table(d$subsector)
  d$weight <- as.numeric(counts[d$subsector] / got[d$subsector])   # N_h / n_h per subsector
  d[, c("round", "org", "subsector", "weight", "y", "high")]
}
rounds <- rbind(round_rows("A", a_orgs, 0), round_rows("B", b_orgs, 2.5))
# A size class that goes with the trait (no random draw, so the rounds above are unchanged),
# for the second design: stratified by subsector (stable per organization) and each round
# post-stratified on size to the population's counts.
pop$size <- ifelse(pop$theta > qnorm(0.6), "large", "small")
rounds$size <- pop$size[match(rounds$org, pop$org)]
rounds$cell <- paste(rounds$round, rounds$size)
size_counts <- table(pop$size)
cells <- data.frame(cell = paste(rep(c("A", "B"), each = 2), c("large", "small")),
                    Freq = as.vector(rep(size_counts[c("large", "small")], 2)))
poststratified <- postStratify(svydesign(id = ~org, strata = ~subsector, weights = ~weight, data = rounds),
                               ~cell, cells)
rounds$ps_weight <- weights(poststratified)
write.csv(rounds[, c("round", "org", "subsector", "weight", "y", "high", "size", "ps_weight")],
          "tests/reference/panel/rounds.csv", row.names = FALSE, na = "")
fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(x, digits = 17, format = "g")))
des <- svydesign(id = ~org, weights = ~weight, data = rounds)
out <- list()
# Each round's mean as a ratio of totals over the combined design (the domain of the round's
# rows with an answer): mean_r = Σ w·y·1[r] / Σ w·1[r, answered]; the change is their contrast,
# linearized — what svyby(~y, ~round, svymean) + svycontrast(c(-1, 1)) give (svyby's covmat
# cannot be combined with na.rm, so the totals are written out).
change <- function(design_name, variable, segment, design) {
  v <- design$variables
  ok <- !is.na(v[[variable]])
  for (r in c("A", "B")) {
    v[[paste0("y", r)]] <- ifelse(v$round == r & ok, v[[variable]], 0)
    v[[paste0("n", r)]] <- as.numeric(v$round == r & ok)
  }
  design$variables <- v
  tot <- svytotal(~yA + nA + yB + nB, design)
  con <- svycontrast(tot, quote(yB / nB - yA / nA))
  ma <- svycontrast(tot, quote(yA / nA)); mb <- svycontrast(tot, quote(yB / nB))
  indep <- sqrt(SE(ma)^2 + SE(mb)^2)
  out[[length(out) + 1]] <<- data.frame(design = design_name, variable = variable, segment = segment,
    estimate = fmt(coef(con)), se = fmt(SE(con)), se_independent = fmt(indep), degf = fmt(degf(design)))
}
for (d in list(list("plain", des), list("strata+poststratified", poststratified))) {
  change(d[[1]], "y", "all", d[[2]])
  change(d[[1]], "high", "all", d[[2]])
  change(d[[1]], "y", "subsector=plb", subset(d[[2]], subsector == "plb"))
  change(d[[1]], "high", "subsector=dpc", subset(d[[2]], subsector == "dpc"))
}
write.csv(do.call(rbind, out), "tests/reference/panel/changes.csv", row.names = FALSE)
cat("overlap:", length(intersect(a_orgs, b_orgs)), "of", length(a_orgs), "and", length(b_orgs), "\n")
