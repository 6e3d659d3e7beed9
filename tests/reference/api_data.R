# Shared by rake_stop.R, svychisq.R and svyglm.R: the bundled API extracts (tests/reference/api/data)
# with the school type, sch.wide and comp.imp as factors, each variable's population margin from
# apipop (margin()), and fmt() writing numbers with 17 significant digits.
suppressMessages(library(survey))
dir <- "tests/reference/api/data"
apistrat <- read.csv(file.path(dir, "apistrat.csv"))
apiclus1 <- read.csv(file.path(dir, "apiclus1.csv"))
apipop <- read.csv(file.path(dir, "apipop.csv"))
for (v in c("stype", "sch.wide", "comp.imp")) {
  apistrat[[v]] <- factor(apistrat[[v]]); apiclus1[[v]] <- factor(apiclus1[[v]]); apipop[[v]] <- factor(apipop[[v]])
}
margin <- function(v) { t <- table(apipop[[v]]); d <- data.frame(names(t), as.numeric(t)); names(d) <- c(v, "Freq"); d }
fmt <- function(x) ifelse(is.na(x), "", trimws(formatC(x, digits = 17, format = "g")))
