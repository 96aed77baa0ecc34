package server

import (
	"bufio"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// kafkaReferenceNames reads testdata/kafka_broker_configs.txt: every name
// of Kafka's broker configuration reference.
func kafkaReferenceNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/kafka_broker_configs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if len(names) < 300 {
		t.Fatalf("only %d names in the reference", len(names))
	}
	return names
}

// securitySamples are values of served security settings that take no
// path.
var securitySamples = map[string]string{
	"ssl.keystore.type": "PEM", "ssl.truststore.type": "PEM", "ssl.client.auth": "none",
	"ssl.enabled.protocols": "TLSv1.2,TLSv1.3", "ssl.protocol": "TLSv1.3", "ssl.cipher.suites": "",
	"ssl.principal.mapping.rules": "DEFAULT", "sasl.enabled.mechanisms": "SCRAM-SHA-512",
	"sasl.oauthbearer.jwks.endpoint.url": "https://idp.example/jwks", "sasl.oauthbearer.clock.skew.seconds": "30",
	"sasl.oauthbearer.insecure.unsigned.tokens.enable": "false", "sasl.oauthbearer.jwks.endpoint.refresh.ms": "3600000",
}

// sampleValue is a value of name that a broker accepts if it accepts the
// name at all: its default for a setting served here, a listener, a dir,
// the harmless value of a conditional one, "1" for the rest.
func sampleValue(name string) string {
	def := DefaultBrokerSettings()
	if v, ok := def.Map()[name]; ok {
		return v
	}
	switch name {
	case kafkaListeners, kafkaAdvertisedListeners:
		return "PLAINTEXT://:9092"
	case kafkaListenerProtocolMap:
		return "PLAINTEXT:PLAINTEXT"
	case kafkaLogDirs, kafkaLogDir:
		return "/var/lib/kafka"
	}
	if v, ok := securitySamples[name]; ok {
		return v
	}
	if _, ok := servedSecurity[name]; ok {
		return "/etc/tributary/tls.pem"
	}
	if c, ok := kafkaConditional[name]; ok {
		for _, v := range []string{"1", "PLAINTEXT", "", "true", "false"} {
			if c.ok(v) {
				return v
			}
		}
	}
	return "1"
}

// TestKafkaBrokerConfigReference: every name of Kafka's broker
// configuration reference is served, accepted and named in the start-up
// note as not applying, or refused with what is missing; none is an
// unknown name.
func TestKafkaBrokerConfigReference(t *testing.T) {
	var served, ignored, refused int
	for _, name := range kafkaReferenceNames(t) {
		b := DefaultBrokerSettings()
		err := b.Apply(name, sampleValue(name))
		switch {
		case err != nil && strings.Contains(err.Error(), "unknown broker setting"):
			t.Errorf("%s: %v", name, err)
		case err != nil:
			refused++
			if msg := err.Error(); !strings.Contains(msg, "not served") && !strings.Contains(msg, "cannot") {
				t.Errorf("%s is refused without saying what is missing: %v", name, err)
			}
		case slices.Contains(b.Ignored, name):
			ignored++
			if note := b.IgnoredNote(); !strings.Contains(note, name+" (") && !strings.Contains(note, name+", ") {
				t.Errorf("%s ignored but not in the note %q", name, note)
			}
		default:
			served++
		}
	}
	t.Logf("Kafka broker settings: %d served, %d accepted as not applying, %d refused", served, ignored, refused)
	if served < 40 || ignored < 150 || refused < 30 {
		t.Errorf("served %d, ignored %d, refused %d: the classification moved a lot", served, ignored, refused)
	}
}

// TestKafkaSettingsTheNewcomerHit: the settings of a real server.properties
// that used to stop the broker, one per run, all load in one file and are
// named once, with why, in the note.
func TestKafkaSettingsTheNewcomerHit(t *testing.T) {
	names := []string{"delete.topic.enable=true", "auto.leader.rebalance.enable=false", "log.message.format.version=2.8",
		"inter.broker.protocol.version=3.7", "log.cleaner.enable=true", "log.cleaner.threads=2",
		"num.replica.fetchers=4", "replica.fetch.max.bytes=2097152", "transaction.state.log.num.partitions=50",
		"broker.rack=eu-west-1a", "log.preallocate=false", "offsets.commit.required.acks=-1",
		"metric.reporters=", "num.io.threads=8", "num.network.threads=3"}
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader(strings.Join(names, "\n")), "server.properties"); err != nil {
		t.Fatal(err)
	}
	// Whether the cluster settings apply is known once the whole file is
	// read: Validate names them for a single broker (those not at their
	// defaults: a file --print-config wrote restates every default).
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	note := b.IgnoredNote()
	for _, kv := range names {
		name, _, _ := strings.Cut(kv, "=")
		if strings.Count(note, name) != 1 {
			t.Errorf("%s is not named once in the note: %s", name, note)
		}
	}
	if !strings.Contains(note, "num.io.threads, num.network.threads (Go schedules the work") {
		t.Errorf("the note does not group by reason: %s", note)
	}
}

