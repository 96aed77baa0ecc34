package clustertest

// A power loss of one node: SIGKILL, then every write the node made to
// its data dir since that file's (or directory's) last fsync is dropped,
// as if the machine had lost its page cache.
//
// The broker, built with -tags powerloss (PowerLossBinary) and started
// with Config.PowerLoss, journals every fsync, msync and syncfs of its
// data dir (internal/syncjournal): the file's inode and the size it had
// when the sync began, or a directory's entries. PowerLoss replays that
// journal and puts the data dir back to what it made durable.
//
// What is modelled:
//
//   - A regular file is cut to the size of its last fsync (or syncfs):
//     bytes appended since are lost. With Torn, the first lost page is
//     instead partly kept and partly overwritten with seeded garbage (a
//     torn write); the rest is cut.
//   - A mapped file (an index) keeps the prefix its last sync covered (its
//     entries); past it, up to its synced size, it reads back as zeros,
//     which is what an index grows with: entries written through the
//     mapping since are lost.
//   - A file never synced is removed, or emptied (size 0) if a synced
//     directory lists it.
//   - A directory that was fsynced gets back the entries of its last
//     fsync: a name created since is removed (with what it holds), a name
//     renamed since is renamed back when the inode is still there.
//
// What is not (a power loss could do it; the harness cannot, or does
// not):
//
//   - Bytes overwritten in place inside an already synced range (a
//     checkpoint rewritten at offset 0, a truncation followed by new
//     appends over the same offsets) keep their new value: the old bytes
//     are gone from the page cache and the harness kept no copy. A shrink
//     (ftruncate) not followed by an fsync is kept too.
//   - A name removed, or replaced by a rename over it, since the last
//     fsync of its directory stays removed or replaced (its inode is
//     gone); Result.Unrestorable counts them.
//   - A directory never fsynced keeps all its entries (the harness has
//     no record of which were durable); only the files in it are cut.
//   - Writeback: a real kernel writes dirty pages back within about 30 s;
//     here nothing is durable until an fsync, the harshest case. The
//     page cache survives a Kill9 or a Term (only the process died), so
//     a node killed, restarted and then powered off loses everything it
//     never synced, in both incarnations.
//   - Inode numbers are reused by the file system: a file created after
//     another was deleted may inherit that file's record. This errs on
//     the side of keeping data (a shorter cut), never of losing more.
//     A wipe (wipeDataDir) frees a whole disk's inodes at once: it
//     rewrites the journal as the baseline of what it left, so that no
//     record of the wiped disk is read against the new one.
//   - etcd's data dir (metadata/etcd) is left as it is. etcd fsyncs its
//     WAL before it acknowledges a proposal, through its own code, which
//     the journal does not see; a power loss cannot lose what it
//     acknowledged.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

// etcdDir is the embedded etcd member's data dir under a broker's data dir
// (cluster.EtcdDataDir, spelled out here so that the harness does not link
// etcd's server).
const etcdDir = "metadata/etcd"

// tornPage is the unit of a torn write: the page the first lost byte is in.
const tornPage = 4096

// errNoJournal: PowerLoss found no journal for a node whose data dir is
// not empty: it was not started with Config.PowerLoss, or its binary was
// not built with -tags powerloss.
var errNoJournal = errors.New("clustertest: no sync journal (Config.PowerLoss and a binary built with -tags powerloss are needed)")

// PowerLossResult counts what a power loss dropped.
type PowerLossResult struct {
	FilesCut       int   // files cut to their synced size
	BytesDropped   int64 // bytes cut from those files, or zeroed in them
	FilesRemoved   int   // files never synced, removed
	FilesEmptied   int   // files never synced but listed by a synced directory, emptied
	EntriesRemoved int   // names created since their directory's last fsync, removed
	EntriesRenamed int   // names renamed back to their synced name
	Unrestorable   int   // synced names whose inode is gone (removed or replaced since)
	TornPages      int   // pages torn with garbage (Torn)
}

func (r PowerLossResult) String() string {
	return fmt.Sprintf("%d files cut (%d bytes dropped), %d removed, %d emptied; %d entries removed, %d renamed back, %d unrestorable; %d torn pages",
		r.FilesCut, r.BytesDropped, r.FilesRemoved, r.FilesEmptied, r.EntriesRemoved, r.EntriesRenamed, r.Unrestorable, r.TornPages)
}

