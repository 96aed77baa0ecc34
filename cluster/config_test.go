package cluster

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseVotersAcceptsKafkaSyntax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Voter
	}{
		{"1@127.0.0.2:9093", []Voter{{1, "127.0.0.2", 9093}}},
		{"1@127.0.0.2:9093,2@127.0.0.3:9093, 3@127.0.0.4:9093", []Voter{{1, "127.0.0.2", 9093}, {2, "127.0.0.3", 9093}, {3, "127.0.0.4", 9093}}},
		{"0@[::1]:9093,7@node-b.example:19093", []Voter{{0, "::1", 9093}, {7, "node-b.example", 19093}}},
	} {
		got, err := ParseVoters(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseVoters(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseVotersRejectsBadInputClearly(t *testing.T) {
	for _, tc := range []struct{ in, wantErr string }{
		{"", "empty"},
		{"127.0.0.2:9093", "want id@host:port"},
		{"x@127.0.0.2:9093", "node id"},
		{"-1@127.0.0.2:9093", "node id"},
		{"99999999999@127.0.0.2:9093", "node id"},
		{"1@127.0.0.2", "want host:port"},
		{"1@:9093", "cannot be empty or unspecified"},
		{"1@0.0.0.0:9093", "cannot be empty or unspecified"},
		{"1@127.0.0.2:0", "port"},
		{"1@127.0.0.2:70000", "port"},
		{"1@127.0.0.2:http", "port"},
		{"1@127.0.0.2:9093,1@127.0.0.3:9093", "node id 1 is named twice"},
		{"1@127.0.0.2:9093,2@127.0.0.2:9093", "voters 1 and 2 both have the address 127.0.0.2:9093"},
		{"1@127.0.0.2:9093,", "want id@host:port"},
	} {
		_, err := ParseVoters(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "cluster: ") {
			t.Errorf("ParseVoters(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestParseStoreURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want StoreURL
	}{
		{"etcd://h1:2379", StoreURL{Endpoints: []string{"http://h1:2379"}, Root: "/tributary"}},
		{"etcd://h1:2379,h2:2379", StoreURL{Endpoints: []string{"http://h1:2379", "http://h2:2379"}, Root: "/tributary"}},
		{"etcds://h1:2379,[::1]:2379/kafka/prod/", StoreURL{Endpoints: []string{"https://h1:2379", "https://[::1]:2379"}, TLS: true, Root: "/kafka/prod"}},
	} {
		got, err := ParseStoreURL(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseStoreURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, wantErr string }{
		{"h1:2379", "want etcd://"},
		{"http://h1:2379", "scheme"},
		{"etcd://", "no host:port"},
		{"etcd://h1", "host:port"},
		{"etcd://h1:2379,", "host:port"},
		{"etcd://user:secret@h1:2379", "credentials"},
		{"https://user:secret@h1:2379", "credentials"},
		{"etcd://h1:2379/a//b", "empty path element"},
		{"etcd://h1:2379,h1:2379", "named twice"},
		{"etcd://0.0.0.0:2379", "cannot be empty or unspecified"},
	} {
		_, err := ParseStoreURL(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseStoreURL(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseStoreURL(%q) error %q shows the password", tc.in, err)
		}
	}
}

func TestStoreURLStringReadsBack(t *testing.T) {
	for _, in := range []string{"etcd://h1:2379", "etcds://h1:2379,[::1]:2379/kafka/prod", "etcd://h1:2379,h2:2379"} {
		u, err := ParseStoreURL(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := u.String(); got != in {
			t.Errorf("ParseStoreURL(%q).String() = %q", in, got)
		}
	}
}
