package auth_test

import (
	"strings"
	"testing"

	"github.com/tributary-io/tributary/auth"
)

// TestParseJAAS pins the Java client's sasl.jaas.config syntax.
func TestParseJAAS(t *testing.T) {
	for _, tc := range []struct {
		in         string
		module     string
		user, pass string
		wantErr    bool
	}{
		{in: auth.JAASScramModule + ` required username="alice" password="p w";`, module: auth.JAASScramModule, user: "alice", pass: "p w"},
		{in: auth.JAASPlainModule + ` required username=alice password="a\"b\\c=;d";`, module: auth.JAASPlainModule, user: "alice", pass: `a"b\c=;d`},
		{in: "  " + auth.JAASScramModule + "\trequired\n username = \"u\"\n password=\"\" ; ", module: auth.JAASScramModule, user: "u", pass: ""},
		{in: auth.JAASOAuthModule + ` required;`, module: auth.JAASOAuthModule},
		{in: auth.JAASScramModule + ` required username="a";` + auth.JAASPlainModule + ` required;`, wantErr: true},
		{in: auth.JAASScramModule + ` username="a";`, wantErr: true},
		{in: auth.JAASScramModule + ` required username;`, wantErr: true},
		{in: ``, wantErr: true},
	} {
		module, opts, err := auth.ParseJAAS(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || module != tc.module || opts["username"] != tc.user || opts["password"] != tc.pass {
			t.Errorf("%q: %s %q, %v", tc.in, module, opts, err)
		}
	}
}

// TestParseJAASErrorsNeverShowValues: a malformed JAAS line is named by
// what is wrong, never by the password it holds.
func TestParseJAASErrorsNeverShowValues(t *testing.T) {
	for _, in := range []string{
		auth.JAASScramModule + ` required username="u" password="s3cr3t-pw"`,
		auth.JAASScramModule + ` required username="u" password="s3cr3t-pw`,
		auth.JAASScramModule + ` required username="u" password="s3cr3t-pw"; extra`,
		auth.JAASScramModule + ` bogus username="u" password="s3cr3t-pw";`,
		`com.example.Other required password="s3cr3t-pw";`,
	} {
		_, _, err := auth.ParseJAAS(in)
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// FuzzParseJAAS: any text is parsed or refused, never a panic; what is
// parsed names a served login module, and its options written back in
// the canonical form (every value quoted and escaped) parse to the same
// options.
func FuzzParseJAAS(f *testing.F) {
	for _, s := range []string{
		auth.JAASScramModule + ` required username="alice" password="p w";`,
		auth.JAASPlainModule + ` required username=alice password="a\"b\\c=;d";`,
		auth.JAASOAuthModule + ` required unsecuredLoginStringClaim_sub="broker";`,
		`"`, `;`, `=`, ``, auth.JAASScramModule + ` required a="\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		module, opts, err := auth.ParseJAAS(in)
		if err != nil {
			return
		}
		switch module {
		case auth.JAASScramModule, auth.JAASPlainModule, auth.JAASOAuthModule:
		default:
			t.Fatalf("accepted login module %q", module)
		}
		var b strings.Builder
		b.WriteString(module + " required")
		for k, v := range opts {
			b.WriteString(" " + k + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
		}
		b.WriteString(";")
		module2, opts2, err := auth.ParseJAAS(b.String())
		if err != nil || module2 != module || len(opts2) != len(opts) {
			t.Fatalf("%q written back as %q: %v, %q", in, b.String(), err, opts2)
		}
		for k, v := range opts {
			if opts2[k] != v {
				t.Fatalf("%q written back as %q: %s=%q, want %q", in, b.String(), k, opts2[k], v)
			}
		}
	})
}
