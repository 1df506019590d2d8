//! DuckDB loads a file as an extension only if it ends with a 534-byte metadata footer
//! (docs/ARCHITECTURE.md, "The metadata footer"). DuckDB ships this as a Python build script; we write our own so the build
//! needs nothing but cargo.
//!
//! Layout after the raw shared library: a 22-byte header, eight NUL-padded 32-byte ASCII
//! fields, then 256 zero bytes where a signature would go.

/// Size of one metadata field.
pub const FIELD_LEN: usize = 32;
/// Size of the (empty) signature block.
pub const SIGNATURE_LEN: usize = 256;
/// Header: byte 0x00, LEB128 531, byte 16, the 16-byte name `duckdb_signature`, LEB128 512.
pub const HEADER: [u8; 22] = *b"\x00\x93\x04\x10duckdb_signature\x80\x04";
/// Total footer size.
pub const FOOTER_LEN: usize = HEADER.len() + 8 * FIELD_LEN + SIGNATURE_LEN;

/// What the footer declares about the extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `C_STRUCT_UNSTABLE` for extensions built with duckdb-rs.
    pub abi_type: String,
    /// Our version, e.g. `v0.1.0`.
    pub extension_version: String,
    /// The exact DuckDB version the extension loads into, e.g. `v1.5.6`.
    pub duckdb_version: String,
    /// DuckDB's platform string, e.g. `linux_amd64`.
    pub platform: String,
}

/// Builds the footer bytes, or says which field does not fit in 32 bytes.
pub fn footer(meta: &Metadata) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(FOOTER_LEN);
    out.extend_from_slice(&HEADER);
    let fields = ["", "", "", &meta.abi_type, &meta.extension_version, &meta.duckdb_version, &meta.platform, "4"];
    for field in fields {
        if field.len() > FIELD_LEN || !field.is_ascii() {
            return Err(format!("footer field '{field}' must be ASCII of at most {FIELD_LEN} bytes"));
        }
        let mut padded = [0u8; FIELD_LEN];
        padded[..field.len()].copy_from_slice(field.as_bytes());
        out.extend_from_slice(&padded);
    }
    out.extend_from_slice(&[0u8; SIGNATURE_LEN]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata {
            abi_type: "C_STRUCT_UNSTABLE".into(),
            extension_version: "v0.1.0".into(),
            duckdb_version: "v1.5.6".into(),
            platform: "linux_amd64".into(),
        }
    }

    #[test]
    fn footer_has_the_exact_byte_layout() {
        let bytes = footer(&meta()).unwrap();
        assert_eq!(bytes.len(), 534);
        assert_eq!(&bytes[..4], &[0x00, 0x93, 0x04, 16]);
        assert_eq!(&bytes[4..20], b"duckdb_signature");
        assert_eq!(&bytes[20..22], &[0x80, 0x04]);
        let field = |i: usize| {
            let raw = &bytes[22 + i * 32..22 + (i + 1) * 32];
            String::from_utf8(raw.iter().copied().take_while(|b| *b != 0).collect()).unwrap()
        };
        let fields: Vec<String> = (0..8).map(field).collect();
        assert_eq!(fields, ["", "", "", "C_STRUCT_UNSTABLE", "v0.1.0", "v1.5.6", "linux_amd64", "4"]);
        assert!(bytes[22 + 8 * 32..].iter().all(|b| *b == 0));
        // Padding is NUL all the way to each field's end.
        assert!(bytes[22 + 7 * 32 + 1..22 + 8 * 32].iter().all(|b| *b == 0));
    }

    #[test]
    fn footer_rejects_oversized_fields() {
        let long = Metadata { platform: "x".repeat(33), ..meta() };
        assert!(footer(&long).unwrap_err().contains("at most 32 bytes"));
    }
}
