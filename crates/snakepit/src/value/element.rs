//! [`Element`]: the Rust types an [`NdArray`](super::NdArray) can hold, each with its dtype.

use super::Dtype;

mod sealed {
    pub trait Sealed {}
}

/// A Rust element type of an [`NdArray`](super::NdArray): plain old data with a dtype.
/// Complex numbers are `[f32; 2]` (`complex64`) and `[f64; 2]` (`complex128`), real part
/// first; `bool` arrays are viewed as `u8` (0 or 1).
pub trait Element: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The element's dtype.
    const DTYPE: Dtype;
}

macro_rules! elements {
    ($($rust:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $rust {}
        impl Element for $rust {
            const DTYPE: Dtype = Dtype::$dtype;
        }
    )*};
}

elements! {
    i8 => Int8,
    i16 => Int16,
    i32 => Int32,
    i64 => Int64,
    u8 => Uint8,
    u16 => Uint16,
    u32 => Uint32,
    u64 => Uint64,
    half::f16 => Float16,
    half::bf16 => Bfloat16,
    f32 => Float32,
    f64 => Float64,
    [f32; 2] => Complex64,
    [f64; 2] => Complex128,
}
