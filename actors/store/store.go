// Package store holds a mesh node's task results in memory, spilling the
// least recently used ones to disk when a memory limit is exceeded.
//
// A Store owns the result values (opaque byte slices: msgpack values, Arrow
// IPC, raw array chunks) keyed by task key, the accounting of how many bytes
// are held in memory and on disk, and the spill files in its spill
// directory: one file per spilled key, created, read and removed only by the
// Store. Spill files do not survive a restart: Open removes leftovers from a
// previous run, and Close removes the current ones. Durability of results is
// the mesh's business (replicas and lineage), not the store's.
//
// The policy follows Dask's worker memory manager ("target"/"spill" with a
// zict-style buffer): values live in memory until the sum of their sizes
// exceeds Config.MemoryLimit, then the least recently used ones are written
// to disk until the sum is back under the limit. Reading a spilled value
// reads it back and, if it fits in the limit, returns it to memory as the
// most recently used value (which may spill others). A value larger than the
// whole limit is written straight to disk.
//
// All methods are safe for concurrent use. A single mutex guards the index;
// disk I/O happens outside it, so a slow disk delays only the goroutine that
// caused the I/O (the Put that pushed memory over the limit, or the Get of a
// spilled key), not readers and writers of in-memory keys.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrNotFound is returned by Get for a key the store does not hold.
var ErrNotFound = errors.New("store: key not found")

// ErrLost is wrapped by the error Get returns when a spilled value cannot be
// recovered because its spill file is missing or corrupt. The key is dropped
// from the store; the caller should recover it elsewhere (replica, lineage)
// and may Put it again.
var ErrLost = errors.New("store: value lost")

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store: closed")

// SpillError reports a failed write of a value to disk. The value is not
// lost: it stays in memory (so the store may be over its limit) and the
// spill is retried by later operations. Put returns a *SpillError only after
// storing its value; errors.As(err, &spillErr) tells this case apart from
// ErrClosed.
type SpillError struct {
	Key  string // task key of the value that could not be spilled
	Path string // spill file it was being written to
	Err  error  // underlying I/O error
}

func (e *SpillError) Error() string {
	return "store: spill " + e.Key + " to " + e.Path + ": " + e.Err.Error()
}

func (e *SpillError) Unwrap() error { return e.Err }

// Config configures a Store.
type Config struct {
	// Dir is the spill directory. It is created (mode 0700) if missing.
	// It may be empty only when MemoryLimit is 0. It must belong to one
	// Store at a time: Open removes every spill file in it, and spill file
	// names are unique only within a Store.
	Dir string
	// MemoryLimit is the number of value bytes kept in memory before the
	// least recently used values are spilled to Dir. 0 means no limit.
	// Only len(value) is counted, not per-key overhead.
	MemoryLimit int64
	// OnError, if set, receives spill errors that no caller can be told
	// about: those of spills triggered by a Get that brought a value back
	// into memory. It is called without the store's lock held.
	OnError func(error)
}

// Stats is a snapshot of a Store's contents and activity.
type Stats struct {
	Keys         int    // keys held, in memory or on disk
	MemoryBytes  int64  // bytes of values held in memory (including values being spilled)
	SpilledBytes int64  // bytes of values held on disk only
	SpilledKeys  int    // keys held on disk only
	Spills       uint64 // values written to disk
	Unspills     uint64 // values read back from disk
	SpillErrors  uint64 // failed spill writes (the values stayed in memory)
}

type state uint8

const (
	inMemory state = iota // value in memory, entry in the LRU list
	spilling              // value in memory, being written to disk; not in the LRU list
	onDisk                // value only in the spill file at path
	removed               // no longer in the index (deleted, replaced, lost or closed)
)

// entry is one key's record. It is also an intrusive LRU list node.
type entry struct {
	key        string
	value      []byte // valid in states inMemory and spilling
	path       string // spill file; valid in states spilling and onDisk
	size       int64
	state      state
	prev, next *entry // LRU links; valid in state inMemory
}

// Store is a memory-limited, spill-to-disk map from task key to value.
type Store struct {
	dir     string
	limit   int64
	onError func(error)

	mu       sync.Mutex
	closed   bool
	m        map[string]*entry
	lru      entry // sentinel: lru.next is most recent, lru.prev least recent
	memBytes int64 // bytes of values in states inMemory and spilling
	spilling int64 // bytes of values in state spilling
	disk     int64 // bytes of values in state onDisk
	diskKeys int
	seq      uint64         // spill file sequence number
	io       sync.WaitGroup // disk writes and file removals in flight outside mu; Close waits
	stats    struct{ spills, unspills, spillErrors uint64 }
}

const (
	spillSuffix = ".spill"
	tmpSuffix   = ".tmp"
)

