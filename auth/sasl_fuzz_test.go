package auth

import (
	"errors"
	"path/filepath"
	"testing"
)

// FuzzParsePlain: any PLAIN message is parsed or refused with
// ErrAuthenticationFailed, never a panic.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "a\x00a\x00pw", "", "\x00", "\x00\x00\x00", "x\x00y"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, user, pw, err := ParsePlain(msg)
		if err != nil {
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("%v", err)
			}
			return
		}
		if user == "" || pw == "" {
			t.Fatalf("accepted an empty user or password: %q", msg)
		}
	})
}

// FuzzScramServer: any client-first and client-final fail cleanly or
// authenticate only with the right proof (which random bytes never are).
func FuzzScramServer(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abcdef"), []byte("c=biws,r=abcdefXYZ,p=AAAA"))
	f.Add([]byte("y,a=alice,n=alice,r=x"), []byte(""))
	f.Add([]byte("p=tls-unique,,n=a,r=x"), []byte("c=,r=,p="))
	f.Add([]byte("n,,n=al=2Cice,r=abc,m=ext"), []byte("c=biws,r=abc,p=!!"))
	f.Add([]byte(""), []byte("garbage"))
	s, err := OpenCredentialStore(filepath.Join(f.TempDir(), CredentialsFile))
	if err != nil {
		f.Fatal(err)
	}
	c, _ := NewScramCredential(ScramSHA256, "pw", []byte("salt"), MinScramIterations)
	if err := s.Apply([]CredentialChange{{User: "alice", Mechanism: ScramSHA256, Credential: c}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		a, _ := NewAuthenticator(MechanismScramSHA256, s)
		if _, err := a.Step(first); err != nil {
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("first: %v", err)
			}
			return
		}
		if _, err := a.Step(final); err == nil || a.Done() {
			t.Fatalf("random client-final %q authenticated", final)
		} else if !errors.Is(err, ErrAuthenticationFailed) {
			t.Fatalf("final: %v", err)
		}
	})
}