// PowerLoss kills node id with SIGKILL and drops every write it had not
// made durable (see powerloss.go). The cluster must have been started
// with Config.PowerLoss. Restart brings the node back on what is left.
func (c *Cluster) PowerLoss(id int) (PowerLossResult, error) {
	var r PowerLossResult
	err := c.do(id, func(n *Node) (err error) { r, err = n.PowerLoss(); return err })
	return r, err
}

// PowerLossTorn is PowerLoss with torn writes: the first lost page of each
// file is partly kept and partly garbage, drawn from rng.
func (c *Cluster) PowerLossTorn(id int, rng *rand.Rand) (PowerLossResult, error) {
	var r PowerLossResult
	err := c.do(id, func(n *Node) (err error) { r, err = n.PowerLossTorn(rng); return err })
	return r, err
}

// PowerLoss kills the node with SIGKILL and drops every write it had not
// made durable.
func (n *Node) PowerLoss() (PowerLossResult, error) { return n.powerLoss(nil) }

// PowerLossTorn is PowerLoss with torn writes drawn from rng.
func (n *Node) PowerLossTorn(rng *rand.Rand) (PowerLossResult, error) { return n.powerLoss(rng) }

func (n *Node) powerLoss(rng *rand.Rand) (PowerLossResult, error) {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	if !n.c.cfg.PowerLoss {
		return PowerLossResult{}, fmt.Errorf("clustertest: node %d: %w", n.ID, errNoJournal)
	}
	done, err := n.signal(syscall.SIGKILL)
	if done != nil {
		<-done
	}
	if err != nil {
		return PowerLossResult{}, err
	}
	r, err := applyPowerLoss(n.DataDir, n.journalPath(), rng)
	if err != nil {
		return r, fmt.Errorf("clustertest: power loss of node %d: %w", n.ID, err)
	}
	return r, nil
}

// journalPath is the node's sync journal: beside its data dir, never in
// it.
func (n *Node) journalPath() string {
	return filepath.Join(n.c.dir, fmt.Sprintf("node%d.syncjournal", n.ID))
}

// powerLossEnv is the node's environment: the test's, plus the journal's
// variables with Config.PowerLoss; nil (inherit) otherwise.
func (n *Node) powerLossEnv() []string {
	if !n.c.cfg.PowerLoss {
		return nil
	}
	return append(os.Environ(), syncjournal.EnvJournal+"="+n.journalPath(), syncjournal.EnvRoot+"="+n.DataDir)
}

// skipPowerLoss reports whether rel (slash-separated, relative to the data
// dir) is left as it is: etcd's data dir.
func skipPowerLoss(rel string) bool {
	return rel == etcdDir || strings.HasPrefix(rel, etcdDir+"/")
}

// durable is what the journal says is durable of one file.
type durable struct {
	size    int64 // the file's durable size
	content int64 // its durable prefix; below size only for a mapped file
}

// replay folds a journal into the durable state of each inode: files and
// directories.
func replay(recs []syncjournal.Record) (map[uint64]durable, map[uint64]map[string]uint64) {
	files := map[uint64]durable{}
	dirs := map[uint64]map[string]uint64{}
	for _, r := range recs {
		switch r.Op {
		case syncjournal.OpFile:
			files[r.Ino] = durable{size: r.Size, content: r.Size}
		case syncjournal.OpMapped:
			d := files[r.Ino]
			d.content = r.Size
			d.size = max(d.size, r.Size)
			files[r.Ino] = d
		case syncjournal.OpDir:
			dirs[r.Ino] = r.Entries
		}
	}
	return files, dirs
}

// applyPowerLoss puts dataDir back to what the journal at journal says was
// durable, then rewrites the journal as the baseline of what is left (all
// of it is durable now).
func applyPowerLoss(dataDir, journal string, rng *rand.Rand) (PowerLossResult, error) {
	var r PowerLossResult
	jb, err := os.ReadFile(journal)
	if errors.Is(err, fs.ErrNotExist) {
		if ents, _ := os.ReadDir(dataDir); len(ents) > 0 {
			return r, errNoJournal
		}
	} else if err != nil {
		return r, err
	}
	recs, err := syncjournal.Parse(bytes.NewReader(jb))
	if err != nil {
		return r, err
	}
	files, dirs := replay(recs)
	if err := restoreEntries(dataDir, ".", dirs, &r); err != nil {
		return r, err
	}
	if err := cutFiles(dataDir, files, dirs, rng, &r); err != nil {
		return r, err
	}
	return r, writeBaseline(dataDir, journal, true)
}

