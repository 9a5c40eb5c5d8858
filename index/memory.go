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
	mu      sync.Mutex // guards seq and sources
	seq     uint64     // last Seq handed out
	sources map[string]*memSource

	// The sets of Store.Retries, Store.Replicas and Store.Removed.
	retries  memSet[Retry]
	replicas memSet[Replica]
	removed  memSet[Gone]
	locks    memSet[Lock]
	guards   memSet[Guard]
}

type memSource struct {
	records map[string]Record
	pending map[string]Pending
	retries map[string]Retry
	state   SourceState

	replicas map[string]Replica
	removed  map[string]Gone
	locks    map[string]Lock
	guards   map[string]Guard
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	m := &Memory{sources: make(map[string]*memSource)}
	m.retries = memSet[Retry]{m, func(s *memSource) map[string]Retry { return s.retries }}
	m.replicas = memSet[Replica]{m, func(s *memSource) map[string]Replica { return s.replicas }}
	m.removed = memSet[Gone]{m, func(s *memSource) map[string]Gone { return s.removed }}
	m.locks = memSet[Lock]{m, func(s *memSource) map[string]Lock { return s.locks }}
	m.guards = memSet[Guard]{m, func(s *memSource) map[string]Guard { return s.guards }}
	return m
}

// source returns the data of name, creating it; m.mu must be held.
func (m *Memory) source(name string) *memSource {
	s, ok := m.sources[name]
	if !ok {
		s = &memSource{records: make(map[string]Record), pending: make(map[string]Pending), retries: make(map[string]Retry), replicas: make(map[string]Replica), removed: make(map[string]Gone), locks: make(map[string]Lock), guards: make(map[string]Guard)}
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

func (m *Memory) Retries() Set[Retry]    { return &m.retries }
func (m *Memory) Replicas() Set[Replica] { return &m.replicas }
func (m *Memory) Removed() Set[Gone]     { return &m.removed }
func (m *Memory) Locks() Set[Lock]       { return &m.locks }
func (m *Memory) Guards() Set[Guard]     { return &m.guards }

// memSet is a Set in a Memory: of picks its map out of a source.
type memSet[T any] struct {
	m  *Memory
	of func(*memSource) map[string]T
}

func (s *memSet[T]) Add(source, path string, v T) error {
	if err := checkSource(source); err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.of(s.m.source(source))[path] = v
	return nil
}

func (s *memSet[T]) Remove(source, path string) error {
	return s.RemoveIf(source, path, func(T) bool { return true })
}

func (s *memSet[T]) RemoveIf(source, path string, match func(T) bool) error {
	if err := checkSource(source); err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	entries := s.of(s.m.source(source))
	if v, ok := entries[path]; ok && match(v) {
		delete(entries, path)
	}
	return nil
}

// Each calls fn on a snapshot, as Pending does.
func (s *memSet[T]) Each(source string, fn func(path string, v T) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	s.m.mu.Lock()
	entries := maps.Clone(s.of(s.m.source(source)))
	s.m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(entries)) {
		if err := fn(path, entries[path]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSet[T]) Count(source string) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return int64(len(s.of(s.m.source(source)))), nil
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
