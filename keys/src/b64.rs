//! Base64 helpers: padding-indifferent decoders that never echo input bytes in errors.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);

/// URL-safe alphabet, padding optional on decode (JWK members, JWS segments).
pub(crate) const URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);
/// Standard alphabet, padding optional on decode.
pub(crate) const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
/// URL-safe alphabet without padding, for encoding JWS/JWK values.
pub(crate) const URL_NO_PAD: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encode as unpadded base64url (the JOSE encoding).
pub(crate) fn encode_url(bytes: &[u8]) -> String {
    URL_NO_PAD.encode(bytes)
}

/// Decode with `engine`; the error text describes the problem without
/// quoting any decoded or input byte (inputs may be secrets).
pub(crate) fn decode(engine: &GeneralPurpose, text: &str) -> Result<Vec<u8>, String> {
    engine.decode(text).map_err(|e| describe(&e))
}

fn describe(err: &base64::DecodeError) -> String {
    match err {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("invalid character at offset {offset}")
        }
        base64::DecodeError::InvalidLength(len) => {
            format!("invalid length ({len} symbols cannot be base64)")
        }
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("invalid final character at offset {offset} (non-canonical encoding)")
        }
        base64::DecodeError::InvalidPadding => "invalid padding".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_optional_and_errors_do_not_quote_input() {
        assert_eq!(decode(&URL, "AQAB").as_deref(), Ok(&[1u8, 0, 1][..]));
        assert_eq!(decode(&URL, "AQ").as_deref(), Ok(&[1u8][..]));
        assert_eq!(decode(&URL, "AQ==").as_deref(), Ok(&[1u8][..]));
        assert_eq!(decode(&STANDARD, "+/8").as_deref(), Ok(&[0xfbu8, 0xff][..]));
        let err = decode(&URL, "ab+c").err().unwrap_or_default();
        assert!(err.contains("offset 2"), "{err}");
        assert!(!err.contains('+'), "{err}");
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
    }
}
