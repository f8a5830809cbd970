//! One file per command.

pub mod bundle;
pub mod check;
pub mod compile;
pub mod demo;
pub mod keys;
pub mod serve;
pub mod test;
pub mod token;
