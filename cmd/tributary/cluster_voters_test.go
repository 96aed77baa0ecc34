package main

import (
	"strings"
	"testing"
)

// TestClusterVoterCommandsRefuseBadInputBeforeDialing: add-voter and
// remove-voter check their arguments before they reach any broker or
// etcd (none runs here), with an error that names the argument.
func TestClusterVoterCommandsRefuseBadInputBeforeDialing(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "add-voter", "--controller", "127.0.0.5:9093"}, "--node-id is required"},
		{[]string{"cluster", "add-voter", "--node-id", "4"}, "--controller"},
		{[]string{"cluster", "add-voter", "--node-id", "4", "--controller", "127.0.0.5"}, "want host:port"},
		{[]string{"cluster", "add-voter", "--node-id", "4", "--controller", "0.0.0.0:9093"}, "cannot be empty or unspecified"},
		{[]string{"cluster", "add-voter", "--node-id", "4", "--controller", "127.0.0.5:9093", "--etcd", "nowhere"}, `--etcd "nowhere": want host:port`},
		{[]string{"cluster", "remove-voter", "x"}, `"x" is not a node id`},
		{[]string{"cluster", "remove-voter", "--", "-1"}, "not a node id"},
		{[]string{"cluster", "remove-voter"}, "accepts 1 arg"},
	} {
		r := runCLI(t, "", append([]string{"--brokers", "127.0.0.1:1"}, tt.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("tributary %s: exit %d, stderr %q; want an error containing %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}
