package server

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func TestResolveListeners(t *testing.T) {
	for _, tt := range []struct {
		name                        string
		listeners, advertised, pmap string
		security                    map[string]string
		want                        string // Name/Protocol/Addr/Advertise of each, or the error
	}{
		{name: "default map", listeners: "PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9094",
			want: "PLAINTEXT/PLAINTEXT/127.0.0.1:9092/ SASL_SSL/SASL_SSL/:9094/"},
		{name: "custom names", listeners: "internal://:9092,EXTERNAL://:9093", pmap: "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
			advertised: "EXTERNAL://kafka.example:9093",
			want:       "INTERNAL/PLAINTEXT/:9092/ EXTERNAL/SASL_SSL/:9093/kafka.example:9093"},
		{name: "controller left out", listeners: "PLAINTEXT://:9092,CONTROLLER://:9093", pmap: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			want: "PLAINTEXT/PLAINTEXT/:9092/"},
		{name: "unmapped name", listeners: "INTERNAL://:9092", want: "listener INTERNAL has no security protocol"},
		{name: "map replaces the default", listeners: "SSL://:9093", pmap: "INTERNAL:PLAINTEXT", want: "listener SSL has no security protocol"},
		{name: "bad protocol", listeners: "A://:1", pmap: "A:TLS", want: "unknown security protocol"},
		{name: "twice", listeners: "PLAINTEXT://:1,plaintext://:2", want: "names listener PLAINTEXT twice"},
		{name: "same port", listeners: "PLAINTEXT://:9092,SSL://127.0.0.1:9092", want: "both use port 9092"},
		{name: "no address", listeners: "PLAINTEXT://nowhere", want: "missing port"},
		{name: "no scheme", listeners: "127.0.0.1:9092", want: "want NAME://host:port"},
		{name: "advertised unknown", listeners: "PLAINTEXT://:1", advertised: "SSL://h:2", want: "not in listeners"},
		{name: "advertised wildcard", listeners: "PLAINTEXT://:1", advertised: "PLAINTEXT://0.0.0.0:1", want: "unspecified host"},
		{name: "override for a missing listener", listeners: "PLAINTEXT://:1",
			security: map[string]string{"listener.name.ssl.ssl.client.auth": "required"}, want: "not in listeners"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := ResolveListeners(tt.listeners, tt.advertised, tt.pmap, tt.security)
			var got string
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrListenerConfig) {
					t.Errorf("%v is not ErrListenerConfig", err)
				}
			} else {
				var parts []string
				for _, l := range ls {
					parts = append(parts, l.Name+"/"+l.Protocol.String()+"/"+l.Addr+"/"+l.Advertise)
				}
				got = strings.Join(parts, " ")
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListenerOverridesWinOverBrokerSettings(t *testing.T) {
	sec := map[string]string{
		"ssl.client.auth":                        "none",
		"listener.name.internal.ssl.client.auth": "required",
	}
	ls, err := ResolveListeners("INTERNAL://:1,EXTERNAL://:2", "", "INTERNAL:SSL,EXTERNAL:SSL", sec)
	if err != nil {
		t.Fatal(err)
	}
	if got := ls[0].Security["ssl.client.auth"]; got != "required" {
		t.Errorf("INTERNAL ssl.client.auth %q, want its override", got)
	}
	if got := ls[1].Security["ssl.client.auth"]; got != "none" {
		t.Errorf("EXTERNAL ssl.client.auth %q, want the broker's", got)
	}
	if _, leaked := ls[1].Security["listener.name.internal.ssl.client.auth"]; leaked {
		t.Errorf("EXTERNAL carries INTERNAL's override: %v", ls[1].Security)
	}
}

// TestListenersAnswerWithTheirOwnAddress: Metadata, FindCoordinator and
// DescribeCluster tell each client the advertised address of the listener
// it came in on.
func TestListenersAnswerWithTheirOwnAddress(t *testing.T) {
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	srv, err := New(mgr, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ls, err := ResolveListeners("INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
		"INTERNAL://internal.example:19092,EXTERNAL://external.example:29092", "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		addr, err := srv.ListenOn(l)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ToLower(l.Name) + ".example"
		b := &testBroker{t: t, addr: addr.String()}
		meta := kmsg.NewPtrMetadataRequest()
		meta.Version = 12
		mb := b.raw().do(meta).(*kmsg.MetadataResponse).Brokers[0]
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version = 4
		fc.CoordinatorKeys = []string{"g"}
		co := b.raw().do(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]
		// Right after start the groups may still be loading: asked again.
		for deadline := time.Now().Add(10 * time.Second); co.ErrorCode == kerr.CoordinatorLoadInProgress.Code && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			co = b.raw().do(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.Version = 1
		db := b.raw().do(dc).(*kmsg.DescribeClusterResponse).Brokers[0]
		for api, host := range map[string]string{"Metadata": mb.Host, "FindCoordinator": co.Host, "DescribeCluster": db.Host} {
			if host != want {
				t.Errorf("%s on %s answered host %q, want %q", api, l.Name, host, want)
			}
		}
	}
}

// TestConnectionsStartAnonymous: a connection acts as User:ANONYMOUS until
// it authenticates, and knows its listener.
func TestConnectionsStartAnonymous(t *testing.T) {
	b := startBroker(t)
	b.raw().do(kmsg.NewPtrApiVersionsRequest())
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	if len(b.srv.conns) == 0 {
		t.Fatal("no connection tracked")
	}
	for c := range b.srv.conns {
		if c.principal != auth.Anonymous || c.principal.String() != "User:ANONYMOUS" {
			t.Errorf("principal %v, want User:ANONYMOUS", c.principal)
		}
		if c.ln.name != DefaultListenerName || c.ln.protocol != auth.Plaintext {
			t.Errorf("listener %s/%s, want PLAINTEXT/PLAINTEXT", c.ln.name, c.ln.protocol)
		}
	}
}

// TestSettingErrorsHideSecrets: a refused or bad secret setting is named
// in the error, its value never.
func TestSettingErrorsHideSecrets(t *testing.T) {
	for _, line := range []string{
		"ssl.key.password=hunter2",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"hunter2\";",
		"sasl.jaas.config=x password=hunter2",
		"delegation.token.secret.key=hunter2",
		"password.encoder.secret=hunter2",
	} {
		b := DefaultBrokerSettings()
		err := b.ReadProperties(strings.NewReader(line), "f")
		if err == nil {
			continue // accepted as not applying: nothing shown
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the secret: %v", line, err)
		}
	}
}
