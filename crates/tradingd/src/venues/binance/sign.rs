//! Binance's request signature: HMAC-SHA256 over the exact query string
//! sent (parameters in the order sent, `timestamp` included), hex encoded,
//! appended as `signature`.

use hmac::{KeyInit as _, Mac as _};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The hex signature of `payload` (the query or form body as sent).
pub fn sign(secret: &[u8], payload: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(payload.as_bytes());
    crate::hex::encode(&mac.finalize().into_bytes())
}

/// Whether `signature` signs `payload` (what the test venue checks). HMAC
/// signatures are not case sensitive at Binance.
pub fn verify(secret: &[u8], payload: &str, signature: &str) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(payload.as_bytes());
    let Some(raw) = crate::hex::decode(signature) else {
        return false;
    };
    mac.verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's published example (Spot API docs, "SIGNED request example
    /// (HMAC)"): this key, query and signature.
    #[test]
    fn the_published_example_signs_to_the_published_signature() {
        let secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let sig = sign(secret, query);
        assert_eq!(
            sig,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert!(verify(secret, query, &sig));
        assert!(verify(secret, query, &sig.to_uppercase()));
        assert!(!verify(secret, &query.replace("0.1", "0.2"), &sig));
        assert!(!verify(b"another secret", query, &sig));
        assert!(!verify(secret, query, "zz"));
    }
}
