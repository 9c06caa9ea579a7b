package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openStore opens a store on a fresh spill directory and closes it at the
// end of the test.
func openStore(t testing.TB, limit int64) *Store {
	t.Helper()
	s, err := Open(Config{Dir: filepath.Join(t.TempDir(), "spill"), MemoryLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// value returns n deterministic bytes derived from key.
func value(key string, n int) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// spillFiles lists the spill and temporary files in dir.
func spillFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), spillSuffix) || strings.HasSuffix(de.Name(), tmpSuffix) {
			names = append(names, de.Name())
		}
	}
	return names
}

func stateOf(s *Store, key string) (state, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return removed, ""
	}
	return e.state, e.path
}

// checkInvariants verifies, on a quiescent store, that the counters match
// the entries, the LRU list holds exactly the in-memory entries, and the
// spill directory holds exactly the on-disk entries' files.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var mem, disk int64
	var inMem, onDisk_ int
	want := map[string]bool{}
	for k, e := range s.m {
		if e.key != k {
			t.Errorf("entry under %q has key %q", k, e.key)
		}
		switch e.state {
		case inMemory:
			mem += e.size
			inMem++
			if int64(len(e.value)) != e.size {
				t.Errorf("%q: len %d, size %d", k, len(e.value), e.size)
			}
		case onDisk:
			disk += e.size
			onDisk_++
			want[filepath.Base(e.path)] = true
			if e.value != nil {
				t.Errorf("%q on disk still holds its value", k)
			}
		default:
			t.Errorf("%q in state %d on a quiescent store", k, e.state)
		}
	}
	n := 0
	for e := s.lru.next; e != &s.lru; e = e.next {
		if e.state != inMemory || s.m[e.key] != e {
			t.Errorf("LRU list holds %q in state %d", e.key, e.state)
		}
		if e.next.prev != e {
			t.Fatalf("LRU list broken at %q", e.key)
		}
		n++
	}
	if n != inMem {
		t.Errorf("LRU list has %d entries, %d in memory", n, inMem)
	}
	if mem != s.memBytes || disk != s.disk || onDisk_ != s.diskKeys || s.spilling != 0 {
		t.Errorf("accounting: mem %d/%d disk %d/%d diskKeys %d/%d spilling %d",
			s.memBytes, mem, s.disk, disk, s.diskKeys, onDisk_, s.spilling)
	}
	if s.dir == "" {
		return
	}
	got := spillFiles(t, s.dir)
	slices.Sort(got)
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Errorf("spill files %v, want %v", got, wantNames)
	}
}