// ino returns the inode of fi.
func ino(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// listDir maps each name in dir to its inode.
func listDir(dir string) (map[string]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		m[e.Name()] = ino(fi)
	}
	return m, nil
}

// restoreEntries gives the directory rel under root, and every directory
// below it, the entries of its last fsync, where it had one.
func restoreEntries(root, rel string, dirs map[uint64]map[string]uint64, r *PowerLossResult) error {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	cur, err := listDir(dir)
	if err != nil {
		return err
	}
	if synced, ok := dirs[ino(fi)]; ok {
		// Renames first, in name order (a rerun is the same run).
		for _, name := range sortedKeys(synced) {
			want := synced[name]
			if cur[name] == want {
				continue
			}
			from := ""
			for m, i := range cur {
				if i == want && synced[m] != want && !skipPowerLoss(joinRel(rel, m)) {
					from = m
					break
				}
			}
			if from == "" {
				r.Unrestorable++
				continue
			}
			if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, name)); err != nil {
				return err
			}
			delete(cur, from)
			cur[name] = want
			r.EntriesRenamed++
		}
		for _, name := range sortedKeys(cur) {
			if _, ok := synced[name]; ok || skipPowerLoss(joinRel(rel, name)) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
			delete(cur, name)
			r.EntriesRemoved++
		}
	}
	for _, name := range sortedKeys(cur) {
		sub := joinRel(rel, name)
		if skipPowerLoss(sub) {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.IsDir() {
			if err := restoreEntries(root, sub, dirs, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutFiles cuts every regular file under root to its durable size.
func cutFiles(root string, files map[uint64]durable, dirs map[uint64]map[string]uint64, rng *rand.Rand, r *PowerLossResult) error {
	return filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if skipPowerLoss(filepath.ToSlash(rel)) {
			return filepath.SkipDir
		}
		if !de.Type().IsRegular() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		d, ok := files[ino(fi)]
		if !ok {
			pfi, err := os.Stat(filepath.Dir(path))
			if err != nil {
				return err
			}
			if synced, ok := dirs[ino(pfi)]; ok && synced[de.Name()] == ino(fi) {
				r.FilesEmptied++
				r.BytesDropped += fi.Size()
				return os.Truncate(path, 0)
			}
			r.FilesRemoved++
			r.BytesDropped += fi.Size()
			return os.Remove(path)
		}
		return cutFile(path, fi.Size(), d, rng, r)
	})
}

// cutFile cuts the file at path, of size cur, to what d says is durable.
func cutFile(path string, cur int64, d durable, rng *rand.Rand, r *PowerLossResult) error {
	keep := min(cur, d.size)
	content := min(keep, d.content)
	if keep == cur && content == keep {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r.FilesCut++
	r.BytesDropped += cur - content
	if content < keep {
		// Entries written through a mapping and never msynced.
		if _, err := f.WriteAt(make([]byte, keep-content), content); err != nil {
			return err
		}
	}
	size := keep
	if rng != nil && cur > keep {
		// The first lost page: written up to a random point, garbage after.
		end := min(cur, (keep/tornPage+1)*tornPage)
		cut := keep + rng.Int64N(end-keep+1)
		garbage := make([]byte, end-cut)
		for i := range garbage {
			garbage[i] = byte(rng.UintN(256))
		}
		if _, err := f.WriteAt(garbage, cut); err != nil {
			return err
		}
		size = end
		r.BytesDropped -= cut - keep // kept, as written
		r.TornPages++
	}
	return f.Truncate(size)
}

// writeBaseline replaces the journal with one record per file and
// directory under root as it is now: after a power loss, what survived is
// what is durable. Without withRoot, root itself gets no record: its
// entries are then unknown (a directory with no record keeps its
// entries).
func writeBaseline(root, journal string, withRoot bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if skipPowerLoss(rel) {
			return filepath.SkipDir
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case de.IsDir() && rel == "." && !withRoot:
			return nil
		case de.IsDir():
			ents, err := listDir(path)
			if err != nil {
				return err
			}
			return enc.Encode(syncjournal.Record{Op: syncjournal.OpDir, Path: rel, Ino: ino(fi), Entries: ents})
		case de.Type().IsRegular():
			return enc.Encode(syncjournal.Record{Op: syncjournal.OpFile, Path: rel, Ino: ino(fi), Size: fi.Size()})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.WriteFile(journal, buf.Bytes(), 0o644)
}

func joinRel(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
