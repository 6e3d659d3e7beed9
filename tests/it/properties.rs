//! Properties: the readers never panic on arbitrary or damaged bytes — every input gives a table
//! or an error.

use proptest::prelude::*;
use supplyrisk::ingest::{read_bytes, ReadOptions};

use crate::util::repo;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/ingest").join(name)).unwrap()
}

/// Read and discard: the property is that this returns (Ok or Err) instead of panicking.
fn read(bytes: &[u8], ext: &str) {
    let _ = read_bytes(bytes, ext, "fuzz", &ReadOptions::default());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_text_reader(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read(&bytes, "csv");
    }

    #[test]
    fn text_like_bytes_never_panic_the_text_reader(text in "[a-z0-9,;\\t|\"\\r\\n é]{0,400}") {
        read(text.as_bytes(), "csv");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_workbook_readers(bytes in proptest::collection::vec(any::<u8>(), 0..2048), ext in prop::sample::select(vec!["xlsx", "xls", "ods", "xlsb"])) {
        read(&bytes, ext);
    }

    /// Real workbooks with bytes flipped or cut short: the damage a download or an email does.
    #[test]
    fn damaged_workbooks_never_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (name, ext) = [("msforms.xlsx", "xlsx"), ("legacy_xlwt.xls", "xls"), ("title_rows_libreoffice.ods", "ods")][which];
        let mut bytes = fixture(name);
        for (at, value) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()).max(1));
        }
        read(&bytes, ext);
    }
}
