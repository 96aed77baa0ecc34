package main

import (
	"bytes"
	"testing"
)

func TestPrintTableAligns(t *testing.T) {
	var b bytes.Buffer
	if err := printTable(&b, []string{"TOPIC", "PARTITIONS"}, [][]string{{"events", "3"}, {"a-much-longer-name", "12"}}); err != nil {
		t.Fatal(err)
	}
	want := "TOPIC               PARTITIONS\nevents              3\na-much-longer-name  12\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}