// Open creates a Store. It creates cfg.Dir if needed and removes the spill
// files (and temporary files) a previous run left there; other files in
// cfg.Dir are left alone.
func Open(cfg Config) (*Store, error) {
	if cfg.MemoryLimit < 0 {
		return nil, fmt.Errorf("store: negative memory limit %d", cfg.MemoryLimit)
	}
	s := &Store{limit: cfg.MemoryLimit, onError: cfg.OnError, m: make(map[string]*entry)}
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	if cfg.Dir == "" {
		if cfg.MemoryLimit > 0 {
			return nil, errors.New("store: memory limit set but no spill directory")
		}
		return s, nil
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: spill directory %s: %w", cfg.Dir, err)
	}
	s.dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create spill directory: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: clean spill directory: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !(strings.HasSuffix(name, spillSuffix) || strings.HasSuffix(name, spillSuffix+tmpSuffix)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: remove leftover spill file: %w", err)
		}
	}
	return s, nil
}

// Put stores value under key, taking ownership of value: the caller must
// not modify it afterwards. An existing value for key is replaced (in the
// mesh the same key always means the same value). A value larger than the
// whole memory limit is written straight to disk.
//
// If storing the value pushes memory over the limit, Put spills least
// recently used values before returning, so a Put may wait for disk I/O.
// A non-nil error other than ErrClosed is a *SpillError: the value is stored
// anyway, but some value could not be spilled and is kept in memory.
func (s *Store) Put(key string, value []byte) error {
	size := int64(len(value))
	if s.limit > 0 && size > s.limit {
		return s.putOversize(key, value)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var oldPath string
	e := s.m[key]
	switch {
	case e != nil && e.state == inMemory:
		// Replace in place: no allocation on the hot path.
		s.memBytes += size - e.size
		e.value, e.size = value, size
		s.touch(e)
	default:
		if e != nil {
			oldPath = s.unlinkLocked(e)
			s.holdFileLocked(oldPath)
		}
		e = &entry{key: key, value: value, size: size, state: inMemory}
		s.m[key] = e
		s.pushFront(e)
		s.memBytes += size
	}
	victims := s.pickVictimsLocked()
	s.mu.Unlock()
	s.releaseFile(oldPath)
	if victims == nil {
		return nil
	}
	return s.spill(victims)
}

// putOversize writes a value larger than the memory limit straight to disk.
// If that fails the value is kept in memory, least recently used, and a
// *SpillError is returned.
func (s *Store) putOversize(key string, value []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	path := s.newPathLocked(key)
	s.io.Add(1)
	s.mu.Unlock()
	defer s.io.Done()

	werr := writeSpillFile(path, value)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if werr == nil {
			removeFile(path)
		}
		return ErrClosed
	}
	var oldPath string
	if old := s.m[key]; old != nil {
		oldPath = s.unlinkLocked(old)
	}
	size := int64(len(value))
	e := &entry{key: key, size: size}
	s.m[key] = e
	var err error
	if werr == nil {
		e.state, e.path = onDisk, path
		s.disk += size
		s.diskKeys++
		s.stats.spills++
	} else {
		// Least recently used, so the next spill retries it first.
		e.state, e.value = inMemory, value
		s.pushBack(e)
		s.memBytes += size
		s.stats.spillErrors++
		err = &SpillError{Key: key, Path: path, Err: werr}
	}
	s.mu.Unlock()
	if oldPath != "" {
		removeFile(oldPath)
	}
	return err
}

// Get returns the value stored under key, or ErrNotFound. The returned
// slice is shared with the store and must not be modified.
//
// A spilled value is read back from disk; if it fits in the memory limit it
// becomes the most recently used in-memory value again, which may spill
// others (their errors go to Config.OnError). A missing or corrupt spill
// file gives an error wrapping ErrLost, and the key is dropped.
func (s *Store) Get(key string) ([]byte, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		e := s.m[key]
		if e == nil {
			s.mu.Unlock()
			return nil, ErrNotFound
		}
		if e.state != onDisk {
			if e.state == inMemory {
				s.touch(e)
			}
			v := e.value
			s.mu.Unlock()
			return v, nil
		}
		path, size := e.path, e.size
		s.mu.Unlock()

		value, rerr := readSpillFile(path, size)

		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if e.state != onDisk || e.path != path {
			// The entry changed while we read: unspilled by another Get,
			// deleted, or replaced. A good read is still a correct
			// answer; a failed one (e.g. the file was removed) is retried.
			s.mu.Unlock()
			if rerr == nil {
				return value, nil
			}
			continue
		}
		if rerr != nil {
			lost := isLost(rerr)
			if lost {
				s.unlinkLocked(e)
				s.holdFileLocked(path)
			}
			s.mu.Unlock()
			if lost {
				s.releaseFile(path)
				return nil, fmt.Errorf("%w: key %s: spill file %s: %w", ErrLost, key, path, rerr)
			}
			return nil, fmt.Errorf("store: read spilled %s from %s: %w", key, path, rerr)
		}
		s.stats.unspills++
		if s.limit > 0 && size > s.limit {
			// Oversize values stay on disk.
			s.mu.Unlock()
			return value, nil
		}
		s.disk -= size
		s.diskKeys--
		e.state, e.value, e.path = inMemory, value, ""
		s.pushFront(e)
		s.memBytes += size
		s.holdFileLocked(path)
		victims := s.pickVictimsLocked()
		s.mu.Unlock()
		s.releaseFile(path)
		if victims != nil {
			if err := s.spill(victims); err != nil && s.onError != nil {
				s.onError(err)
			}
		}
		return value, nil
	}
}

