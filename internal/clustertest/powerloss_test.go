package clustertest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

// plDir is a data dir under test, with a journal written by hand as the
// powerloss build would.
type plDir struct {
	t       *testing.T
	root    string
	journal string
	recs    []syncjournal.Record
}

func newPLDir(t *testing.T) *plDir {
	d := t.TempDir()
	root := filepath.Join(d, "data")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &plDir{t: t, root: root, journal: filepath.Join(d, "journal")}
}

func (d *plDir) path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

func (d *plDir) ino(rel string) uint64 {
	d.t.Helper()
	fi, err := os.Lstat(d.path(rel))
	if err != nil {
		d.t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func (d *plDir) write(rel string, b []byte) {
	d.t.Helper()
	if err := os.MkdirAll(filepath.Dir(d.path(rel)), 0o755); err != nil {
		d.t.Fatal(err)
	}
	f, err := os.OpenFile(d.path(rel), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

// fsync journals rel as synced at its current size, or a directory's
// current entries.
func (d *plDir) fsync(rel string) {
	d.t.Helper()
	fi, err := os.Stat(d.path(rel))
	if err != nil {
		d.t.Fatal(err)
	}
	if fi.IsDir() {
		ents, err := listDir(d.path(rel))
		if err != nil {
			d.t.Fatal(err)
		}
		d.recs = append(d.recs, syncjournal.Record{Op: syncjournal.OpDir, Path: rel, Ino: d.ino(rel), Entries: ents})
		return
	}
	d.recs = append(d.recs, syncjournal.Record{Op: syncjournal.OpFile, Path: rel, Ino: d.ino(rel), Size: fi.Size()})
}

func (d *plDir) msync(rel string, n int64) {
	d.recs = append(d.recs, syncjournal.Record{Op: syncjournal.OpMapped, Path: rel, Ino: d.ino(rel), Size: n})
}

// writeJournal writes the records so far as the journal.
func (d *plDir) writeJournal() {
	d.t.Helper()
	var buf bytes.Buffer
	for _, r := range d.recs {
		json.NewEncoder(&buf).Encode(r)
	}
	if err := os.WriteFile(d.journal, buf.Bytes(), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

func (d *plDir) apply(rng *rand.Rand) PowerLossResult {
	d.t.Helper()
	d.writeJournal()
	res, err := applyPowerLoss(d.root, d.journal, rng)
	if err != nil {
		d.t.Fatal(err)
	}
	d.recs = nil
	return res
}

func (d *plDir) content(rel string) []byte {
	d.t.Helper()
	b, err := os.ReadFile(d.path(rel))
	if err != nil {
		d.t.Fatalf("%s: %v", rel, err)
	}
	return b
}

func (d *plDir) exists(rel string) bool {
	_, err := os.Lstat(d.path(rel))
	return err == nil
}

var (
	synced   = bytes.Repeat([]byte("s"), 100)
	unsynced = bytes.Repeat([]byte("u"), 50)
)

func TestPowerLossCutsFilesToTheirLastFsync(t *testing.T) {
	d := newPLDir(t)
	d.write("p-0/a.log", synced)
	d.fsync("p-0/a.log")
	d.fsync("p-0")
	d.fsync(".")
	d.write("p-0/a.log", unsynced)
	res := d.apply(nil)
	if got := d.content("p-0/a.log"); !bytes.Equal(got, synced) {
		t.Fatalf("a.log holds %d bytes (%q...), want the %d synced", len(got), got[len(got)-1:], len(synced))
	}
	if res.FilesCut != 1 || res.BytesDropped != int64(len(unsynced)) {
		t.Fatalf("result %s, want 1 file cut, %d bytes dropped", res, len(unsynced))
	}
}

func TestPowerLossRemovesOrEmptiesFilesNeverSynced(t *testing.T) {
	d := newPLDir(t)
	d.write("p-0/listed", unsynced)
	d.fsync("p-0") // its entry is durable, its bytes are not
	d.fsync(".")
	d.write("p-0/unlisted", unsynced) // created after the dir fsync
	d.write("lenient/never", unsynced)
	res := d.apply(nil)
	if got := d.content("p-0/listed"); len(got) != 0 {
		t.Fatalf("a file listed by a synced dir but never synced holds %d bytes, want 0", len(got))
	}
	if d.exists("p-0/unlisted") {
		t.Fatal("a file created after its dir's last fsync survived")
	}
	// "lenient" itself was created after the root's fsync: gone with it.
	if d.exists("lenient") {
		t.Fatal("a dir created after the root's last fsync survived")
	}
	if res.FilesEmptied != 1 || res.EntriesRemoved != 2 {
		t.Fatalf("result %s, want 1 emptied and 2 entries removed", res)
	}
}

func TestPowerLossRemovesNeverSyncedFilesOfADirNeverSynced(t *testing.T) {
	d := newPLDir(t)
	d.write("p-0/a", synced)
	d.fsync("p-0/a")
	d.write("p-0/b", unsynced)
	res := d.apply(nil)
	if !d.exists("p-0/a") || d.exists("p-0/b") {
		t.Fatalf("in a dir never synced: synced file kept %v (want true), never-synced kept %v (want false)", d.exists("p-0/a"), d.exists("p-0/b"))
	}
	if res.FilesRemoved != 1 {
		t.Fatalf("result %s, want 1 removed", res)
	}
}

func TestPowerLossUndoesARenameNotFollowedByADirFsync(t *testing.T) {
	d := newPLDir(t)
	d.write("p-0/x.tmp", synced)
	d.fsync("p-0/x.tmp")
	d.fsync("p-0")
	if err := os.Rename(d.path("p-0/x.tmp"), d.path("p-0/x")); err != nil {
		t.Fatal(err)
	}
	res := d.apply(nil)
	if d.exists("p-0/x") || !bytes.Equal(d.content("p-0/x.tmp"), synced) {
		t.Fatalf("rename not undone: x exists %v", d.exists("p-0/x"))
	}
	if res.EntriesRenamed != 1 {
		t.Fatalf("result %s, want 1 renamed back", res)
	}

	// Once the directory is synced after the rename, it holds.
	if err := os.Rename(d.path("p-0/x.tmp"), d.path("p-0/x")); err != nil {
		t.Fatal(err)
	}
	d.fsync("p-0")
	d.apply(nil)
	if !d.exists("p-0/x") || d.exists("p-0/x.tmp") {
		t.Fatal("a rename followed by a dir fsync was undone")
	}
}

func TestPowerLossZeroesMappedEntriesNeverMsynced(t *testing.T) {
	d := newPLDir(t)
	d.write("p-0/a.index", make([]byte, 64)) // grown with zeros, size synced
	d.fsync("p-0/a.index")
	f, err := os.OpenFile(d.path("p-0/a.index"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{7}, 32), 0)
	f.Close()
	d.msync("p-0/a.index", 16) // only two entries msynced
	d.apply(nil)
	got := d.content("p-0/a.index")
	want := append(bytes.Repeat([]byte{7}, 16), make([]byte, 48)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("index after power loss %v, want %v", got, want)
	}
}

func TestPowerLossTornWriteKeepsAPrefixAndGarbageWithinOnePage(t *testing.T) {
	d := newPLDir(t)
	d.write("a.log", synced)
	d.fsync("a.log")
	d.write("a.log", bytes.Repeat([]byte("u"), 3*tornPage))
	res := d.apply(rand.New(rand.NewPCG(1, 2)))
	got := d.content("a.log")
	if len(got) != tornPage {
		t.Fatalf("torn file is %d bytes, want the first lost page's end %d", len(got), tornPage)
	}
	if !bytes.Equal(got[:len(synced)], synced) {
		t.Fatal("a torn write damaged the synced bytes")
	}
	if res.TornPages != 1 || bytes.Equal(got[len(synced):], bytes.Repeat([]byte("u"), tornPage-len(synced))) {
		t.Fatalf("result %s: no garbage in the torn page", res)
	}
}

func TestPowerLossLeavesEtcdAndRewritesTheBaseline(t *testing.T) {
	d := newPLDir(t)
	d.write("metadata/etcd/member/wal/0.wal", unsynced)
	d.write("p-0/a", synced)
	d.fsync("p-0/a")
	d.fsync("metadata")
	d.apply(nil)
	if !bytes.Equal(d.content("metadata/etcd/member/wal/0.wal"), unsynced) {
		t.Fatal("etcd's data dir was touched")
	}
	// What survived is the new durable baseline: a second power loss
	// with nothing written drops nothing.
	res, err := applyPowerLoss(d.root, d.journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res != (PowerLossResult{}) || !bytes.Equal(d.content("p-0/a"), synced) {
		t.Fatalf("second power loss after the baseline: %s", res)
	}
}

func TestPowerLossWithoutAJournalRefusesANonEmptyDataDir(t *testing.T) {
	d := newPLDir(t)
	d.write("a", synced)
	if _, err := applyPowerLoss(d.root, d.journal, nil); err == nil {
		t.Fatal("no journal: power loss applied anyway")
	}
	if !bytes.Equal(d.content("a"), synced) {
		t.Fatal("the data dir was changed")
	}
}

// A wipe followed by a power loss of the same node: the inodes the wipe
// freed are handed out again to what the broker creates next. Here the
// old disk's journal says its root held "meta" as inode V, and after the
// wipe V is a new partition dir (moved in from outside, which keeps its
// inode: the file system reusing V, made deterministic), next to a new,
// non-empty "meta". Read against the old journal, the power loss would
// try to rename the partition dir back over "meta" ("file exists").
func TestPowerLossAfterAWipeReadsNoJournalOfTheWipedDisk(t *testing.T) {
	d := newPLDir(t)
	d.write("metadata/etcd/member/wal/0.wal", synced)
	d.write("meta/topics/ct", synced)
	d.write("ct-0/a.log", synced)
	reused := filepath.Join(filepath.Dir(d.root), "reused")
	if err := os.Mkdir(reused, 0o755); err != nil {
		t.Fatal(err)
	}
	// The old disk's journal, as its broker wrote it, but with V as its
	// meta dir's inode.
	d.fsync("meta/topics/ct")
	d.fsync("ct-0/a.log")
	d.fsync("ct-0")
	fi, err := os.Stat(reused)
	if err != nil {
		t.Fatal(err)
	}
	d.recs = append(d.recs, syncjournal.Record{Op: syncjournal.OpDir, Path: ".", Ino: d.ino("."),
		Entries: map[string]uint64{"meta": ino(fi), "metadata": d.ino("metadata"), "ct-0": d.ino("ct-0")}})
	d.writeJournal()

	if err := wipeDataDir(d.root, d.journal, func(name string) bool { return name == "metadata" }); err != nil {
		t.Fatal(err)
	}
	// The broker after the wipe: a new partition dir (inode V) and a new
	// meta dir, neither synced yet.
	if err := os.Rename(reused, d.path("ct-1")); err != nil {
		t.Fatal(err)
	}
	d.write("ct-1/a.log", unsynced)
	d.write("meta/topics/ct", unsynced)
	res, err := applyPowerLoss(d.root, d.journal, nil)
	if err != nil {
		t.Fatalf("power loss after a wipe: %v", err)
	}
	// Nothing of the old disk is read: no name is moved and the old
	// partition stays gone. The data dir as the wipe left it is the
	// baseline, so the dirs made since, never synced into it, go with
	// everything in them. etcd's member is kept.
	if res.EntriesRenamed != 0 || res.Unrestorable != 0 || d.exists("ct-0") {
		t.Fatalf("result %s, ct-0 back %v: the wiped disk's journal was read", res, d.exists("ct-0"))
	}
	if d.exists("ct-1") || d.exists("meta") {
		t.Fatalf("after the power loss: ct-1 %v, meta %v; want neither (made after the wipe, never synced into the data dir)",
			d.exists("ct-1"), d.exists("meta"))
	}
	if !bytes.Equal(d.content("metadata/etcd/member/wal/0.wal"), synced) {
		t.Fatal("etcd's data dir was touched")
	}
}

// A wipe without a journal (no Config.PowerLoss) writes none.
func TestWipeWithoutAJournalWritesNone(t *testing.T) {
	d := newPLDir(t)
	d.write("ct-0/a.log", synced)
	if err := wipeDataDir(d.root, "", nil); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(d.root); err != nil || len(ents) > 0 {
		t.Fatalf("after the wipe the data dir holds %v (%v), want nothing", ents, err)
	}
	if _, err := os.Stat(d.journal); !os.IsNotExist(err) {
		t.Fatalf("a journal appeared: %v", err)
	}
}
