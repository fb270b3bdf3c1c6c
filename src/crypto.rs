//! AES-256-CBC with PKCS#7 padding, as the Migration API requires (reference §5).
//!
//! Every blob gets its own random 16-byte IV, carried in blob metadata `IV`, never prepended to the
//! ciphertext. Content is streamed: [`CbcEncryptor`] takes chunks of any length and keeps at most one
//! partial block, so a file of any size is encrypted in bounded memory.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

pub const BLOCK: usize = 16;

/// A 32-byte AES key that is wiped from memory when dropped and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        Key(k)
    }
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = b.try_into().map_err(|_| CryptoError::KeyLength(b.len()))?;
        Ok(Key(arr))
    }
    /// Decodes the base64 form the service hands out (`EncryptionKey`, `AES256CBCKey`).
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| CryptoError::KeyEncoding)?;
        let k = Self::from_bytes(&raw);
        raw.zeroize();
        k
    }
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("encryption key must be 32 bytes, got {0}")]
    KeyLength(usize),
    #[error("encryption key is not valid base64")]
    KeyEncoding,
    #[error("IV must be 16 bytes of base64")]
    BadIv,
    #[error("ciphertext length {0} is not a multiple of 16 bytes")]
    CiphertextLength(usize),
    #[error("decryption failed: wrong key or IV, or corrupted data (bad padding)")]
    BadPadding,
}

pub fn random_iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    iv
}

pub fn iv_to_base64(iv: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(iv)
}

pub fn iv_from_base64(s: &str) -> Result<[u8; 16], CryptoError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| CryptoError::BadIv)?;
    raw.try_into().map_err(|_| CryptoError::BadIv)
}

/// Size of the ciphertext of `plain_len` bytes: PKCS#7 always adds 1..=16 bytes.
pub fn ciphertext_len(plain_len: u64) -> u64 {
    (plain_len / BLOCK as u64 + 1) * BLOCK as u64
}

/// Encrypts a whole buffer (manifests, queue messages, small files).
pub fn encrypt(key: &Key, iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
    Enc::new(key.bytes().into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain)
}

/// Decrypts a whole buffer and strips PKCS#7 padding.
pub fn decrypt(key: &Key, iv: &[u8; 16], cipher: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if !cipher.len().is_multiple_of(BLOCK) || cipher.is_empty() {
        return Err(CryptoError::CiphertextLength(cipher.len()));
    }
    Dec::new(key.bytes().into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(cipher)
        .map_err(|_| CryptoError::BadPadding)
}

/// Streaming CBC encryption: feed chunks with [`update`](Self::update), end with
/// [`finish`](Self::finish) which pads. Holds at most 15 bytes between calls.
pub struct CbcEncryptor {
    cipher: Enc,
    pending: Vec<u8>,
}

impl CbcEncryptor {
    pub fn new(key: &Key, iv: &[u8; 16]) -> Self {
        CbcEncryptor {
            cipher: Enc::new(key.bytes().into(), iv.into()),
            pending: Vec::with_capacity(BLOCK),
        }
    }

    /// Encrypts as many whole blocks as `input` (plus what is pending) allows, appending to `out`.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut input = input;
        if !self.pending.is_empty() {
            let need = BLOCK - self.pending.len();
            let take = need.min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < BLOCK {
                return;
            }
            let start = out.len();
            out.extend_from_slice(&self.pending);
            self.pending.clear();
            self.encrypt_in_place(&mut out[start..]);
        }
        let whole = input.len() / BLOCK * BLOCK;
        if whole > 0 {
            let start = out.len();
            out.extend_from_slice(&input[..whole]);
            self.encrypt_in_place(&mut out[start..]);
        }
        self.pending.extend_from_slice(&input[whole..]);
    }

    /// Pads the final block (PKCS#7) and appends its ciphertext.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let pad = (BLOCK - self.pending.len()) as u8;
        let mut last = std::mem::take(&mut self.pending);
        last.resize(BLOCK, pad);
        let start = out.len();
        out.extend_from_slice(&last);
        self.encrypt_in_place(&mut out[start..]);
    }

    /// Encrypts `buf` where it lies, so a block read from disk is never copied to be encrypted;
    /// `last` pads it first. A chunk that is not the last should be whole cipher blocks: the
    /// remainder waits for the next call, which then has to shift its input.
    pub fn update_in_place(&mut self, buf: &mut Vec<u8>, last: bool) {
        if !self.pending.is_empty() {
            buf.splice(0..0, self.pending.drain(..));
        }
        if last {
            let pad = (BLOCK - buf.len() % BLOCK) as u8;
            buf.resize(buf.len() + pad as usize, pad);
        } else {
            let whole = buf.len() / BLOCK * BLOCK;
            self.pending.extend_from_slice(&buf[whole..]);
            buf.truncate(whole);
        }
        self.encrypt_in_place(buf);
    }

    fn encrypt_in_place(&mut self, buf: &mut [u8]) {
        for block in buf.chunks_exact_mut(BLOCK) {
            self.cipher.encrypt_block_mut(block.into());
        }
    }
}

/// Streaming CBC decryption; holds back the last block until [`finish`](Self::finish) so the
/// padding can be checked and stripped.
pub struct CbcDecryptor {
    cipher: Dec,
    pending: Vec<u8>,
}