// Has reports whether the store holds key, in memory or on disk.
func (s *Store) Has(key string) bool {
	s.mu.Lock()
	_, ok := s.m[key]
	s.mu.Unlock()
	return ok
}

// Size returns the size in bytes of the value stored under key.
func (s *Store) Size(key string) (int64, bool) {
	s.mu.Lock()
	e, ok := s.m[key]
	var n int64
	if ok {
		n = e.size
	}
	s.mu.Unlock()
	return n, ok
}

// Delete removes keys, freeing their memory and removing their spill files.
// Absent keys are ignored.
func (s *Store) Delete(keys ...string) {
	var buf [8]string
	paths := buf[:0]
	s.mu.Lock()
	for _, k := range keys {
		if e := s.m[k]; e != nil {
			if p := s.unlinkLocked(e); p != "" {
				s.holdFileLocked(p)
				paths = append(paths, p)
			}
		}
	}
	s.mu.Unlock()
	for _, p := range paths {
		s.releaseFile(p)
	}
}

// Keys returns the keys held, in memory or on disk, in no particular order.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	return keys
}

// Stats returns a snapshot of the store's accounting.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Keys:         len(s.m),
		MemoryBytes:  s.memBytes,
		SpilledBytes: s.disk,
		SpilledKeys:  s.diskKeys,
		Spills:       s.stats.spills,
		Unspills:     s.stats.unspills,
		SpillErrors:  s.stats.spillErrors,
	}
}

// Close drops all values and removes all spill files, waiting for spill
// writes in progress to finish. Later calls return ErrClosed (Put, Get) or
// report an empty store. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var paths []string
	for _, e := range s.m {
		if p := s.unlinkLocked(e); p != "" {
			paths = append(paths, p)
		}
	}
	s.mu.Unlock()
	// Writers in flight see their entries removed and delete their files.
	s.io.Wait()
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: close: %w", errors.Join(errs...))
	}
	return nil
}

// pickVictimsLocked moves least recently used values to state spilling
// until the bytes not already being spilled fit in the limit, and returns
// them (nil if none). Each victim is given a fresh spill path.
func (s *Store) pickVictimsLocked() []*entry {
	if s.limit == 0 || s.memBytes-s.spilling <= s.limit {
		return nil
	}
	var victims []*entry
	for s.memBytes-s.spilling > s.limit && s.lru.prev != &s.lru {
		e := s.lru.prev
		s.unlinkLRU(e)
		e.state = spilling
		e.path = s.newPathLocked(e.key)
		s.spilling += e.size
		victims = append(victims, e)
	}
	if victims != nil {
		s.io.Add(1)
	}
	return victims
}

// spill writes victims picked by pickVictimsLocked to disk, one at a time,
// taking the lock only to record each outcome. On the first failed write it
// stops and returns the remaining victims to memory untried (they would most
// likely fail the same way: full or vanished disk), so a broken disk costs
// each Put one failed file creation, not one per excess value.
func (s *Store) spill(victims []*entry) error {
	defer s.io.Done()
	for i, e := range victims {
		// e.value and e.path are not changed by others while e is
		// spilling (unlinkLocked leaves them alone), so read them unlocked.
		path, value := e.path, e.value
		werr := writeSpillFile(path, value)
		s.mu.Lock()
		if werr != nil {
			s.stats.spillErrors++
			// Restore coldest last, so the LRU order is unchanged and the
			// failed value is the first retried.
			for j := len(victims) - 1; j >= i; j-- {
				if v := victims[j]; v.state == spilling {
					v.state, v.path = inMemory, ""
					s.spilling -= v.size
					s.pushBack(v)
				}
			}
			s.mu.Unlock()
			return &SpillError{Key: e.key, Path: path, Err: werr}
		}
		if e.state != spilling {
			// Deleted, replaced or closed meanwhile; accounting is done.
			s.mu.Unlock()
			removeFile(path)
			continue
		}
		e.state, e.value = onDisk, nil
		s.spilling -= e.size
		s.memBytes -= e.size
		s.disk += e.size
		s.diskKeys++
		s.stats.spills++
		s.mu.Unlock()
	}
	return nil
}

