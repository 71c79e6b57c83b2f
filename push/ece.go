package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/parleyhq/parley"
)

// Web Push message encryption: RFC 8291 on top of the aes128gcm content
// coding of RFC 8188, always as a single record.
const (
	// eceRecordSize is the rs field of the header. Push services need not
	// accept more than 4096 bytes (RFC 8030 section 7.2), so one record of
	// this size holds any message they take.
	eceRecordSize = 4096
	// eceHeaderLen is salt (16) + rs (4) + idlen (1) + keyid, the
	// application server's uncompressed public key (65).
	eceHeaderLen = 16 + 4 + 1 + 65
	// maxWebPushPlaintext is what fits in 4096 bytes after the header, the
	// AES-GCM tag (16) and the padding delimiter (1): RFC 8291 section 4.
	maxWebPushPlaintext = eceRecordSize - eceHeaderLen - 16 - 1
	// webPushPadBlock rounds plaintext lengths up, so the push service
	// (which sees ciphertext sizes) learns less about preview lengths.
	webPushPadBlock = 256
)

// subscriptionKeys decodes and checks a subscription's p256dh and auth
// values (base64url, padded or not). A key that is not a point on P-256
// must be refused: computing ECDH with it could leak our ephemeral key's
// bits (RFC 8291 section 7).
func subscriptionKeys(p256dh, auth string) (*ecdh.PublicKey, []byte, error) {
	rawPub, err := decodeB64(p256dh)
	if err != nil {
		return nil, nil, parley.Errorf(parley.EINVALID, "web push subscription: p256dh is not base64url")
	}
	pub, err := ecdh.P256().NewPublicKey(rawPub)
	if err != nil {
		return nil, nil, parley.Errorf(parley.EINVALID, "web push subscription: p256dh is not a P-256 public key")
	}
	secret, err := decodeB64(auth)
	if err != nil || len(secret) != 16 {
		return nil, nil, parley.Errorf(parley.EINVALID, "web push subscription: auth must be 16 bytes of base64url")
	}
	return pub, secret, nil
}

// decodeB64 accepts base64url with or without padding: browsers' toJSON()
// gives unpadded values, but some client libraries pad.
func decodeB64(s string) ([]byte, error) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return b64.DecodeString(s)
}

// encryptWebPush encrypts plaintext for the subscription with a fresh
// ephemeral key and salt.
func encryptWebPush(plaintext []byte, uaPublic *ecdh.PublicKey, authSecret []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("web push encrypt: %w", err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	padded := (len(plaintext) + 1 + webPushPadBlock - 1) / webPushPadBlock * webPushPadBlock
	padded = min(padded, maxWebPushPlaintext+1)
	return encryptWebPushWith(plaintext, uaPublic, authSecret, as, salt, padded-len(plaintext)-1)
}

// encryptWebPushWith is the deterministic core of RFC 8291 section 3.4
// with the ephemeral key, salt and padding length chosen by the caller,
// which lets the RFC's own example be reproduced.
func encryptWebPushWith(plaintext []byte, uaPublic *ecdh.PublicKey, authSecret []byte, as *ecdh.PrivateKey, salt []byte, pad int) ([]byte, error) {
	if len(plaintext)+1+pad > maxWebPushPlaintext+1 {
		return nil, parley.Errorf(parley.ETOOLARGE, "web push payload of %d bytes is over %d", len(plaintext), maxWebPushPlaintext)
	}
	ecdhSecret, err := as.ECDH(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("web push encrypt: %w", err)
	}
	asPublic := as.PublicKey().Bytes()
	cek, nonce, err := webPushKeys(ecdhSecret, authSecret, uaPublic.Bytes(), asPublic, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("web push encrypt: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("web push encrypt: %w", err)
	}

	out := make([]byte, 0, eceHeaderLen+len(plaintext)+1+pad+gcm.Overhead())
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, eceRecordSize)
	out = append(out, byte(len(asPublic)))
	out = append(out, asPublic...)

	// The last (and only) record ends with the 0x02 delimiter, then zero
	// padding (RFC 8188 section 2).
	record := make([]byte, len(plaintext)+1+pad)
	copy(record, plaintext)
	record[len(plaintext)] = 0x02
	return gcm.Seal(out, nonce, record, nil), nil
}

// webPushKeys derives the content encryption key and nonce (RFC 8291
// section 3.4 and RFC 8188 section 2.2) from the ECDH secret, the
// subscription's auth secret, both public keys and the salt.
func webPushKeys(ecdhSecret, authSecret, uaPublic, asPublic, salt []byte) (cek, nonce []byte, err error) {
	keyInfo := make([]byte, 0, 14+65+65)
	keyInfo = append(keyInfo, "WebPush: info\x00"...)
	keyInfo = append(keyInfo, uaPublic...)
	keyInfo = append(keyInfo, asPublic...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, nil, fmt.Errorf("web push keys: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, fmt.Errorf("web push keys: %w", err)
	}
	if cek, err = hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16); err != nil {
		return nil, nil, fmt.Errorf("web push keys: %w", err)
	}
	if nonce, err = hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12); err != nil {
		return nil, nil, fmt.Errorf("web push keys: %w", err)
	}
	return cek, nonce, nil
}
