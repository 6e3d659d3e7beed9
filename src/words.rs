//! English for messages and documents: a count with its noun in the right number.

/// "1 row", "2 rows", "0 rows"; nouns ending in s, x, ch or sh take "es" ("1 match",
/// "2 matches"); a noun phrase pluralizes its last word ("1 source file", "2 source files").
pub fn count(n: impl Into<i64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        return format!("1 {noun}");
    }
    let plural = if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") {
        format!("{noun}es")
    } else if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    };
    format!("{n} {plural}")
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(0, "row"), "0 rows");
        assert_eq!(count(2, "source file"), "2 source files");
        assert_eq!(count(3, "match"), "3 matches");
        assert_eq!(count(2, "category"), "2 categories");
        assert_eq!(count(2, "survey"), "2 surveys");
    }
}