func TestRoundTrip(t *testing.T) {
	keys := []struct {
		name, key string
		size      int
	}{
		{"plain", "inc-3f2a9c0d", 100},
		{"empty value", "empty", 0},
		{"slashes", "a/b/../c/", 10},
		{"dotdot", "..", 7},
		{"traversal", "../../../etc/passwd", 20},
		{"empty key", "", 5},
		{"odd bytes", "日本\x00\n\t *?<>|\\", 33},
		{"long key", strings.Repeat("k", 1000), 64},
		{"big value", "big", 1 << 20},
	}
	for _, lim := range []struct {
		name  string
		limit int64
	}{{"unlimited", 0}, {"in memory", 8 << 20}, {"all on disk", 1}} {
		t.Run(lim.name, func(t *testing.T) {
			s := openStore(t, lim.limit)
			for _, tc := range keys {
				v := value(tc.key, tc.size)
				if err := s.Put(tc.key, slices.Clone(v)); err != nil {
					t.Fatalf("%s: Put: %v", tc.name, err)
				}
				if !s.Has(tc.key) {
					t.Errorf("%s: Has = false after Put", tc.name)
				}
				if n, ok := s.Size(tc.key); !ok || n != int64(tc.size) {
					t.Errorf("%s: Size = %d, %v; want %d", tc.name, n, ok, tc.size)
				}
				st, path := stateOf(s, tc.key)
				if wantDisk := lim.limit == 1 && tc.size > 1; (st == onDisk) != wantDisk {
					t.Errorf("%s: state %d, want on disk %v", tc.name, st, wantDisk)
				}
				if st == onDisk && filepath.Dir(path) != s.dir {
					t.Errorf("%s: spill file %s escapes %s", tc.name, path, s.dir)
				}
			}
			if got := len(s.Keys()); got != len(keys) {
				t.Errorf("Keys: %d keys, want %d", got, len(keys))
			}
			checkInvariants(t, s)
			for _, tc := range keys {
				got, err := s.Get(tc.key)
				if err != nil {
					t.Fatalf("%s: Get: %v", tc.name, err)
				}
				if !bytes.Equal(got, value(tc.key, tc.size)) {
					t.Errorf("%s: Get returned different bytes", tc.name)
				}
			}
			for _, tc := range keys {
				s.Delete(tc.key)
				if s.Has(tc.key) {
					t.Errorf("%s: Has = true after Delete", tc.name)
				}
				if _, err := s.Get(tc.key); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: Get after Delete: %v, want ErrNotFound", tc.name, err)
				}
			}
			checkInvariants(t, s)
			if st := s.Stats(); st.Keys != 0 || st.MemoryBytes != 0 || st.SpilledBytes != 0 || st.SpilledKeys != 0 {
				t.Errorf("Stats after deleting everything: %+v", st)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	s := openStore(t, 0)
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get absent: %v, want ErrNotFound", err)
	}
	if s.Has("nope") {
		t.Error("Has absent = true")
	}
	if _, ok := s.Size("nope"); ok {
		t.Error("Size absent ok")
	}
	s.Delete("nope") // no-op
}

func TestReplace(t *testing.T) {
	s := openStore(t, 200)
	if err := s.Put("k", value("k1", 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("k", value("k2", 50)); err != nil { // in memory: in place
		t.Fatal(err)
	}
	if got, _ := s.Get("k"); !bytes.Equal(got, value("k2", 50)) {
		t.Error("in-memory replace: old value returned")
	}
	// Spill k, then replace it: the old spill file must go.
	for _, k := range []string{"x", "y"} {
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	st, oldPath := stateOf(s, "k")
	if st != onDisk {
		t.Fatalf("k in state %d, want on disk", st)
	}
	if err := s.Put("k", value("k3", 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("replaced spill file still there: %v", err)
	}
	if got, _ := s.Get("k"); !bytes.Equal(got, value("k3", 100)) {
		t.Error("spilled replace: old value returned")
	}
	checkInvariants(t, s)
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     int64
		size, n   int
		varySizes bool
	}{
		{"exact multiple", 1000, 100, 50, false},
		{"not a multiple", 1000, 300, 20, false},
		{"one fits", 100, 100, 10, false},
		{"mixed sizes", 4096, 1000, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, tc.limit)
			sizes := map[string]int{}
			for i := range tc.n {
				k := "inc-" + strconv.Itoa(i)
				n := tc.size
				if tc.varySizes {
					n = 1 + (i*7919)%tc.size
				}
				sizes[k] = n
				if err := s.Put(k, value(k, n)); err != nil {
					t.Fatalf("Put %s: %v", k, err)
				}
				if st := s.Stats(); st.MemoryBytes > tc.limit {
					t.Fatalf("after Put %s: MemoryBytes %d > limit %d", k, st.MemoryBytes, tc.limit)
				}
			}
			st := s.Stats()
			if st.Spills == 0 || st.SpilledKeys == 0 {
				t.Fatalf("nothing spilled: %+v", st)
			}
			checkInvariants(t, s)
			for k, n := range sizes {
				got, err := s.Get(k)
				if err != nil {
					t.Fatalf("Get %s: %v", k, err)
				}
				if !bytes.Equal(got, value(k, n)) {
					t.Fatalf("Get %s: wrong bytes", k)
				}
				if st := s.Stats(); st.MemoryBytes > tc.limit {
					t.Fatalf("after Get %s: MemoryBytes %d > limit %d", k, st.MemoryBytes, tc.limit)
				}
			}
			if s.Stats().Unspills == 0 {
				t.Error("no value was read back from disk")
			}
			checkInvariants(t, s)
		})
	}
}

func TestLRU(t *testing.T) {
	s := openStore(t, 300)
	put := func(k string) {
		t.Helper()
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	where := func() string {
		var b strings.Builder
		for _, k := range []string{"a", "b", "c", "d"} {
			st, _ := stateOf(s, k)
			fmt.Fprintf(&b, "%s:%v ", k, map[state]string{inMemory: "mem", onDisk: "disk", removed: "-"}[st])
		}
		return strings.TrimSpace(b.String())
	}
	put("a")
	put("b")
	put("c")
	if _, err := s.Get("a"); err != nil { // a becomes most recent; b is now the LRU
		t.Fatal(err)
	}
	put("d")
	if got, want := where(), "a:mem b:disk c:mem d:mem"; got != want {
		t.Errorf("after Get a, Put d: %s, want %s", got, want)
	}
	// Reading b brings it back as most recent and spills the LRU, c.
	if got, err := s.Get("b"); err != nil || !bytes.Equal(got, value("b", 100)) {
		t.Fatalf("Get b: %v", err)
	}
	if got, want := where(), "a:mem b:mem c:disk d:mem"; got != want {
		t.Errorf("after Get b: %s, want %s", got, want)
	}
	if st := s.Stats(); st.Spills != 2 || st.Unspills != 1 || st.MemoryBytes != 300 {
		t.Errorf("Stats %+v, want 2 spills, 1 unspill, 300 bytes in memory", st)
	}
	checkInvariants(t, s)
}

func TestOversizeGoesToDisk(t *testing.T) {
	s := openStore(t, 100)
	if err := s.Put("small", value("small", 60)); err != nil {
		t.Fatal(err)
	}
	big := value("big", 101)
	if err := s.Put("big", slices.Clone(big)); err != nil {
		t.Fatal(err)
	}
	if st, _ := stateOf(s, "big"); st != onDisk {
		t.Errorf("oversize value in state %d, want on disk", st)
	}
	if st, _ := stateOf(s, "small"); st != inMemory {
		t.Errorf("oversize Put spilled the small value (state %d)", st)
	}
	want := Stats{Keys: 2, MemoryBytes: 60, SpilledBytes: 101, SpilledKeys: 1, Spills: 1}
	if st := s.Stats(); st != want {
		t.Errorf("Stats %+v, want %+v", st, want)
	}
	got, err := s.Get("big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get big: %v", err)
	}
	if st, _ := stateOf(s, "big"); st != onDisk {
		t.Errorf("oversize value came back to memory (state %d)", st)
	}
	checkInvariants(t, s)
}

func TestDeleteRemovesSpillFile(t *testing.T) {
	s := openStore(t, 100)
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, k := range []string{"a", "b"} {
		st, p := stateOf(s, k)
		if st != onDisk {
			t.Fatalf("%s in state %d, want on disk", k, st)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	s.Delete("a", "b", "c", "absent")
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("spill file %s after Delete: %v", p, err)
		}
	}
	if n := spillFiles(t, s.dir); len(n) != 0 {
		t.Errorf("files left: %v", n)
	}
	if st := s.Stats(); st.Keys != 0 || st.SpilledBytes != 0 || st.SpilledKeys != 0 || st.MemoryBytes != 0 {
		t.Errorf("Stats after Delete: %+v", st)
	}
}

func TestOpenCleansLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	// A previous run that crashed: spill files never removed.
	old, err := Open(Config{Dir: dir, MemoryLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	for _, k := range []string{"a", "b", "c"} {
		if err := old.Put(k, value(k, 80)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "1-x.spill.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := spillFiles(t, dir); len(n) != 3 { // 2 spilled + 1 tmp
		t.Fatalf("setup: spill files %v", n)
	}
	s, err := Open(Config{Dir: dir, MemoryLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := spillFiles(t, dir); len(n) != 0 {
		t.Errorf("Open left %v", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("Open removed a file that is not a spill file: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spill dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if s.Has("a") {
		t.Error("results survived a restart")
	}
}

func TestCloseRemovesSpillFiles(t *testing.T) {
	s := openStore(t, 200)
	for i := range 10 {
		k := "k" + strconv.Itoa(i)
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("big", value("big", 500)); err != nil {
		t.Fatal(err)
	}
	if n := spillFiles(t, s.dir); len(n) != 9 {
		t.Fatalf("before Close: %d spill files, want 9", len(n))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := spillFiles(t, s.dir); len(n) != 0 {
		t.Errorf("after Close: %v", n)
	}
	if _, err := s.Get("k1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := s.Put("k1", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseDuringSpills closes the store while Puts, Gets and Deletes are
// writing, reading and removing spill files: when Close returns, no spill
// or temporary file may remain, however the in-flight operations end.
func TestCloseDuringSpills(t *testing.T) {
	for round := range 20 {
		s := openStore(t, 1<<10)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					k := fmt.Sprintf("w%d-%d", w, i%64)
					err := s.Put(k, value(k, 100+(i%3)*1000))
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Put %s: %v", k, err)
						return
					}
					s.Get(fmt.Sprintf("w%d-%d", w, (i*7)%64))
					if i%5 == 0 {
						s.Delete(fmt.Sprintf("w%d-%d", w, (i*3)%64))
					}
				}
			}()
		}
		close(start)
		for s.Stats().Spills < 50 {
			runtime.Gosched()
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		left := spillFiles(t, s.dir)
		wg.Wait()
		if len(left) != 0 {
			t.Fatalf("round %d: files left when Close returned: %v", round, left)
		}
	}
}

func TestLostSpillFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) error
		isErr  error
	}{
		{"deleted", os.Remove, fs.ErrNotExist},
		{"truncated", func(p string) error { return os.Truncate(p, headerSize+10) }, errCorrupt},
		{"empty", func(p string) error { return os.Truncate(p, 0) }, errCorrupt},
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)-1] ^= 0xff
			return os.WriteFile(p, b, 0o600)
		}, errCorrupt},
		{"bad magic", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			copy(b, "XXXX")
			return os.WriteFile(p, b, 0o600)
		}, errCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, 100)
			const key = "inc-3f2a/lost"
			for _, k := range []string{key, "other"} {
				if err := s.Put(k, value(k, 100)); err != nil {
					t.Fatal(err)
				}
			}
			st, path := stateOf(s, key)
			if st != onDisk {
				t.Fatalf("state %d, want on disk", st)
			}
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get(key)
			if !errors.Is(err, ErrLost) || !errors.Is(err, tc.isErr) {
				t.Fatalf("Get: %v; want ErrLost and %v", err, tc.isErr)
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name key %q and file %s", err, key, path)
			}
			t.Logf("error: %v", err)
			if s.Has(key) {
				t.Error("lost key still listed")
			}
			checkInvariants(t, s) // also: the damaged file is gone
			// Recovery: the value can be put again.
			if err := s.Put(key, value(key, 100)); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(key); err != nil || !bytes.Equal(got, value(key, 100)) {
				t.Errorf("Get after re-Put: %v", err)
			}
		})
	}
}

