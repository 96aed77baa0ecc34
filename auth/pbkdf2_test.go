package auth

import (
	"crypto/pbkdf2"
)

// pbkdf2Salted is SCRAM's Hi(): the salted password.
func pbkdf2Salted(m ScramMechanism, password string, salt []byte, iters int) []byte {
	size := 32
	if m == ScramSHA512 {
		size = 64
	}
	b, err := pbkdf2.Key(m.newHash(), password, salt, iters, size)
	if err != nil {
		panic(err)
	}
	return b
}
