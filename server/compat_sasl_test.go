package server

// kcat and confluent-kafka-python (both librdkafka) through a SASL_SSL
// listener with SCRAM-SHA-512 and PLAIN, as an operator would configure
// them. Skipped when they are not installed; .ci/run installs them.

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcatSASL are kcat's client settings for the SASL_SSL listener.
func kcatSASL(addr, caFile, mechanism, user, password string) []string {
	return []string{"-b", addr,
		"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mechanism,
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + password,
		"-X", "ssl.ca.location=" + caFile}
}

func TestKcatSASLSSL(t *testing.T) {
	kcat := kcatPath(t)
	b, ca := saslBroker(t)
	addr := b.addrs["SASL_SSL"]
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} {
		topic := "kcat-" + strings.ToLower(mech)
		auth := kcatSASL(addr, ca.CertFile, mech, "alice", "alice-secret")
		runKcat(t, kcat, "one\ntwo\nthree\n", append(auth, "-P", "-t", topic)...)
		out := runKcat(t, kcat, "", append(auth, "-C", "-t", topic, "-o", "beginning", "-e", "-q")...)
		if out != "one\ntwo\nthree\n" {
			t.Errorf("%s: consumed %q", mech, out)
		}
	}
	// A wrong password fails, and says why.
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, append(kcatSASL(addr, ca.CertFile, "SCRAM-SHA-512", "alice", "wrong"), "-L")...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Authentication failed") {
		t.Errorf("wrong password: %v\n%s", err, out)
	}
}

// confluentSASLScript produces three records and consumes them back over
// SASL_SSL; it prints one JSON line with what it consumed.
const confluentSASLScript = `
import json, sys, time
from confluent_kafka import Producer, Consumer
spec = json.loads(sys.argv[1])
conf = {"bootstrap.servers": spec["bootstrap"], "security.protocol": "SASL_SSL",
        "sasl.mechanisms": spec["mechanism"], "sasl.username": spec["user"],
        "sasl.password": spec["password"], "ssl.ca.location": spec["ca"]}
p = Producer(conf)
errs = []
for v in ["a", "b", "c"]:
    p.produce(spec["topic"], v.encode(), on_delivery=lambda e, m: e and errs.append(str(e)))
p.flush(20)
c = Consumer(dict(conf, **{"group.id": "g-" + spec["topic"], "auto.offset.reset": "earliest"}))
c.subscribe([spec["topic"]])
got = []
deadline = time.time() + 30
while len(got) < 3 and time.time() < deadline:
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        errs.append(str(m.error()))
        continue
    got.append(m.value().decode())
c.close()
print(json.dumps({"got": got, "errors": errs}))
`

func TestConfluentKafkaPythonSASLSSL(t *testing.T) {
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	b, ca := saslBroker(t)
	for _, mech := range []string{"SCRAM-SHA-256", "PLAIN"} {
		spec, _ := json.Marshal(map[string]string{"bootstrap": b.addrs["SASL_SSL"], "mechanism": mech,
			"user": "alice", "password": "alice-secret", "ca": ca.CertFile, "topic": "py-" + strings.ToLower(mech)})
		ctx, cancel := context.WithTimeout(context.Background(), pythonTimeout)
		cmd := exec.CommandContext(ctx, systemPython, "-I", "-c", confluentSASLScript, string(spec))
		cmd.WaitDelay = time.Second
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mech, err, out)
		}
		var res struct {
			Got    []string `json:"got"`
			Errors []string `json:"errors"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%s: %v: %s", mech, err, out)
		}
		if strings.Join(res.Got, ",") != "a,b,c" || len(res.Errors) > 0 {
			t.Errorf("%s: consumed %v, errors %v", mech, res.Got, res.Errors)
		}
	}
}
