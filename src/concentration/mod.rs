//! Concentration: which suppliers the sector depends on together (issue 10). So far: resolving
//! the free-text supplier names organizations give to canonical suppliers ([`names`]); the
//! weighted dependency shares, HHI and single points of failure build on it.

pub mod names;