// TestSpillDirUnwritable replaces the spill directory with a regular file
// (root ignores permission bits, so chmod would not do), checks that spills
// fail loudly without losing values, then restores it and checks recovery.
func TestSpillDirUnwritable(t *testing.T) {
	s := openStore(t, 250)
	for _, k := range []string{"a", "b"} {
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.dir, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}

	err := s.Put("c", value("c", 100)) // 300 > 250: spills a, which fails
	var se *SpillError
	if !errors.As(err, &se) || se.Key != "a" || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Put c: %v; want a *SpillError for a wrapping ENOTDIR", err)
	}
	if !strings.Contains(err.Error(), "spill a to "+s.dir) {
		t.Errorf("error %q does not say what failed", err)
	}
	t.Logf("error: %v", err)
	// Oversize values cannot go to disk either; they are kept too.
	if err := s.Put("big", value("big", 300)); !errors.As(err, &se) || se.Key != "big" {
		t.Fatalf("Put big: %v; want a *SpillError for big", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if got, err := s.Get(k); err != nil || !bytes.Equal(got, value(k, 100)) {
			t.Errorf("Get %s while disk broken: %v", k, err)
		}
	}
	if got, err := s.Get("big"); err != nil || !bytes.Equal(got, value("big", 300)) {
		t.Errorf("Get big while disk broken: %v", err)
	}
	st := s.Stats()
	if st.MemoryBytes != 600 || st.SpilledKeys != 0 || st.SpillErrors != 2 {
		t.Errorf("Stats while disk broken: %+v", st)
	}

	// Remove the obstacle: the store recreates its directory and catches up.
	if err := os.Remove(s.dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("d", value("d", 100)); err != nil {
		t.Fatalf("Put d after repair: %v", err)
	}
	if st := s.Stats(); st.MemoryBytes > 250 {
		t.Errorf("after repair MemoryBytes %d > 250", st.MemoryBytes)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		if got, err := s.Get(k); err != nil || !bytes.Equal(got, value(k, 100)) {
			t.Errorf("Get %s after repair: %v", k, err)
		}
	}
	checkInvariants(t, s)
}

// TestGetSpillErrorReported makes the spill that a Get triggers fail (by
// squatting its temporary file name with a directory) and checks the value
// stays in memory and the error reaches Config.OnError.
func TestGetSpillErrorReported(t *testing.T) {
	var reported []error
	s, err := Open(Config{
		Dir:         filepath.Join(t.TempDir(), "spill"),
		MemoryLimit: 200,
		OnError:     func(err error) { reported = append(reported, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range []string{"a", "b", "c"} { // a spills
		if err := s.Put(k, value(k, 100)); err != nil {
			t.Fatal(err)
		}
	}
	// Getting a brings it back and spills the LRU, b, to the next path.
	s.mu.Lock()
	next := s.newPathLocked("b")
	s.seq--
	s.mu.Unlock()
	if err := os.Mkdir(next+tmpSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("a"); err != nil || !bytes.Equal(got, value("a", 100)) {
		t.Fatalf("Get a: %v", err)
	}
	var se *SpillError
	if len(reported) != 1 || !errors.As(reported[0], &se) || se.Key != "b" {
		t.Fatalf("reported %v; want one *SpillError for b", reported)
	}
	if st, _ := stateOf(s, "b"); st != inMemory {
		t.Errorf("b in state %d after failed spill, want in memory", st)
	}
	if got, err := s.Get("b"); err != nil || !bytes.Equal(got, value("b", 100)) {
		t.Errorf("Get b: %v", err)
	}
	if err := os.Remove(next + tmpSuffix); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		ops     = 3000
		nkeys   = 300
		limit   = 8 << 10
	)
	s := openStore(t, limit)
	keys := make([]string, nkeys)
	want := make([][]byte, nkeys)
	for i := range keys {
		keys[i] = "inc-" + strconv.Itoa(i)
		n := (i * 37) % 700 // 0..699 bytes
		if i%50 == 0 {
			n = limit + 1 // a few oversize values
		}
		want[i] = value(keys[i], n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range ops {
				i := r.IntN(nkeys)
				switch op := r.IntN(10); {
				case op < 4:
					if err := s.Put(keys[i], slices.Clone(want[i])); err != nil {
						errs <- fmt.Errorf("Put %s: %w", keys[i], err)
						return
					}
				case op < 9:
					got, err := s.Get(keys[i])
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("Get %s: %w", keys[i], err)
						return
					}
					if !bytes.Equal(got, want[i]) {
						errs <- fmt.Errorf("Get %s: wrong bytes (len %d, want %d)", keys[i], len(got), len(want[i]))
						return
					}
				default:
					s.Delete(keys[i])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.MemoryBytes > limit {
		t.Errorf("MemoryBytes %d > limit %d", st.MemoryBytes, limit)
	}
	if st.Spills == 0 || st.Unspills == 0 {
		t.Errorf("test did not exercise spilling: %+v", st)
	}
	checkInvariants(t, s)
	for _, k := range s.Keys() {
		i, _ := strconv.Atoi(strings.TrimPrefix(k, "inc-"))
		if got, err := s.Get(k); err != nil || !bytes.Equal(got, want[i]) {
			t.Errorf("final Get %s: %v", k, err)
		}
	}
}

func BenchmarkPutGetSmall(b *testing.B) {
	s := openStore(b, 1<<30)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "inc-" + strconv.Itoa(i)
	}
	v := make([]byte, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&1023]
		i++
		if err := s.Put(k, v); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutGetDeleteSmall is a task result's life: stored, read by a
// dependent, released.
func BenchmarkPutGetDeleteSmall(b *testing.B) {
	s := openStore(b, 1<<30)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "inc-" + strconv.Itoa(i)
	}
	v := make([]byte, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&(1<<16-1)]
		i++
		if err := s.Put(k, v); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(k); err != nil {
			b.Fatal(err)
		}
		s.Delete(k)
	}
}

func BenchmarkPutGetSmallParallel(b *testing.B) {
	s := openStore(b, 1<<30)
	var mu sync.Mutex
	next := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		g := next
		next++
		mu.Unlock()
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "g" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
		}
		v := make([]byte, 100)
		i := 0
		for pb.Next() {
			k := keys[i&1023]
			i++
			if err := s.Put(k, v); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Get(k); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutSpill puts 4 KiB values into a 64 KiB store cycling over a
// 4 MiB working set: every Put spills one value (and replaces a spilled one).
func BenchmarkPutSpill(b *testing.B) {
	s := openStore(b, 64<<10)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "inc-" + strconv.Itoa(i)
	}
	v := make([]byte, 4<<10)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Put(keys[i&1023], v); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetSpilled reads values back from disk: each Get unspills one
// value and spills another.
func BenchmarkGetSpilled(b *testing.B) {
	s := openStore(b, 64<<10)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "inc-" + strconv.Itoa(i)
		if err := s.Put(keys[i], make([]byte, 4<<10)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(4 << 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
