package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// kcatShort are kcat's short flags and the long flag each one is here.
var kcatShort = map[string]string{
	"b": "brokers", "t": "topic", "p": "partition", "o": "offset", "f": "template",
	"c": "max", "G": "group", "K": "key-separator", "H": "header", "z": "compression",
}

// walkFlags calls fn with every flag of every command of the real tree.
func walkFlags(fn func(c *cobra.Command, f *pflag.Flag)) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { fn(c, f) })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { fn(c, f) })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
}

// TestShortFlagsMeanOneThing: a short flag is the same long flag in every
// command that has it, and the letters kcat uses mean what they mean to
// kcat (-o offset, -f format, -p partition...), so that neither a kcat
// user nor someone moving between commands is surprised.
func TestShortFlagsMeanOneThing(t *testing.T) {
	long := map[string]string{} // shorthand -> long name
	where := map[string]string{}
	walkFlags(func(c *cobra.Command, f *pflag.Flag) {
		if f.Shorthand == "" || f.Name == "help" {
			return
		}
		if prev, ok := long[f.Shorthand]; ok && prev != f.Name {
			t.Errorf("-%s is --%s in %q but --%s in %q", f.Shorthand, f.Name, c.CommandPath(), prev, where[f.Shorthand])
		}
		long[f.Shorthand], where[f.Shorthand] = f.Name, c.CommandPath()
		if want, ok := kcatShort[f.Shorthand]; ok && want != f.Name {
			t.Errorf("-%s is --%s in %q; to kcat it is --%s", f.Shorthand, f.Name, c.CommandPath(), want)
		}
	})
	for short, name := range map[string]string{"b": "brokers", "t": "topic", "o": "offset", "f": "template", "G": "group"} {
		if long[short] != name {
			t.Errorf("-%s is %q, want --%s", short, long[short], name)
		}
	}
}

// docCommandRe finds a tributary command line in the README or in a
// command's examples, up to a comment or the end of the line.
var docCommandRe = regexp.MustCompile(`(?m)(?:^|\| |\s)(?:bin/)?tributary ((?:topic|produce|consume|group|acl|user|bench|inspect|serve|version)[^#\n]*)`)

// shellWords splits a command line as a shell would for the simple quoting
// the docs use ('...' and "...").
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestDocumentedCommandLinesParse: every tributary command line in the
// README and in the commands' examples names a command and flags that
// exist, so that renaming a flag (or a short one) cannot leave the docs
// behind.
func TestDocumentedCommandLinesParse(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{"README.md": string(readme)}
	var collect func(c *cobra.Command)
	collect = func(c *cobra.Command) {
		sources[c.CommandPath()+" examples"] = c.Example
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(rootCmd)
	checked := 0
	for src, text := range sources {
		for _, m := range docCommandRe.FindAllStringSubmatch(text, -1) {
			line := strings.TrimSpace(strings.TrimRight(m[1], "`"))
			line, _, _ = strings.Cut(line, " | ")
			line, _, _ = strings.Cut(line, " &")
			args := shellWords(line)
			if len(args) == 0 || strings.Contains(line, "...") || strings.Contains(line, "[") {
				continue // a synopsis, not a command line
			}
			root := newRootCmd(new(string))
			root.AddCommand(newServeCmd(), newTopicCmd(), newProduceCmd(), newConsumeCmd(), newGroupCmd(), newBenchCmd(), newInspectCmd(), newACLCmd(), newUserCmd())
			c, rest, err := root.Find(args)
			if err != nil || c == root {
				t.Errorf("%s: %q names no command: %v", src, line, err)
				continue
			}
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", src, line, err)
			}
			checked++
		}
	}
	t.Logf("%d documented command lines parse", checked)
	if checked < 30 {
		t.Errorf("only %d documented command lines found", checked)
	}
}
