//! `supplyrisk init`: scaffold a round directory with a commented `survey.toml`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("init_template.toml");

pub(super) fn init(dir: &Path, redcap_dictionary: Option<&Path>) -> Result<PathBuf> {
    let path = dir.join("survey.toml");
    let text = match redcap_dictionary {
        Some(d) => super::redcap::spec_from_dictionary(d)?,
        None => TEMPLATE.to_string(),
    };
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; init never overwrites a spec",
            path.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}
