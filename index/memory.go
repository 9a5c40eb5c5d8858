package index

import (
	"maps"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store kept in memory, for tests of code that uses a Store.
// Nothing survives Close.
type Memory struct {
	mu      sync.Mutex // guards everything below
	seq     uint64     // last Seq handed out
	sources map[string]*memSource
}

type memSource struct {
	records map[string]Record
	pending map[string]Pending
	retries map[string]Retry
	state   SourceState

	replicas map[string]Replica
	gones    map[string]Gone
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{sources: make(map[string]*memSource)}
}

// source returns the data of name, creating it; m.mu must be held.
func (m *Memory) source(name string) *memSource {
	s, ok := m.sources[name]
	if !ok {
		s = &memSource{records: make(map[string]Record), pending: make(map[string]Pending), retries: make(map[string]Retry), replicas: make(map[string]Replica), gones: make(map[string]Gone)}
		m.sources[name] = s
	}
	return s
}

func (m *Memory) Get(source, path string) (Record, bool, error) {
	if err := checkSource(source); err != nil {
		return Record{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.source(source).records[path]
	return r, ok, nil
}

func (m *Memory) GetMany(source string, paths []string, fn func(i int, r Record, ok bool) error) error {
	for i, path := range paths {
		r, ok, err := m.Get(source, path)
		if err != nil {
			return err
		}
		if err := fn(i, r, ok); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Queue(source, path string) (Pending, error) {
	if err := checkSource(source); err != nil {
		return Pending{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	p := Pending{Seq: m.seq, QueuedNs: now()}
	p.Upload = m.source(source).pending[path].Upload // see Store.SetUpload
	m.source(source).pending[path] = p
	return p, nil
}

func (m *Memory) Commit(source, path string, r Record, seq uint64) error {
	return m.put(source, path, r, seq)
}

func (m *Memory) Touch(source, path string, r Record, seq uint64) error {
	return m.put(source, path, r, seq)
}

func (m *Memory) put(source, path string, r Record, seq uint64) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.source(source)
	s.records[path] = r
	s.unqueue(path, seq)
	return nil
}

func (m *Memory) Unqueue(source, path string, seq uint64) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source(source).unqueue(path, seq)
	return nil
}

func (s *memSource) unqueue(path string, seq uint64) {
	if p, ok := s.pending[path]; ok && seq != 0 && p.Seq == seq {
		delete(s.pending, path)
	}
}

func (m *Memory) Delete(source, path string) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.source(source)
	delete(s.records, path)
	delete(s.pending, path)
	return nil
}

// Pending calls fn on a snapshot taken before the first call, without
// holding the lock.
func (m *Memory) Pending(source string, fn func(path string, p Pending) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	pending := maps.Clone(m.source(source).pending)
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(pending)) {
		if err := fn(path, pending[path]); err != nil {
			return err
		}
	}
	return nil
}

// Records calls fn on a snapshot, as Pending does.
func (m *Memory) Records(source, prefix string, fn func(path string, r Record) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	records := make(map[string]Record)
	for path, r := range m.source(source).records {
		if strings.HasPrefix(path, prefix) {
			records[path] = r
		}
	}
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(records)) {
		if err := fn(path, records[path]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Count(source string) (records, pending int64, err error) {
	if err := checkSource(source); err != nil {
		return 0, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.source(source)
	return int64(len(s.records)), int64(len(s.pending)), nil
}

func (m *Memory) State(source string) (SourceState, error) {
	if err := checkSource(source); err != nil {
		return SourceState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.source(source).state, nil
}

func (m *Memory) SetState(source string, s SourceState) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source(source).state = s
	return nil
}

func (m *Memory) AddRetry(source, path string, r Retry) error {
	return memAdd(m, source, path, r, retriesOf)
}

func (m *Memory) RemoveRetry(source, path string) error {
	return memRemove(m, source, path, retriesOf, nil)
}

// Retries calls fn on a snapshot, as Pending does.
func (m *Memory) Retries(source string, fn func(path string, r Retry) error) error {
	return memEach(m, source, retriesOf, fn)
}

func (m *Memory) CountRetries(source string) (int64, error) {
	return memCount(m, source, retriesOf)
}

func (m *Memory) AddReplica(source, path string, r Replica) error {
	return memAdd(m, source, path, r, replicasOf)
}

func (m *Memory) RemoveReplica(source, path, versionID string) error {
	return memRemove(m, source, path, replicasOf, func(r Replica) bool { return versionID == "" || r.VersionID == versionID })
}

// Replicas calls fn on a snapshot, as Pending does.
func (m *Memory) Replicas(source string, fn func(path string, r Replica) error) error {
	return memEach(m, source, replicasOf, fn)
}

func (m *Memory) CountReplicas(source string) (int64, error) {
	return memCount(m, source, replicasOf)
}

func (m *Memory) AddGone(source, path string, g Gone) error {
	return memAdd(m, source, path, g, gonesOf)
}

func (m *Memory) RemoveGone(source, path string) error {
	return memRemove(m, source, path, gonesOf, nil)
}

// Gones calls fn on a snapshot, as Pending does.
func (m *Memory) Gones(source string, fn func(path string, g Gone) error) error {
	return memEach(m, source, gonesOf, fn)
}

func (m *Memory) CountGones(source string) (int64, error) {
	return memCount(m, source, gonesOf)
}

// The sets of a source, for the helpers below.
func retriesOf(s *memSource) map[string]Retry    { return s.retries }
func replicasOf(s *memSource) map[string]Replica { return s.replicas }
func gonesOf(s *memSource) map[string]Gone       { return s.gones }

// memAdd puts v as path's entry of one of source's sets.
func memAdd[T any](m *Memory, source, path string, v T, set func(*memSource) map[string]T) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	set(m.source(source))[path] = v
	return nil
}

// memRemove deletes path's entry if of (when not nil) accepts it.
func memRemove[T any](m *Memory, source, path string, set func(*memSource) map[string]T, of func(T) bool) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	entries := set(m.source(source))
	if v, ok := entries[path]; ok && (of == nil || of(v)) {
		delete(entries, path)
	}
	return nil
}

// memEach calls fn on a snapshot of a set, in path order.
func memEach[T any](m *Memory, source string, set func(*memSource) map[string]T, fn func(string, T) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	entries := maps.Clone(set(m.source(source)))
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(entries)) {
		if err := fn(path, entries[path]); err != nil {
			return err
		}
	}
	return nil
}

func memCount[T any](m *Memory, source string, set func(*memSource) map[string]T) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(set(m.source(source)))), nil
}

func (m *Memory) Sources() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name, s := range m.sources {
		if len(s.records) > 0 || len(s.pending) > 0 || len(s.retries) > 0 || s.state != (SourceState{}) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// GC does nothing: Memory frees what it drops at once.
func (m *Memory) GC() error { return nil }

// Close does nothing; Memory keeps no resources.
func (m *Memory) Close() error { return nil }

// Resumable multipart uploads (Store.GetPending, Store.SetUpload). The
// Upload is copied in and out, as an encoding would.

func (m *Memory) GetPending(source, path string) (Pending, bool, error) {
	if err := checkSource(source); err != nil {
		return Pending{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.source(source).pending[path]
	p.Upload = cloneUpload(p.Upload)
	return p, ok, nil
}

func (m *Memory) SetUpload(source, path string, seq uint64, u *Upload) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.source(source)
	if p, ok := s.pending[path]; ok && p.Seq == seq {
		p.Upload = cloneUpload(u)
		s.pending[path] = p
	}
	return nil
}

func cloneUpload(u *Upload) *Upload {
	if u == nil {
		return nil
	}
	c := *u
	c.Parts = slices.Clone(u.Parts)
	return &c
}
