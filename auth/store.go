package auth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// aclFormat frames the ACL file (layout in doc.go). Version 1 is the
// first; the rule is framedfile's: a release reads its version and the
// one before, and writes its own.
var aclFormat = framedfile.Format{
	Name:    "ACL file",
	Magic:   "TACL",
	Version: aclVersion,
	// An ACL is a few dozen bytes: 16 MiB is hundreds of thousands of
	// them, and bounds what a damaged length makes the broker read.
	MaxPayload: 16 << 20,
}

const (
	// aclVersion is the ACL file's format version.
	aclVersion = 1
	// aclFixed is the fixed part of one binding: resource type, pattern
	// type, operation and permission, one byte each.
	aclFixed = 4
)

// ErrCorruptACLFile is an ACL file whose payload does not decode, or
// decodes to a binding that is not valid.
var ErrCorruptACLFile = errors.New("auth: corrupt ACL file")

// encodeACLs is the file's payload: the count, then each binding.
func encodeACLs(bindings []Binding) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(bindings)))
	for _, x := range bindings {
		b = append(b, byte(x.ResourceType), byte(x.PatternType), byte(x.Operation), byte(x.Permission))
		for _, s := range [...]string{x.ResourceName, x.Principal, x.Host} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// decodeACLs reads a payload of encodeACLs; every binding must be valid
// as Create would have taken it.
func decodeACLs(b []byte) ([]Binding, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d-byte payload", ErrCorruptACLFile, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	// Each binding takes at least aclFixed+3 bytes: a count larger than
	// that allows is a lie, refused before anything is allocated for it.
	if uint64(n)*(aclFixed+3) > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d bindings in %d bytes", ErrCorruptACLFile, n, len(b))
	}
	out := make([]Binding, 0, n)
	for i := range n {
		if len(b) < aclFixed {
			return nil, fmt.Errorf("%w: binding %d cut short", ErrCorruptACLFile, i)
		}
		x := Binding{ResourceType: ResourceType(b[0]), PatternType: PatternType(b[1]),
			Operation: Operation(b[2]), Permission: Permission(b[3])}
		b = b[aclFixed:]
		var strs [3]string
		for j := range strs {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, fmt.Errorf("%w: binding %d cut short", ErrCorruptACLFile, i)
			}
			strs[j] = string(b[k : k+int(l)])
			b = b[k+int(l):]
		}
		x.ResourceName, x.Principal, x.Host = strs[0], strs[1], strs[2]
		v, err := x.Validate()
		if err != nil || v != x {
			return nil, fmt.Errorf("%w: binding %d: %v", ErrCorruptACLFile, i, err)
		}
		out = append(out, x)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last binding", ErrCorruptACLFile, len(b))
	}
	return out, nil
}

// readACLFile loads the bindings stored at path. A missing file matches
// fs.ErrNotExist; a damaged one is an error, never an empty set: an ACL
// file that cannot be read must stop the broker rather than open it.
func readACLFile(path string) ([]Binding, error) {
	payload, _, err := aclFormat.Read(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	bs, err := decodeACLs(payload)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	sortBindings(bs)
	return bs, nil
}

// writeACLFile replaces the ACL file with bindings, atomically.
func writeACLFile(path string, bindings []Binding) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("auth: write ACL file: %w", err)
	}
	if err := aclFormat.Write(path, encodeACLs(bindings)); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}