func TestKafkaSettingsRefusedSayWhatIsMissing(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{"ssl.keystore.type=JKS", "only PEM is served"},
		{"ssl.key.password=secret", "this TLS setting is not served"},
		{"listener.name.ssl.ssl.enabled.protocols=TLSv1.1", "insecure and not served"},
		{"sasl.enabled.mechanisms=GSSAPI", "GSSAPI is not served"},
		{"sasl.jaas.config=x", "this SASL setting is not served"},
		{"listener.name.sasl_ssl.gssapi.sasl.kerberos.service.name=kafka", "this per-listener setting is not served"},
		{"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=x", `want "<LoginModule class> required`},
		{"listeners=INTERNAL://:9092", "listener INTERNAL has no security protocol"},
		{"authorizer.class.name=com.example.CustomAuthorizer", "Java authorizer plugins cannot be loaded"},
		{"super.users=admin", "want Type:Name"},
		{"security.inter.broker.protocol=SSL", "TLS and SASL between brokers need a cluster"},
		{"default.replication.factor=3", "default.replication.factor=3 needs a cluster"},
		{"min.insync.replicas=2", "min.insync.replicas=2 needs a cluster"},
		{"delete.topic.enable=false", "topic deletion cannot be turned off"},
		{"log.cleaner.enable=false", "cleaner cannot be turned off"},
		{"remote.log.storage.system.enable=true", "tiered storage is not served yet"},
		{"create.topic.policy.class.name=com.example.Policy", "Java policy plugins cannot be loaded"},
	} {
		b := DefaultBrokerSettings()
		err := b.ReadProperties(strings.NewReader(tt.line), "f")
		if err == nil {
			err = b.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.line, err, tt.want)
		}
	}
}

// TestReadPropertiesReportsEveryBadLine: a file with several unknown or bad
// settings fails with all of them, with line numbers and suggestions, not
// one per run.
func TestReadPropertiesReportsEveryBadLine(t *testing.T) {
	b := DefaultBrokerSettings()
	err := b.ReadProperties(strings.NewReader("num.partitons=3\nnum.io.threads=8\nlog.retention.hours=many\nfrobnicate.everything=1\nnoseparator\nno separator here\n"), "broker.properties")
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`broker.properties:1: server: unknown broker setting "num.partitons" (did you mean "num.partitions"?)`,
		`broker.properties:3: server: log.retention.hours="many"`,
		`broker.properties:4: server: unknown broker setting "frobnicate.everything"; `,
		`broker.properties:5: server: properties line: want key=value, got "noseparator"`,
		// As java.util.Properties reads it: key "no", value "separator here".
		`broker.properties:6: server: unknown broker setting "no"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "frobnicate.everything\" (did you mean") {
		t.Errorf("error: %s", msg)
	}
	var le linesError
	if !errors.As(err, &le) || len(le) != 5 {
		t.Errorf("%d errors, want 5", len(le))
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"num.partitions", "log.retention.ms", "log.segment.bytes", "group.max.size"}
	for _, tt := range []struct{ in, want string }{
		{"num.partitons", "num.partitions"},
		{"log.retention.mss", "log.retention.ms"},
		{"log_segment_bytes", "log.segment.bytes"},
		{"group.max.size", ""}, // itself: no typo
		{"frobnicate", ""},
		{"nm", ""},
	} {
		if got := Suggest(tt.in, known); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestKafkaTablesLeaveServedSettingsAlone: no setting served here is also
// listed as not applying or refused, so that a Kafka name implemented
// later is taken out of those tables (Apply would serve it anyway).
func TestKafkaTablesLeaveServedSettingsAlone(t *testing.T) {
	b := DefaultBrokerSettings()
	for name := range b.Map() {
		if _, ok := kafkaNotApplyingReason(name); ok {
			t.Errorf("%s is served, and listed as not applying", name)
		}
		if _, ok := kafkaConditional[name]; ok {
			t.Errorf("%s is served, and listed as conditional", name)
		}
		if name == BrokerSASLMechanismInterBrokerProtocol {
			continue // a cluster setting: Apply takes those before the refused families
		}
		for _, p := range kafkaRefusedPrefixes {
			if strings.HasPrefix(name, p.prefix) {
				t.Errorf("%s is served, and refused by the prefix %s", name, p.prefix)
			}
		}
	}
}

func TestKafkaAuthorizerSettingsAreServed(t *testing.T) {
	for _, class := range []string{"org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"} {
		b := DefaultBrokerSettings()
		props := "authorizer.class.name=" + class + "\nsuper.users=User:admin; User:ops\nallow.everyone.if.no.acl.found=true\n"
		if err := b.ReadProperties(strings.NewReader(props), "server.properties"); err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
		if b.Server.Authorizer != class || strings.Join(b.Server.SuperUsers, ";") != "User:admin;User:ops" || !b.Server.AllowEveryoneIfNoACLFound {
			t.Fatalf("read %q, %q, %v", b.Server.Authorizer, b.Server.SuperUsers, b.Server.AllowEveryoneIfNoACLFound)
		}
		if len(b.Ignored) != 0 {
			t.Fatalf("served settings noted as ignored: %v", b.Ignored)
		}
		if m := b.Map(); m[BrokerSuperUsers] != "User:admin;User:ops" || m[BrokerAuthorizerClassName] != class {
			t.Fatalf("Map: %q %q", m[BrokerSuperUsers], m[BrokerAuthorizerClassName])
		}
	}
}
