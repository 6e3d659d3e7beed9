//! The built-in scale library (`builtin_scales.toml`): agreement on 5 and 7 points, yes/no,
//! frequency, likelihood and the CSF implementation tiers, with the wordings exports use as
//! aliases and the usual missing codes ("Don't know", "Not applicable", "Prefer not to say").
//! A question names one with `scale = "agree5"`; a yes/no question with neither options nor a
//! scale gets `yesno`. A `[scales.<name>]` of the spec replaces the built-in of the same name.

use std::collections::BTreeMap;

use super::{QuestionType, Scale, Spec};

const LIBRARY: &str = include_str!("builtin_scales.toml");

/// The built-in scales by name.
pub fn library() -> BTreeMap<String, Scale> {
    // The library is compiled in and parsed by a unit test: a failure is a build defect, and
    // then no built-in scale is offered (the spec's unknown-scale error names the ones it has).
    toml::from_str(LIBRARY).unwrap_or_default()
}

/// The names of the built-in scales, for documentation and error messages.
pub fn names() -> Vec<String> {
    library().into_keys().collect()
}

/// Add to the spec the built-in scales its questions name and it does not define.
pub fn apply(spec: &mut Spec) {
    for q in &mut spec.questions {
        if q.kind == QuestionType::Yesno && q.options.is_empty() && q.scale.is_none() {
            q.scale = Some("yesno".to_string());
        }
    }
    let wanted: Vec<String> = spec
        .questions
        .iter()
        .filter_map(|q| q.scale.clone())
        .filter(|s| !spec.scales.contains_key(s))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut lib = library();
    for name in wanted {
        if let Some(scale) = lib.remove(&name) {
            spec.scales.insert(name, scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_parses_and_every_scale_has_scored_options() {
        let lib: BTreeMap<String, Scale> = toml::from_str(LIBRARY).expect("builtin_scales.toml");
        for name in [
            "agree5",
            "agree7",
            "yesno",
            "frequency5",
            "likelihood5",
            "csf_tier4",
        ] {
            let s = lib.get(name).unwrap_or_else(|| panic!("{name}"));
            assert!(
                s.options.len() >= 2 && s.options.iter().all(|o| o.score.is_some()),
                "{name}"
            );
        }
        assert!(lib["agree5"].options[2]
            .aliases
            .iter()
            .any(|a| a == "Neutral"));
    }
}
