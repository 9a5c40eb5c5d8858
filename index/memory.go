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
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source(source).retries[path] = r
	return nil
}

func (m *Memory) RemoveRetry(source, path string) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.source(source).retries, path)
	return nil
}

// Retries calls fn on a snapshot, as Pending does.
func (m *Memory) Retries(source string, fn func(path string, r Retry) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	retries := maps.Clone(m.source(source).retries)
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(retries)) {
		if err := fn(path, retries[path]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) CountRetries(source string) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.source(source).retries)), nil
}

func (m *Memory) AddReplica(source, path string, r Replica) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source(source).replicas[path] = r
	return nil
}

func (m *Memory) RemoveReplica(source, path, versionID string) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.source(source)
	if r, ok := s.replicas[path]; ok && (versionID == "" || r.VersionID == versionID) {
		delete(s.replicas, path)
	}
	return nil
}

// Replicas calls fn on a snapshot, as Pending does.
func (m *Memory) Replicas(source string, fn func(path string, r Replica) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	replicas := maps.Clone(m.source(source).replicas)
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(replicas)) {
		if err := fn(path, replicas[path]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) CountReplicas(source string) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.source(source).replicas)), nil
}

func (m *Memory) AddGone(source, path string, g Gone) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source(source).gones[path] = g
	return nil
}

func (m *Memory) RemoveGone(source, path string) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.source(source).gones, path)
	return nil
}

// Gones calls fn on a snapshot, as Pending does.
func (m *Memory) Gones(source string, fn func(path string, g Gone) error) error {
	if err := checkSource(source); err != nil {
		return err
	}
	m.mu.Lock()
	gones := maps.Clone(m.source(source).gones)
	m.mu.Unlock()
	for _, path := range slices.Sorted(maps.Keys(gones)) {
		if err := fn(path, gones[path]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) CountGones(source string) (int64, error) {
	if err := checkSource(source); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.source(source).gones)), nil
}

// GC does nothing: Memory frees what it drops at once.
func (m *Memory) GC() error { return nil }

// Close does nothing; Memory keeps no resources.
func (m *Memory) Close() error { return nil }