// unlinkLocked removes e from the index and the accounting, and returns the
// spill file the caller must remove (after unlocking), if any. A value being
// spilled is left to its writer, which removes the file when it sees
// state removed.
func (s *Store) unlinkLocked(e *entry) (path string) {
	switch e.state {
	case inMemory:
		s.unlinkLRU(e)
		s.memBytes -= e.size
		e.value = nil
	case spilling:
		s.memBytes -= e.size
		s.spilling -= e.size
	case onDisk:
		s.disk -= e.size
		s.diskKeys--
		path = e.path
	case removed:
		return ""
	}
	e.state = removed
	if s.m[e.key] == e {
		delete(s.m, e.key)
	}
	return path
}

// newPathLocked returns a spill path for key that no other spill file of
// this store uses: a sequence number (uniqueness, so a stale file of a
// replaced entry is never confused with a new one) followed by a readable,
// filesystem-safe prefix of the key.
func (s *Store) newPathLocked(key string) string {
	s.seq++
	b := make([]byte, 0, 16+1+maxKeyInName+len(spillSuffix))
	b = strconv.AppendUint(b, s.seq, 16)
	b = append(b, '-')
	for i := 0; i < len(key) && i < maxKeyInName; i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			c = '_'
		}
		b = append(b, c)
	}
	b = append(b, spillSuffix...)
	return s.dir + string(filepath.Separator) + string(b)
}

const maxKeyInName = 64

// LRU list: s.lru.next is the most recently used entry.

func (s *Store) pushFront(e *entry) {
	e.prev, e.next = &s.lru, s.lru.next
	e.next.prev = e
	s.lru.next = e
}

func (s *Store) pushBack(e *entry) {
	e.next, e.prev = &s.lru, s.lru.prev
	e.prev.next = e
	s.lru.prev = e
}

func (s *Store) unlinkLRU(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *Store) touch(e *entry) {
	if s.lru.next != e {
		s.unlinkLRU(e)
		s.pushFront(e)
	}
}

// Spill file format: a 16-byte header (magic, CRC-32C of the value, value
// length, little endian) followed by the value.
const headerSize = 16

var (
	magic     = [4]byte{'M', 'S', 'S', '1'}
	castagnol = crc32.MakeTable(crc32.Castagnoli)
)

// errCorrupt marks a spill file whose contents do not check out.
var errCorrupt = errors.New("corrupt spill file")

// writeSpillFile writes value to path atomically (temporary file, then
// rename). It does not fsync: spill files need not survive a crash, and
// Open removes leftovers. If the spill directory has vanished it is
// recreated once.
func writeSpillFile(path string, value []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if os.MkdirAll(filepath.Dir(path), 0o700) == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return err
	}
	var hdr [headerSize]byte
	copy(hdr[:4], magic[:])
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(value, castagnol))
	binary.LittleEndian.PutUint64(hdr[8:16], uint64(len(value)))
	_, err = f.Write(hdr[:])
	if err == nil {
		_, err = f.Write(value)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readSpillFile reads and checks the value of size bytes stored at path.
func readSpillFile(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, headerSize+size)
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: truncated", errCorrupt)
		}
		return nil, err
	}
	if [4]byte(buf[:4]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", errCorrupt, buf[:4])
	}
	if n := binary.LittleEndian.Uint64(buf[8:16]); n != uint64(size) {
		return nil, fmt.Errorf("%w: length %d, want %d", errCorrupt, n, size)
	}
	value := buf[headerSize : headerSize+size : headerSize+size]
	if crc32.Checksum(value, castagnol) != binary.LittleEndian.Uint32(buf[4:8]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return value, nil
}

// isLost reports whether a read error means the spill file is gone or
// unusable for good, as opposed to a possibly transient failure (too many
// open files, I/O error).
func isLost(err error) bool {
	return errors.Is(err, errCorrupt) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// holdFileLocked registers a spill file, already unlinked from the index,
// that the caller will remove with releaseFile after unlocking, so that Close
// waits for its removal. Empty paths are ignored.
func (s *Store) holdFileLocked(path string) {
	if path != "" {
		s.io.Add(1)
	}
}

// releaseFile removes a file registered with holdFileLocked.
func (s *Store) releaseFile(path string) {
	if path != "" {
		removeFile(path)
		s.io.Done()
	}
}

// removeFile removes a spill file; a file already gone is fine, and other
// failures leave at worst a stray file that Open will clean up.
func removeFile(path string) {
	os.Remove(path)
}
