//! Chainable setters for the option structs, which are `#[non_exhaustive]`
//! (a later version may add a field without breaking anyone): outside the
//! crate they are made from `Default` and these setters, as
//! `AddrOptions::default().nodad(true)`.

/// For each listed field, `pub fn FIELD(self, value) -> Self`.
macro_rules! setters {
    ($ty:ident { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("With `", stringify!($field), "` set to `value` (the field's own documentation says what it does).")]
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

pub(crate) use setters;
