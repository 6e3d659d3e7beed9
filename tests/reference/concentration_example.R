# Supplier concentration on the example round against R: supplyrisk's resolved supplier
# mentions (data/supplier_mentions.csv) and its cleaned, weighted data (data/clean.csv),
# estimated again with R's survey package on the design of example_2024.R (strata = subsector
# with fpc, base weights, post-stratified on subsector × size). Run from the project root after
#
#   cargo run -- run surveys/example-2024 --out output/example-2024-names   # any spec; names are in data/
#   Rscript tests/reference/concentration_example.R  # writes tests/reference/concentration_example.csv
#
# Rows: the share of organizations naming a supplier (a domain mean over organizations naming
# any supplier), overall and by subsector; the share depending on a category; the HHI and the
# effective number within a category (svycontrast on svytotal, domain totals for a subsector);
# the no-alternative share among organizations whose first-named supplier is in the category.
suppressMessages(library(survey))
options(digits = 17)
out_dir <- Sys.getenv("SUPPLYRISK_OUT", "output/example-2024-names")
d <- read.csv(file.path(out_dir, "data/clean.csv"), stringsAsFactors = FALSE)
m <- read.csv(file.path(out_dir, "data/supplier_mentions.csv"), stringsAsFactors = FALSE)
pop <- read.csv("surveys/example-2024/population.csv", stringsAsFactors = FALSE)
d$N_h <- as.numeric(ave(d$subsector, d$subsector, FUN = function(s) sum(pop$count[pop$subsector == s[1]])))
d$cell <- paste(d$subsector, d$size, sep = ":")
d$answered <- d$respondent %in% m$respondent
names_of <- function(sup) d$respondent %in% m$respondent[m$supplier == sup]
cat_of <- function(cat) d$respondent %in% m$respondent[m$category == cat]
first <- m[m$position == 1, ]
d$first_category <- first$category[match(d$respondent, first$respondent)]
d$noalt <- ifelse(d$C5 %in% c("zero", "one", "two_plus"), as.numeric(d$C5 == "zero"), NA)

suppliers <- c("Epic", "Change Healthcare", "Microsoft Azure", "Amazon Web Services", "Oracle Health")
for (k in seq_along(suppliers)) d[[paste0("sup", k)]] <- as.numeric(names_of(suppliers[k]))
cats <- c("ehr", "clearinghouse", "cloud")
for (cat in cats) d[[paste0("dep_", cat)]] <- as.numeric(cat_of(cat))

des <- svydesign(ids = ~1, strata = ~subsector, fpc = ~N_h, weights = ~base_weight, data = d)
pop$cell <- paste(pop$subsector, pop$size, sep = ":")
des <- postStratify(des, ~cell, data.frame(cell = pop$cell, Freq = pop$count))
named <- subset(des, answered)

fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(as.numeric(x), digits = 17, format = "g")))
rows <- list()
add <- function(kind, what, sv, sval, est, se) {
  rows[[length(rows) + 1]] <<- data.frame(kind = kind, what = what, segment_var = sv,
    segment_value = sval, estimate = fmt(unname(est)), se = fmt(unname(se)), stringsAsFactors = FALSE)
}
share_rows <- function(kind, what, var) {
  f <- as.formula(paste0("~", var))
  e <- svymean(f, named)
  add(kind, what, "all", "", coef(e), SE(e))
  b <- svyby(f, ~subsector, named, svymean)
  for (i in seq_len(nrow(b))) add(kind, what, "subsector", b$subsector[i], b[i, 2], b$se[i])
}
for (k in seq_along(suppliers)) share_rows("supplier_share", suppliers[k], paste0("sup", k))
for (cat in cats) share_rows("dependency_share", cat, paste0("dep_", cat))

# HHI within a category: totals of "names supplier s" over the full design (0 outside the domain).
cat_suppliers <- function(cat) sort(unique(m$supplier[m$category == cat]))
hhi_rows <- function(cat, sv, sval) {
  sups <- cat_suppliers(cat)
  inside <- if (sv == "all") rep(TRUE, nrow(d)) else d[[sv]] == sval
  vars <- character(0)
  for (j in seq_along(sups)) {
    v <- paste0("h", j)
    des$variables[[v]] <<- as.numeric(names_of(sups[j]) & inside)
    vars <- c(vars, v)
  }
  tot <- svytotal(as.formula(paste0("~", paste(vars, collapse = "+"))), des)
  sq <- paste0(vars, "^2", collapse = "+")
  s <- paste(vars, collapse = "+")
  h <- svycontrast(tot, parse(text = paste0("(", sq, ")/(", s, ")^2"))[[1]])
  en <- svycontrast(tot, parse(text = paste0("(", s, ")^2/(", sq, ")"))[[1]])
  add("hhi", cat, sv, sval, coef(h), SE(h))
  add("effective_suppliers", cat, sv, sval, coef(en), SE(en))
}
for (cat in cats) {
  hhi_rows(cat, "all", "")
  for (s in c("dpc", "hit")) hhi_rows(cat, "subsector", s)
}
# No alternative among organizations whose most critical supplier is in the category.
for (cat in c("ehr", "cloud")) {
  sub <- subset(des, !is.na(first_category) & first_category == cat & !is.na(noalt))
  e <- svymean(~noalt, sub, na.rm = TRUE)
  add("no_alternative_share", cat, "all", "", coef(e), SE(e))
}
out <- do.call(rbind, rows)
write.csv(out, "tests/reference/concentration_example.csv", row.names = FALSE)
cat("wrote tests/reference/concentration_example.csv:", nrow(out), "rows\n")
