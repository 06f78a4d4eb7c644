//! The element types of a tensor variable, by their usual names.

use serde::{Deserialize, Serialize};

/// The element type of a tensor. Floating types take any number; integer types take
/// integers in their range; `bool` takes booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
#[expect(missing_docs, reason = "the variants are the usual dtype names")]
pub enum Dtype {
    Float16,
    Bfloat16,
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Bool,
    /// Two `float32`: real, imaginary.
    Complex64,
    /// Two `float64`: real, imaginary.
    Complex128,
}

impl Dtype {
    /// Every dtype, in the order they are listed in messages.
    pub const ALL: [Self; 15] = [
        Self::Float16,
        Self::Bfloat16,
        Self::Float32,
        Self::Float64,
        Self::Int8,
        Self::Int16,
        Self::Int32,
        Self::Int64,
        Self::Uint8,
        Self::Uint16,
        Self::Uint32,
        Self::Uint64,
        Self::Bool,
        Self::Complex64,
        Self::Complex128,
    ];

    /// The dtype's name, such as `uint8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Float16 => "float16",
            Self::Bfloat16 => "bfloat16",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Uint8 => "uint8",
            Self::Uint16 => "uint16",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Bool => "bool",
            Self::Complex64 => "complex64",
            Self::Complex128 => "complex128",
        }
    }

    /// The size of one element in bytes.
    pub fn itemsize(self) -> usize {
        match self {
            Self::Int8 | Self::Uint8 | Self::Bool => 1,
            Self::Float16 | Self::Bfloat16 | Self::Int16 | Self::Uint16 => 2,
            Self::Float32 | Self::Int32 | Self::Uint32 => 4,
            Self::Float64 | Self::Int64 | Self::Uint64 | Self::Complex64 => 8,
            Self::Complex128 => 16,
        }
    }

    /// The alignment one element needs in memory.
    pub(crate) fn align(self) -> usize {
        match self {
            Self::Complex64 => 4,
            Self::Complex128 => 8,
            other => other.itemsize(),
        }
    }

    /// The dtype named `name`, such as `uint8`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dtype| dtype.as_str() == name)
    }

    /// The range of an integer dtype; `None` for floating types and `bool`.
    pub(super) fn int_range(self) -> Option<(i128, i128)> {
        let range = |min: i128, max: i128| Some((min, max));
        match self {
            Self::Int8 => range(i8::MIN.into(), i8::MAX.into()),
            Self::Int16 => range(i16::MIN.into(), i16::MAX.into()),
            Self::Int32 => range(i32::MIN.into(), i32::MAX.into()),
            Self::Int64 => range(i64::MIN.into(), i64::MAX.into()),
            Self::Uint8 => range(0, u8::MAX.into()),
            Self::Uint16 => range(0, u16::MAX.into()),
            Self::Uint32 => range(0, u32::MAX.into()),
            Self::Uint64 => range(0, u64::MAX.into()),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dtypes_have_their_usual_names() {
        for dtype in Dtype::ALL {
            assert_eq!(Dtype::parse(dtype.as_str()), Some(dtype));
            assert_eq!(serde_json::to_value(dtype).unwrap(), json!(dtype.as_str()));
        }
        assert_eq!(Dtype::Uint8.int_range(), Some((0, 255)));
        assert_eq!(Dtype::Float32.int_range(), None);
    }
}
