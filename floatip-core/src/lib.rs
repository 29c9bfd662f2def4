//! floatip: floating-IP pod networking on Linux (work in progress).
#![deny(unsafe_code)]

pub mod wire;
