package log

// Hosted partitions. A broker of a cluster holds a log only for the
// partitions it is a replica of; it still knows every topic whole (name,
// ID, configs, partition count), and a partition it hosts no log of has a
// nil entry in Topic.Partitions. Which partitions are hosted is part of
// the topic's metadata file (version 2, see topicmeta.go), and it changes
// in an order that a crash at any step cannot turn into a live replica
// with half its files:
//
//   - hosting a partition (CreateTopicHosting after its metadata,
//     HostPartitions before it) creates the log first and lists it in the
//     metadata second: a crash in between leaves a directory the metadata
//     does not list;
//   - removing one (RemovePartitions) writes the metadata without it
//     first, durably, then renames the directory to <hex>.deleting and
//     deletes that: a crash in between leaves either a directory the
//     metadata does not list or a .deleting one.
//
// OpenManager loads exactly the listed partitions and deletes both kinds
// of leftover (rename, then delete), never opening them.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// sortedPartitions checks that every partition is one of a topic's
// partitions and returns them ascending, without repeats, never nil.
func sortedPartitions(topic string, count int, partitions []int32) ([]int32, error) {
	out := make([]int32, 0, len(partitions))
	for _, p := range partitions {
		if p < 0 || int(p) >= count {
			return nil, fmt.Errorf("%w: topic %q has %d partitions, not partition %d", ErrInvalidPartitions, topic, count, p)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// HostPartitions grows topic name to total partitions when it has fewer
// (the new ones hosted only if listed), and creates the log of each of
// partitions that has none: this broker became one of their replicas.
// A partition already hosted keeps its log. The logs exist before the
// metadata lists them (see the comment above).
func (m *Manager) HostPartitions(name string, total int, partitions []int32) error {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	t, ok := m.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	total = max(total, len(t.Partitions))
	if total > MaxPartitions {
		return fmt.Errorf("%w: topic %q asked for %d partitions (at most %d)", ErrInvalidPartitions, name, total, MaxPartitions)
	}
	ps, err := sortedPartitions(name, total, partitions)
	if err != nil {
		return err
	}
	ps = slices.DeleteFunc(ps, func(p int32) bool { return t.PartitionLog(p) != nil })
	if len(ps) == 0 && total == len(t.Partitions) {
		return nil
	}
	cfg, err := m.defaults.With(t.Overrides)
	if err != nil {
		return err
	}
	added, err := m.createLogs(name, ps, cfg)
	if err != nil {
		return err
	}
	nt := &Topic{Name: t.Name, ID: t.ID, Overrides: t.Overrides, Partitions: make([]*Log, total)}
	copy(nt.Partitions, t.Partitions)
	for i, p := range ps {
		nt.Partitions[p] = added[i]
	}
	return m.publishGrown(nt, added)
}

// RemovePartitions deletes the logs of partitions of topic name: this
// broker is no longer one of their replicas. The topic stays known, with
// its partition count; a partition not hosted is skipped. Whoever
// replicates or serves a removed log must have stopped first: its log is
// closed (later calls get ErrClosed) and its directory deleted, while
// views already read stay valid until released, as with DeleteTopic.
func (m *Manager) RemovePartitions(name string, partitions []int32) error {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	t, ok := m.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	ps, err := sortedPartitions(name, len(t.Partitions), partitions)
	if err != nil {
		return err
	}
	nt := &Topic{Name: t.Name, ID: t.ID, Overrides: t.Overrides, Partitions: slices.Clone(t.Partitions)}
	var removed []*Log
	for _, p := range ps {
		if l := nt.Partitions[p]; l != nil {
			removed = append(removed, l)
			nt.Partitions[p] = nil
		}
	}
	if len(removed) == 0 {
		return nil
	}
	// Durably unlisted before anything is deleted: a crash from here on
	// leaves a leftover that the next open deletes, never a listed
	// partition with half its files.
	if err := m.writeTopicMeta(nt); err != nil {
		return m.storageErr(fmt.Errorf("log: remove partitions %v of %q: %w", ps, name, err))
	}
	m.publish(nt)
	return m.removeLogs(removed)
}

// removeLogs deletes logs (nil entries skipped) a pool of workers at a
// time: each is closed, renamed to a .deleting directory and deleted.
func (m *Manager) removeLogs(logs []*Log) error {
	logs = slices.DeleteFunc(slices.Clone(logs), func(l *Log) bool { return l == nil })
	return errors.Join(parallel(len(logs), m.ioWorkers(), func(i int) error {
		return logs[i].removeAll()
	})...)
}

// removeUnhosted deletes, at open, the directories of partitions of the
// topics in sparse (by name) that their metadata does not list: what a
// crash left of a removal, or of a creation before its metadata was
// written. ents is the data dir's listing.
func (m *Manager) removeUnhosted(ents []os.DirEntry, sparse map[string]*topicMeta) {
	if len(sparse) == 0 {
		return
	}
	hosted := make(map[string]bool)
	for _, tm := range sparse {
		for _, p := range tm.Hosted {
			hosted[tm.Name+"-"+strconv.Itoa(int(p))] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || hosted[name] {
			continue
		}
		topic, _, ok := partitionDirName(name)
		if _, known := sparse[topic]; !ok || !known {
			continue
		}
		m.logger.Info("log: deleting the directory of a partition this data dir does not host (a removal or creation a crash interrupted)",
			"dir", filepath.Join(m.dir, name))
		if err := removeDir(filepath.Join(m.dir, name)); err != nil {
			m.logger.Warn("log: delete an unhosted partition directory", "dir", filepath.Join(m.dir, name), "err", err)
		}
	}
}

// partitionDirName splits a partition directory's name, <topic>-<p> with
// p in canonical decimal form.
func partitionDirName(name string) (topic string, p int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p < 0 || strconv.Itoa(p) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], p, true
}

// removeDir deletes the partition directory dir, which its topic's
// metadata no longer lists (or which has no metadata at all), by renaming
// it to a .deleting directory (which OpenManager deletes, should a crash
// interrupt) and deleting that.
func removeDir(dir string) error {
	// A short name of its own: the partition dir's name may be near NAME_MAX.
	var rnd [8]byte
	rand.Read(rnd[:])
	gone := filepath.Join(filepath.Dir(dir), hex.EncodeToString(rnd[:])+defaultDeletedDirSuffix)
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("log: delete %s: %w", dir, err)
	}
	// No fsync of the rename: a directory half deleted under its own name
	// by a crash is one its topic's metadata no longer lists, which the
	// next open deletes too.
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("log: delete %s: %w", dir, err)
	}
	return syncDir(filepath.Dir(dir))
}
