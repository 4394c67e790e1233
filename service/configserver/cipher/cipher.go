// Package cipher encrypts and decrypts `{cipher}` property values with a symmetric key exactly as
// Spring Cloud Config does (Spring Security's Encryptors.text): the key is derived from the
// password with PBKDF2-HMAC-SHA1 (1024 rounds, 256 bits, hex salt "deadbeef" by default), the
// text is encrypted with AES-256-CBC under a random 16-byte IV, and the IV followed by the
// ciphertext is written in hex. Values encrypted by a Spring server with the same key decrypt
// here and the other way round.
package cipher

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks an encrypted value in a configuration file.
const Prefix = "{cipher}"

// DefaultSalt is Spring Cloud Config's default encrypt.salt.
const DefaultSalt = "deadbeef"

// ErrInvalid means the text was not encrypted with this key (or is not ciphertext at all).
var ErrInvalid = errors.New("text was not encrypted with this key")

// TextEncryptor encrypts and decrypts text with one key.
type TextEncryptor struct {
	block cipher.Block
}

// New derives the AES key from password and the hex salt.
func New(password, salt string) (*TextEncryptor, error) {
	if password == "" {
		return nil, errors.New("encryption key is empty")
	}
	saltBytes, err := hex.DecodeString(salt)
	if err != nil {
		return nil, fmt.Errorf("encryption salt must be hex: %w", err)
	}
	key, err := pbkdf2.Key(sha1.New, password, saltBytes, 1024, 32)
	if err != nil {
		return nil, fmt.Errorf("derive encryption key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &TextEncryptor{block: block}, nil
}

// Encrypt returns hex(IV || AES-CBC(PKCS#7(text))).
func (e *TextEncryptor) Encrypt(text string) (string, error) {
	padLen := aes.BlockSize - len(text)%aes.BlockSize
	plain := append([]byte(text), bytes.Repeat([]byte{byte(padLen)}, padLen)...)
	out := make([]byte, aes.BlockSize+len(plain))
	iv := out[:aes.BlockSize]
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	cipher.NewCBCEncrypter(e.block, iv).CryptBlocks(out[aes.BlockSize:], plain)
	return hex.EncodeToString(out), nil
}

// Decrypt reverses Encrypt; anything else is ErrInvalid.
func (e *TextEncryptor) Decrypt(hexText string) (string, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(hexText))
	if err != nil || len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return "", ErrInvalid
	}
	iv, body := raw[:aes.BlockSize], raw[aes.BlockSize:]
	plain := make([]byte, len(body))
	cipher.NewCBCDecrypter(e.block, iv).CryptBlocks(plain, body)
	padLen := int(plain[len(plain)-1])
	if padLen == 0 || padLen > aes.BlockSize || !bytes.Equal(plain[len(plain)-padLen:], bytes.Repeat([]byte{byte(padLen)}, padLen)) {
		return "", ErrInvalid
	}
	return string(plain[:len(plain)-padLen]), nil
}