impl CbcDecryptor {
    pub fn new(key: &Key, iv: &[u8; 16]) -> Self {
        CbcDecryptor {
            cipher: Dec::new(key.bytes().into(), iv.into()),
            pending: Vec::with_capacity(2 * BLOCK),
        }
    }

    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(input);
        // Keep at least one whole block back: it may be the padded last one.
        let avail = self.pending.len();
        if avail <= BLOCK {
            return;
        }
        let mut n = (avail - 1) / BLOCK * BLOCK;
        if n == 0 {
            return;
        }
        if avail.is_multiple_of(BLOCK) {
            n = avail - BLOCK;
        }
        let start = out.len();
        out.extend_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        // All blocks in one call: CBC decryption runs several blocks in parallel (AES-NI
        // pipelines), several times faster than a block-at-a-time loop.
        let (blocks, tail) = aes::cipher::inout::InOutBuf::from(&mut out[start..]).into_chunks();
        debug_assert!(tail.is_empty());
        self.cipher.decrypt_blocks_inout_mut(blocks);
    }

    /// Decrypts whole blocks where they lie. The caller keeps the last block back and ends with
    /// `update(last)` + [`finish`](Self::finish), which checks the padding; only valid while
    /// nothing is pending (`update` was not called before).
    pub fn decrypt_in_place(&mut self, blocks: &mut [u8]) {
        debug_assert!(self.pending.is_empty() && blocks.len().is_multiple_of(BLOCK));
        let (blocks, _) = aes::cipher::inout::InOutBuf::from(blocks).into_chunks();
        self.cipher.decrypt_blocks_inout_mut(blocks);
    }

    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.pending.len() != BLOCK {
            return Err(CryptoError::CiphertextLength(self.pending.len()));
        }
        let mut last = std::mem::take(&mut self.pending);
        self.cipher.decrypt_block_mut(last.as_mut_slice().into());
        let pad = last[BLOCK - 1] as usize;
        if pad == 0 || pad > BLOCK || !last[BLOCK - pad..].iter().all(|&b| b as usize == pad) {
            return Err(CryptoError::BadPadding);
        }
        out.extend_from_slice(&last[..BLOCK - pad]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// NIST SP 800-38A, F.2.5 CBC-AES256.Encrypt (four blocks, no padding involved).
    #[test]
    fn matches_nist_sp800_38a_cbc_aes256_vector() {
        let key = Key::from_bytes(&hex(
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        ))
        .unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = hex(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710"
        ));
        let expect = hex(concat!(
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6",
            "9cfc4e967edb808d679f777bc6702c7d",
            "39f23369a9d9bacfa530e26304231461",
            "b2eb05e2c39be9fcda6c19078c6a9d1b"
        ));
        let mut enc = CbcEncryptor::new(&key, &iv);
        let mut out = Vec::new();
        enc.update(&plain, &mut out);
        assert_eq!(out, expect, "the four NIST blocks");
        enc.finish(&mut out);
        assert_eq!(out.len(), 80, "PKCS#7 adds a whole block to aligned input");
        assert_eq!(decrypt(&key, &iv, &out).unwrap(), plain);
    }

    #[test]
    fn streaming_equals_one_shot_for_any_chunking() {
        let key = Key::random();
        let iv = random_iv();
        for len in [0usize, 1, 15, 16, 17, 100, 4096, 10_007] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let one = encrypt(&key, &iv, &plain);
            assert_eq!(one.len() as u64, ciphertext_len(len as u64));
            for chunk in [1usize, 7, 16, 33, 4096] {
                let mut e = CbcEncryptor::new(&key, &iv);
                let mut out = Vec::new();
                for c in plain.chunks(chunk) {
                    e.update(c, &mut out);
                }
                e.finish(&mut out);
                assert_eq!(out, one, "len {len} chunk {chunk}");
                let mut d = CbcDecryptor::new(&key, &iv);
                let mut back = Vec::new();
                for c in out.chunks(chunk) {
                    d.update(c, &mut back);
                }
                d.finish(&mut back).unwrap();
                assert_eq!(back, plain, "len {len} chunk {chunk}");

                let mut e = CbcEncryptor::new(&key, &iv);
                let mut out = Vec::new();
                let mut chunks = plain.chunks(chunk).peekable();
                while let Some(c) = chunks.next() {
                    let mut b = c.to_vec();
                    e.update_in_place(&mut b, chunks.peek().is_none());
                    out.extend_from_slice(&b);
                }
                if plain.is_empty() {
                    let mut b = Vec::new();
                    e.update_in_place(&mut b, true);
                    out = b;
                }
                assert_eq!(out, one, "in place: len {len} chunk {chunk}");
                let mut d = CbcDecryptor::new(&key, &iv);
                let mut back = out.clone();
                let body = back.len() - BLOCK;
                d.decrypt_in_place(&mut back[..body]);
                let mut tail = Vec::new();
                d.update(&out[body..], &mut tail);
                d.finish(&mut tail).unwrap();
                back.truncate(body);
                back.extend_from_slice(&tail);
                assert_eq!(back, plain, "in place: len {len} chunk {chunk}");
            }
        }
    }

    #[test]
    fn wrong_key_is_reported_not_garbage() {
        let iv = random_iv();
        let c = encrypt(&Key::random(), &iv, b"some manifest bytes");
        // A wrong key yields bad padding with overwhelming probability; either way no panic.
        let r = decrypt(&Key::random(), &iv, &c);
        assert!(r.is_err() || r.unwrap() != b"some manifest bytes");
        assert_eq!(
            decrypt(&Key::random(), &iv, &c[..5]),
            Err(CryptoError::CiphertextLength(5))
        );
    }

    #[test]
    fn key_debug_never_shows_bytes() {
        assert_eq!(format!("{:?}", Key::random()), "Key(<redacted>)");
    }
}
