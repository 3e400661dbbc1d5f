// bigheap holds a heap of a chosen size the way a leaking server does, then writes a Go heap dump
// (runtime/debug.WriteHeapDump) with the default MemProfileRate (almost no object has an
// allocation record). It is the input of the large-dump benchmark (benches/heapdump/real.sh); its
// dumps are never committed.
//
// Reachable from globals:
//   - main.sessions: a map of *session; each session and its conn point at each other (a
//     2-object cycle) and the session holds a read buffer (-buf bytes);
//   - main.index: a slice of *entry, each a small linked list of 4 nodes;
//   - main.recent: a ring of -ring nodes (one long cycle).
//
// Usage: bigheap -heap 1G -o FILE (sizes take K, M, G suffixes).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

type session struct {
	id   uint64
	conn *conn
	buf  []byte
	user string
}

type conn struct {
	sess  *session
	fd    int
	state [3]uint64
}

type entry struct {
	key  string
	next *entry
	val  uint64
}

type ringNode struct {
	next *ringNode
	pad  [6]uint64
}

var (
	sessions = map[uint64]*session{}
	index    []*entry
	recent   *ringNode
)

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	v, err := strconv.ParseFloat(s, 64)
	return int64(v * float64(mult)), err
}

//go:noinline
func newSession(id uint64, buf int) *session {
	s := &session{id: id, buf: make([]byte, buf), user: "user-" + strconv.FormatUint(id%1000, 10)}
	s.conn = &conn{sess: s, fd: int(id)}
	return s
}

//go:noinline
func newEntry(k uint64) *entry {
	var head *entry
	for i := 0; i < 4; i++ {
		head = &entry{key: strconv.FormatUint(k*4+uint64(i), 36), next: head, val: k}
	}
	return head
}

func main() {
	heap := flag.String("heap", "1G", "live heap to hold before the dump")
	buf := flag.Int("buf", 64, "bytes of each session's read buffer")
	ring := flag.Int("ring", 100000, "nodes in the main.recent ring")
	out := flag.String("o", "bigheap.dump", "dump file")
	flag.Parse()
	target, err := parseSize(*heap)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad -heap:", err)
		os.Exit(2)
	}
	// Per session: session 48 B, conn 48 B, buffer, user string ~16 B, map slot ~24 B; per index
	// slot: 4 entries of 48 B, their keys, the slice slot. Two thirds of the heap goes to sessions.
	perSession := int64(48 + 48 + *buf + 16 + 24)
	nSessions := target * 2 / 3 / perSession
	nIndex := target / 3 / (4*(48+16) + 8)
	for i := int64(0); i < nSessions; i++ {
		sessions[uint64(i)] = newSession(uint64(i), *buf)
	}
	index = make([]*entry, 0, nIndex)
	for i := int64(0); i < nIndex; i++ {
		index = append(index, newEntry(uint64(i)))
	}
	first := &ringNode{}
	cur := first
	for i := 1; i < *ring; i++ {
		cur.next = &ringNode{}
		cur = cur.next
	}
	cur.next = first
	recent = first
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "sessions %d, index %d, ring %d; heap in use %d MiB, %d live objects\n",
		nSessions, nIndex, *ring, ms.HeapInuse>>20, ms.HeapObjects)
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	debug.WriteHeapDump(f.Fd())
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runtime.KeepAlive(sessions)
	runtime.KeepAlive(index)
	runtime.KeepAlive(recent)
}
