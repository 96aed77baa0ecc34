package server

import (
	"errors"
	"strings"
	"testing"
)

// TestSplitPropertyReadsLikeJavaProperties: keys, values and backslash
// escapes come out of a properties line as java.util.Properties.load
// gives them.
func TestSplitPropertyReadsLikeJavaProperties(t *testing.T) {
	for _, tc := range []struct {
		line, key, value string
	}{
		{`a=b`, "a", "b"},
		{`a = b`, "a", "b"},
		{`a:b`, "a", "b"},
		{`a b`, "a", "b"},
		{"a\t \t= b", "a", "b"},
		{`a=b=c`, "a", "b=c"},
		{`a==b`, "a", "=b"},
		{`a=`, "a", ""},
		{`a= b  `, "a", "b"},
		{`path=C:\\certs\\broker.pem`, "path", `C:\certs\broker.pem`},
		{`path=C:\certs\broker.pem`, "path", "C:certsbroker.pem"}, // as Java: \c is c
		{`url=http\://host\:8080/a\=b`, "url", "http://host:8080/a=b"},
		{`key\=with\:seps\ and\ blanks=v`, "key=with:seps and blanks", "v"},
		{`tab=a\tb`, "tab", "a\tb"},
		{`nl=line1\nline2\r\n`, "nl", "line1\nline2\r\n"},
		{`ff=\f`, "ff", "\f"},
		{`u=\u0041\u00e9\u20ac`, "u", "Aé€"},
		{`pair=\uD83D\uDE00`, "pair", "😀"},
		{`hash=\#not a comment`, "hash", "#not a comment"},
		{`blank=x\ `, "blank", "x "},
		{`utf8=é`, "utf8", "é"},
		{`jaas=org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="p\\q";`,
			"jaas", `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="p\q";`},
	} {
		k, v, err := SplitProperty(tc.line)
		if err != nil || k != tc.key || v != tc.value {
			t.Errorf("SplitProperty(%q) = %q, %q, %v; want %q, %q", tc.line, k, v, err, tc.key, tc.value)
		}
	}
	for _, bad := range []string{`noseparator`, `a=\u12`, `a=\uzzzz`, `a\u00=b`} {
		if k, v, err := SplitProperty(bad); !errors.Is(err, ErrPropertyLine) {
			t.Errorf("SplitProperty(%q) = %q, %q, %v; want ErrPropertyLine", bad, k, v, err)
		}
	}
}

// TestReadPropertiesEscapesAndContinuations: the broker's file reads
// escapes and continued lines as Java does.
func TestReadPropertiesEscapesAndContinuations(t *testing.T) {
	file := "listeners=PLAINTEXT\\://127.0.0.1\\:9092,\\\n" +
		"    SASL_SSL://127.0.0.1:9094\n" +
		"ssl.keystore.location = /etc/tributary/my\\ broker.pem\n" +
		"log.dirs:/var/lib/trib\\u0075tary\n"
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader(file), "broker.properties"); err != nil {
		t.Fatal(err)
	}
	if b.Listeners != "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094" {
		t.Errorf("listeners = %q", b.Listeners)
	}
	if got := b.Security["ssl.keystore.location"]; got != "/etc/tributary/my broker.pem" {
		t.Errorf("ssl.keystore.location = %q", got)
	}
	if b.DataDir != "/var/lib/tributary" {
		t.Errorf("log.dirs = %q", b.DataDir)
	}
	err := b.ReadProperties(strings.NewReader("num.partitions=3\nssl.keystore.location=\\u00zz\n"), "bad.properties")
	if err == nil || !strings.Contains(err.Error(), `bad.properties:2: server: properties line: malformed \uxxxx escape`) {
		t.Errorf("malformed escape: %v", err)
	}
}
