package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelpWithExample walks the real command tree, the
// commands of every file included: each has a short description and an
// example, and --help prints them and exits 0.
func TestEveryCommandHasHelpWithExample(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		name := strings.Join(path, " ")
		if c.Short == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q lacks a Short description or an Example", name)
		}
		if len(path) > 0 {
			r := runCLI(t, "", append(path, "--help")...)
			if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "tributary "+name) {
				t.Errorf("tributary %s --help: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newTestRoot(), nil)
	// Commands other files register on rootCmd get the same checks, minus
	// running them (newTestRoot only builds the commands of this package's
	// constructors it knows).
	for _, c := range rootCmd.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		var check func(c *cobra.Command)
		check = func(c *cobra.Command) {
			if !c.Hidden && (c.Short == "" || strings.TrimSpace(c.Example) == "") {
				t.Errorf("%q lacks a Short description or an Example", c.CommandPath())
			}
			for _, sub := range c.Commands() {
				check(sub)
			}
		}
		check(c)
	}
}
