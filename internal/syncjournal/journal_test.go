package syncjournal

import (
	"errors"
	"strings"
	"testing"
)

func TestParseIgnoresOnlyATornLastLine(t *testing.T) {
	const f = `{"op":"F","path":"a","ino":1,"size":10}` + "\n"
	const d = `{"op":"D","path":".","ino":2,"entries":{"a":1}}` + "\n"
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr error
	}{
		{"empty", "", 0, nil},
		{"whole lines", f + d, 2, nil},
		{"last line without newline", f + d[:10], 1, nil},
		{"last line garbage with newline", f + "{\"op\":\n", 1, nil},
		{"unknown op last", f + `{"op":"X"}` + "\n", 1, nil},
		{"garbage in the middle", f + "nonsense\n" + d, 1, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Parse(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if len(recs) != tt.want {
				t.Fatalf("%d records, want %d: %+v", len(recs), tt.want, recs)
			}
		})
	}
}

func TestParseReadsEveryField(t *testing.T) {
	recs, err := Parse(strings.NewReader(`{"op":"D","path":"t-0","ino":7,"entries":{"x.log":8,"y":9}}` + "\n" +
		`{"op":"M","path":"t-0/x.index","ino":10,"size":24}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0]; r.Op != OpDir || r.Path != "t-0" || r.Ino != 7 || r.Entries["x.log"] != 8 || r.Entries["y"] != 9 || len(r.Entries) != 2 {
		t.Fatalf("D record %+v", r)
	}
	if r := recs[1]; r.Op != OpMapped || r.Path != "t-0/x.index" || r.Ino != 10 || r.Size != 24 {
		t.Fatalf("M record %+v", r)
	}
}
