//! `floatip-cni`: the CNI plugin. Everything is in [`floatip::cni`]; see
//! `docs/cni.md`.

fn main() {
    std::process::exit(floatip::cni::main())
}
